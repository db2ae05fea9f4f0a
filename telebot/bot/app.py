"""`telebot run`: the python-telegram-bot Application, its jobs, and how it starts and stops.

Shared-token mode (no TELEBOT_TOKEN): `.updater(None)` and the `SharedPoller` feeding
`update_queue`, so ikabot keeps its updates. Dedicated mode: PTB's own long polling.
Process deaths enter the same dispatcher as updates of their own type (`TypeHandler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import html
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import ApplicationBuilder, ExtBot, JobQueue

from telebot import i18n, logsafe
from telebot.bot import kill
from telebot.bot.chatcheck import announce
from telebot.bot.context import CONTEXT_TYPES, BotApp, BotContext
from telebot.bot.handlers import add_handlers, command_lists
from telebot.bot.health import HeartbeatURL, Pulse, beat_interval
from telebot.bot.hostlabel import label_for, make_bot
from telebot.bot.jobs import job_queue, publish_metrics, scan, schedule_report
from telebot.bot.keepalive_commands import KeptReplayer, alert_buttons
from telebot.bot.menu_manager import MenuManager, end_leftovers
from telebot.bot.ordering import PerChatUpdateProcessor
from telebot.bot.poller import blind_spot_text
from telebot.bot.run_all import run_all_markup
from telebot.bot.runtime import Runtime
from telebot.bot.sharing import UpdateSource
from telebot.config import Settings, api_error, for_ikabot, resolve_telegram
from telebot.errors import ConfigError
from telebot.i18n import _, ngettext
from telebot.ikabot.log import IkabotLog
from telebot.ikabot.safeio import owner_of
from telebot.ikabot.store import Store, is_empty_dir, open_store
from telebot.keepalive.keeper import Keeper, Schedule
from telebot.processes.sched import short_slice
from telebot.state import StateDB
from telebot.tasks.model import Task
from telebot.views.render import fmt_clock

if TYPE_CHECKING:
    from telebot.alerts.alerter import Alerter
    from telebot.metrics.exporter import MetricsExporter

log = logging.getLogger(__name__)


def build_application(
    settings: Settings, token: str, label: str | None = None, chat_id: str | None = None
) -> BotApp:
    """`label`: the machine's name heading every message (see `hostlabel`), or None.
    Chats are handled side by side, each in order (see `ordering`); every handler gets a
    `BotContext` (see `context`); messages to `chat_id` go to its topic (see `topics`)."""
    bot: ExtBot[None] = make_bot(settings, token, label, chat_id)
    jobs: JobQueue[BotContext] = JobQueue()  # the builder's own, typed for BotContext
    builder = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(CONTEXT_TYPES)
        .job_queue(jobs)
        .concurrent_updates(PerChatUpdateProcessor())
    )
    if not settings.dedicated_token:
        builder = builder.updater(None)
    return builder.build()


def _dedicated_error_callback() -> object:
    conflicts = 0

    def on_error(error: TelegramError) -> None:
        nonlocal conflicts
        if isinstance(error, Conflict):
            conflicts += 1
            if conflicts == 3:
                log.error(
                    "Telegram keeps answering 409 Conflict: another telebot (or a "
                    "webhook) is using TELEBOT_TOKEN; stop it, or give this one its "
                    "own bot"
                )
        else:
            conflicts = 0
            log.warning("polling error: %s", logsafe.redact(str(error)))

    return on_error


async def _initialize(app: BotApp, settings: Settings, stop: asyncio.Event) -> bool:
    """Connect to the Bot API, waiting out a network that is not up yet (a Pi at boot).

    A rejected token is the player's to fix: that one ends telebot with exit status 2.
    False when told to stop while still waiting.
    """
    delay = 1.0
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken as e:
            raise api_error(e, settings.api_base_url) from None
        except NetworkError as e:  # includes 5xx and timeouts
            log.warning(
                "cannot reach the Bot API at %s yet (%s); trying again in %.0f s",
                settings.api_base_url,
                logsafe.redact(str(e)),
                delay,
            )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
            return False
        delay = min(60.0, delay * 2)


DATA_POLL = 5.0  # seconds between looks for ikabot's data that is not there yet


async def _wait_for_store(settings: Settings, stop: asyncio.Event) -> Store | None:
    """ikabot's data, once it exists: before ikabot's first login there is none (a fresh
    Docker volume: an empty directory), and a restart loop on exit 2 would help nobody. Said
    once; a path whose parent does not exist either is a mistake in IKABOT_PATH, and fails at
    once. None when told to stop first."""
    path = settings.ikabot_path
    told = False
    while (not path.exists() or is_empty_dir(path)) and path.parent.is_dir():
        if not told:
            log.warning(
                "waiting for ikabot's data at %s: ikabot creates it at its first "
                "login (or set IKABOT_PATH)",
                path,
            )
            told = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), DATA_POLL)
            return None
    if told:
        log.info("ikabot's data appeared at %s", path)
    return open_store(settings)


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    store: Store | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the bot until `stop` is set. Raises ConfigError for what the player must fix.
    The loop's heartbeat (`health`) beats from the first moment, waits included."""
    pulse = Pulse(settings.state_dir, beat_interval())
    pulse.start()
    try:
        await _serve(settings, stop or asyncio.Event(), store, ready, pulse)
    finally:
        await pulse.stop()


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    store: Store | None,
    ready: asyncio.Event | None,
    pulse: Pulse,
) -> None:
    store = store or await _wait_for_store(settings, stop)
    if store is None:
        return
    telegram = store.read().telegram
    token, chat_id, _source = resolve_telegram(settings, telegram)
    configured, settings = settings, for_ikabot(settings, telegram)
    logsafe.add_secret(token)
    logsafe.add_secret(settings.password)
    logsafe.add_secret(settings.heartbeat_url)  # a push monitor's URL is its secret
    logsafe.install_filter()
    state = StateDB(settings.state_dir)
    # TELEBOT_LANG, else the owner's Telegram language as last seen (`gates.learn_language`)
    i18n.use(i18n.choose(settings.lang, state.settings.owner_language()))
    app = build_application(settings, token, label_for(settings, chat_id), chat_id)
    rt = Runtime(settings, store, state, chat_id)
    app.bot_data.runtime = rt
    add_handlers(app)
    try:
        connected = await _initialize(app, settings, stop)
    except ConfigError:
        state.close()
        raise
    if not connected:
        state.close()
        return
    await announce(app.bot, chat_id, settings.topic_id)
    from telebot.alerts.alerter import Alerter
    from telebot.bot.alert_out import BotOut, attach

    menu = app.bot_data.menu = MenuManager(rt, app.bot)
    keeper: Keeper | None = None

    def stop_buttons(tasks: list[Task]) -> str | None:  # the /kill flow's 🛑, for an alert
        markup = kill.stop_markup(rt, tasks, app.bot)
        return None if markup is None else json.dumps(markup.to_dict())

    rt.alerter = Alerter(
        state,
        chat_id,
        BotOut(app.bot),
        stall_minutes=settings.stall_minutes,
        fallback_interval=settings.scan_seconds,
        ikabot_log=IkabotLog(settings.ikabot_log, owner=owner_of(settings.ikabot_path)),
        stop_markup=stop_buttons,
        markup_for=lambda key: alert_buttons(menu, keeper, key),
        entry_after=rt.ended_entry,
    )
    attach(app, rt.alerter)
    alerter = rt.alerter
    keeper = app.bot_data.keeper = Keeper(
        state,
        settings,
        KeptReplayer(menu),
        rt.refresh,
        _scheduler(app),
        alerter.deliverer.wake,
        chat_id,
    )
    alerter.end_note = keeper.end_note
    alerter.reboot.run_all = lambda tag, n: run_all_markup(settings.allow_menu, tag, n)
    metrics: MetricsExporter | None = None

    async def on_blind(head: int, until: float) -> None:
        await alerter.notice(
            f"blind-spot:{head}",
            html.escape(
                blind_spot_text(fmt_clock(until, time.time()), settings.confirm_after_minutes)
            ),
        )

    source = UpdateSource(
        app,
        configured,
        state,
        chat_id,
        rt.started_at,
        telegram,
        on_blind=on_blind,
        wants=menu.wants,
    )
    rt.on_telegram = source.follow
    heartbeat: HeartbeatURL | None = None
    try:
        if settings.short_slice:  # the event loop and the writer thread: a death's two wakes
            short_slice()
            await state.run(short_slice)
        await end_leftovers(rt)  # a menu an earlier telebot left, before any new one opens
        rt.metrics = metrics = _metrics(settings, alerter, pulse)  # its address, or exit 2
        with contextlib.suppress(TelegramError):
            for code, commands in command_lists(settings):  # once per language
                await app.bot.set_my_commands(commands, language_code=code)
        await app.start()
        tasks = await rt.read()
        await rt.alerter.read_log()  # why the tasks that ended while telebot was down ended
        await rt.alerter.startup(tasks)  # what ended while telebot was down, then the first scan
        await rt.alerter.start()
        await publish_metrics(rt, tasks)
        await keeper.resume()  # the restarts that were due when telebot stopped
        await source.start(_dedicated_error_callback())
        job_queue(app).run_repeating(
            scan, interval=settings.scan_seconds, first=settings.scan_seconds, name="scan"
        )
        schedule_report(app, state.settings.report_minutes(settings.report_minutes))
        if settings.heartbeat_url:
            heartbeat = HeartbeatURL(settings.heartbeat_url)
            heartbeat.schedule(app, settings.heartbeat_minutes)
        # everything loaded so far (python-telegram-bot, httpx, the first read) lives as long
        # as telebot: keep it out of the cyclic collector's full passes, which otherwise
        # walk it all and stall the event loop for tens of milliseconds at a time
        gc.freeze()
        running = [t for t in tasks if t.state == "running"]
        accounts = {t.account for t in running}
        # through the durable outbox, as alerts: a chat that refuses it now gets it once it
        # accepts; one per start
        await rt.alerter.notice(
            f"watching:{rt.started_at}", watching_text(len(running), len(accounts))
        )
        log.info(
            "telebot running (%s mode), watching %d tasks",
            "dedicated" if source.dedicated else "shared-token",
            len(running),
        )
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await menu.shutdown()  # the menu ends; the tasks it started do not
        if metrics is not None:
            metrics.stop()
        rt.on_telegram = None
        await source.stop()
        await rt.alerter.stop()
        if heartbeat is not None:
            await heartbeat.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        state.close()


