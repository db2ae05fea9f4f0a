# telebot beside ikabot's container: see deploy/compose.yaml and the README.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TELEBOT_STATE_DIR=/state IKABOT_PATH=/ikabot/.ikabot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY telebot ./telebot
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 telebot \
    && mkdir -p /state && chown telebot /state
USER telebot
VOLUME ["/state"]
ENTRYPOINT ["telebot"]
CMD ["run"]
