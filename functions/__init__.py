"""One module per Lambda function: its declared ``operation``, ``routes``, ``app`` and ``handler``.

Importing this package stays free for a Lambda cold start: a function imports only its own
module. What needs every function (the dev server, the OpenAPI document, a 405's ``Allow``, the
tests) imports them here, on first use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.operation import OperationRoute


#: The WebSocket API's function (live pushes): it declares ``socket_routes``, API Gateway route
#: keys, instead of an HTTP ``operation``.
SOCKET_FUNCTIONS = ("websocket",)


@cache
def function_names() -> tuple[str, ...]:
    """Every function module's name, sorted: each file of this package is one function."""
    import pkgutil  # noqa: PLC0415  (not at import: a Lambda never lists the functions)

    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)))


@cache
def module_names() -> tuple[str, ...]:
    """Every HTTP function's module name, sorted: each declares its ``operation``."""
    return tuple(name for name in function_names() if name not in SOCKET_FUNCTIONS)


def all_routes() -> list[OperationRoute]:
    """Every function's routes, as the dev server serves them in one app.

    The modules are imported here, on the first call, not when this package is: a Lambda
    imports only its own function's module. Each builds its app (and reads its settings) at
    import, so the environment must be configured first.
    """
    routes: list[OperationRoute] = []
    for name in module_names():
        routes.extend(importlib.import_module(f"{__name__}.{name}").routes)
    return routes


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every function's operation (built once, on first use)."""
    from shared.openapi import document  # noqa: PLC0415  (only what serves or checks it)

    return document(all_routes())


def allowed_methods(path: str) -> list[str]:
    """Every method some function serves at ``path``, sorted: a 405's ``Allow``.

    Across all functions, not the one answering: each Lambda serves one route, and API Gateway
    also sends it the path's OPTIONS, so a 405 there must name the other functions' methods.
    The first call imports every function module (a 405 is rare, and never on a hot path).
    """
    return _every_route_methods()(path)


@cache
def _every_route_methods() -> Callable[[str], list[str]]:
    from shared.app import route_methods  # noqa: PLC0415  (only for a 405, like the modules)

    return route_methods(all_routes())
