"""The Slack bot: bolt listeners that acknowledge at once and answer in tracked background tasks.

A thin adapter: every answer comes from the chat service (the same call as HTTP, so it is stored,
counted and logged the same way), every message is built by ``qa.slack.blocks``, every history by
``qa.slack.history``. The service is reached through the ``Runtime`` at request time, so the
pipeline can load (or fail) after mounting.

Longer than most modules: bolt's listeners, the thread/DM conversation rules and the Slack I/O that
must never raise into bolt belong together; message building (``blocks``), history (``history``)
and Web API error descriptions (``webapi``) are already their own modules.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from qa.config import Settings
from qa.contract import ID_PATTERN, MAX_ID_CHARS, Answer, Citation, Turn
from qa.errors import QAError
from qa.service.chat import ChatTurn
from qa.service.runtime import Runtime
from qa.slack.blocks import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SHARE,
    answer_blocks,
    escape,
    fallback_text,
    notice_blocks,
    source_url,
)
from qa.slack.history import Message, bot_took_part, plain_text, slack_ts, turns_from_messages
from qa.slack.webapi import describe, history_messages
from qa.storage.protocols import Rating
from qa.storage.shared import make_dedupe

log = logging.getLogger("qa.slack")

THINKING = "thinking_face"
ASK_COMMAND = "/ask"
_MESSAGE_ID = re.compile(ID_PATTERN)

Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Where:
    """Where a question was asked and where its answer goes."""

    team: str
    channel: str
    ts: str  # the question's own message
    thread_ts: str | None  # reply in this thread (None: straight into the DM)

    @property
    def conversation_id(self) -> str:
        # One conversation per Slack thread (or DM), in the id alphabet the HTTP API accepts.
        # Predictable on purpose (the thread names it); its owner keeps it out of HTTP callers' reach.
        root = self.thread_ts or "dm"
        return re.sub(r"[^A-Za-z0-9_\-]", "-", f"slack-{self.team}-{self.channel}-{root}")[:MAX_ID_CHARS]

    @property
    def owner(self) -> str:
        return slack_owner(self.team, self.channel)


def slack_owner(team: str, channel: str) -> str:
    """Who owns a Slack conversation: its workspace and channel. No HTTP caller holds this owner,
    so Slack conversations are readable over HTTP only with an admin key."""
    return f"slack:{team}:{channel}"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who "we" are in this workspace (from bolt's ``auth.test``), to recognise our own messages."""

    user_id: str | None
    bot_id: str | None

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> Identity:
        return cls(context.get("bot_user_id"), context.get("bot_id"))


