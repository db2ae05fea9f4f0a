"""Keep alive (♻️) in Telegram: /keepalive (the kept tasks, each with an off button),
/keepalive <pid> on|off, the ♻️ buttons under /details and end alerts, and the replayer the
keeper (`keepalive.keeper`) drives: ikabot's menu run unattended, its screen shown only when
the owner must type the password (the 🔒 screen, 10 minutes)."""

from __future__ import annotations

import contextlib
import html
import json
import logging
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError

from telebot.alerts.ending import of_end_key
from telebot.bot.callbacks import Kind, make, pressed
from telebot.bot.context import BotContext
from telebot.bot.menu_handlers import again_row
from telebot.bot.menu_manager import STARTED_WAIT, MenuManager
from telebot.bot.permissions import for_actors, in_bots_chat
from telebot.bot.replies import reply
from telebot.i18n import N_, _
from telebot.keepalive.chain import is_kept
from telebot.keepalive.keeper import Keeper, Restart
from telebot.menu.recorded import Recording, from_row
from telebot.menu.replay import no_twin, replay
from telebot.menu.session import MenuSession, View, started_terminal
from telebot.tasks.doubled import HARM
from telebot.tasks.model import Task
from telebot.views import render

log = logging.getLogger(__name__)

PASSWORD_WAIT = 600.0  # seconds the owner has to type the password a restart needs
USAGE = N_(
    "Usage: /keepalive lists the kept tasks; /keepalive &lt;pid&gt; on|off keeps one "
    "alive (or not). Only a task with recorded answers (started from /menu) can be kept "
    "alive."
)


def _data(kind: Kind, pid: int, ticks: int) -> str:
    return make(kind, f"{pid}.{ticks}")


def on_button(rec: Recording) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        _("♻️ Keep alive"), callback_data=_data(Kind.KEEP_ON, rec.pid, rec.start_ticks)
    )


def off_button(rec: Recording, label: str | None = None) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label or _("♻️ off"), callback_data=_data(Kind.KEEP_OFF, rec.pid, rec.start_ticks)
    )


