"""Key building and the TTL policy: pure functions, no I/O."""

from __future__ import annotations

import itertools

import pytest

from shared.keys import UserKeys, ip_rate_limit_key, user_tag
from shared.ttl_policy import TtlPolicy


def all_keys(keys: UserKeys, conversation_ids: list[str]) -> list[str]:
    fixed = list(keys.user().values())
    per_conversation = [k for c in conversation_ids for k in keys.conversation(c).values()]
    return fixed + per_conversation


def test_every_key_of_a_user_shares_one_hash_tag() -> None:
    keys = UserKeys("chat", "alice")
    for key in all_keys(keys, ["a", "b:c"]):
        tag = key[key.index("{") + 1 : key.index("}")]
        assert tag == "u:alice", key


@pytest.mark.parametrize("user", ["a}b", "{x}", "a:b", "a%7Db", "é", "a b", "a\u2028b"])
def test_user_ids_cannot_escape_the_hash_tag(user: str) -> None:
    tag = user_tag(user)
    assert tag.count("{") == 1
    assert tag.count("}") == 1
    assert ":" not in tag[3:-1]


def test_user_tags_are_injective() -> None:
    users = ["a", "a}", "a%7D", "a%257D", "A", "a:", "a%3A", "{u:a}"]
    assert len({user_tag(u) for u in users}) == len(users)


def test_conversation_ids_never_share_a_key() -> None:
    # Ids chosen to look like each other's keys: a, a:m, m, m:a, idx, o:a ...
    ids = ["a", "a:m", "m", "m:a", "idx", "o:a", "a:o", "exp", "sum", "gy", "a:idx"]
    keys = UserKeys("chat", "u")
    everything = all_keys(keys, ids)
    assert len(set(everything)) == len(everything)


def test_users_never_share_a_key() -> None:
    users = ["a", "a:m", "a}", "b"]
    everything = [k for u in users for k in all_keys(UserKeys("chat", u), ["x", "y"])]
    assert len(set(everything)) == len(everything)


def test_prefix_separates_deployments() -> None:
    a, b = UserKeys("app1", "u"), UserKeys("app2", "u")
    assert not set(all_keys(a, ["c"])) & set(all_keys(b, ["c"]))


def test_ip_keys() -> None:
    assert ip_rate_limit_key("chat", "2001:db8::1") == "chat:rl:{ip:2001%3Adb8%3A%3A1}"


def test_ttl_policy_in_ms() -> None:
    policy = TtlPolicy(conversation_ttl_ms=90 * 86_400_000, session_ttl_ms=7 * 86_400_000)
    now = 1_700_000_000_000  # 44,444.44... hours: not on an hour
    epoch = 1_700_002_800_000  # the next whole hour
    assert (policy.grace_ms, policy.step_ms) == (60_000, 3_600_000)
    assert policy.write_epoch(now) == epoch
    assert policy.write_epoch(epoch) == epoch
    assert policy.expired_before_ms(now) == now - 90 * 86_400_000
    assert policy.key_expire_at_ms(now) == epoch + 90 * 86_400_000 + 60_000
    assert policy.session_until_ms(now) == now + 7 * 86_400_000


def test_expiry_moves_on_once_per_step() -> None:
    policy = TtlPolicy(conversation_ttl_ms=90 * 86_400_000, session_ttl_ms=0)
    hour = 3_600_000
    start = 1_700_002_800_000 + 1  # just past a whole hour
    expiries = {policy.key_expire_at_ms(start + ms) for ms in range(0, hour, 7_919)}
    assert len(expiries) == 1
    assert policy.key_expire_at_ms(start + hour) != policy.key_expire_at_ms(start)


@pytest.mark.parametrize(
    ("ttl_ms", "written"),
    list(itertools.product([1_000, 60_000, 7_776_000_000], [0, 123_456, 1_700_000_000_001])),
)
def test_a_conversation_lives_its_ttl_and_at_most_one_step_more(ttl_ms: int, written: int) -> None:
    policy = TtlPolicy(conversation_ttl_ms=ttl_ms, session_ttl_ms=0)
    epoch = policy.write_epoch(written)

    def expired(now: int) -> bool:
        before = policy.expired_before_ms(now)
        assert before is not None
        return epoch <= before

    assert written <= epoch < written + policy.step_ms
    assert not expired(written + ttl_ms - 1)
    assert expired(written + ttl_ms + policy.step_ms)
    # Redis drops the keys only after the conversation has expired logically.
    expire_at = policy.key_expire_at_ms(written)
    assert expire_at is not None
    assert expired(expire_at - policy.grace_ms)
    assert expire_at > epoch + ttl_ms


def test_zero_ttl_means_never() -> None:
    policy = TtlPolicy(conversation_ttl_ms=0, session_ttl_ms=0)
    assert policy.expired_before_ms(10**13) is None
    assert policy.key_expire_at_ms(10**13) is None
    assert policy.write_epoch(10**13) == 0
    assert policy.session_until_ms(10**13) is None
