"""The bot's scheduled work, on python-telegram-bot's JobQueue (APScheduler underneath)."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import time

from telegram.constants import ParseMode
from telegram.ext import JobQueue

from telebot.alerts.delivery import waiting
from telebot.bot.context import BotApp, BotContext
from telebot.bot.runtime import Runtime
from telebot.bot.timeline_commands import picture
from telebot.tasks.model import Task
from telebot.views import render, timeline

REPORT_JOB = "progress-report"


async def scan(context: BotContext) -> None:
    """Re-read ikabot's data: new tasks get tracked, silent ends get noticed."""
    rt = context.runtime
    try:
        tasks = await rt.refresh()  # new tasks tracked, ends noticed (`Alerter.observe`)
        await publish_metrics(rt, tasks)
    except asyncio.CancelledError:
        return  # telebot is stopping: not an error worth a traceback in the log
    news = rt.gone_news()
    if news is not None and rt.alerter is not None:
        await rt.alerter.notice(f"data-gone:{int(time.time())}", html.escape(news))
    db_news = rt.state.take_news()  # its database full, failing or found corrupt: once
    if db_news is not None and rt.alerter is not None:
        await rt.alerter.notice(f"state-db:{time.time()}", "⚠️ " + html.escape(db_news))


async def publish_metrics(rt: Runtime, tasks: list[Task]) -> None:
    """Each scan's figures for Prometheus (`metrics`), with the alerts a refusing chat holds."""
    if rt.metrics is None:
        return
    held = await rt.state.run(waiting, rt.state)
    gave_up = await rt.state.run(rt.state.keepalive.gave_up_count)
    await rt.metrics.scanned(tasks, held["count"] if held else 0, gave_up)


def _progress_signature(tasks: list[Task]) -> str:
    items = sorted(
        (t.pid, t.started, t.state, t.progress.done if t.progress else None, t.remaining)
        for t in tasks
    )
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


async def report(context: BotContext) -> None:
    """The scheduled progress report, sent only when some progress changed since the last."""
    rt = context.runtime
    tasks = await rt.refresh()
    signature = _progress_signature(tasks)
    if not tasks or signature == rt.state.settings.report_signature():
        return
    for chunk in render.split_message(render.report_html(tasks)):
        await context.bot.send_message(rt.chat_id, chunk, parse_mode=ParseMode.HTML)
    if rt.settings.report_picture:  # TELEBOT_REPORT_PICTURE=1: /timeline's picture too
        pic = await picture(rt.state, timeline.DEFAULT_HOURS)
        await context.bot.send_photo(rt.chat_id, pic.png, caption=pic.caption)
    await rt.state.run(rt.state.settings.set_report_signature, signature)


def job_queue(app: BotApp) -> JobQueue[BotContext]:
    """The Application's JobQueue (None only when PTB lacks its `job-queue` extra)."""
    if app.job_queue is None:
        raise RuntimeError(
            "python-telegram-bot lacks its job-queue extra: install telebot "
            "with its dependencies (pip install telebot)"
        )
    return app.job_queue


def schedule_report(app: BotApp, minutes: float) -> None:
    jobs = job_queue(app)
    for job in jobs.get_jobs_by_name(REPORT_JOB):
        job.schedule_removal()
    if minutes > 0:
        jobs.run_repeating(report, interval=minutes * 60, first=minutes * 60, name=REPORT_JOB)
