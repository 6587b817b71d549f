"""The Lua scripts behind every API call, each declared once: keys, arguments, libraries, replies.

The Lua lives in ``shared/lua``: one file per script, and small libraries by concern in
``shared/lua/lib`` (``core``: hashes read and written, pending writes, the expiry queue;
``user``: the user's fields and rate limit; ``ratelimit``: the sliding window; ``expiry``;
``records``: the summary and message layouts; ``feed``: the change feed and tombstones;
``idempotency``: an Idempotency-Key's answer; ``answers``: how a write starts and keeps its
answer; ``conversations``: writes to conversations, removals and eviction; ``erasure``).
Every Lua file names the libraries it calls in one line, ``-- uses: core, user`` (``none``
when it calls none); that line is the only place the fact is written. A script is sent as one
text: a prelude generated from its declaration here, then the libraries it uses (with theirs,
each before its users), then its own file. So an edit to one library moves only its users'
SHAs, and a script carries no code it does not use. The prelude names every key and argument::

    #!lua flags=allow-key-locking
    local K = {idx = KEYS[1], sum = KEYS[2]}
    local KREST = 3
    local A = {now = ARGV[1], ..., limit = ARGV[9]}
    local REST = 10

so the Lua reads ``K.sum`` and ``A.limit``, never a position, and a call is built from the same
names (``ScriptSpec.call``). At import each script is checked against what it can reach: its
own body, and each library function it calls, and each those call (the libraries' top-level
statements always run). It fails there, not in a request, when it uses a key or argument its
declaration lacks or declares one nothing reachable uses, when a file's ``uses`` line differs
from the libraries whose functions it calls, or when it answers a status its ``replies`` do
not declare.

A reply is ``{quota, status, values...}``: the caller's rate-limit quota, a status word, and
the values that status's shape names (``Replies``): the store reads them by name
(``Reply["version"]``). A refusal's status (``REFUSALS``) is turned into an API error by one
table, ``shared/refusals.py``.

Every script takes Upstash's key locks (``allow-key-locking``): it runs beside calls on other
keys instead of under the database-wide lock, and it touches only the keys it is given, which
is why a conversation's keys are passed in ``KEYS`` whenever a script reaches them. A script that
writes nothing also declares ``no-writes`` and is sent with ``EVALSHA_RO``, which Upstash may
serve from a replica; a read that counts the caller's rate limit writes its window, so it has a
variant for each case (``counted_read``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from shared import records
from shared.upstash import Call, Script

WRITE_SHEBANG = "#!lua flags=allow-key-locking"
READ_SHEBANG = "#!lua flags=no-writes,allow-key-locking"

# The arguments a script of a user's data may take first, in this order (each script takes
# those its code reads: ``ScriptSpec.user_args``): the caller's clock (ms, and ISO 8601 for
# updatedAt), the write epoch at or before which a conversation has expired ('' when nothing
# expires), the current write epoch (the clock rounded up, so that expiry moves on about once
# an hour), the expiry of keys written now ('' for none), and the caller's rate limit (0
# requests: off; its window in ms; the summary-hash field that keeps its state), the
# fingerprint of the request when it sent an Idempotency-Key ('' when not), and the id of a
# write request that sent none ('' otherwise: see keep_answer in lib/answers.lua).
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

# The refusals a script may answer, each with the names of the values after its status word;
# shared/refusals.py maps each to the API's error. A refused call wrote nothing (but its
# rate-limit window).
REFUSALS: dict[str, tuple[str, ...]] = {
    "not_found": (),
    "precondition_failed": ("version",),  # the version the conversation is at (0: none)
    "deleted": (),  # the user deleted the conversation, and the write did not say to revive it
    "conflict": (),
    "too_many": (),
    "too_large": (),
    "out_of_order": ("last_sequence",),
    "finished": (),
    "has_parts": (),  # a delta or content alone to a message whose content is its parts' text
    # A part change that does not fit the stored parts: the rule (a word, see
    # shared/refusals.py) and the change's position in partChanges (from 0).
    "part_conflict": ("rule", "change"),
    # Parts over a limit: the limit's setting name and its value.
    "parts_too_large": ("setting", "limit"),
    "reset": (),
    "idempotency_mismatch": (),
    # A write settled as not applied (settle_request.lua): a run that comes later finds this.
    "cancelled": (),
}

Mode = Literal["write", "read", "counted_read"]


class _Lazy:
    """A pattern compiled on first use.

    Only the checks use these, and a built artifact's cold start skips the checks
    (``CHECKING``), so it need not compile them.
    """

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern, self._flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return getattr(self._compiled, name)


_USES = "-- uses:"
_NAME = _Lazy(r"\b([KA])\.([a-z_]+)\b")
_REST = _Lazy(r"\b(K?REST)\b")
# A reply with a status word: '{quota, ...' or '{-2, ...' (what every script returns first).
_STATUS = _Lazy(r"\{\s*(?:quota|-?\d+)\s*,\s*'([a-z_]+)'")


_LUA = Path(__file__).with_name("lua")
_LUA_DIR = str(_LUA)


@cache
def _lua(name: str) -> str:
    # (A plain path: the package ships as files, in the Lambda zip too, and importlib.resources
    # would cost a cold start more for the same read. Read once: the fingerprint reads it too.)
    with open(os.path.join(_LUA_DIR, f"{name}.lua"), encoding="utf-8") as file:
        return file.read()


def _compact(lua: str) -> str:
    # What is sent: the code without its whole-line comments and blank lines (the files keep
    # them for readers; Upstash would only store and hash them).
    return "\n".join(
        line for line in lua.splitlines() if line.strip() and not line.lstrip().startswith("--")
    )


def _without_comments(lua: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in lua.splitlines())


# ------------------------------------------------------------------------------ reading the Lua
#
# Enough of Lua to know what calls what: a library is a run of top-level units, each a
# `local` definition (a function, a table, a constant) or a statement, up to the next one at
# the start of a line. A unit refers to a definition by naming it, unless it declares a local
# of that name itself (a parameter, a loop variable, `local total` shadowing total()).

_IDENT = _Lazy(r"(?<![\w.:])([A-Za-z_]\w*)")
_STRING = _Lazy(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_LOCAL = _Lazy(r"\blocal\s+(?:function\s+)?([A-Za-z_][\w\s,]*?)\s*(?:=|\(|$)", re.MULTILINE)
_PARAMS = _Lazy(r"\bfunction\b[\w.:\s]*\(([^)]*)\)")
_FOR = _Lazy(r"\bfor\s+([\w\s,]+?)\s*(?:\bin\b|=)")


class _Unit(NamedTuple):
    defines: frozenset[str]
    code: str  # without comments
    refers: frozenset[str]  # names it mentions and does not declare itself


def _unit(code: str) -> _Unit:
    own: set[str] = set()
    for pattern in (_LOCAL, _PARAMS, _FOR):
        for names in pattern.findall(code):
            own.update(n.strip() for n in names.split(",") if n.strip())
    top = _LOCAL.match(code)
    defines = frozenset(n.strip() for n in top.group(1).split(",")) if top else frozenset()
    mentioned = set(_IDENT.findall(_STRING.sub("''", code)))
    return _Unit(defines, code, frozenset(mentioned - own))


def _units(lua: str) -> list[_Unit]:
    chunks: list[list[str]] = []
    for line in _without_comments(lua).splitlines():
        if not line.strip():
            continue
        starts = not line[0].isspace() and not line.startswith(("end", "}", ")"))
        if starts or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    return [_unit("\n".join(chunk)) for chunk in chunks]


def _uses(name: str, lua: str) -> tuple[str, ...]:
    found = [line[len(_USES) :] for line in lua.splitlines() if line.startswith(_USES)]
    if len(found) != 1:
        msg = f"shared/lua/{name}.lua: expected one '-- uses: ...' line, found {len(found)}"
        raise ValueError(msg)
    listed = found[0].strip()
    return () if listed == "none" else tuple(n.strip() for n in listed.split(","))


class Library(NamedTuple):
    """A file of ``shared/lua/lib``: what it defines and which libraries it names."""

    name: str
    uses: tuple[str, ...]
    lua: str

    @property
    def code(self) -> str:
        """What is sent: the file without its comments (made when a script using it is sent)."""
        return _library_code(self.name)

    @property
    def units(self) -> tuple[_Unit, ...]:
        """Its top-level units (parsed when checked: a cold start sends, it does not check)."""
        return _library_units(self.name)

    @property
    def defines(self) -> frozenset[str]:
        """The names of its top-level definitions."""
        return frozenset(n for unit in self.units for n in unit.defines)


@cache
def library(name: str) -> Library:
    """The library ``name``, read once."""
    lua = _lua(f"lib/{name}")
    return Library(name, _uses(f"lib/{name}", lua), lua)


@cache
def _library_code(name: str) -> str:
    return _compact(library(name).lua)


@cache
def _library_units(name: str) -> tuple[_Unit, ...]:
    return tuple(_units(library(name).lua))


def _owner(name: str, within: Sequence[str]) -> str | None:
    # The library among `within` (and their own, resolved) that defines `name`.
    for lib in within:
        if name in library(lib).defines:
            return lib
    return None


def _all_libraries() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (_LUA / "lib").glob("*.lua")))


def _check_uses(path: str, uses: Sequence[str], units: Sequence[_Unit], *, exclude: str) -> None:
    # A file names exactly the libraries whose definitions it mentions.
    everything = [lib for lib in _all_libraries() if lib != exclude]
    unknown = [lib for lib in uses if lib not in everything]
    if unknown:
        msg = f"shared/lua/{path}.lua uses unknown libraries {unknown}"
        raise ValueError(msg)
    called = {
        owner
        for unit in units
        for ref in unit.refers
        if (owner := _owner(ref, everything)) is not None
    }
    if called != set(uses):
        msg = (
            f"shared/lua/{path}.lua: its '-- uses:' line names {sorted(uses)}, but it calls "
            f"definitions of {sorted(called)}"
        )
        raise ValueError(msg)


def resolve(uses: Sequence[str]) -> tuple[str, ...]:
    """``uses`` with the libraries they use, each after those it uses (the order sent)."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            msg = f"shared/lua/lib: libraries use each other in a cycle: {[*path, name]}"
            raise ValueError(msg)
        if name in ordered:
            return
        for dependency in library(name).uses:
            visit(dependency, (*path, name))
        ordered.append(name)

    for name in uses:
        visit(name, ())
    return tuple(ordered)