class KeptReplayer:
    """What the keeper replays through: the /menu manager's one session, unattended."""

    def __init__(self, mgr: MenuManager, password_wait: float = PASSWORD_WAIT) -> None:
        self.mgr, self.password_wait = mgr, password_wait

    def busy(self) -> bool:
        return self.mgr.open_session() is not None

    async def replay_kept(self, rec: Recording) -> Restart:
        problem = await self.mgr.open(rec.steps, rec, unattended=True)
        session = self.mgr.open_session()
        if problem or session is None:
            return Restart(
                reason=html.unescape(_(problem) if problem else _("ikabot's menu did not start"))
            )
        why: list[str] = []

        async def at_echo_off(view: View) -> bool:
            return await self._password(session, rec, view, why)

        try:
            # the harm-twice guard of 🔁 Run it, right before each answer is typed, for an
            # action that does harm twice (`tasks.doubled`); another's copy is the owner's own
            guard = (
                no_twin(session, self.mgr.rt.refresh, rec.action, rec.account)
                if rec.action in HARM
                else None
            )
            outcome = await replay(session, rec.steps, guard, at_echo_off)
            deadline = time.monotonic() + STARTED_WAIT
            while (
                outcome.done
                and not session.started
                and not session.ended.is_set()
                and time.monotonic() < deadline
            ):
                await session.next_settle(session.generation, deadline - time.monotonic())
            log.info(
                "keep-alive replay of pid %d: %s; session %s",
                rec.pid,
                outcome.explain(len(rec.steps)),
                session.end_reason or "open",
            )
            if session.started:
                return Restart(session.started[0].pid, session.started[0].start_ticks)
            if outcome.done:
                return Restart(reason=_("all recorded answers given, but no task started"))
            return Restart(reason=why[0] if why else outcome.explain(len(rec.steps)))
        finally:
            await session.close(N_("♻️ keep-alive's replay is over"))

    async def _password(
        self, session: MenuSession, rec: Recording, view: View, why: list[str]
    ) -> bool:
        """ikabot's own password prompt (echo off, `Password:`), and only it: typed from
        IKABOT_PASSWORD with TELEBOT_KEEPALIVE_LOGIN=1, else asked of the owner."""
        if (
            not view.echo_off
            or view.question.choices
            or not view.question.prompt.strip().endswith("Password:")
        ):
            return False
        settings = self.mgr.rt.settings
        terminal = started_terminal(session)
        if settings.keepalive_login and settings.password:
            if terminal.echo():
                return False
            terminal.type_line(settings.password)  # echo off: never shown, never recorded
            return True
        before = terminal_inputs(session)
        await self.mgr.show(session)
        with contextlib.suppress(TelegramError):
            await self.mgr.bot.send_message(
                self.mgr.rt.chat_id,
                _(
                    "♻️ Restarting {action} (was pid {pid}): ikabot asks the password of "
                    "{account}. Type it here within {minutes} minutes (telebot deletes it from the "
                    "chat), or /cancel. With TELEBOT_KEEPALIVE_LOGIN=1 telebot types "
                    "IKABOT_PASSWORD itself."
                ).format(
                    action=html.escape(rec.action),
                    pid=rec.pid,
                    account=html.escape(rec.account.label),
                    minutes=round(self.password_wait / 60),
                ),
                parse_mode="HTML",
            )
        deadline = time.monotonic() + self.password_wait
        while (
            terminal_inputs(session) == before
            and not session.ended.is_set()
            and time.monotonic() < deadline
        ):
            await session.next_settle(session.generation, min(5.0, deadline - time.monotonic()))
        if terminal_inputs(session) == before:
            why.append(
                _("the password was needed, and nobody typed it within {minutes} minutes").format(
                    minutes=round(self.password_wait / 60)
                )
            )
            return False
        return not session.ended.is_set()


def terminal_inputs(session: MenuSession) -> float:
    """When the session was last typed into (the owner's reply moves it)."""
    return session._last_input


async def details_note(
    keeper: Keeper | None, mgr: MenuManager | None, task: Task
) -> tuple[str, list[InlineKeyboardButton]]:
    """For /details: the task's keep-alive and its chain, and its ♻️ button."""
    if keeper is None or mgr is None:
        return "", []
    rec = await mgr.recording_of(task)
    if rec is None:
        return "", []
    ks = keeper.state.keepalive
    kept = await keeper.state.run(ks.get, rec.pid, rec.start_ticks)
    on = is_kept(rec.action, kept.want if kept else None, keeper.settings.keepalive)
    by_setting = on and not (kept and kept.want)
    lines = [
        (_("♻️ Kept alive (TELEBOT_KEEPALIVE)") if by_setting else _("♻️ Kept alive"))
        if on
        else _("♻️ Not kept alive.")
    ]
    if kept is not None and kept.of_pid is not None:
        lines.append(_("♻️ Restarted from pid {pid}: /details {pid}").format(pid=kept.of_pid))
    if kept is not None and kept.note:
        lines.append(html.escape(kept.note))
    return "\n".join(lines), [off_button(rec, _("♻️ Stop keeping alive")) if on else on_button(rec)]


def alert_buttons(mgr: MenuManager | None, keeper: Keeper | None, dedup_key: str) -> str | None:
    """An end alert's buttons (JSON) for a task with answers: 🔁 Run again
    (`menu_handlers.again_row`) and ♻️ Keep alive if it is not kept. On the state's writer
    thread, in the end's transaction: its recording is read once for both."""
    ended = of_end_key(dedup_key)
    state = keeper.state if keeper is not None else mgr.rt.state if mgr is not None else None
    if ended is None or state is None:
        return None
    rec = from_row(state.recordings.get(*ended))
    if rec is None:
        return None
    again = again_row(mgr, rec)
    rows = [again] if again is not None else []
    if keeper is not None:
        kept = state.keepalive.get(*ended)
        if not is_kept(rec.action, kept.want if kept else None, keeper.settings.keepalive):
            rows.append([on_button(rec).to_dict()])
    return json.dumps({"inline_keyboard": rows}) if rows else None