class SlackBot:
    """Owns the bolt ``AsyncApp`` and everything it needs between requests."""

    def __init__(self, settings: Settings, runtime: Runtime, client: AsyncWebClient) -> None:
        self.settings = settings
        self.slack = settings.slack
        self.runtime = runtime
        self.client = client
        public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        self._public_url = public_url
        # Slack redelivers an event when we are slow or fail, possibly to another replica: each
        # event and message is answered once (in Redis when QA_REDIS_URL is set, see qa.storage.shared).
        self._dedupe = make_dedupe(runtime.redis, settings, 6 * 3600, runtime.redis_error)
        # Threads we answered in (True) or checked and found we are not part of (False).
        self._threads: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=50_000, ttl=7 * 24 * 3600)
        # Recent private answers, so "Share in channel" posts exactly what the asker saw.
        self._answers: TTLCache[str, tuple[str, Answer]] = TTLCache(maxsize=5_000, ttl=24 * 3600)
        self._tasks: set[asyncio.Task[None]] = set()
        signing_secret = self.slack.signing_secret
        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            # Socket Mode alone has no HTTP requests to verify; HTTP always has a secret.
            request_verification_enabled=signing_secret is not None,
            logger=logging.getLogger("qa.slack.bolt"),
        )
        self.app.middleware(self._skip_redeliveries)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command(ASK_COMMAND)(self._on_ask)
        self.app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(self._on_feedback)
        self.app.action(SHARE)(self._on_share)

    # -- background work ---------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the acknowledgement, holding a reference so it is never collected."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack background task failed", exc_info=task.exception())

    @property
    def busy(self) -> bool:
        """Whether answers are still being worked on."""
        return bool(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109  # a budget, not a cancel scope
        """Let answers in flight finish (on shutdown), then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()

    async def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen, by this replica or any other sharing Redis."""
        return await self._dedupe.first_time(key)

    # -- middleware and listeners (each returns within Slack's 3 seconds) ---------------------

    async def _skip_redeliveries(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if isinstance(event_id, str) and not await self.first_time(f"event:{event_id}"):
            log.info("ignoring a redelivery of Slack event %s", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    async def _on_mention(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        if not _has_place(event):
            return
        where = Where(
            team=str(context.get("team_id") or ""),
            channel=str(event["channel"]),
            ts=str(event["ts"]),
            thread_ts=str(event.get("thread_ts") or event["ts"]),
        )
        if not await self.first_time(f"message:{where.channel}:{where.ts}"):
            return
        prior = where.thread_ts if event.get("thread_ts") else None
        self.spawn(self._converse(where, str(event.get("text") or ""), Identity.of(context), prior))

    async def _on_message(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("subtype") is not None or event.get("bot_id"):
            return  # edits, joins, other bots and our own messages
        if not _has_place(event):
            return
        me = Identity.of(context)
        text = str(event.get("text") or "")
        channel, ts = str(event["channel"]), str(event["ts"])
        thread_ts = event.get("thread_ts")
        where = Where(str(context.get("team_id") or ""), channel, ts, str(thread_ts) if thread_ts else None)
        if event.get("channel_type") == "im":
            if await self.first_time(f"message:{channel}:{ts}"):
                self.spawn(self._converse(where, text, me, where.thread_ts))
            return
        if not thread_ts or thread_ts == ts or (me.user_id and f"<@{me.user_id}>" in text):
            return  # top-level chatter is not for us; mentions arrive as app_mention
        if self.slack.thread_follow_ups != "bot_threads":
            return
        if self._threads.get((channel, str(thread_ts))) is False:
            return
        self.spawn(self._follow_up(where, text, me))

    async def _on_ask(
        self, ack: Callable[..., Awaitable[None]], command: dict[str, Any], respond: Respond
    ) -> None:
        question = plain_text(str(command.get("text") or ""))
        if not question:
            await ack(text=f"Ask a question about the article, e.g. `{ASK_COMMAND} Who visited Russia?`")
            return
        await ack(text="Looking that up…")
        team = str(command.get("team_id") or "")
        owner = slack_owner(team, str(command.get("channel_id") or ""))
        self.spawn(self._answer_command(question, owner, team, respond))

    async def _on_feedback(
        self,
        ack: Callable[..., Awaitable[None]],
        action: dict[str, Any],
        body: dict[str, Any],
        respond: Respond,
    ) -> None:
        await ack()
        rating = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
        owner = slack_owner(str(team), str((body.get("channel") or {}).get("id") or ""))
        self.spawn(self._store_feedback(str(action.get("value") or ""), rating, owner, respond))

    async def _on_share(
        self,
        ack: Callable[..., Awaitable[None]],
        action: dict[str, Any],
        body: dict[str, Any],
        respond: Respond,
    ) -> None:
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        self.spawn(self._share(str(action.get("value") or ""), user, respond))

    # -- the work ----------------------------------------------------------------------------

    async def _converse(self, where: Where, text: str, me: Identity, history_thread: str | None) -> None:
        """Answer a mention or DM, with the thread (or recent DM) as history."""
        await self._react("add", where)
        try:
            if history_thread:
                messages = await self._thread(where.channel, history_thread) or []
            elif where.thread_ts is None:  # a DM outside a thread
                messages = await self._recent_dm(where)
            else:
                messages = []
            await self._answer(where, text, me, messages)
        finally:
            await self._react("remove", where)

    async def _follow_up(self, where: Where, text: str, me: Identity) -> None:
        """A reply in a thread without a mention: answered only when we are part of the thread."""
        assert where.thread_ts is not None
        key = (where.channel, where.thread_ts)
        messages = await self._thread(where.channel, where.thread_ts)
        if messages is not None:
            self._threads[key] = bot_took_part(messages, me.user_id, me.bot_id)
        # Thread unreadable (e.g. rate limited): answer, without history, only where we know we are.
        if not self._threads.get(key) or not await self.first_time(f"message:{where.channel}:{where.ts}"):
            return
        await self._react("add", where)
        try:
            await self._answer(where, text, me, messages or [])
        finally:
            await self._react("remove", where)

    async def _answer(self, where: Where, text: str, me: Identity, messages: Sequence[Message]) -> None:
        history = turns_from_messages(
            messages,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
            before_ts=where.ts,
            max_turns=self.settings.max_history_messages,
        )
        question = plain_text(text, drop_user=me.user_id)
        result = await self._ask(question, history, where.owner, where.conversation_id, where.team)
        if await self._post(where, result) and where.thread_ts:
            self._threads[(where.channel, where.thread_ts)] = True

    async def _answer_command(self, question: str, owner: str, team: str, respond: Respond) -> None:
        result = await self._ask(question, [], owner, team=team)
        if isinstance(result, Answer):
            preface = f"_You asked:_ {escape(question)}"
            blocks = answer_blocks(
                result, self._link, quote_chars=self.slack.quote_chars, share=True, preface=preface
            )
            await self._respond(respond, text=fallback_text(result), blocks=blocks, response_type="ephemeral")
        else:
            await self._respond(
                respond, text=escape(result), blocks=notice_blocks(result), response_type="ephemeral"
            )

    async def _share(self, message_id: str, user: str, respond: Respond) -> None:
        kept = self._answers.get(message_id) if _MESSAGE_ID.match(message_id) else None
        if kept is None:
            notice = f"That answer is no longer available to share; ask again with {ASK_COMMAND}."
            await self._respond(respond, text=notice, response_type="ephemeral", replace_original=False)
            return
        question, answer = kept
        asker = f"<@{user}> asked" if re.fullmatch(r"[A-Z0-9]+", user) else "Someone asked"
        preface = f"{asker}: “{escape(question)}”"
        blocks = answer_blocks(answer, self._link, quote_chars=self.slack.quote_chars, preface=preface)
        if await self._respond(
            respond,
            text=fallback_text(answer),
            blocks=blocks,
            response_type="in_channel",
            replace_original=False,
        ):
            await self._respond(respond, delete_original=True)

    async def _store_feedback(self, message_id: str, rating: str, owner: str, respond: Respond) -> None:
        well_formed = len(message_id) <= MAX_ID_CHARS and _MESSAGE_ID.match(message_id)
        if not well_formed or rating not in ("up", "down"):
            log.warning("ignoring Slack feedback with a malformed message id or rating")
            return
        try:
            vote: Rating = "up" if rating == "up" else "down"
            replaced = await self.runtime.store.add_feedback(message_id, vote, None, "slack", owner)
            notice = "Thanks, your rating was updated." if replaced else "Thanks for the feedback."
        except QAError as exc:
            log.warning("feedback from Slack not stored: %s", exc.message)
            notice = "Sorry, that feedback could not be recorded."
        except Exception:
            log.exception("feedback from Slack not stored")
            notice = "Sorry, that feedback could not be recorded."
        await self._respond(respond, text=notice, response_type="ephemeral", replace_original=False)

    async def _ask(
        self,
        question: str,
        history: list[Turn],
        owner: str,
        conversation_id: str | None = None,
        team: str = "",
    ) -> Answer | str:
        """The chat service's answer (stored, counted, logged), or a message saying why there is none."""
        turn = ChatTurn(
            question,
            history,
            conversation_id,
            client=f"slack:{team}",
            surface="slack",
            owner=owner,
            create_conversation=conversation_id is not None,  # a thread names its conversation
        )
        try:
            answer = await self.runtime.chat.answer(turn)
        except QAError as exc:
            return exc.client_message
        except Exception:
            log.exception("answering a Slack question failed")
            return "Sorry, something went wrong on our side."
        self._answers[answer.message_id] = (question, answer)
        return answer

    # -- Slack I/O: failures are logged and survived, never raised into bolt ------------------

    def _link(self, citation: Citation) -> str:
        return source_url(self.slack.source_url_template, self._public_url, citation)

    async def _post(self, where: Where, result: Answer | str) -> bool:
        if isinstance(result, Answer):
            text, blocks = (
                fallback_text(result),
                answer_blocks(result, self._link, quote_chars=self.slack.quote_chars),
            )
        else:
            text, blocks = escape(result), notice_blocks(result)
        try:
            await self.client.chat_postMessage(
                channel=where.channel,
                thread_ts=where.thread_ts,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            return True
        except Exception as exc:
            log.warning("could not post a Slack answer in %s: %s", where.channel, describe(exc))
            return False

    async def _react(self, how: str, where: Where) -> None:
        """The "thinking" reaction on the question while we answer (cosmetic: failures ignored)."""
        call = self.client.reactions_add if how == "add" else self.client.reactions_remove
        try:
            await call(channel=where.channel, timestamp=where.ts, name=THINKING)
        except Exception as exc:  # cosmetic: whatever went wrong, the answer goes on
            log.warning("could not %s the thinking reaction in %s: %s", how, where.channel, describe(exc))

    async def _thread(self, channel: str, thread_ts: str) -> list[Message] | None:
        """The thread's messages, oldest first; None when Slack would not give them."""
        try:
            response = await self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
        except Exception as exc:  # history is a nicety: answer without it
            log.warning("could not read Slack thread history in %s: %s", channel, describe(exc))
            return None
        return history_messages(response)

    async def _recent_dm(self, where: Where) -> list[Message]:
        minutes = self.slack.dm_history_minutes
        now = slack_ts(where.ts)
        if minutes == 0 or now is None or self.settings.max_history_messages == 0:
            return []
        try:
            response = await self.client.conversations_history(
                channel=where.channel,
                latest=where.ts,
                oldest=str(now - 60 * minutes),
                inclusive=False,
                limit=min(2 * self.settings.max_history_messages, 200),
            )
        except Exception as exc:  # history is a nicety: answer without it
            log.warning("could not read Slack DM history in %s: %s", where.channel, describe(exc))
            return []
        return history_messages(response) or []

    async def _respond(self, respond: Respond, **message: Any) -> bool:
        """Reply through the interaction's ``response_url`` (works even where the bot is no member)."""
        try:
            response = await respond(**message)
        except Exception as exc:  # e.g. ValueError: no response_url; a network failure
            log.warning("could not respond to a Slack interaction: %s", describe(exc))
            return False
        status = getattr(response, "status_code", 200)
        if status != 200:
            log.warning("Slack refused a response_url reply: HTTP %s", status)
        return bool(status == 200)


def _has_place(event: Mapping[str, Any]) -> bool:
    """Whether an event says where it happened; one that does not cannot be answered."""
    if isinstance(event.get("channel"), str) and isinstance(event.get("ts"), str):
        return True
    log.warning("ignoring a Slack %s event without a channel or timestamp", event.get("type", "?"))
    return False
