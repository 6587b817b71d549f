"""One module per Lambda function; each exposes ``routes``, ``app`` and ``handler``."""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

    from starlette.routing import BaseRoute

# Every function module, for the dev server (which serves them all in one app) and the tests.
# Names only: importing this package must stay free for a Lambda cold start.
MODULES = (
    "health",
    "issue_anonymous_token",
    "list_conversations",
    "get_conversation",
    "put_conversation",
    "update_conversation",
    "delete_conversation",
    "append_message",
    "update_message",
    "delete_message",
    "get_me",
    "set_current_conversation",
    "erase_user",
    "import_conversations",
    "export_conversations",
    "list_changes",
    "get_message",
    "get_limits",
    "claim_anonymous",
    "get_openapi",
)


def all_routes() -> list[BaseRoute]:
    """Every function's routes in ``MODULES`` order, as the dev server serves them in one app.

    The modules are imported here, on the first call, not when this package is: a Lambda
    imports only its own function's module. Each builds its app (and reads its settings) at
    import, so the environment must be configured first.
    """
    routes: list[BaseRoute] = []
    for name in MODULES:
        routes.extend(importlib.import_module(f"{__name__}.{name}").routes)
    return routes


def allowed_methods(path: str) -> list[str]:
    """Every method some function serves at ``path``, sorted: a 405's ``Allow``.

    Across all functions, not the one answering: each Lambda serves one route, and API Gateway
    also sends it the path's OPTIONS, so a 405 there must name the other functions' methods.
    The first call imports every function module (a 405 is rare, and never on a hot path).
    """
    return sorted(
        {m for pattern, methods in _path_methods() if pattern.match(path) for m in methods}
    )


@lru_cache(maxsize=1)
def _path_methods() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    # Each route's path pattern and methods (a GET route's include HEAD, as Starlette serves).
    from starlette.routing import Route  # noqa: PLC0415  (only for a 405, like the modules)

    return tuple(
        (route.path_regex, frozenset(route.methods or ()))
        for route in all_routes()
        if isinstance(route, Route)
    )