def _check_libraries() -> None:
    # Each definition is one library's, and each library names the libraries it calls.
    seen: dict[str, str] = {}
    for lib in _all_libraries():
        _check_uses(f"lib/{lib}", library(lib).uses, library(lib).units, exclude=lib)
        for name in library(lib).defines:
            if name in seen:
                msg = f"shared/lua/lib: {name} is defined by both {seen[name]} and {lib}"
                raise ValueError(msg)
            seen[name] = lib


def _check_records() -> None:
    # The Lua's record layouts against shared/records.py, the declaration Python reads by.
    code = library("records").code
    for record in (records.SUMMARY, records.MESSAGE, records.MESSAGE_BODY):
        found = re.search(rf"^local {record.lua_name} = \{{([^}}]*)\}}", code, re.MULTILINE)
        attrs = tuple(re.findall(r"'([^']*)'", found.group(1))) if found else None
        if attrs != record.attrs:
            msg = (
                f"shared/lua/lib/records.lua: {record.lua_name} is {attrs}, "
                f"shared/records.py declares {record.attrs}"
            )
            raise ValueError(msg)


# The checks of the Lua against its declarations run at import, so that a script that does not
# match fails there, not in a request, except where the artifact's build already ran every one
# of them on exactly this Lua: it then writes the Lua's fingerprint to this file beside it
# (devtools/package.py), and a cold start skips the 40 ms of parsing the checks take. The file
# is written into the artifact only, never into a source tree.
CHECKED_STAMP = _LUA / "checked"


