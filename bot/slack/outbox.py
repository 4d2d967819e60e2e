"""Delivering the outbox (storage.notifications) to Slack.

slack_sdk's retry handlers absorb short blips (429 with Retry-After, 5xx, dropped connections); what
still fails stays queued and is retried with growing delays until Slack takes it. Only errors that
no retry can fix (the channel is gone, the bot was removed) end a message as undeliverable, and those
are logged loudly. Messages are claimed in the database, a batch at a time and again just before each attempt,
under the process's own claim id, so processes sharing the outbox (replicas of `qc-bot serve`, a `qc-bot
check-expiry`) never post the same message twice.

An edit (`NotificationRepository.enqueue_update`) is delivered the same way, as `chat.update` of the
message Slack posted for its original; it waits while the original (or an earlier edit of it) is still on
its way. A reply (`thread_of`, an org's card) waits the same way for its card, then goes in the card's thread
(`reply_broadcast` too when it is urgent), or top-level when the card never reached that channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.failures import ChannelError
from bot.messages.blocks import SlackMessage
from bot.messages.delivery import channel_fallback, compact, message_refused
from bot.ops.metrics import Metrics
from bot.slack.clients import SlackClients, WorkspaceNotInstalled
from bot.timings import Timings
from storage import outbox_keys
from storage.database import Repositories, Store
from storage.notifications import Notification

logger = logging.getLogger(__name__)

# Errors that repeat forever: retrying cannot help, an operator or admin must act.
PERMANENT_SLACK_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel", "invalid_blocks",
    "msg_too_long", "no_text", "invalid_auth", "account_inactive", "token_revoked", "missing_scope",
    "restricted_action", "cannot_dm_bot", "user_not_found", "not_allowed_token_type", "team_access_not_granted",
})

INVALID_CONTENT_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long"})
"""Slack's errors for a message it will never take as it is, but would as plain text: the builders keep every
message within Slack's limits, so one of these is a bug, and the message goes out compact instead."""
THREAD_ERRORS = frozenset({"thread_not_found", "invalid_thread_ts"})
"""`chat.postMessage`'s refusals of a reply whose parent is gone (Slack does not document what happens then;
the stand-in refuses by default, see standins/slack)."""