# ---- handlers (registered in `bot.handlers`)


@in_bots_chat
@for_actors
async def cmd_keepalive(update: Update, context: BotContext) -> None:
    keeper, mgr = context.bot_data.keeper, context.menu
    args = context.args or []
    if keeper is None:
        await reply(context, _("Keep-alive is not running yet."))
        return
    if not args:
        await reply(context, *await kept_list(keeper, mgr))
        return
    if len(args) != 2 or not args[0].isdigit() or args[1].lower() not in ("on", "off"):
        await reply(context, _(USAGE))
        return
    pid = int(args[0])
    tasks = [t for t in await context.runtime.refresh() if t.pid == pid]
    rec = None
    for task in sorted(tasks, key=lambda t: (t.alive, t.started), reverse=True):
        rec = rec or await mgr.recording_of(task)
    rec = rec or await mgr.newest(pid)
    if rec is None:
        await reply(
            context,
            _(
                "pid {pid} has no recorded answers, so it cannot be kept "
                "alive: a task started from /menu (or 🔁 Run again) has "
                "them."
            ).format(pid=pid),
        )
        return
    await reply(context, html.escape(await keeper.turn(rec, args[1].lower() == "on")))


async def kept_list(keeper: Keeper, mgr: MenuManager) -> tuple[str, InlineKeyboardMarkup | None]:
    """The running tasks kept alive (by TELEBOT_KEEPALIVE or an owner's word), and those
    whose restart is due; each with its off button."""
    lines, rows = [_("♻️ <b>Kept alive</b>")], []
    ks = keeper.state.keepalive
    for task in await mgr.rt.refresh():
        rec = await mgr.recording_of(task) if task.state == "running" else None
        kept = await keeper.state.run(ks.get, rec.pid, rec.start_ticks) if rec else None
        if rec is None or not is_kept(
            rec.action, kept.want if kept else None, keeper.settings.keepalive
        ):
            continue
        lines.append(
            f"• {html.escape(render.clip(rec.action, 40))} <code>{rec.pid}</code> · "
            f"{html.escape(render.clip(rec.account.label, 60))}"
        )
        rows.append(
            [
                off_button(
                    rec,
                    _("♻️ off: {action} {pid}").format(
                        action=render.clip(rec.action, 24), pid=rec.pid
                    ),
                )
            ]
        )
    for kept in await keeper.state.run(ks.due):
        lines.append(
            _("• {action} <code>{pid}</code> ended: {note}").format(
                action=html.escape(kept.action), pid=kept.pid, note=html.escape(kept.note or "")
            )
        )
    if len(lines) == 1:
        lines.append(
            _(
                "None. /keepalive &lt;pid&gt; on keeps a task alive (one started from "
                "/menu); TELEBOT_KEEPALIVE names actions kept alive always."
            )
        )
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


async def _pressed(update: Update, context: BotContext, on: bool) -> None:
    query, button = pressed(update)
    pid, ticks = button.pair
    keeper, mgr = context.bot_data.keeper, context.menu
    rec = await mgr.recording(int(pid), int(ticks))
    if keeper is None or rec is None:
        await query.answer(_("Nothing recorded: it cannot be kept alive."), show_alert=True)
        return
    said = await keeper.turn(rec, on)
    await query.answer(render.clip(said, 190))
    await reply(context, html.escape(said))


@in_bots_chat
@for_actors
async def on_keep_on(update: Update, context: BotContext) -> None:
    await _pressed(update, context, True)


@in_bots_chat
@for_actors
async def on_keep_off(update: Update, context: BotContext) -> None:
    await _pressed(update, context, False)