def lua_fingerprint() -> str:
    """SHA-1 over every Lua file's path and text: what a stamp says was checked."""
    digest = hashlib.sha1()  # noqa: S324  (a fingerprint, not a secret)
    names = [
        f"{folder}{file}"
        for folder in ("", "lib/")
        for file in os.listdir(os.path.join(_LUA_DIR, folder))
        if file.endswith(".lua")
    ]
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(_lua(name[: -len(".lua")]).encode())
    return digest.hexdigest()


def _already_checked() -> bool:
    try:
        # A hex digest, read as UTF-8 like the Lua: the ascii codec would be one more import.
        return CHECKED_STAMP.read_text("utf-8") == lua_fingerprint()
    except FileNotFoundError:
        return False


CHECKING = not _already_checked()
"""Whether this import checks every script against its Lua (False only in a built artifact)."""

if CHECKING:
    _check_libraries()
    _check_records()


# ------------------------------------------------------------------------------ replies


class Reply:
    """A script's answer, read by name: ``reply["version"]``.

    (A plain class, as ``Replies`` and ``Shape``: one is made for every call, and a frozen
    dataclass costs a cold start about a millisecond to define and each call more to make.)
    """

    __slots__ = ("listeners", "quota", "refused", "status", "values")

    def __init__(self, quota: int, status: str, refused: bool, values: Mapping[str, Any]) -> None:
        self.listeners: Any = None
        """A write's connections to push to (``shared.push.Listeners``): None with push off,
        for a refusal and for a write run again (``UserCalls.run`` sets it)."""
        self.quota = quota
        """What is left of the caller's window; -2 when the call was not counted."""
        self.status = status
        self.refused = refused
        """The status is a refusal (``REFUSALS``): the call wrote nothing."""
        self.values = values

    def __getitem__(self, name: str) -> Any:
        """The value ``name`` of this status's shape."""
        try:
            return self.values[name]
        except KeyError:
            msg = f"a {self.status!r} reply has no value {name!r} (it has {sorted(self.values)})"
            raise KeyError(msg) from None