PERMANENT_EDIT_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""`chat.update`'s errors for a message that can no longer be edited (deleted, or not the bot's)."""


def notification_by_key(dedupe_key: str) -> Callable[[Repositories], Notification | None]:
    """A store read of one outbox message (a function of its own, so each read binds its own key)."""
    return lambda repos: repos.notifications.get(dedupe_key)


class SlackDelivery:
    def __init__(
        self, *, store: Store, clients: SlackClients, clock: Clock, timings: Timings, sender: str,
        metrics: Metrics | None = None,
    ) -> None:
        """`sender` is the claim id this process claims messages under (`Settings.instance_id`, distinct for
        every replica and every `check-expiry` run); `metrics` counts the results for `/metrics` (a one-off
        process has none to show, so none by default)."""
        self.sender = sender
        self._metrics = metrics or Metrics()
        self._store = store
        self._clients = clients
        self._clock = clock
        self._timings = timings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()
        self._cut_off: float | None = None

    def start(self) -> None:
        self._cut_off = None
        self._task = asyncio.create_task(self._run(), name="slack-delivery")

    async def stop(self) -> None:
        """Flush, then stop: what is due now goes out (the last edits of journeys that settled during a shutdown
        would otherwise wait for the next start), within `delivery_drain_seconds`. A message is only started in the
        first half of that time, so the one in flight has the second half to finish and be marked sent: one that
        Slack took but that is not marked sent would be posted again by the next process."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        drain = self._timings.delivery_drain_seconds
        self._cut_off = loop.time() + drain / 2
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                async with self._pass_lock:  # the pass under way goes on to the cut-off, then the loop ends
                    self._task.cancel()
                try:
                    await self.deliver_due()
                except Exception as exc:  # the shutdown goes on; the messages wait in the outbox for the next start
                    logger.warning("Could not flush the Slack outbox while stopping (%s)", exc.__class__.__name__)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self) -> int:
        """Send every message that is due now, claiming them a batch at a time (while stopping, none after the
        cut-off); return how many were sent."""
        async with self._pass_lock:
            sent = 0
            while not self._past_cut_off():
                batch = await self._claim_batch()
                for index, notification in enumerate(batch):
                    if self._past_cut_off():
                        await self._release([each.id for each in batch[index:]])
                        break
                    sent += await self._deliver(notification)
                if len(batch) < self._timings.delivery_batch:
                    break
            return sent

    def _past_cut_off(self) -> bool:
        return self._cut_off is not None and asyncio.get_running_loop().time() >= self._cut_off

    async def _claim_batch(self) -> list[Notification]:
        # The batch is reserved for a lease's lifetime only; each message's claim is extended to `delivery_lease`
        # just before it is posted (`_deliver`). So if this process dies, only the message it was posting waits
        # for its claim to lapse: another replica sends the rest within seconds.
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.notifications.claim_due(
            now=now, until=now + self._timings.lease_ttl, by=self.sender, limit=self._timings.delivery_batch))

    async def _release(self, notification_ids: list[int]) -> None:
        """Give back claims this process will not use (it is stopping): another replica need not wait for them."""
        await self._store.run(lambda repos: repos.notifications.release_claims(by=self.sender, ids=notification_ids))

    async def deliver_now(self, dedupe_keys: Iterable[str]) -> int:
        """Send these messages at once if they are still waiting and due; return how many were sent."""
        async with self._pass_lock:
            sent = 0
            for key in dedupe_keys:
                notification = await self._store.run(notification_by_key(key))
                if (notification is not None and notification.status == "pending"
                        and notification.next_attempt_at <= self._clock.now()):
                    sent += await self._deliver(notification)
            return sent

    async def _run(self) -> None:
        # Claims left under this claim id by a previous process that died mid-post (a replica restarted with a
        # fixed QC_INSTANCE_ID): without this they would hold their messages back until the claims lapse. Other
        # processes' claims are theirs: they end when recorded, or lapse.
        released = await self._store.run(lambda repos: repos.notifications.release_claims(by=self.sender))
        if released:
            logger.warning("Retrying %d Slack message(s) a previous process was posting when it stopped", released)
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Delivering Slack messages failed; will try again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._timings.delivery_poll_seconds)

    async def _deliver(self, notification: Notification) -> int:
        now = self._clock.now()
        lease_until = now + self._timings.delivery_lease
        claimed = await self._store.run(lambda repos: repos.notifications.claim_fresh(
            notification.id, now=now, until=lease_until, by=self.sender))
        if claimed is None:  # another process (`qc-bot check-expiry` next to `serve`) is sending it
            return 0
        notification = claimed
        try:
            client = await self._clients.for_team(notification.team_id)
        except WorkspaceNotInstalled:
            await self._failed(notification, "app_not_installed", permanent=True)
            return 0
        if notification.update_of is not None:
            return await self._deliver_update(client, notification)
        payload = notification.payload
        thread: dict[str, Any] = {}
        if notification.thread_of is not None and notification.user_id is None:
            target = await self._store.run(lambda repos: repos.notifications.thread_target(notification))
            if target.original is None and not target.gone:
                return await self._wait_for_original(notification)
            if target.original is not None:
                thread = {"thread_ts": target.original.message_ts}
                if notification.broadcast:
                    thread["reply_broadcast"] = True

        async def post_message(**in_thread: Any) -> tuple[str | None, str | None]:
            response = await client.chat_postMessage(
                channel=notification.channel_id, text=payload["text"], blocks=payload.get("blocks") or None,
                unfurl_links=False, unfurl_media=False, **in_thread,
            )
            return response.get("ts"), response.get("channel")

        async def post() -> tuple[str | None, str | None]:
            if notification.user_id is not None:  # only its user sees it
                response = await client.chat_postEphemeral(
                    channel=notification.channel_id, user=notification.user_id, text=payload["text"],
                    blocks=payload.get("blocks") or None,
                )
                return response.get("message_ts"), None
            if not thread:
                return await post_message()
            try:
                return await post_message(**thread)
            except SlackApiError as exc:
                if exc.response.get("error") not in THREAD_ERRORS:
                    raise
                # The card's thread is gone (someone deleted the card): the news still reaches the channel.
                logger.info("Posting %s top-level: its thread is gone", notification.dedupe_key)
                return await post_message()

        return await self._attempt(notification, post, permanent=PERMANENT_SLACK_ERRORS)

    async def _deliver_update(self, client: AsyncWebClient, update: Notification) -> int:
        target = await self._store.run(lambda repos: repos.notifications.update_target(update))
        if target.superseded or target.gone:
            reason = "superseded" if target.superseded else "original_undeliverable"
            logger.info("Dropping edit %s of %s: %s", update.dedupe_key, update.update_of, reason)
            await self._store.run(lambda repos: repos.notifications.mark_undeliverable(update.id, error=reason))
            return 0
        original = target.original
        if original is None or original.message_ts is None:
            return await self._wait_for_original(update)
        channel, ts = original.message_channel or original.channel_id, original.message_ts
        payload = update.payload
        channel_error = ChannelError.of(target.channel_refused) if target.channel_refused else None
        if channel_error is not None:
            payload = channel_fallback(original=payload, channel_id=update.channel_id, error=channel_error).as_payload()

        async def edit() -> tuple[str | None, str | None]:
            # `blocks: []` (a compact edit) must reach Slack: an edit without blocks keeps the old ones.
            await client.chat_update(channel=channel, ts=ts, text=payload["text"], blocks=payload.get("blocks"))
            return ts, channel

        return await self._attempt(update, edit, permanent=PERMANENT_SLACK_ERRORS | PERMANENT_EDIT_ERRORS)

    async def _wait_for_original(self, notification: Notification) -> int:
        """The message an edit or a reply refers to is still on its way: look again soon, without counting a
        failure."""
        later = self._clock.now() + timedelta(seconds=self._timings.delivery_retry.delay(0))
        await self._store.run(lambda repos: repos.notifications.postpone(notification.id, until=later))
        return 0

    async def _attempt(
        self, notification: Notification, send: Callable[[], Awaitable[tuple[str | None, str | None]]], *,
        permanent: frozenset[str],
    ) -> int:
        """Make one Slack call for a claimed message (`send` answers the message's ts and channel) and record
        how it went: sent, to retry, or refused for good (an error in `permanent`)."""
        try:
            message_ts, message_channel = await send()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            await self._failed(notification, error, permanent=error in permanent)
            return 0
        except Exception as exc:  # connection failures that outlived the retry handlers
            await self._failed(notification, exc.__class__.__name__, permanent=False)
            return 0
        now = self._clock.now()
        await self._store.run(lambda repos: repos.notifications.mark_sent(
            notification.id, message_ts=message_ts, message_channel=message_channel, now=now))
        self._metrics.delivery(result="sent")
        logger.info("Delivered Slack %s %s", "edit" if notification.update_of else "message", notification.dedupe_key)
        return 1

    async def _failed(self, notification: Notification, error: str, *, permanent: bool) -> None:
        if error in INVALID_CONTENT_ERRORS and notification.payload.get("blocks"):
            await self._send_compact(notification, error)
            return
        if permanent:
            logger.error("Slack refused message %s permanently (%s); it will not be retried",
                         notification.dedupe_key, error)
            fallback = self._fallback(notification, error)
            now = self._clock.now()

            def give_up(repos: Repositories) -> None:
                repos.notifications.mark_undeliverable(notification.id, error=error)
                if fallback is not None:
                    recipient, message = fallback
                    repos.notifications.enqueue(
                        dedupe_key=outbox_keys.direct(notification.dedupe_key), team_id=notification.team_id,
                        channel_id=recipient, payload=message.as_payload(), now=now)

            await self._store.run(give_up)
            self._metrics.delivery(result="undeliverable")
            if fallback is not None:
                self.wake()
            return
        delay = timedelta(seconds=self._timings.delivery_retry.delay(notification.attempts))
        next_attempt = self._clock.now() + delay
        logger.warning("Slack message %s not delivered (%s); retrying in %ss", notification.dedupe_key, error,
                       int(delay.total_seconds()))
        await self._store.run(lambda repos: repos.notifications.mark_retry(notification.id, error=error,
                                                                           next_attempt_at=next_attempt))
        self._metrics.delivery(result="retry")

    async def _send_compact(self, notification: Notification, error: str) -> None:
        """Slack refused the message as invalid: it goes out again at once as plain text (the same outbox row,
        so later edits still find it), and the person it concerns is told privately. Never dropped silently."""
        logger.error("Slack refused message %s as invalid (%s); sending it as plain text instead",
                     notification.dedupe_key, error)
        now = self._clock.now()

        def replace(repos: Repositories) -> None:
            repos.notifications.replace_payload(notification.id, payload=compact(notification.payload), error=error,
                                                next_attempt_at=now)
            if notification.user_id is not None:
                return  # a private message: its compact copy goes to the same person, who is told by it
            original = (repos.notifications.get(notification.update_of) if notification.update_of is not None
                        else notification)
            requester = original.fallback_user_id if original is not None else None
            if requester is not None:
                repos.notifications.enqueue(
                    dedupe_key=outbox_keys.refused(notification.dedupe_key), team_id=notification.team_id,
                    channel_id=notification.channel_id, user_id=requester, now=now,
                    payload=message_refused(channel_id=notification.channel_id, error=error).as_payload())

        await self._store.run(replace)
        self._metrics.delivery(result="compacted")
        self.wake()

    @staticmethod
    def _fallback(notification: Notification, error: str) -> tuple[str, SlackMessage] | None:
        """A channel that refuses a message for good: the person it concerns gets it directly, with the reason.
        A private message goes to its own user (a direct message is private too); a channel message to the
        user named as its fallback."""
        recipient = notification.user_id or notification.fallback_user_id
        channel_error = ChannelError.of(error)
        if recipient is None or channel_error is None:
            return None
        return recipient, channel_fallback(original=notification.payload, channel_id=notification.channel_id,
                                           error=channel_error)
