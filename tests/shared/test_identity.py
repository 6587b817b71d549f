"""Tests for shared.identity: bearer tokens to user ids, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared import identity as identity_module
from shared.errors import Unauthorized
from shared.identity import (
    ANONYMOUS_ISSUER,
    Identity,
    IdentityProviderUnavailable,
)
from shared.settings import Settings

SECRET = "sign-in-secret-0123456789abcdef0123456789"
OTHER_SECRET = "another-secret-0123456789abcdef0123456789"
ANON_SECRET = "anonymous-secret-0123456789abcdef01234567"
ANON_ID = re.compile(r"anon_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def now() -> int:
    return int(time.time())


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid sign-in payload; pass ``name=None`` to drop a claim."""
    base: dict[str, Any] = {"sub": "user-1", "iat": now(), "exp": now() + 300}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        ]
    )


def hmac_token(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token built by hand, for keys PyJWT itself refuses to sign with."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(identity: Identity, header: str | None) -> Unauthorized:
    """Resolve ``header`` expecting a 401, and check the answer never echoes the token."""
    with pytest.raises(Unauthorized) as caught:
        identity.resolve(header)
    error = caught.value
    assert error.status == 401
    assert error.headers["WWW-Authenticate"].startswith("Bearer")
    token = (header or "").partition(" ")[2].strip()
    if token:
        assert token not in error.detail
        assert token not in str(error)
        assert token not in json.dumps(error.to_problem())
    return error


@pytest.fixture
def identity() -> Identity:
    return Identity(jwt_secret=SECRET)


# --- The Authorization header ------------------------------------------------------------------


def test_missing_header_is_a_challenge_without_error_attribute(identity: Identity) -> None:
    error = refused(identity, None)
    assert error.headers["WWW-Authenticate"] == "Bearer"
    assert "required" in error.detail


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a.b",
        "Bearer a.b.c",
        "Bearer a.b.c extra",
        "Token " + hs256(claims()),
        "Bearer" + hs256(claims()),
    ],
)
def test_malformed_header_is_invalid_token(identity: Identity, header: str) -> None:
    error = refused(identity, header)
    assert error.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_oversized_token_is_refused_before_parsing(identity: Identity) -> None:
    assert identity.resolve(bearer(hs256(claims(pad="x" * 4000)))) == "user-1"
    error = refused(identity, bearer(hs256(claims(pad="x" * 9000))))
    assert "well-formed" in error.detail


def test_scheme_is_case_insensitive(identity: Identity) -> None:
    assert identity.resolve("bearer " + hs256(claims())) == "user-1"
    assert identity.resolve("BEARER  " + hs256(claims()) + " ") == "user-1"


# --- HS256 sign-in tokens ----------------------------------------------------------------------


def test_valid_hs256_token_gives_its_subject(identity: Identity) -> None:
    assert identity.resolve(bearer(hs256(claims(sub="github|42")))) == "github|42"


def test_exp_is_optional_but_checked_when_present(identity: Identity) -> None:
    assert identity.resolve(bearer(hs256(claims(exp=None)))) == "user-1"


def test_expired_token_is_refused(identity: Identity) -> None:
    error = refused(identity, bearer(hs256(claims(iat=now() - 600, exp=now() - 120))))
    assert "expired" in error.detail


def test_small_clock_skew_is_tolerated(identity: Identity) -> None:
    assert identity.resolve(bearer(hs256(claims(exp=now() - 5)))) == "user-1"
    assert identity.resolve(bearer(hs256(claims(nbf=now() + 5)))) == "user-1"


def test_token_not_valid_yet_is_refused(identity: Identity) -> None:
    error = refused(identity, bearer(hs256(claims(nbf=now() + 120))))
    assert "not valid yet" in error.detail


def test_forged_token_is_refused(identity: Identity) -> None:
    error = refused(identity, bearer(hs256(claims(), secret=OTHER_SECRET)))
    assert "signature" in error.detail


