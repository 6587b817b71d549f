"""How long each kind of data lives, decided from the settings and nothing else.

A conversation lives ``CONVERSATION_TTL_SECONDS`` after its last write. That *logical* expiry is
what every read and write checks (a sorted set records each conversation's last write), so a
list never shows a conversation whose time is up. Redis's own key expiry is set a little later
(the grace period) and only collects the memory: clocks of Lambda containers and of Redis
differ by milliseconds, and the grace period keeps those differences from ever showing a
conversation whose keys are already gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings

# Redis expiry trails the logical expiry by this much, at most; a tenth of the TTL for tiny TTLs.
_MAX_GRACE_MS = 60_000


@dataclass(frozen=True, slots=True)
class TtlPolicy:
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

    def conversation_expired(self, last_write_ms: int, now_ms: int) -> bool:
        """Whether a conversation last written at ``last_write_ms`` has expired at ``now_ms``."""
        return self.conversation_ttl_ms > 0 and last_write_ms + self.conversation_ttl_ms <= now_ms

    def expired_before_ms(self, now_ms: int) -> int | None:
        """Conversations last written at or before this instant have expired (None: none do)."""
        if self.conversation_ttl_ms == 0:
            return None
        return now_ms - self.conversation_ttl_ms

    def conversation_key_expire_at_ms(self, now_ms: int) -> int | None:
        """Absolute Redis expiry (PEXPIREAT) for a conversation's keys written at ``now_ms``."""
        if self.conversation_ttl_ms == 0:
            return None
        return now_ms + self.conversation_ttl_ms + self.grace_ms

    def session_key_ttl_ms(self) -> int | None:
        """Relative Redis expiry (PEXPIRE) for session data, None when it never expires."""
        return self.session_ttl_ms or None
