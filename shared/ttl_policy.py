"""How long each kind of data lives, decided from the settings and nothing else.

A conversation lives at least ``CONVERSATION_TTL_SECONDS`` after its last write. Each write
records its *write epoch*: the clock rounded up to the epoch step (an hour, or a tenth of the
TTL when that is shorter), so a conversation expires between one TTL and one TTL plus a step
after its last write. That *logical* expiry is what every read and write checks, so nothing
expired is ever shown. Redis's own key expiry follows the epoch a grace period later and only
collects the memory: clocks of Lambda containers and of Redis differ by milliseconds, and the
grace period keeps those differences from ever showing a conversation whose keys are gone.

Rounding is what keeps writes lean: the epoch, and with it every key's expiry, changes about
once an hour, so a write re-sends an expiry only then instead of on every call.
"""

from __future__ import annotations

from typing import NamedTuple

from shared.settings import Settings

# Redis expiry trails the logical expiry by this much, at most; a tenth of the TTL for tiny TTLs.
_MAX_GRACE_MS = 60_000
# The epoch step, at most; a tenth of the TTL for short TTLs.
_MAX_STEP_MS = 3_600_000


class TtlPolicy(NamedTuple):
    """TTL decisions in milliseconds; 0 means "never expires"."""

    conversation_ttl_ms: int
    session_ttl_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TtlPolicy:
        """The policy the settings describe."""
        return cls(
            conversation_ttl_ms=settings.conversation_ttl_seconds * 1000,
            session_ttl_ms=settings.session_ttl_seconds * 1000,
        )

    @property
    def grace_ms(self) -> int:
        """How long after its logical expiry Redis keeps a conversation's keys."""
        return min(_MAX_GRACE_MS, self.conversation_ttl_ms // 10)

    @property
    def step_ms(self) -> int:
        """How far a write epoch rounds the clock up."""
        return max(1, min(_MAX_STEP_MS, self.conversation_ttl_ms // 10))

    def write_epoch(self, now_ms: int) -> int:
        """The write epoch recorded by a write at ``now_ms`` (0 when nothing expires)."""
        if self.conversation_ttl_ms == 0:
            return 0
        return -(-now_ms // self.step_ms) * self.step_ms

    def expired_before_ms(self, now_ms: int) -> int | None:
        """Conversations whose write epoch is at or before this have expired (None: none do)."""
        if self.conversation_ttl_ms == 0:
            return None
        return now_ms - self.conversation_ttl_ms

    def key_expire_at_ms(self, now_ms: int) -> int | None:
        """Absolute Redis expiry (PEXPIREAT) of keys written at ``now_ms``; None: never."""
        if self.conversation_ttl_ms == 0:
            return None
        return self.write_epoch(now_ms) + self.conversation_ttl_ms + self.grace_ms

    def session_until_ms(self, now_ms: int) -> int | None:
        """When a session pointer set at ``now_ms`` lapses; None when it never does."""
        return now_ms + self.session_ttl_ms if self.session_ttl_ms else None
