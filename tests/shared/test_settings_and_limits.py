"""Settings validation, the rate-limit decision, and the id rules: pure, no I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.errors import InvalidId, RateLimited
from shared.models import check_id, title_from
from shared.rate_limit import DENIED, OFF, Budget
from shared.settings import Settings

REQUIRED = {
    "UPSTASH_REDIS_REST_URL": "https://eu1-example.upstash.io",
    "UPSTASH_REDIS_REST_TOKEN": "AXsecret-token-value",
    "ANONYMOUS_TOKEN_SECRET": "a-secret-of-at-least-thirty-two-bytes-long",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment holding only what each test sets."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_match_the_readme(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.max_body_bytes == 3_112_960  # what every Lambda event can carry
    assert settings.max_message_chars == 200_000
    assert settings.max_messages_per_conversation == 10_000
    assert settings.max_title_chars == 200
    assert settings.max_conversations_per_user == 500
    assert settings.conversation_ttl_seconds == 90 * 86_400
    assert settings.session_ttl_seconds == 7 * 86_400
    assert settings.cors_allow_origins == []


def test_reads_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("CORS_ALLOW_ORIGINS", "http://localhost:3000, https://app.example.com/")
    env.setenv("KEY_PREFIX", "myapp")
    env.setenv("UPSTASH_REDIS_REST_URL", "https://eu1-example.upstash.io/")
    settings = Settings()
    assert settings.cors_allow_origins == ["http://localhost:3000", "https://app.example.com"]
    assert settings.key_prefix == "myapp"
    assert settings.upstash_redis_rest_url == "https://eu1-example.upstash.io"
    assert "AXsecret-token-value" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UPSTASH_REDIS_REST_URL", "eu1-example.upstash.io"),
        ("KEY_PREFIX", "has space"),
        ("KEY_PREFIX", "has{brace}"),
        ("CONVERSATION_TTL_SECONDS", "-1"),
        ("UPSTASH_TIMEOUT_SECONDS", "0"),
        ("MAX_BODY_BYTES", "lots"),
        ("TRUSTED_PROXY_SECRET", "short-enough-to-guess"),
    ],
)
def test_invalid_values_stop_the_start(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_some_way_to_authenticate_is_required(env: pytest.MonkeyPatch) -> None:
    env.delenv("ANONYMOUS_TOKEN_SECRET")
    with pytest.raises(ValidationError, match="no way to authenticate"):
        Settings()


def test_missing_upstash_url_stops_the_start(env: pytest.MonkeyPatch) -> None:
    env.delenv("UPSTASH_REDIS_REST_URL")
    with pytest.raises(ValidationError, match="upstash_redis_rest_url"):
        Settings()


def test_rate_limit_decision() -> None:
    budget = Budget(10, 60_000, "requests", "#rq")
    # 990.0 s into the epoch: the window (of 60 s) resets at 1,020 s.
    quota = budget.decide(7, now_ms=990_000)
    assert quota is not None
    assert quota.headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "7",
        "RateLimit-Reset": "30",
    }
    with pytest.raises(RateLimited) as refused:
        budget.decide(DENIED, now_ms=1_019_900)
    assert "at most 10 per window" in refused.value.detail
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.headers["RateLimit-Remaining"] == "0"
    assert budget.decide(OFF, now_ms=990_000) is None
    assert budget.script_args() == {"rl_max": 10, "rl_window": 60_000, "rl_field": "#rq"}


@pytest.mark.parametrize(
    "good", ["a", "A-z_0.9:x", "telegram:123", "x" * 128, "550e8400-e29b-41d4-a716-446655440000"]
)
def test_valid_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "undefined", "null", "NaN", "x" * 129, "a b", "a/b", "a|b", "é", "a\n"]
)
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidId, match="expected 1-128 characters"):
        check_id(bad)


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("Plan a trip to Lisbon", "Plan a trip to Lisbon"),
        ("  Plan   a\ntrip  ", "Plan a trip"),
        ("", "New conversation"),
        ("   \n ", "New conversation"),
        ("x" * 100, "x" * 59 + "…"),
        (
            "How do I deploy Python functions to AWS Lambda with the Serverless Framework?",
            "How do I deploy Python functions to AWS Lambda with the…",
        ),
        ("word " * 12 + "end", "word word word word word word word word word word word word…"),
    ],
)
def test_titles_from_the_first_user_message(content: str, title: str) -> None:
    made = title_from(content)
    assert made == title
    assert len(made) <= 60