class Shape:
    """Names for a list of values, in order; ``*name`` (last only) takes the rest as a list.

    Declared once (at import) and read on every reply: what the names say (how many are
    fixed, which takes the rest) is worked out here, not per reply.
    """

    __slots__ = ("_fixed", "_rest", "names")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        rest = bool(names) and names[-1].startswith("*")
        self._fixed = names[:-1] if rest else names
        self._rest = names[-1][1:] if rest else None

    def named(self, values: Sequence[Any]) -> dict[str, Any]:
        """``values`` by name; ``ValueError`` when they do not fit."""
        fixed, rest = self._fixed, self._rest
        if len(values) < len(fixed) or (rest is None and len(values) > len(fixed)):
            msg = f"values {list(values)[:4]!r}... do not fit {self.names}"
            raise ValueError(msg)
        named = dict(zip(fixed, values, strict=False))
        if rest is not None:
            named[rest] = list(values[len(fixed) :])
        return named

    def each(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        """Entries of this shape answered back to back, flat, each by name."""
        width = len(self.names)
        return [self.named(values[i : i + width]) for i in range(0, len(values), width)]


class Replies:
    """What one script may answer: a status word, then the values its shape names.

    ``ok``: the statuses of an answer that did what was asked, each with its value names.
    ``refusals``: the statuses (``REFUSALS``, whose values are named there) it may refuse with.
    ``unlabelled``: the status of an answer that has no status word (a shape whose answers are
    kept for replays, and so stay as stored).
    """

    __slots__ = ("_shapes", "ok", "refusals", "statuses", "unlabelled")

    def __init__(
        self,
        ok: Mapping[str, tuple[str, ...]],
        refusals: tuple[str, ...] = (),
        unlabelled: str | None = None,
    ) -> None:
        unknown = [status for status in refusals if status not in REFUSALS]
        if unknown:
            msg = f"unknown refusals {unknown}: declare them in REFUSALS"
            raise ValueError(msg)
        self.ok = ok
        self.refusals = refusals
        self.unlabelled = unlabelled
        # Each status's shape, made once: every call of the script reads one.
        shapes = {status: Shape(names) for status, names in ok.items()}
        shapes.update((status, Shape(REFUSALS[status])) for status in refusals)
        self._shapes = shapes
        self.statuses = frozenset(shapes)
        """Every status word an answer may carry."""

    def decode(self, answer: Sequence[Any]) -> Reply:
        """The answer by name; ``ValueError`` when it fits no declared shape."""
        quota = int(answer[0])
        if len(answer) > 1 and isinstance(answer[1], str) and answer[1] in self.statuses:
            status, values = answer[1], answer[2:]
        elif self.unlabelled is not None:
            status, values = self.unlabelled, answer[1:]
        else:
            msg = f"an answer {list(answer)[:3]!r}... with no declared status"
            raise ValueError(msg)
        refused = status in self.refusals
        return Reply(quota, status, refused, self._shapes[status].named(values))


# ------------------------------------------------------------------------------ scripts


class ScriptSpec:
    """One script: its Lua file, named keys and arguments, replies, and how it may be sent.

    ``mode``: ``write`` always writes; ``read`` never does (``EVALSHA_RO``); ``counted_read``
    writes only the caller's rate-limit window, so with the limit off it is sent read-only.
    ``user_args``: the ``USER_ARGS`` it takes (before ``args``). ``rest_keys`` /
    ``rest_args``: the script takes more keys or arguments after the named ones
    (``KEYS[KREST ...]``, ``ARGV[REST ...]``). The libraries it is sent with come from its
    file's ``-- uses:`` line.

    (A plain class: a dataclass costs a cold start about a millisecond to define.)
    """

    __slots__ = (
        "_sent", "args", "keys", "libraries", "mode", "name", "replies", "rest_args",
        "rest_keys", "user_args",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        keys: tuple[str, ...],
        replies: Replies,
        *,
        args: tuple[str, ...] = (),
        user_args: tuple[str, ...] = (),
        mode: Mode = "write",
        rest_keys: bool = False,
        rest_args: bool = False,
    ) -> None:
        if [a for a in USER_ARGS if a in user_args] != list(user_args):
            msg = f"script {name}: user_args {user_args} not among/in USER_ARGS order"
            raise ValueError(msg)
        self.name = name
        self.keys = keys
        self.replies = replies
        self.args = args
        self.user_args = user_args
        self.mode = mode
        self.rest_keys = rest_keys
        self.rest_args = rest_args
        body = _lua(name)
        self.libraries = resolve(_uses(name, body))
        """The libraries sent with it, in the order sent."""
        if CHECKING:
            self.check()
        self._sent: tuple[Script, Script | None] | None = None

    def _scripts(self) -> tuple[Script, Script | None]:
        # The texts sent and their SHAs, made on first use, not at import: a handler sends a
        # few of these scripts, and assembling and hashing every one cost each cold start
        # about a millisecond.
        sent = self._sent
        if sent is None:
            code = [library(name).code for name in self.libraries]
            text = self._prelude() + "\n".join([*code, _compact(_lua(self.name))]) + "\n"
            read = None
            if self.mode != "write":
                read = Script(self.name, f"{READ_SHEBANG}\n{text}", read_only=True)
            write = read
            if self.mode != "read":
                write = Script(self.name, f"{WRITE_SHEBANG}\n{text}", read_only=False)
            assert write is not None
            sent = self._sent = (write, read)
        return sent

    @property
    def write(self) -> Script:
        """The script as sent to write (a ``read`` script's is its read-only one)."""
        return self._scripts()[0]

    @property
    def read(self) -> Script | None:
        """The read-only variant (``EVALSHA_RO``); None for a ``write`` script."""
        return self._scripts()[1]

    @property
    def all_args(self) -> tuple[str, ...]:
        """Every named argument, in ``ARGV`` order."""
        return self.user_args + self.args

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
        script, read = self._scripts()
        if read_only and read is not None:
            script = read
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

    def reachable(self) -> str:
        """The code this script can run, without comments.

        Its body, the library definitions it reaches (and theirs), and the libraries'
        top-level statements.
        """
        units = {name: unit for lib in self.libraries for unit in library(lib).units
                 for name in unit.defines}  # fmt: skip
        body = _unit(_without_comments(_lua(self.name)))
        todo = [body, *(u for lib in self.libraries for u in library(lib).units if not u.defines)]
        seen: set[str] = set()
        code = []
        while todo:
            unit = todo.pop()
            code.append(unit.code)
            for ref in sorted(unit.refers & units.keys() - seen):
                seen.add(ref)
                todo.append(units[ref])
        return "\n".join(code)

    def check(self) -> None:
        """Check the Lua against this declaration; ``ValueError`` naming what differs."""
        body = _lua(self.name)
        # (The body as one unit: a local it declares anywhere is its own, not a library's.)
        _check_uses(self.name, _uses(self.name, body), [_unit(_without_comments(body))], exclude="")
        code = self.reachable()
        used = {(kind, name) for kind, name in _NAME.findall(code)}
        declared = {("K", k) for k in self.keys} | {("A", a) for a in self.all_args}
        unknown = used - declared
        unused = declared - used
        rest = set(_REST.findall(code))
        statuses = set(_STATUS.findall(code)) - self.replies.statuses
        problems = []
        if unknown:
            problems.append(f"uses undeclared {sorted(f'{k}.{n}' for k, n in unknown)}")
        if unused:
            problems.append(f"declares unused {sorted(f'{k}.{n}' for k, n in unused)}")
        if "REST" in rest and not self.rest_args:
            problems.append("reads ARGV[REST...] but does not declare rest_args")
        if "KREST" in rest and not self.rest_keys:
            problems.append("reads KEYS[KREST...] but does not declare rest_keys")
        if statuses:
            problems.append(f"answers undeclared statuses {sorted(statuses)}")
        if problems:
            msg = f"shared/lua/{self.name}.lua: " + "; ".join(problems)
            raise ValueError(msg)


# Every write a request may run again (the Upstash client's re-send, an Idempotency-Key)
# answers the first run's answer instead: a refusal when the key came with another request,
# and 'cancelled' when the write was settled as not applied (settle_request.lua).
_REPLAYED = ("idempotency_mismatch", "cancelled")


def _but(*names: str) -> tuple[str, ...]:
    # The user arguments but `names` (those a script's code never reads).
    return tuple(name for name in USER_ARGS if name not in names)


# What a read's code reads: its clock, expiry and rate limit (and the request id read_user looks
# for); a write that touches no conversation's updatedAt or write epoch takes no clock in ISO
# 8601 and no epoch.
_READ_ARGS = _but("now_iso", "epoch", "idem_fp")

_USER = ("idx", "exp", "sum")
# Every script that writes declares the change feed's keys: their expiry moves on with the rest.
_WRITE = (*_USER, "chg", "tb")
# A write a client may retry with an Idempotency-Key: the key's stored answer and the index of
# the user's keys (lib/idempotency.lua and lib/answers.lua, recall and remember).
_IDEMPOTENT = ("idem", "ik")
_CONVERSATION = ("msgs", "order")
# A write the change feed reports pushes it (lib/push.lua): it names the user's connections
# and takes whether push is on ('1') or off (''), when it never reads them. UserCalls adds both.
_PUSH_KEYS = ("ws",)
_PUSH_ARGS = ("push",)

# Values inside replies, read by name too: a page of messages (read_messages), an exported
# conversation, a conversation an import rejected (three values each, back to back).
MESSAGES = Shape(("values", "contents"))
EXPORTED = Shape(("id", "summary", "message_ids", "messages", "older_before"))
REJECTED = Shape(("id", "reason", "version"))
# What a write answers its pushes with (lib/push.lua): each conversation an import wrote, and
# the delta a streamed write pushes (after its change flag).
WRITTEN = Shape(("id", "created", "version"))
DELTA = Shape(("offset", "text", "streaming", "parts"))


class Tagged:
    """Entries that start with a word saying which shape the rest has (list_changes' changes)."""

    __slots__ = ("shapes",)

    def __init__(self, shapes: Mapping[str, tuple[str, ...]]) -> None:
        self.shapes = {word: Shape(names) for word, names in shapes.items()}

    def decode(self, entry: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """The entry's word, and its values by name."""
        return entry[0], self.shapes[entry[0]].named(entry[1:])


CHANGE = Tagged(
    {
        "upsert": ("id", "sequence", "summary"),
        "tombstone": ("id", "sequence", "removed", "removed_at"),
    }
)

LIST_CONVERSATIONS = ScriptSpec(
    "list_conversations",
    keys=("idx", "sum"),
    user_args=_READ_ARGS,
    args=("limit", "cursor_score", "cursor_id", "if_none_match", "budget", "archived"),
    mode="counted_read",
    replies=Replies(
        {
            "not_modified": (),
            "ok": ("page", "summaries", "list_version", "generation", "sequence", "resume"),
        }
    ),
)
GET_CONVERSATION = ScriptSpec(
    "get_conversation",
    keys=("sum", *_CONVERSATION),
    user_args=_READ_ARGS,
    args=("cid", "limit", "before", "budget", "budget_bytes", "if_none_match", "stale_ms"),
    mode="counted_read",
    replies=Replies(
        {"not_modified": ("tag",), "ok": ("tag", "summary", "page", "more", "messages")},
        refusals=("not_found",),
    ),
)
GET_MESSAGE = ScriptSpec(
    "get_message",
    keys=("sum", "msgs"),
    user_args=_READ_ARGS,
    args=("cid", "mid", "after", "if_none_match", "stale_ms"),
    mode="counted_read",
    replies=Replies(
        {
            "not_modified": ("tag",),
            "ok": ("tag", "message", "offset", "text", "parts", "metadata", "*tools"),
        },
        refusals=("not_found",),
    ),
)
LIST_CHANGES = ScriptSpec(
    "list_changes",
    keys=("exp", "sum", "chg"),
    user_args=_READ_ARGS,
    args=("fid", "since", "expired_from", "limit"),
    mode="counted_read",
    replies=Replies({"ok": ("generation", "last", "changes", "more")}, refusals=("reset",)),
)
GET_ME = ScriptSpec(
    "get_me",
    keys=("exp", "sum"),
    user_args=_READ_ARGS,
    args=("if_none_match",),
    mode="counted_read",
    replies=Replies(
        {
            "not_modified": (),
            "ok": ("tag", "conversations", "messages", "tokens", "current"),
        }
    ),
)
SET_CURRENT_CONVERSATION = ScriptSpec(
    "set_current_conversation",
    keys=(*_WRITE, *_IDEMPOTENT),
    user_args=_but("now_iso", "expired_before", "epoch"),
    args=("cid", "until_ms"),
    replies=Replies({"ok": ()}, refusals=_REPLAYED, unlabelled="ok"),
)
APPEND_MESSAGE = ScriptSpec(
    "append_message",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=USER_ARGS,
    args=(
        *_PUSH_ARGS,
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
    replies=Replies(
        {
            "created": ("conversation_created", "version", "*evicted"),
            "duplicate": ("version", "message"),
        },
        refusals=("conflict", "too_many", "deleted", "precondition_failed", *_REPLAYED),
    ),
)
UPDATE_MESSAGE = ScriptSpec(
    "update_message",
    keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=USER_ARGS,
    args=(
        *_PUSH_ARGS,
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
        "parts",
        "parts_index",
        "metadata",
        "interrupted",
        "part_changes",
        "max_parts",
        "max_parts_bytes",
    ),
    rest_args=True,
    replies=Replies(
        {"ok": ("version", "message")},
        refusals=(
            "not_found",
            "too_large",
            "out_of_order",
            "finished",
            "has_parts",
            "part_conflict",
            "parts_too_large",
            "precondition_failed",
            *_REPLAYED,
        ),
    ),
)
DELETE_MESSAGE = ScriptSpec(
    "delete_message",
    keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=USER_ARGS,
    args=(*_PUSH_ARGS, "cid", "mid", "if_match"),
    replies=Replies(
        {"deleted": ("version",)}, refusals=("not_found", "precondition_failed", *_REPLAYED)
    ),
)
UPDATE_CONVERSATION = ScriptSpec(
    "update_conversation",
    keys=(*_WRITE, *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=USER_ARGS,
    args=(*_PUSH_ARGS, "cid", "set_title", "title", "set_mcp", "mcp", "archived", "if_match"),
    replies=Replies(
        {"ok": ("summary",)}, refusals=("not_found", "precondition_failed", *_REPLAYED)
    ),
)
DELETE_CONVERSATION = ScriptSpec(
    "delete_conversation",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=_but("now_iso", "epoch"),
    args=(*_PUSH_ARGS, "cid", "if_match"),
    # ('deleted' is this script's success: the conversation is gone.)
    replies=Replies({"deleted": ()}, refusals=("not_found", "precondition_failed", *_REPLAYED)),
)
PUT_CONVERSATION = ScriptSpec(
    "put_conversation",
    keys=(*_WRITE, "gy", *_CONVERSATION, *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=_but("now_iso"),
    args=(*_PUSH_ARGS, "cap", "if_match", "if_none_match"),
    rest_args=True,
    replies=Replies(
        {"ok": ("created", "version", "*evicted")},
        refusals=("precondition_failed", "deleted", *_REPLAYED),
    ),
)
IMPORT_CONVERSATIONS = ScriptSpec(
    "import_conversations",
    keys=(*_WRITE, "gy", *_IDEMPOTENT, *_PUSH_KEYS),
    user_args=_but("now_iso"),
    args=(*_PUSH_ARGS, "cap", "current", "until_ms", "records"),
    rest_keys=True,
    rest_args=True,
    replies=Replies(
        {"ok": ("imported", "updated", "skipped", "evicted", "rejected")},
        refusals=_REPLAYED,
        unlabelled="ok",
    ),
)
EXPORT_CONVERSATIONS = ScriptSpec(
    "export_conversations",
    keys=("exp", "sum"),
    # (Not counted, and it writes nothing: no window, no expiry.)
    user_args=_but("now_iso", "epoch", "expire_at", "rl_window", "idem_fp"),
    args=("budget",),
    mode="read",
    rest_keys=True,
    rest_args=True,
    replies=Replies({"ok": ("current", "*conversations")}),
)
LIST_CONVERSATION_KEYS = ScriptSpec(
    "list_conversation_keys",
    keys=("idx", "exp", "gy", "ik"),
    mode="read",
    replies=Replies({"ok": ("conversations", "answers")}),
)
ERASE_USER = ScriptSpec(
    "erase_user",
    keys=(*_WRITE, "gy", "ik"),
    user_args=_but("now_iso", "expired_before", "epoch", "idem_fp"),
    rest_keys=True,
    rest_args=True,
    replies=Replies({"erased": ("conversations",), "retry": ("*conversations",)}),
)
SETTLE_REQUEST = ScriptSpec(
    "settle_request",
    keys=("sum",),
    user_args=_but("now_iso", "expired_before", "epoch", "rl_window", "idem_fp"),
    replies=Replies({"applied": ("answer",)}, refusals=("cancelled",)),
)
CONNECTION = ScriptSpec(
    "connection",
    keys=("ws", "owner"),
    user_args=("now",),
    args=("op", "user", "cid", "token_expires", "max_ms", "idle_ms", "watch", "cap"),
    rest_args=True,
    replies=Replies({"ok": ("watched",), "gone": (), "expired": (), "removed": ()}),
)
ANONYMOUS_SIGNUP = ScriptSpec(
    "anonymous_signup",
    keys=("window", "idem"),
    args=("now", "rl_max", "rl_window", "idem_fp", "rid", "user_id", "iat"),
    replies=Replies({"ok": ("user_id", "iat")}, refusals=("idempotency_mismatch",)),
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
    CONNECTION,
    ANONYMOUS_SIGNUP,
)
"""Every script, for tests and tools."""


def check_all() -> None:
    """Every check of the Lua against the declarations, whatever ``CHECKING`` says.

    The artifact's build runs it before it stamps the Lua it ships as checked.
    """
    _check_libraries()
    _check_records()
    for spec in ALL:
        spec.check()
