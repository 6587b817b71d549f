"""One call of a user's script, with what every such call carries.

The store's methods say what a call is about (its script, keys and arguments); this adds the
arguments every user script takes (the clock, the expiry policy's instants, the caller's rate
limit), keeps a write's answer for a re-send, has the Upstash runner send it, settles a write
whose answer was lost, and reads the reply by name, a refusal raised as its API error. The
reply comes back with what the call answered for the response: what is left of the caller's
rate limit, and Upstash's sync token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from shared import codec, push, scripts
from shared.context import Answered, Caller
from shared.errors import ApiError, OutcomeUnknown, StoreUnavailable
from shared.keys import UserKeys
from shared.refusals import About, error_of
from shared.scripts import Reply, ScriptSpec
from shared.settings import Settings
from shared.ttl_policy import TtlPolicy
from shared.upstash import Received, Upstash

# The rate-limit arguments of a call that is not counted.
_UNCOUNTED: dict[str, str | int] = {"rl_max": 0, "rl_window": 0, "rl_field": ""}


class Replied(NamedTuple):
    """A script's reply, by name, and what its call answered for the response."""

    reply: Reply
    answered: Answered


class UserCalls:
    """Sends scripts of one user's data through ``upstash``, under ``settings``' policies."""

    def __init__(
        self, upstash: Upstash, settings: Settings, ttl: TtlPolicy, clock_ms: Callable[[], int]
    ) -> None:
        self._upstash = upstash
        self._settings = settings
        self._prefix = settings.key_prefix
        self._ttl = ttl
        self._clock_ms = clock_ms
        self._push = "1" if settings.websocket_endpoint else ""

    async def run(
        self,
        spec: ScriptSpec,
        caller: Caller,
        keys: Mapping[str, str],
        args: Mapping[str, str | int],
        *,
        rest_keys: Sequence[str] = (),
        rest_args: Sequence[str | int] = (),
        now: int | None = None,
        counted: bool = True,
        idempotent: bool = True,
        about: About | None = None,
        before: Answered | None = None,
    ) -> Replied:
        """Send one script of a user's data; its answer, by name, after the caller's rate limit.

        The reply comes with what the call answered: what is left of the caller's window and
        Upstash's sync token. ``before``: what the request's earlier calls answered, when this
        call is not its first: its token goes with this call (else the caller's), and its quota
        stands when this call is not counted.
        A refusal (``Reply.refused``) is raised as its API error (``shared/refusals.py``), its
        detail naming what the call was ``about``; that error, and any other this call raises,
        carries what the calls had answered (``ApiError.answered``). ``counted`` False: the call
        is not counted (the request was counted by its first call).
        A write script also keeps its answer for a run of the same request that may come again:
        under the caller's Idempotency-Key, or, without one, under an id of this call, so that
        the Upstash client's re-send of a call whose answer was lost answers what the first run
        answered instead of writing again. Unless ``idempotent`` is False: a write already safe
        to run twice, kept lean.
        """
        now = self._clock_ms() if now is None else now
        fingerprint = caller.fingerprint if idempotent else ""
        request_id = ""
        if "idem" in spec.keys:
            user = UserKeys(self._prefix, caller.user_id)
            key = caller.idempotency_key if fingerprint else None
            keys = {**keys, "idem": user.idempotency(key), "ik": user.idempotency_index}
            if idempotent and not fingerprint:
                request_id = secrets.token_urlsafe(12)
        if "ws" in spec.keys:
            # A write the feed reports: with push on, its script answers the connections too.
            keys = {**keys, "ws": UserKeys(self._prefix, caller.user_id).connections}
            args = {**args, "push": self._push}
        budget = caller.budget if counted else None
        limit_args = budget.script_args() if budget else _UNCOUNTED
        call = spec.call(
            keys,
            {**self._user_args(spec, now, limit_args, fingerprint, request_id), **args},
            rest_keys=rest_keys,
            rest_args=rest_args,
            read_only=budget is None or budget.off,
        )
        answered = before or Answered(None, caller.sync_token)
        try:
            try:
                received = await self._upstash.run(call, sync_token=answered.sync_token)
            except OutcomeUnknown:
                if not request_id:
                    raise  # (its Idempotency-Key settles it: the caller sends it again)
                received = await self._settle(caller, request_id, now, answered.sync_token)
            answer = received.answer
            listeners = None
            if answer and isinstance(answer[0], list):
                # {answer, connections, extra} (lib/push.lua): a success with push on.
                listeners = push.Listeners(push.connections(answer[1], now), list(answer[2]))
                answer = answer[0]
            answered = Answered(answered.quota, received.sync_token)
            # The quota first: a call over its limit answers it alone.
            if budget is not None:
                answered = Answered(budget.decide(int(answer[0]), now), received.sync_token)
            reply = spec.replies.decode(answer)
            reply.listeners = listeners
            if reply.refused:
                settings = self._settings
                about = about or About()
                raise error_of(
                    reply,
                    About(
                        about.conversation_id,
                        about.message_id,
                        about.sequence,
                        idempotency_key=caller.idempotency_key or "",
                        max_messages=settings.max_messages_per_conversation,
                        max_message_chars=settings.max_message_chars,
                    ),
                )
        except ApiError as error:
            error.answered = answered
            raise
        return Replied(reply, answered)

    def _user_args(
        self,
        spec: ScriptSpec,
        now: int,
        limit_args: Mapping[str, str | int],
        fingerprint: str,
        request_id: str,
    ) -> dict[str, str | int]:
        """The ``USER_ARGS`` values ``spec`` takes (its ``user_args``), for a call at ``now``."""
        expired_before = self._ttl.expired_before_ms(now)
        expire_at = self._ttl.key_expire_at_ms(now)
        values: dict[str, str | int] = {
            "now": now,
            "now_iso": codec.iso(now),
            "expired_before": "" if expired_before is None else expired_before,
            "epoch": self._ttl.write_epoch(now),
            "expire_at": "" if expire_at is None else expire_at,
            **limit_args,
            "idem_fp": fingerprint,
            "rid": request_id,
        }
        return {name: values[name] for name in spec.user_args}

    async def _settle(
        self, caller: Caller, request_id: str, now: int, sync_token: str | None
    ) -> Received:
        """The answer of the write ``request_id`` whose every attempt went unanswered.

        One more call learns whether a run of it was applied (then its answer is the
        request's) and, when none was, makes sure none ever will be: an attempt still on its
        way writes nothing. When that call fails too, the outcome stays unknown.
        """
        spec = scripts.SETTLE_REQUEST
        call = spec.call(
            {"sum": UserKeys(self._prefix, caller.user_id).summaries},
            self._user_args(spec, now, _UNCOUNTED, "", request_id),
        )
        try:
            received = await self._upstash.run(call, sync_token=sync_token)
        except StoreUnavailable:
            raise OutcomeUnknown(
                "the conversation store did not confirm the write: it may have been applied, "
                "wholly or not at all; read it back before sending it again (or send writes "
                "with an Idempotency-Key, which makes a re-send exactly once)",
                retry_after=self._upstash.breaker.retry_after(),
            ) from None
        answer = received.answer
        settled = scripts.SETTLE_REQUEST.replies.decode(answer)
        # Applied: the run's answer. Not: 'cancelled', which the write's replies refuse with.
        kept = list(settled["answer"]) if settled.status == "applied" else list(answer)
        return Received(kept, received.sync_token)