def _metrics(settings: Settings, alerter: Alerter, pulse: Pulse) -> MetricsExporter | None:
    """TELEBOT_METRICS_ADDR's server started (its address taken, or ConfigError), fed by the
    alerter's ends and deliveries; None when neither metrics setting is set."""
    if settings.metrics_addr is None and settings.metrics_file is None:
        return None
    from telebot.metrics.exporter import MetricsExporter

    metrics = MetricsExporter(settings, lambda: pulse.last_beat)
    metrics.start()
    alerter.on_ended.append(metrics.ended)
    alerter.deliverer.on_delivered.append(metrics.delivered)
    return metrics


def watching_text(tasks: int, accounts: int) -> str:
    """'👀 telebot is watching 3 tasks on 2 accounts. /status'"""
    return _("👀 telebot is watching {tasks} on {accounts}. /status").format(
        tasks=ngettext("{n} task", "{n} tasks", tasks).format(n=i18n.number(tasks)),
        accounts=ngettext("{n} account", "{n} accounts", accounts).format(n=i18n.number(accounts)),
    )


def _scheduler(app: Any) -> Schedule:
    """Keep-alive's delayed restarts, as jobs of python-telegram-bot's JobQueue (one per
    task: a newer one replaces it)."""
    jobs = job_queue(app)

    def schedule(delay: float, name: str, run: Callable[[], Awaitable[None]]) -> None:
        for old in jobs.get_jobs_by_name(name):
            old.schedule_removal()

        async def callback(context: object) -> None:
            await run()

        jobs.run_once(callback, when=delay, name=name)

    return schedule


def run_bot(settings: Settings) -> int:
    """The blocking entry point: SIGINT/SIGTERM stop it cleanly with exit status 0."""
    logsafe.setup_logging(logging.INFO, settings.token, settings.password)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop=stop)

    asyncio.run(main())
    log.info("telebot stopped at %s", time.strftime("%H:%M:%S"))
    return 0
