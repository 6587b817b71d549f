"""The Lua scripts behind every API call, each declared once: its keys, arguments and variants.

The Lua lives in ``shared/lua/*.lua``: ``common.lua`` (what every script shares) and one file
per script. A script is sent as one text: a prelude generated from its declaration here, then
``common.lua``, then its own file. The prelude names every key and argument::

    #!lua flags=allow-key-locking
    local K = {idx = KEYS[1], sum = KEYS[2]}
    local KREST = 3
    local A = {now = ARGV[1], ..., limit = ARGV[9]}
    local REST = 10

so the Lua reads ``K.sum`` and ``A.limit``, never a position, and a call is built from the same
names (``ScriptSpec.call``). A script that uses a name its declaration lacks, or declares one
nothing uses, fails at import, not in a request.

Every script takes Upstash's key locks (``allow-key-locking``): it runs beside calls on other
keys instead of under the database-wide lock, and it touches only the keys it is given, which
is why a conversation's keys are passed in ``KEYS`` whenever a script reaches them. A script that
writes nothing also declares ``no-writes`` and is sent with ``EVALSHA_RO``, which Upstash may
serve from a replica; a read that counts the caller's rate limit writes its window, so it has a
variant for each case (``counted_read``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.upstash import Call, Script

WRITE_SHEBANG = "#!lua flags=allow-key-locking"
READ_SHEBANG = "#!lua flags=no-writes,allow-key-locking"

# The arguments every script of a user's data takes first: the caller's clock (ms, and ISO 8601
# for updatedAt), the write epoch at or before which a conversation has expired ('' when
# nothing expires), the current write epoch (the clock rounded up, so that expiry moves on about
# once an hour), the expiry of keys written now ('' for none), and the caller's rate limit
# (0 requests: off; its window in ms; the summary-hash field that keeps its state), the
# fingerprint of the request when it sent an Idempotency-Key ('' when not), and the id of a
# write request that sent none ('' otherwise: see keep_answer in common.lua).
USER_ARGS = (
    "now",
    "now_iso",
    "expired_before",
    "epoch",
    "expire_at",
    "rl_max",
    "rl_window",
    "rl_field",
    "idem_fp",
    "rid",
)

# How many values of a summary (``SUMMARY`` in common.lua) and of a message's attributes
# (``MESSAGE``) the scripts return per conversation or message.
SUMMARY_WIDTH = 13
MESSAGE_WIDTH = 10

Mode = Literal["write", "read", "counted_read"]
_NAME = re.compile(r"\b([KA])\.([a-z_]+)\b")
_REST = re.compile(r"\b(K?REST)\b")


_LUA = Path(__file__).with_name("lua")


def _lua(name: str) -> str:
    # (A plain path: the package ships as files, in the Lambda zip too, and importlib.resources
    # would cost a cold start more for the same read.)
    return (_LUA / f"{name}.lua").read_text("utf-8")


def _compact(lua: str) -> str:
    # What is sent: the code without its whole-line comments and blank lines (the files keep
    # them for readers; Upstash would only store and hash them).
    return "\n".join(
        line for line in lua.splitlines() if line.strip() and not line.lstrip().startswith("--")
    )


_COMMON = _lua("common")
_COMMON_CODE = _compact(_COMMON)


@dataclass(frozen=True, slots=True)
class ScriptSpec:
    """One script: its Lua file, named keys and arguments, and how it may be sent.

    ``mode``: ``write`` always writes; ``read`` never does (``EVALSHA_RO``); ``counted_read``
    writes only the caller's rate-limit window, so with the limit off it is sent read-only.
    ``rest_keys`` / ``rest_args``: the script takes more keys or arguments after the named
    ones (``KEYS[KREST ...]``, ``ARGV[REST ...]``). ``user_args``: ``USER_ARGS`` come first.
    """

    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...] = ()
    mode: Mode = "write"
    rest_keys: bool = False
    rest_args: bool = False
    user_args: bool = True
    write: Script = field(init=False)
    read: Script | None = field(init=False)

    def __post_init__(self) -> None:
        body = _lua(self.name)
        self._check(body)
        text = self._prelude() + _COMMON_CODE + "\n" + _compact(body) + "\n"
        read = None
        if self.mode != "write":
            read = Script(self.name, f"{READ_SHEBANG}\n{text}", read_only=True)
        write = read
        if self.mode != "read":
            write = Script(self.name, f"{WRITE_SHEBANG}\n{text}", read_only=False)
        assert write is not None
        object.__setattr__(self, "write", write)
        object.__setattr__(self, "read", read)

    @property
    def all_args(self) -> tuple[str, ...]:
        """Every named argument, in ``ARGV`` order."""
        return (USER_ARGS if self.user_args else ()) + self.args

    def call(
        self,
        keys: Mapping[str, str],
        args: Mapping[str, str | int],
        *,
        rest_keys: Sequence[str] = (),
        rest_args: Sequence[str | int] = (),
        read_only: bool = False,
    ) -> Call:
        """What to send: this script with ``keys`` and ``args`` by name, in declared order.

        ``read_only`` picks the no-writes variant of a ``counted_read`` (the caller's limit is
        off). Raises ``ValueError`` when the names differ from the declaration.
        """
        if set(keys) != set(self.keys) or set(args) != set(self.all_args):
            msg = (
                f"script {self.name}: called with keys {sorted(keys)} and args {sorted(args)}, "
                f"declared {sorted(self.keys)} and {sorted(self.all_args)}"
            )
            raise ValueError(msg)
        if (rest_keys and not self.rest_keys) or (rest_args and not self.rest_args):
            msg = f"script {self.name} takes no further keys or arguments"
            raise ValueError(msg)
        script = self.write
        if read_only and self.read is not None:
            script = self.read
        return Call(
            script,
            [*(keys[name] for name in self.keys), *rest_keys],
            [*(str(args[name]) for name in self.all_args), *(str(a) for a in rest_args)],
            writes=self.mode == "write",
        )

    def _prelude(self) -> str:
        key_names = ", ".join(f"{name} = KEYS[{i}]" for i, name in enumerate(self.keys, 1))
        arg_names = ", ".join(f"{name} = ARGV[{i}]" for i, name in enumerate(self.all_args, 1))
        return (
            f"local K = {{{key_names}}}\n"
            f"local KREST = {len(self.keys) + 1}\n"
            f"local A = {{{arg_names}}}\n"
            f"local REST = {len(self.all_args) + 1}\n"
        )

    def _check(self, body: str) -> None:
        code = _without_comments(body)
        used = {(kind, name) for kind, name in _NAME.findall(code)}
        declared = {("K", k) for k in self.keys} | {("A", a) for a in self.all_args}
        unknown = used - declared
        unused = {
            (kind, name)
            for kind, name in declared - used - _COMMON_NAMES
            if not (kind == "A" and name in USER_ARGS)
        }
        rest = set(_REST.findall(code))
        problems = []
        if unknown:
            problems.append(f"uses undeclared {sorted(f'{k}.{n}' for k, n in unknown)}")
        if unused:
            problems.append(f"declares unused {sorted(f'{k}.{n}' for k, n in unused)}")
        if "REST" in rest and not self.rest_args:
            problems.append("reads ARGV[REST...] but does not declare rest_args")
        if "KREST" in rest and not self.rest_keys:
            problems.append("reads KEYS[KREST...] but does not declare rest_keys")
        if problems:
            msg = f"shared/lua/{self.name}.lua: " + "; ".join(problems)
            raise ValueError(msg)


def _without_comments(lua: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in lua.splitlines())


# The names common.lua's helpers use: a declaration may name a key or argument only they read.
_COMMON_NAMES = {(kind, name) for kind, name in _NAME.findall(_without_comments(_COMMON))}


_USER = ("idx", "exp", "sum")
# Every script that writes declares the change feed's keys: their expiry moves on with the rest.
_WRITE = (*_USER, "chg", "tb")
# A write a client may retry with an Idempotency-Key: the key's stored answer and the index of
# the user's keys (shared/lua/common.lua, recall and remember).
_IDEMPOTENT = ("idem", "ik")
_CONVERSATION = ("msgs", "order")

LIST_CONVERSATIONS = ScriptSpec(
    "list_conversations",
    keys=("idx", "sum"),
    args=("limit", "cursor_score", "cursor_id", "if_none_match", "budget"),
    mode="counted_read",
)
GET_CONVERSATION = ScriptSpec(
    "get_conversation",
    keys=("sum", *_CONVERSATION),
    args=("cid", "limit", "before", "budget", "budget_bytes", "if_none_match", "stale_ms"),
    mode="counted_read",
)
GET_MESSAGE = ScriptSpec(
    "get_message",
    keys=("sum", "msgs"),
    args=("cid", "mid", "after", "if_none_match", "stale_ms"),
    mode="counted_read",
)
LIST_CHANGES = ScriptSpec(
    "list_changes",
    keys=("exp", "sum", "chg"),
    args=("fid", "since", "expired_from", "limit"),
    mode="counted_read",
)
GET_ME = ScriptSpec("get_me", keys=("exp", "sum"), args=("if_none_match",), mode="counted_read")
SET_CURRENT_CONVERSATION = ScriptSpec(
    "set_current_conversation", keys=(*_WRITE, *_IDEMPOTENT), args=("cid", "until_ms")
)
APPEND_MESSAGE = ScriptSpec(
    "append_message",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT),
    args=(
        "cid",
        "mid",
        "type",
        "content",
        "title",
        "default_title",
        "tokens",
        "max_messages",
        "cap",
        "if_match",
        "revive",
        "streaming",
        "size",
    ),
    rest_args=True,
)
UPDATE_MESSAGE = ScriptSpec(
    "update_message",
    keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT),
    args=(
        "cid",
        "mid",
        "content",
        "set_content",
        "content_length",
        "delta",
        "delta_length",
        "sequence",
        "max_chars",
        "streaming",
        "editable",
        "tokens",
        "token_total",
        "return_message",
        "if_match",
        "size",
        "change",
    ),
    rest_args=True,
)
DELETE_MESSAGE = ScriptSpec(
    "delete_message", keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT), args=("cid", "mid", "if_match")
)
UPDATE_CONVERSATION = ScriptSpec(
    "update_conversation",
    keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT),
    args=("cid", "set_title", "title", "set_mcp", "mcp", "if_match"),
)
DELETE_CONVERSATION = ScriptSpec(
    "delete_conversation",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT),
    args=("cid", "if_match"),
)
PUT_CONVERSATION = ScriptSpec(
    "put_conversation",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT),
    args=("cap", "if_match", "if_none_match"),
    rest_args=True,
)
IMPORT_CONVERSATIONS = ScriptSpec(
    "import_conversations",
    keys=(*_WRITE, "gy", *_IDEMPOTENT),
    args=("cap", "current", "until_ms", "records"),
    rest_keys=True,
    rest_args=True,
)
EXPORT_CONVERSATIONS = ScriptSpec(
    "export_conversations",
    keys=("exp", "sum"),
    args=("budget",),
    mode="read",
    rest_keys=True,
    rest_args=True,
)
LIST_CONVERSATION_KEYS = ScriptSpec(
    "list_conversation_keys", keys=("idx", "exp", "gy", "ik"), mode="read", user_args=False
)
ERASE_USER = ScriptSpec("erase_user", keys=(*_WRITE, "gy", "ik"), rest_keys=True, rest_args=True)
SETTLE_REQUEST = ScriptSpec("settle_request", keys=("sum",))
ANONYMOUS_SIGNUP = ScriptSpec(
    "anonymous_signup",
    keys=("window", "idem"),
    args=("now", "rl_max", "rl_window", "idem_fp", "user_id", "iat"),
    user_args=False,
)

ALL = (
    LIST_CONVERSATIONS,
    GET_CONVERSATION,
    GET_MESSAGE,
    LIST_CHANGES,
    GET_ME,
    SET_CURRENT_CONVERSATION,
    APPEND_MESSAGE,
    UPDATE_MESSAGE,
    DELETE_MESSAGE,
    UPDATE_CONVERSATION,
    DELETE_CONVERSATION,
    PUT_CONVERSATION,
    IMPORT_CONVERSATIONS,
    EXPORT_CONVERSATIONS,
    LIST_CONVERSATION_KEYS,
    ERASE_USER,
    SETTLE_REQUEST,
    ANONYMOUS_SIGNUP,
)
"""Every script, for tests and tools."""
