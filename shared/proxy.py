"""The caller's address as the per-IP limit counts it: the connection's, or a trusted proxy's word.

Behind a backend-for-frontend (a Next.js route passing the browser's calls on, as the example
app's ``/store/api`` does), every visitor arrives from the proxy's address, and the per-IP
sign-up limit would count them all as one. A proxy holding ``TRUSTED_PROXY_SECRET`` says whose
request it passes on: ``X-Proxy-Secret`` with the secret, ``X-Client-IP`` with the visitor's
address. ``X-Client-IP`` alone is anyone's to send, so it is never believed without the secret.
Only the anonymous sign-up reads an address, so only its handler imports this module.
"""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr
from starlette.requests import Request

from shared.errors import InvalidRequest, ProxyRefused

SECRET_HEADER = "X-Proxy-Secret"  # noqa: S105 (the header's name, not a secret)
CLIENT_IP_HEADER = "X-Client-IP"


def client_ip(request: Request, trusted_secret: SecretStr | None) -> str:
    """The address ``request`` counts against: the proxy's ``X-Client-IP`` when it is trusted.

    ``ProxyRefused`` for an ``X-Proxy-Secret`` that is not the trusted one (or with none
    trusted): a proxy that believes itself trusted must hear that it is not, rather than have
    every visitor it serves counted as one. ``InvalidRequest`` for a trusted proxy's
    ``X-Client-IP`` that is not one address. A trusted proxy that names no visitor (it had
    none to name) is counted by its own address.
    """
    connected = request.client.host if request.client else "unknown"
    presented = request.headers.get(SECRET_HEADER)
    if presented is None:
        return connected
    if trusted_secret is None:
        raise ProxyRefused(
            f"{SECRET_HEADER} was sent, but this deployment trusts no proxy "
            f"(TRUSTED_PROXY_SECRET is unset): set it, or send neither {SECRET_HEADER} "
            f"nor {CLIENT_IP_HEADER}"
        )
    if not hmac.compare_digest(presented.encode(), trusted_secret.get_secret_value().encode()):
        raise ProxyRefused(f"{SECRET_HEADER} is not this deployment's TRUSTED_PROXY_SECRET")
    claimed = request.headers.get(CLIENT_IP_HEADER)
    if claimed is None:
        return connected
    try:
        return str(ipaddress.ip_address(claimed.strip()))
    except ValueError:
        raise InvalidRequest(
            f"{CLIENT_IP_HEADER} must be one IPv4 or IPv6 address: the visitor's, as the proxy "
            "saw it"
        ) from None
