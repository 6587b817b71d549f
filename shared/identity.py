"""Who is calling: the bearer token in ``Authorization`` turned into a user id, or a 401.

Two kinds of token are accepted (docs/api.md, "Calling it from the frontend"):

* **Sign-in tokens** minted by the app's own sign-in: HS256 with ``AUTH_JWT_SECRET``, or RS256 /
  ES256 checked against the keys published at ``AUTH_JWKS_URL``. ``iss`` and ``aud`` are checked
  only when ``AUTH_JWT_ISSUER`` / ``AUTH_JWT_AUDIENCE`` are set.
* **Anonymous tokens** minted here by :meth:`Identity.issue_anonymous_token`: HS256 with
  ``ANONYMOUS_TOKEN_SECRET``, ``iss`` = :data:`ANONYMOUS_ISSUER`, ``sub`` = ``anon_<uuid4>``.

The algorithm a token may use is decided by where its key comes from, never by the token alone:
HS256 is only ever checked against a configured secret, RS256/ES256 only against a JWKS key of
that same algorithm, and nothing else (``none`` included) is accepted. That rules out the classic
confusion attack where an HS256 token is "verified" with a public key used as an HMAC secret.

Everything here is pure except the JWKS fetch, which ``PyJWKClient`` does with ``urllib`` and
caches for the container's life (the set for :data:`JWKS_CACHE_SECONDS`). urllib's timeout bounds
each socket operation, not a fetch (nor its DNS lookup), so the fetch runs on a worker thread and
the request stops waiting after :data:`JWKS_TIMEOUT_SECONDS` in all.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import jwt

from shared.errors import ApiError, Unauthorized

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from pydantic import SecretStr

    from shared.settings import Settings

logger = logging.getLogger(__name__)

#: The ``iss`` of every anonymous token. It is what routes a token to the anonymous secret; a
#: sign-in provider would have to use this exact issuer to collide with it.
ANONYMOUS_ISSUER = "urn:chat-history:anonymous"
#: Prefix of every anonymous user id; sign-in tokens may not use it (ids never collide).
ANONYMOUS_PREFIX = "anon_"

#: Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, between us and whoever minted the token.
LEEWAY_SECONDS = 30
#: Longest ``sub`` accepted; the id ends up inside storage keys.
MAX_SUBJECT_CHARS = 256
#: RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output (32 bytes).
MIN_SECRET_BYTES = 32
#: A JWKS endpoint must answer well inside a Lambda's and API Gateway's time budget: the most a
#: request waits for a key set, connecting, resolving and reading included.
JWKS_TIMEOUT_SECONDS = 3.0
#: How long a fetched key set is trusted before it is fetched again. An unknown ``kid`` also
#: triggers a refetch (rate-limited by PyJWT), so a rotated-in key is picked up sooner.
JWKS_CACHE_SECONDS = 300
#: Tokens longer than this are refused before any parsing (a cheap bound on work per request).
MAX_TOKEN_CHARS = 8192

_ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})
# Three base64url segments (PyJWT tolerates '=' padding); the signature may be empty for 'none',
# which is then refused by the algorithm check with a clearer message.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]*")
# C0 and C1 controls, DEL, the Unicode line/paragraph separators and lone surrogates: none of
# them belong in an id that is logged and embedded in storage keys.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ANONYMOUS_SUBJECT = re.compile(
    r"anon_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


class IdentityProviderUnavailable(ApiError):
    """The JWKS endpoint could not be reached or answered nonsense: a 503, not the caller's fault.

    Raised only while verifying an RS256/ES256 token whose keys are not cached. The token may be
    perfectly good, so the client is told to retry rather than to sign in again.
    """

    status = 503
    code = "identity_unavailable"
    title = "Identity provider unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class AnonymousToken(NamedTuple):
    """A freshly minted anonymous token, as ``POST /api/auth/anonymous`` returns it."""

    token: str
    user_id: str
    issued_at: int  # seconds since the epoch: the token's iat
    expires_at: datetime  # timezone-aware, UTC


class Identity:
    """Resolves bearer tokens to user ids; build it once per container with :meth:`from_settings`.

    Thread-safe: the mutable state is ``PyJWKClient``'s key cache, which locks itself, and the
    HS256 tokens verified lately (``_verified``), which a lock guards.
    """

    # Exceptions from PyJWT mapped to fixed details: PyJWT's own messages are not part of our
    # contract, and a fixed text can never echo the token back.
    _DETAILS: ClassVar[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidIssuerError, "the token's issuer is not accepted"),
        (jwt.InvalidAudienceError, "the token's audience is not accepted"),
        (jwt.InvalidSignatureError, "the token's signature is invalid"),
        (jwt.InvalidAlgorithmError, "the token's signing algorithm is not accepted"),
        (jwt.InvalidKeyError, "the token's signing key is not acceptable"),
        (jwt.DecodeError, "the bearer token is not a well-formed JWT"),
    )

    def __init__(
        self,
        *,
        jwt_secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        anonymous_secret: str | None = None,
        anonymous_ttl_seconds: int = 30 * 86_400,
    ) -> None:
        """Check the configuration and create the JWKS client (no network until first use).

        Raises ``ValueError`` for a secret shorter than 32 bytes or a JWKS URL that is not
        http(s), so a bad configuration stops the container at start.
        """
        self._jwt_secret = _secret_bytes("AUTH_JWT_SECRET", jwt_secret)
        self._anonymous_secret = _secret_bytes("ANONYMOUS_TOKEN_SECRET", anonymous_secret)
        if anonymous_ttl_seconds <= 0:
            msg = "ANONYMOUS_TOKEN_TTL_SECONDS must be positive"
            raise ValueError(msg)
        self._anonymous_ttl = anonymous_ttl_seconds
        self._issuer = issuer
        self._audience = audience
        self._verified: dict[str, _Verified] = {}
        self._verified_lock = threading.Lock()
        self._jwks: jwt.PyJWKClient | None = None
        self._jwks_fetcher: ThreadPoolExecutor | None = None
        if jwks_url is not None:
            # urllib would also open file:// and ftp:// URLs; a key set only ever comes over HTTP.
            if not jwks_url.startswith(("https://", "http://")):
                msg = "AUTH_JWKS_URL must start with https:// (or http:// for a local stand-in)"
                raise ValueError(msg)
            # A fetch left behind by its deadline still holds a worker until urllib gives up,
            # so there are a few: a stuck one does not make the next request wait behind it.
            # Imported here: only a deployment with a JWKS URL needs threads (and their import).
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

            self._jwks_fetcher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jwks")
            self._jwks = jwt.PyJWKClient(
                jwks_url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        """Build the resolver from the container's settings."""
        return cls(
            jwt_secret=_reveal(settings.auth_jwt_secret),
            jwks_url=settings.auth_jwks_url,
            issuer=settings.auth_jwt_issuer,
            audience=settings.auth_jwt_audience,
            anonymous_secret=_reveal(settings.anonymous_token_secret),
            anonymous_ttl_seconds=settings.anonymous_token_ttl_seconds,
        )

    @property
    def anonymous_enabled(self) -> bool:
        """Whether anonymous tokens are issued and accepted (``ANONYMOUS_TOKEN_SECRET`` set)."""
        return self._anonymous_secret is not None

    def issue_anonymous_token(self, now: datetime | None = None) -> AnonymousToken:
        """Mint a token for a new anonymous user ``anon_<uuid4>``, valid for the configured TTL.

        Raises ``RuntimeError`` when anonymous tokens are disabled; callers check
        :attr:`anonymous_enabled` first and answer 404.
        """
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            msg = "now must be timezone-aware"
            raise ValueError(msg)
        return self.anonymous_token(f"{ANONYMOUS_PREFIX}{uuid.uuid4()}", int(now.timestamp()))

    def anonymous_token(self, user_id: str, issued_at: int) -> AnonymousToken:
        """The token of anonymous user ``user_id`` issued at ``issued_at`` (seconds).

        The same user and instant sign to the same token, byte for byte (HS256 over the same
        claims), so a retried sign-up can be answered the token it was first given from these
        two values alone: the token itself, a bearer credential, is never stored.
        """
        if self._anonymous_secret is None:
            msg = "anonymous tokens are disabled (ANONYMOUS_TOKEN_SECRET is not set)"
            raise RuntimeError(msg)
        expires_at = issued_at + self._anonymous_ttl
        claims = {"iss": ANONYMOUS_ISSUER, "sub": user_id, "iat": issued_at, "exp": expires_at}
        token = jwt.encode(claims, self._anonymous_secret, algorithm="HS256")
        return AnonymousToken(
            token=token,
            user_id=user_id,
            issued_at=issued_at,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )

    def resolve(self, authorization_header: str | None) -> str:
        """Return the user id (the token's ``sub``) for an ``Authorization`` header value.

        Raises :class:`~shared.errors.Unauthorized` for a missing, malformed, forged, expired,
        not-yet-valid or wrong-issuer/audience token, and :class:`IdentityProviderUnavailable`
        when the JWKS keys needed to check an RS256/ES256 token cannot be fetched.
        """
        token = _bearer_token(authorization_header)
        known = self._verified.get(token)
        if known is not None and known.still_valid(time.time()):
            return known.subject
        try:
            header, claims = _peek(token)
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a well-formed JWT") from None

        if claims.get("iss") == ANONYMOUS_ISSUER:
            return self._resolve_anonymous(token)
        return self._resolve_sign_in(token, header)

    def resolve_until(self, authorization_header: str | None) -> tuple[str, int | None]:
        """The user id, as ``resolve`` answers it, and when the token expires (epoch seconds).

        None when it never does (a sign-in token without ``exp``). What a WebSocket connection
        is registered with: past it, the connection ends (docs/sync.md, "Live pushes").
        """
        user_id = self.resolve(authorization_header)
        _, claims = _peek(_bearer_token(authorization_header))
        expires = claims.get("exp")
        return user_id, int(expires) if isinstance(expires, int | float) else None

    def _resolve_anonymous(self, token: str) -> str:
        if self._anonymous_secret is None:
            raise Unauthorized("anonymous tokens are not accepted by this service")
        claims = self._decode(
            token,
            self._anonymous_secret,
            "HS256",
            issuer=ANONYMOUS_ISSUER,
            audience=None,
            required=["exp", "iat", "iss", "sub"],
        )
        subject = claims.get("sub")
        # Only we mint these, so anything but our exact shape means a leaked secret or a bug.
        if not isinstance(subject, str) or not _ANONYMOUS_SUBJECT.fullmatch(subject):
            raise Unauthorized("the token's subject is missing or invalid")
        self._remember(token, subject, claims)
        return subject

    def _resolve_sign_in(self, token: str, header: Mapping[str, Any]) -> str:
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            if self._jwt_secret is None:
                # Also what stops an HS256 token "signed" with our JWKS public key.
                raise Unauthorized("HS256 tokens are not accepted by this service")
            key = self._jwt_secret
        elif algorithm in _ASYMMETRIC_ALGORITHMS:
            if self._jwks is None:
                raise Unauthorized(f"{algorithm} tokens are not accepted by this service")
            key = self._jwks_key(header.get("kid"), algorithm)
        else:
            raise Unauthorized("the token's signing algorithm is not accepted")

        claims = self._decode(
            token,
            key,
            algorithm,
            issuer=self._issuer,
            audience=self._audience,
            required=["sub"],
        )
        subject = _checked_subject(claims.get("sub"))
        if subject.startswith(ANONYMOUS_PREFIX):
            raise Unauthorized("a sign-in token may not use the anonymous id prefix")
        if algorithm == "HS256":
            # (An RS256/ES256 token's key comes from the JWKS, which may rotate or be down:
            # it is checked again every time.)
            self._remember(token, subject, claims)
        return subject

    def _remember(self, token: str, subject: str, claims: Mapping[str, Any]) -> None:
        """Keep an HS256 token just verified: all but its time claims is settled for good.

        Its text, the container's secret and settings decide everything else, so while its
        ``exp``, ``nbf`` and ``iat`` pass the checks PyJWT makes (with the same leeway), the
        same request would verify to the same subject. A token with a time claim that is not
        a plain integer is not kept.
        """
        times = [claims.get(name) for name in ("exp", "nbf", "iat")]
        if any(value is not None and type(value) is not int for value in times):
            return
        exp, nbf, iat = times
        with self._verified_lock:
            if len(self._verified) >= _VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = _Verified(subject, exp, nbf, iat)

    def _jwks_key(self, kid: object, algorithm: str) -> Any:
        """The public key for ``kid``, which must be a key for exactly ``algorithm``."""
        assert self._jwks is not None
        assert self._jwks_fetcher is not None
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        try:
            fetch = self._jwks_fetcher.submit(self._jwks.get_signing_key, kid)
            signing_key = fetch.result(timeout=JWKS_TIMEOUT_SECONDS)
        except TimeoutError:  # what Future.result raises (concurrent.futures' alias of it)
            logger.warning("JWKS fetch took longer than %s s", JWKS_TIMEOUT_SECONDS)
            detail = "the identity provider's signing keys could not be fetched in time"
            raise IdentityProviderUnavailable(detail) from None
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as error:
            # Unreachable, an HTTP error, or a body that is not a usable key set (ValueError:
            # PyJWT lets a JSON parse error through). The token may be fine: 503, not 401.
            logger.warning("JWKS fetch failed: %s", error)
            detail = "the identity provider's signing keys could not be fetched"
            raise IdentityProviderUnavailable(detail) from None
        except jwt.PyJWKClientError:
            raise Unauthorized("the token's signing key is unknown") from None
        # A JWK states (or implies, by kty/crv) its algorithm. Refusing a mismatch keeps an RSA
        # key from checking ES256 tokens and, above all, an "oct" JWK from acting as an HS256 key.
        if signing_key.algorithm_name != algorithm:
            raise Unauthorized("the token's signing algorithm does not match its key")
        return signing_key.key

    def _decode(
        self,
        token: str,
        key: Any,
        algorithm: str,
        *,
        issuer: str | None,
        audience: str | None,
        required: list[str],
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": required,
                    # PyJWT rejects any token with 'aud' when no audience is expected; docs/api.md
                    # ("Calling it from the frontend") promises an unset AUTH_JWT_AUDIENCE means
                    # the audience is not checked.
                    "verify_aud": audience is not None,
                    # Checked by _checked_subject with a clearer detail (and on every PyJWT 2.x).
                    "verify_sub": False,
                    # Refuse (rather than warn about) e.g. a 1024-bit RSA key from the JWKS.
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.MissingRequiredClaimError as error:
            raise Unauthorized(f"the token lacks the required claim {error.claim!r}") from None
        except jwt.PyJWTError as error:
            for kind, detail in self._DETAILS:
                if isinstance(error, kind):
                    raise Unauthorized(detail) from None
            raise Unauthorized("the token is invalid") from None


# HS256 tokens a container keeps as verified, until their time claims fail (Identity._remember).
_VERIFIED_TOKENS = 1024


class _Verified(NamedTuple):
    """An HS256 token that verified to ``subject``, with the time claims it must still pass."""

    subject: str
    exp: int | None
    nbf: int | None
    iat: int | None

    def still_valid(self, now: float) -> bool:
        """Whether PyJWT's time checks, at ``now``, pass as they did (same comparisons)."""
        if self.exp is not None and self.exp <= now - LEEWAY_SECONDS:
            return False
        if self.nbf is not None and self.nbf > now + LEEWAY_SECONDS:
            return False
        return self.iat is None or self.iat <= now + LEEWAY_SECONDS


# Tokens whose unverified header and claims a container keeps: a device sends the same token
# with every request until it expires.
_PEEKED_TOKENS = 256


@lru_cache(maxsize=_PEEKED_TOKENS)
def _peek(token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The header and claims of ``token``, unverified: they say which key and rules check it.

    Only a function of the token's text (no key, no clock), so a token seen again is not
    parsed twice more, only once: by the verification, which checks everything again.
    ``jwt.PyJWTError`` for a token that is not a well-formed JWT (not remembered).
    """
    unverified = jwt.decode_complete(token, options={"verify_signature": False})
    return unverified["header"], unverified["payload"]


def _bearer_token(authorization_header: str | None) -> str:
    """The token out of ``Bearer <token>``; the scheme is case-insensitive (RFC 9110 11.1)."""
    if authorization_header is None:
        # RFC 6750 section 3.1: no credentials at all means no error attribute in the challenge.
        raise Unauthorized("an Authorization: Bearer token is required", error="")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_CHARS or not _JWT_SHAPE.fullmatch(token):
        raise Unauthorized("the bearer token is not a well-formed JWT")
    return token


def _checked_subject(subject: object) -> str:
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the token's subject is missing or invalid")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise Unauthorized(f"the token's subject is longer than {MAX_SUBJECT_CHARS} characters")
    if _CONTROL_CHARACTERS.search(subject):
        raise Unauthorized("the token's subject contains control characters")
    return subject


def _secret_bytes(name: str, secret: str | None) -> bytes | None:
    if secret is None:
        return None
    encoded = secret.encode()
    if len(encoded) < MIN_SECRET_BYTES:
        msg = f"{name} must be at least {MIN_SECRET_BYTES} bytes long for HS256 (RFC 7518 3.2)"
        raise ValueError(msg)
    return encoded


def _reveal(secret: SecretStr | None) -> str | None:
    """The plain value of an optional ``SecretStr``."""
    return None if secret is None else secret.get_secret_value()


__all__ = [
    "ANONYMOUS_ISSUER",
    "ANONYMOUS_PREFIX",
    "AnonymousToken",
    "Identity",
    "IdentityProviderUnavailable",
]