def test_a_token_seen_before_is_checked_again_against_the_clock(
    identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An HS256 token verified once is kept by the container that verified it (its key and
    # settings); its time claims are checked on every request, as PyJWT checks them.
    token = bearer(hs256(claims(exp=now() + 60)))
    assert identity.resolve(token) == "user-1"
    assert identity.resolve(token) == "user-1"
    assert "signature" in refused(Identity(jwt_secret=OTHER_SECRET), token).detail
    later = datetime.now(UTC) + timedelta(seconds=120)

    class _Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    monkeypatch.setattr(jwt.api_jwt, "datetime", _Later)
    monkeypatch.setattr(time, "time", later.timestamp)
    assert "expired" in refused(identity, token).detail
    assert "expired" in refused(identity, token).detail


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("offset", [-31, -30.5, -30, -29.9, 0, 29.9, 30, 30.1, 31])
def test_a_kept_token_passes_the_time_checks_pyjwt_makes(name: str, offset: float) -> None:
    # A kept token is accepted exactly when PyJWT's own check, same leeway, accepts it.
    value = 1_000_000
    moment = value + offset
    times = [value if claim == name else None for claim in ("exp", "nbf", "iat")]
    kept = identity_module._Verified("user-1", *times)
    check = getattr(jwt.api_jwt.PyJWT(), f"_validate_{name}")
    try:
        check({name: value}, moment, identity_module.LEEWAY_SECONDS)
        accepted = True
    except jwt.PyJWTError:
        accepted = False
    assert kept.still_valid(moment) is accepted


def test_a_malformed_token_is_refused_every_time(identity: Identity) -> None:
    for _ in range(2):  # header {}, payload "not json"
        error = refused(identity, bearer("e30.bm90IGpzb24."))
        assert error.detail == "the bearer token is not a well-formed JWT"


def test_tampered_payload_is_refused(identity: Identity) -> None:
    header, _, signature = hs256(claims(sub="alice")).split(".")
    forged_payload = b64url(json.dumps(claims(sub="bob")).encode())
    refused(identity, bearer(f"{header}.{forged_payload}.{signature}"))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(identity: Identity, alg: str) -> None:
    error = refused(identity, bearer(raw_token({"alg": alg, "typ": "JWT"}, claims())))
    assert "algorithm" in error.detail


def test_other_hmac_algorithms_are_refused(identity: Identity) -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")  # HS512 wants 64 bytes
    assert "algorithm" in refused(identity, bearer(token)).detail


def test_iss_and_aud_are_checked_when_configured() -> None:
    strict = Identity(jwt_secret=SECRET, issuer="https://auth.example", audience="chat-api")
    good = claims(iss="https://auth.example", aud="chat-api")
    assert strict.resolve(bearer(hs256(good))) == "user-1"
    assert strict.resolve(bearer(hs256({**good, "aud": ["other", "chat-api"]}))) == "user-1"

    wrong_iss = refused(strict, bearer(hs256({**good, "iss": "https://evil.example"})))
    assert "issuer" in wrong_iss.detail
    wrong_aud = refused(strict, bearer(hs256({**good, "aud": "other-api"})))
    assert "audience" in wrong_aud.detail
    assert "'iss'" in refused(strict, bearer(hs256(claims(aud="chat-api")))).detail
    assert "'aud'" in refused(strict, bearer(hs256(claims(iss="https://auth.example")))).detail


def test_iss_and_aud_are_ignored_when_not_configured(identity: Identity) -> None:
    token = hs256(claims(iss="https://anyone.example", aud="whatever"))
    assert identity.resolve(bearer(token)) == "user-1"


# --- The subject -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sub",
    [None, "", 123, ["user-1"], "x" * 257, "user\n1", "user\x001", "user\x7f", "a\u2028b"],
)
def test_bad_subject_is_refused(identity: Identity, sub: object) -> None:
    error = refused(identity, bearer(hs256(claims(sub=sub))))
    assert "sub" in error.detail


def test_subject_of_256_characters_is_accepted(identity: Identity) -> None:
    assert identity.resolve(bearer(hs256(claims(sub="x" * 256)))) == "x" * 256


def test_sign_in_token_may_not_claim_an_anonymous_id() -> None:
    both = Identity(jwt_secret=SECRET, anonymous_secret=ANON_SECRET)
    token = hs256(claims(sub="anon_0b7e8a52-4f5c-4c8e-9a57-7f0f3d1c2b6a"))
    assert "anonymous" in refused(both, bearer(token)).detail


# --- Anonymous tokens --------------------------------------------------------------------------


def test_anonymous_round_trip() -> None:
    anon = Identity(anonymous_secret=ANON_SECRET, anonymous_ttl_seconds=3600)
    assert anon.anonymous_enabled
    moment = datetime.now(UTC)
    issued = anon.issue_anonymous_token(now=moment)

    assert ANON_ID.fullmatch(issued.user_id)
    assert issued.expires_at == moment.replace(microsecond=0) + timedelta(seconds=3600)
    assert issued.expires_at.tzinfo is UTC
    assert anon.resolve(bearer(issued.token)) == issued.user_id
    payload = jwt.decode(issued.token, ANON_SECRET, algorithms=["HS256"])
    assert payload["iss"] == ANONYMOUS_ISSUER
    assert payload["exp"] == int(issued.expires_at.timestamp())


def test_each_anonymous_token_gets_a_new_id() -> None:
    anon = Identity(anonymous_secret=ANON_SECRET)
    assert anon.issue_anonymous_token().user_id != anon.issue_anonymous_token().user_id


def test_anonymous_token_also_accepted_next_to_sign_in() -> None:
    both = Identity(jwt_secret=SECRET, anonymous_secret=ANON_SECRET)
    issued = both.issue_anonymous_token()
    assert both.resolve(bearer(issued.token)) == issued.user_id
    assert both.resolve(bearer(hs256(claims()))) == "user-1"


def test_expired_anonymous_token_is_refused() -> None:
    anon = Identity(anonymous_secret=ANON_SECRET, anonymous_ttl_seconds=60)
    issued = anon.issue_anonymous_token(now=datetime.now(UTC) - timedelta(hours=1))
    assert "expired" in refused(anon, bearer(issued.token)).detail


def test_anonymous_token_refused_when_anonymous_secret_unset() -> None:
    token = Identity(anonymous_secret=ANON_SECRET).issue_anonymous_token().token
    error = refused(Identity(jwt_secret=SECRET), bearer(token))
    assert "anonymous" in error.detail


def test_anonymous_token_refused_with_another_anonymous_secret() -> None:
    token = Identity(anonymous_secret=ANON_SECRET).issue_anonymous_token().token
    other = Identity(anonymous_secret=OTHER_SECRET)
    assert "signature" in refused(other, bearer(token)).detail


def test_anonymous_looking_token_signed_with_sign_in_secret_is_refused() -> None:
    both = Identity(jwt_secret=SECRET, anonymous_secret=ANON_SECRET)
    payload = claims(iss=ANONYMOUS_ISSUER, sub="anon_0b7e8a52-4f5c-4c8e-9a57-7f0f3d1c2b6a")
    assert "signature" in refused(both, bearer(hs256(payload, secret=SECRET))).detail


@pytest.mark.parametrize(
    "payload",
    [
        {"iss": ANONYMOUS_ISSUER, "sub": "anon_0b7e8a52-4f5c-4c8e-9a57-7f0f3d1c2b6a", "iat": 1},
        {"iss": ANONYMOUS_ISSUER, "sub": "user-1", "iat": 1, "exp": 2**40},
        {"iss": ANONYMOUS_ISSUER, "sub": "anon_not-a-uuid", "iat": 1, "exp": 2**40},
    ],
    ids=["no-exp", "not-anon-id", "not-uuid"],
)
def test_anonymous_token_needs_exp_and_an_anonymous_id(payload: dict[str, Any]) -> None:
    anon = Identity(anonymous_secret=ANON_SECRET)
    refused(anon, bearer(hs256({**payload, "iat": now()}, secret=ANON_SECRET)))


def test_issuing_needs_the_anonymous_secret(identity: Identity) -> None:
    assert not identity.anonymous_enabled
    with pytest.raises(RuntimeError):
        identity.issue_anonymous_token()


def test_issuing_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Identity(anonymous_secret=ANON_SECRET).issue_anonymous_token(now=datetime(2025, 1, 1))


# --- Configuration -----------------------------------------------------------------------------


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_JWT_SECRET", "AUTH_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        upstash_redis_rest_url="https://example.upstash.io",
        upstash_redis_rest_token="t",
        auth_jwt_secret=SECRET,
        auth_jwt_audience="chat-api",
        anonymous_token_secret=ANON_SECRET,
        anonymous_token_ttl_seconds=120,
    )
    built = Identity.from_settings(settings)
    assert built.anonymous_enabled
    assert built.resolve(bearer(hs256(claims(aud="chat-api")))) == "user-1"
    refused(built, bearer(hs256(claims(aud="other"))))
    issued = built.issue_anonymous_token()
    assert issued.expires_at - datetime.now(UTC) <= timedelta(seconds=121)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jwt_secret": "too-short"},
        {"anonymous_secret": "too-short"},
        {"jwks_url": "file:///etc/passwd"},
        {"anonymous_secret": ANON_SECRET, "anonymous_ttl_seconds": 0},
    ],
)
def test_bad_configuration_fails_at_start(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies per setting
        Identity(**kwargs)


# --- RS256 / ES256 through a JWKS endpoint -----------------------------------------------------


TRICKLED_BYTES = 10


@dataclass
class JwksServer:
    """A local JWKS endpoint: PyJWKClient fetches with urllib, which respx cannot intercept."""

    url: str = ""
    status: int = 200
    body: bytes = b'{"keys": []}'
    requests: int = 0
    keys: list[dict[str, Any]] = field(default_factory=list)
    #: Pause before each of the body's first ``TRICKLED_BYTES`` bytes, each sent on its own.
    trickle_seconds: float = 0.0

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.keys.extend(jwks)
        self.body = json.dumps({"keys": self.keys}).encode()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            body = state.body
            if state.trickle_seconds:
                for index in range(TRICKLED_BYTES):
                    time.sleep(state.trickle_seconds)
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                body = body[TRICKLED_BYTES:]
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


@pytest.fixture
def jwks_identity(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> Identity:
    jwks_server.publish(rsa_jwk(rsa_key, "rsa-1", alg="RS256"), ec_jwk(ec_key, "ec-1"))
    return Identity(jwks_url=jwks_server.url)


def test_rs256_token_verified_with_jwks_key(
    jwks_identity: Identity, jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(sub="rsa-user"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert jwks_identity.resolve(bearer(token)) == "rsa-user"
    # The key set is cached: a second token costs no fetch.
    assert jwks_identity.resolve(bearer(token)) == "rsa-user"
    assert jwks_server.requests == 1


def test_es256_token_verified_with_jwks_key(
    jwks_identity: Identity, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = jwt.encode(claims(sub="ec-user"), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert jwks_identity.resolve(bearer(token)) == "ec-user"


def test_rsa_jwk_without_alg_still_verifies_rs256(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks_server.publish(rsa_jwk(rsa_key, "no-alg"))
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "no-alg"})
    assert Identity(jwks_url=jwks_server.url).resolve(bearer(token)) == "user-1"


def test_jwks_token_signed_by_another_key_is_refused(jwks_identity: Identity) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    assert "signature" in refused(jwks_identity, bearer(token)).detail


def test_jwks_token_with_unknown_or_missing_kid_is_refused(
    jwks_identity: Identity, rsa_key: rsa.RSAPrivateKey
) -> None:
    unknown = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-9"})
    assert "unknown" in refused(jwks_identity, bearer(unknown)).detail
    no_kid = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert "kid" in refused(jwks_identity, bearer(no_kid)).detail


def test_jwks_token_checks_iss_aud_and_exp(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks_server.publish(rsa_jwk(rsa_key, "rsa-1", alg="RS256"))
    strict = Identity(jwks_url=jwks_server.url, issuer="https://idp", audience="chat-api")

    def sign(payload: dict[str, Any]) -> str:
        return bearer(jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}))

    assert strict.resolve(sign(claims(iss="https://idp", aud="chat-api"))) == "user-1"
    refused(strict, sign(claims(iss="https://other", aud="chat-api")))
    refused(strict, sign(claims(iss="https://idp", aud="other")))
    refused(strict, sign(claims(iss="https://idp", aud="chat-api", exp=now() - 120)))
    refused(strict, sign(claims(iss="https://idp", aud="chat-api", sub="anon_x")))


def test_hs256_token_refused_when_only_jwks_is_configured(
    jwks_identity: Identity, jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    # The classic confusion attack: HMAC over the token with the *public* key as the secret.
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attack = hmac_token({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), public_pem)
    assert "HS256" in refused(jwks_identity, bearer(attack)).detail
    assert "HS256" in refused(jwks_identity, bearer(hs256(claims()))).detail
    assert jwks_server.requests == 0  # refused before any key was even looked up


def test_symmetric_jwk_is_never_used(jwks_server: JwksServer) -> None:
    oct_secret = b"jwks-published-oct-key-0123456789abcdef"
    jwks_server.publish({"kty": "oct", "kid": "oct-1", "k": b64url(oct_secret), "alg": "HS256"})
    jwks_only = Identity(jwks_url=jwks_server.url)
    forged = hmac_token({"alg": "HS256", "kid": "oct-1"}, claims(), oct_secret)
    refused(jwks_only, bearer(forged))
    relabelled = hmac_token({"alg": "RS256", "kid": "oct-1"}, claims(), oct_secret)
    assert "does not match" in refused(jwks_only, bearer(relabelled)).detail


def test_token_algorithm_must_match_its_jwk(
    jwks_identity: Identity, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    # An ES256 token pointing at the RSA key's kid.
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "rsa-1"})
    assert "does not match" in refused(jwks_identity, bearer(token)).detail


def test_weak_rsa_key_from_jwks_is_refused(jwks_server: JwksServer) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    jwks_server.publish(rsa_jwk(weak, "weak", alg="RS256"))
    with pytest.warns(jwt.InsecureKeyLengthWarning):  # PyJWT warns when signing with it
        token = jwt.encode(claims(), weak, algorithm="RS256", headers={"kid": "weak"})
    assert "key" in refused(Identity(jwks_url=jwks_server.url), bearer(token)).detail


def test_rs256_refused_when_jwks_not_configured(
    identity: Identity, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert "RS256" in refused(identity, bearer(token)).detail


def test_jwks_server_down_is_503(jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    # Bind a port, then free it: nothing listens there any more.
    probe = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    down = Identity(jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    with pytest.raises(IdentityProviderUnavailable) as caught:
        down.resolve(bearer(token))
    error = caught.value
    assert error.status == 503
    assert error.code == "identity_unavailable"
    assert error.headers == {"Retry-After": "5"}
    assert token not in error.detail


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b'{"error": "boom"}'), (200, b"<html>maintenance</html>"), (200, b'{"keys": []}')],
    ids=["http-500", "not-json", "empty-set"],
)
def test_jwks_endpoint_answering_nonsense_is_503(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, status: int, body: bytes
) -> None:
    jwks_server.status = status
    jwks_server.body = body
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(IdentityProviderUnavailable):
        Identity(jwks_url=jwks_server.url).resolve(bearer(token))
    assert jwks_server.requests >= 1


def test_jwks_fetch_has_one_deadline(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every byte arrives well within urllib's per-read timeout, so only a deadline on the whole
    # fetch stops it; without one the key set arrives after a second and the token is accepted.
    monkeypatch.setattr(identity_module, "JWKS_TIMEOUT_SECONDS", 0.25)
    jwks_server.publish(rsa_jwk(rsa_key, "rsa-1", alg="RS256"))
    jwks_server.trickle_seconds = 0.1
    slow = Identity(jwks_url=jwks_server.url)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    with pytest.raises(IdentityProviderUnavailable) as caught:
        slow.resolve(bearer(token))
    assert "in time" in caught.value.detail
