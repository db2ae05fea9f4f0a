# telebot beside ikabot's container: see deploy/compose.yaml and the README.
#
# Build stage: a compiler, because PyPI has no wheels of psutil and pycryptodome for every
# platform (32-bit ARM: Raspberry Pi OS armhf); pip builds them here, the image runs without it.
FROM python:3.12-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY telebot ./telebot
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir .

FROM python:3.12-slim
# tzdata: TZ (and TELEBOT_TZ) name a zone; without the zone files every time would be UTC
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 telebot \
    && mkdir -p /state && chown telebot /state && chmod 700 /state
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TELEBOT_STATE_DIR=/state IKABOT_PATH=/ikabot/.ikabot
USER telebot
VOLUME ["/state"]
# Healthy = telebot's event loop beat within the last minute (its heartbeat file in /state),
# not merely "the process exists". Waiting for ikabot's first login counts as healthy.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["telebot", "health"]
ENTRYPOINT ["telebot"]
CMD ["run"]
