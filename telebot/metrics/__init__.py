"""Prometheus metrics: what each machine's telebot knows, for the fleet's Prometheus.

`snapshot` turns one scan's task views into the figures (the same `facts` every other surface
states); `collector` is the prometheus-client Collector that hands out the last snapshot at a
scrape; `exporter` serves it (`TELEBOT_METRICS_ADDR`, prometheus-client's own HTTP thread) and
writes it for node_exporter (`TELEBOT_METRICS_FILE`). Names and labels: docs/contract.md section 2c.
"""
