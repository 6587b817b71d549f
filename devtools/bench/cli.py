"""``python -m devtools.bench``: run the benchmarks, print the tables, save them as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from devtools import redis_backend
from devtools.bench import api, coldstart, peers, push, session
from devtools.bench.report import Table, count, ms, ratio, size
from devtools.bench.standin import standin_process

READ_GROWTH_TARGET = 1.2
OVERHEAD_TARGET_MS = 1.0
COLD_START_TARGET = 1.15
USD_PER_COMMAND = 0.20 / 100_000  # Upstash pay-as-you-go
# Upstash pay-as-you-go's ceiling, and the free plan's monthly allowance.
COMMANDS_PER_SECOND_LIMIT = 10_000
FREE_COMMANDS_PER_MONTH = 500_000
# A global database bills each write once in the primary and once per read region.
READ_REGIONS = 2
# The usage the monthly costs assume: a monthly active user opens this many sessions a month.
SESSIONS_PER_USER_MONTH = 10
MONTHLY_USERS = (1_000, 10_000, 100_000)
ROUND_TRIPS_MS = (5, 20)
SECTIONS = ("endpoints", "growth", "overhead", "coldstart", "peers", "session", "push")
# API Gateway WebSocket pricing (first billion): per message of up to 32 KB, per connection-minute.
USD_PER_WS_MESSAGE = 1.00 / 1_000_000
USD_PER_CONNECTION_MINUTE = 0.25 / 1_000_000
PEER_PACKAGES = {
    peers.LANGCHAIN: ("langchain-community", "langchain-core"),
    peers.LLAMAINDEX: ("llama-index-storage-chat-store-upstash", "llama-index-core"),
}


@dataclass
class Run:
    """What the run has produced so far."""

    args: argparse.Namespace
    tables: list[Table] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def show(self, table: Table) -> None:
        """Print ``table`` now and keep it for the results files."""
        self.tables.append(table)
        print("\n" + table.render(), flush=True)


def progress(text: str) -> None:
    """A progress line on standard error (the tables go to standard output)."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--latency-ms", type=float, default=5.0, help="simulated round trip to Upstash")
    add("--iterations", type=int, default=100, help="calls per endpoint in the endpoint table")
    add("--growth-iterations", type=int, default=30, help="calls per endpoint per growth step")
    add("--sizes", default="10,100,1000,10000", help="growth steps (messages, conversations)")
    add("--peer-sizes", default="100,1000,10000", help="history sizes for the peers")
    add("--peer-iterations", type=int, default=20)
    add("--overhead-iterations", type=int, default=300)
    add("--cold-runs", type=int, default=5, help="fresh interpreters per module and baseline")
    add("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    add("--quick", action="store_true", help="a smoke run: small sizes, few iterations")
    add("--out", default="bench-results/latest.json", help="results file (JSON)")
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.growth_iterations, args.peer_iterations = 10, 5, 5
        args.overhead_iterations, args.cold_runs = 30, 1
        args.sizes, args.peer_sizes = "10,100", "100"
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    args.peer_sizes = [int(s) for s in str(args.peer_sizes).split(",")]
    args.only = [s.strip() for s in str(args.only).split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


# ------------------------------------------------------------------------------ machine


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_server = shutil.which("redis-server")
    redis_version = "not installed (fakeredis)"
    if redis_server:
        redis_version = subprocess.run(
            [redis_server, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    import os

    packages = [
        "upstash-redis", "upstash-ratelimit", "starlette", "pydantic", "httpx", "redis",
        "langchain-community", "langchain-core", "llama-index-storage-chat-store-upstash",
        "llama-index-core",
    ]  # fmt: skip
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis": redis_version,
        "packages": {p: _version(p) for p in packages},
    }


# ------------------------------------------------------------------------------ endpoints


def endpoint_table(title: str, rows: list[dict[str, Any]], notes: list[str]) -> Table:
    """Per-endpoint cost and latency."""
    table = Table(
        title,
        [
            "endpoint",
            "Upstash requests",
            "billed commands",
            "bytes sent",
            "bytes received",
            "USD per million calls",
            "p50 ms",
            "p99 ms",
            "script locks",
        ],
        notes=notes,
    )
    for row in rows:
        table.add(
            row["name"],
            count(row["requests"]),
            count(row["billed_commands"]),
            size(row["bytes_sent"]),
            size(row["bytes_received"]),
            _usd(row["billed_commands"]),
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            row["locks"],
        )
    return table


def _usd(commands: float | None) -> str:
    """Upstash's pay-as-you-go price of a million calls ($0.20 per 100,000 commands)."""
    if commands is None:
        return "n/a"
    return f"{commands * USD_PER_COMMAND * 1_000_000:,.2f}"


async def endpoints_section(run: Run, bench: api.ApiBench) -> None:
    """Section 1: every endpoint once, on a user of typical size."""
    user = "endpoints"
    conversations, messages = 100, 100
    progress(f"endpoints: {conversations} conversations, one of {messages} messages")
    await bench.populate(user, conversations=conversations, messages=messages)
    ops = [
        *await api.read_ops(bench, user),
        *await api.write_ops(bench, user, "endpoints"),
        *await api.account_ops(bench, "endpoints"),
    ]
    results = await api.measure_all(bench, ops, run.args.iterations)
    rows = [r.summary() for r in results]
    run.data["endpoints"] = {"conversations": conversations, "messages": messages, "rows": rows}
    run.show(
        endpoint_table(
            f"Per endpoint: a user with {conversations} conversations, the one read or written "
            f"holding {messages} messages ({run.args.latency_ms:g} ms simulated round trip)",
            rows,
            [
                "Called through the real API app (every route, `shared.app.create_app`) "
                "in-process via httpx.ASGITransport, as Mangum calls it on Lambda; the Upstash "
                "stand-in is a separate process behind real HTTP on loopback.",
                "Requests and bytes are per call; bytes are HTTP bodies. Billed commands come "
                "from redis-server's INFO commandstats (an EVALSHA counts itself plus every "
                "redis.call inside it), which is what Upstash bills.",
                "Rate limit: every authenticated call checks its sliding window inside its own "
                "script, before it writes: no request of its own, and its commands are part of "
                "the call's.",
                f"One Upstash request (PING through the service's client) takes "
                f"{bench.ping_ms:.2f} ms p50 here: the {run.args.latency_ms:g} ms the stand-in "
                "sleeps per request (asyncio timer and wake-up included) plus loopback HTTP.",
                f"p50/p99 over {run.args.iterations} calls after 2 warm-up calls (fewer when a "
                "call is slow); measured by the caller, so they include the app's own time.",
                "Script locks: what the call's scripts (EVAL/EVALSHA/EVAL_RO/EVALSHA_RO, the "
                "rate limiter's included) lock on Upstash, counted by the stand-in: key (every "
                "script's shebang has allow-key-locking: only its KEYS are locked), global (no "
                "script has it: Upstash runs it under the database-wide lock), mixed (both "
                "kinds), none (no script); n/a when the stand-in does not count them.",
            ],
        )
    )


# ------------------------------------------------------------------------------ growth


def _full_from(name: str, axis: str) -> int:
    """The smallest size at which this read returns a full page (smaller ones return less)."""
    if axis == "messages":
        return {"get (newest 50)": 50, "get (page back)": 100}.get(name, 0)
    return {"list (page of 20)": 20, "list (next page)": 40, "export (page of 20)": 20}.get(name, 0)


async def growth_section(run: Run, bench: api.ApiBench) -> None:
    """Section 2: the same endpoints as histories grow along each axis."""
    sizes: list[int] = run.args.sizes
    axes = {
        "messages": "messages in the conversation read or written (the user has 30 conversations)",
        "conversations": "conversations of the user (the one read holds 100 messages)",
    }
    growth: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for axis in axes:
        ops: dict[int, list[api.Op]] = {}
        for n in sizes:
            user = f"grow-{axis}-{n}"
            started = time.perf_counter()
            if axis == "messages":
                await bench.populate(user, conversations=30, messages=n)
            else:
                await bench.populate(user, conversations=n, messages=100)
            progress(f"growth: {axis} = {n:,}: populated in {time.perf_counter() - started:.1f} s")
            ops[n] = [
                *await api.read_ops(bench, user),
                *await api.write_ops(bench, user, f"{axis}-{n}"),
            ]
            if axis == "messages":
                ops[n].append(api.whole_put_op(bench, user, n))
        progress(f"growth: {axis}: measuring, the sizes interleaved")
        growth[axis] = {n: [] for n in sizes}
        names = list(dict.fromkeys(op.name for n in reversed(sizes) for op in ops[n]))
        for name in names:
            present = [(n, op) for n in sizes for op in ops[n] if op.name == name]
            results = await bench.measure_interleaved(
                [op for _, op in present], run.args.growth_iterations
            )
            for (n, _), result in zip(present, results, strict=True):
                growth[axis][n].append(result.summary())
    run.data["growth"] = {
        axis: {str(n): rows for n, rows in by.items()} for axis, by in growth.items()
    }
    check = Table(
        f"Read growth: largest / smallest size (target at most {READ_GROWTH_TARGET}x)",
        [
            "read",
            "axis",
            "sizes compared",
            "p50 ms",
            "billed commands",
            "bytes to + from Upstash",
            "verdict",
        ],
        notes=[
            "Compared from the smallest size at which the read returns a full page (at 10 "
            "conversations a page of 20 holds 10; at 10 messages a page of 50 holds 10), to the "
            "largest. Time is p50 at each size; the sizes' calls are interleaved (one call at "
            "each size in turn), so that the machine's drift affects them alike.",
            "Export returns whole conversations, so along the messages axis it grows with the "
            "conversation by design (not a page read there).",
        ],
    )
    for axis, label in axes.items():
        by_size = growth[axis]
        for metric, pick, fmt in (
            ("p50 ms", lambda r: r["p50_ms"], lambda v: "n/a" if v is None else f"{v:.2f}"),
            ("billed commands", lambda r: r["billed_commands"], count),
            ("bytes to + from Upstash", lambda r: _add(r["bytes_sent"], r["bytes_received"]), size),
        ):
            table = Table(
                f"Growth of {metric} with {label}",
                ["endpoint", *[f"{n:,}" for n in sizes], f"{sizes[-1]:,} / {sizes[0]:,}"],
            )
            names = list(dict.fromkeys(r["name"] for n in reversed(sizes) for r in by_size[n]))
            for name in names:
                cells = []
                values = []
                for n in sizes:
                    row = next((r for r in by_size[n] if r["name"] == name), None)
                    value = None if row is None else pick(row)
                    values.append(value)
                    cells.append("n/a" if value is None else fmt(value))
                first = next((v for v in values if v is not None), None)
                table.add(name, *cells, ratio(values[-1], first))
            run.show(table)
        _check_rows(check, axis, by_size, sizes)
    run.show(check)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _check_rows(
    check: Table, axis: str, by_size: dict[int, list[dict[str, Any]]], sizes: list[int]
) -> None:
    reads = [r["name"] for r in by_size[sizes[-1]] if r["read"]]
    for name in reads:
        full = [n for n in sizes if n >= _full_from(name, axis)]
        rows = {n: next((r for r in by_size[n] if r["name"] == name), None) for n in full}
        present = [n for n in full if rows[n] is not None]
        if len(present) < 2:
            continue
        small, large = rows[present[0]], rows[present[-1]]
        assert small is not None
        assert large is not None
        ratios = [
            _ratio_value(large["p50_ms"], small["p50_ms"]),
            _ratio_value(large["billed_commands"], small["billed_commands"]),
            _ratio_value(
                _add(large["bytes_sent"], large["bytes_received"]),
                _add(small["bytes_sent"], small["bytes_received"]),
            ),
        ]
        known = [r for r in ratios if r is not None]
        verdict = "ok" if known and max(known) <= READ_GROWTH_TARGET else "over"
        if name.startswith("export") and axis == "messages":
            verdict = "grows by design"
        check.add(
            name,
            axis,
            f"{present[0]:,} -> {present[-1]:,}",
            *[("n/a" if r is None else f"{r:.2f}x") for r in ratios],
            verdict,
        )


def _ratio_value(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


# ------------------------------------------------------------------------------ overhead


async def overhead_section(run: Run, bench: api.ApiBench) -> None:
    """Section 3a: time inside the handler that is not spent waiting for Upstash."""
    user = "overhead"
    await bench.populate(user, conversations=100, messages=100)
    ops = [
        *await api.read_ops(bench, user),
        *await api.write_ops(bench, user, "overhead"),
        *await api.account_ops(bench, "overhead"),
    ]
    progress("overhead: measuring with no simulated round trip")
    results = await api.measure_all(bench, ops, run.args.overhead_iterations, meter=False)
    rows = [r.summary() for r in results]
    run.data["overhead"] = rows
    table = Table(
        "Handler overhead: time in the handler not spent waiting for Upstash "
        f"(no simulated round trip; target p50 under {OVERHEAD_TARGET_MS:g} ms for list and get)",
        [
            "endpoint",
            "in handler p50 ms",
            "waiting for Upstash p50 ms",
            "overhead p50 ms",
            "overhead p99 ms",
            "CPU p50 ms",
            "target",
        ],
        notes=[
            "In handler: wall time inside the ASGI app (middleware included), per request. "
            "Waiting for Upstash: the union of the Upstash HTTP requests' intervals, measured "
            "under the SDK's httpx client (request sent to reply read), so the two requests of "
            "a read that overlap count once. Overhead = in handler - waiting for Upstash.",
            "CPU: this process's CPU time inside the app. The stand-in and Redis run in other "
            "processes, so it is the handler's own work, the SDK's and httpx's included; it "
            "exceeds the overhead column when work overlaps an Upstash request in flight.",
            f"{run.args.overhead_iterations} calls each after 2 warm-up calls.",
        ],
    )
    for row in rows:
        target = ""
        if row["name"] in {"list (page of 20)", "get (newest 50)"}:
            target = "ok" if row["overhead_p50_ms"] < OVERHEAD_TARGET_MS else "over"
        table.add(
            row["name"],
            f"{row['in_app_p50_ms']:.3f}",
            f"{row['upstash_wait_p50_ms']:.3f}",
            f"{row['overhead_p50_ms']:.3f}",
            f"{row['overhead_p99_ms']:.3f}",
            f"{row['cpu_p50_ms']:.3f}",
            target,
        )
    run.show(table)


def coldstart_section(run: Run) -> None:
    """Section 3b: importing each handler module against its third-party dependencies."""
    progress(f"cold start: {run.args.cold_runs} fresh interpreters per module and baseline")
    results = coldstart.measure_all(run.args.cold_runs)
    rows = [r.summary() for r in results]
    run.data["coldstart"] = rows
    table = Table(
        f"Cold start: importing each handler module (target at most {COLD_START_TARGET}x its "
        "third-party dependencies)",
        [
            "module",
            "handler import ms",
            "third-party deps only ms",
            "ratio",
            "target",
            "slowest own modules (self ms, -X importtime)",
        ],
        notes=[
            f"Median of {run.args.cold_runs} fresh interpreters each, alternating; the clock "
            "starts after interpreter start-up. The handler import includes building its app "
            "and services, as on a Lambda cold start, with a valid configuration in the "
            "environment.",
            "Baseline: importing, in the same order, every third-party module (and submodule) "
            "that importing the handler loaded; nothing of this project.",
        ],
    )
    for row in rows:
        own = sorted(row["own_modules_self_ms"].items(), key=lambda kv: -kv[1])[:4]
        table.add(
            f"functions.{row['module']}",
            f"{row['handler_ms']:.1f}",
            f"{row['dependencies_ms']:.1f}",
            f"{row['ratio']:.2f}x",
            "ok" if row["ratio"] <= COLD_START_TARGET else "over",
            ", ".join(f"{name} {value:.1f}" for name, value in own),
        )
    middle = statistics.median(row["ratio"] for row in rows)
    table.add(
        "median of the modules",
        f"{statistics.median(row['handler_ms'] for row in rows):.1f}",
        f"{statistics.median(row['dependencies_ms'] for row in rows):.1f}",
        f"{middle:.2f}x",
        "ok" if middle <= COLD_START_TARGET else "over",
        "",
    )
    run.show(table)


# ------------------------------------------------------------------------------ peers


async def peers_section(run: Run, bench: api.ApiBench) -> None:
    """Section 4: LangChain, LlamaIndex and the Vercel KV pattern beside this project."""
    sizes: list[int] = run.args.peer_sizes
    n = run.args.peer_iterations
    progress("peers: this project")
    results = await peers.ours(bench, sizes, n)
    failures: dict[str, str] = {}
    for name, runner in (
        (peers.LANGCHAIN, peers.langchain),
        (peers.LLAMAINDEX, peers.llamaindex),
        (peers.VERCEL, peers.vercel),
    ):
        progress(f"peers: {name}")
        try:
            measured = await runner(bench.standin, sizes, n)
        except ImportError as exc:
            packages = " and ".join(PEER_PACKAGES.get(name, ()))
            failures[name] = f"cannot be imported ({exc}); install {packages} (`make bench` does)"
            continue
        except Exception as exc:
            failures[name] = f"failed: {type(exc).__name__}: {exc}"[:400]
            continue
        for result in measured:
            if result.error:
                failures.setdefault(name, f"failed: {result.error}")
        results += measured
    rows = [r.summary() for r in results]
    run.data["peers"] = {"rows": rows, "failures": failures}
    for operation in ("list 20 conversations", "read newest 50", "append 1 message"):
        table = Table(
            f"Peers: {operation} (ratios: peer / this project's store call, same size)",
            [
                "implementation",
                "messages",
                "p50 ms",
                "requests",
                "billed commands",
                "bytes to + from Upstash",
                "time",
                "requests",
                "commands",
                "bytes",
            ],
        )
        for n_messages in sizes:
            base = next(
                (
                    r
                    for r in rows
                    if r["implementation"] == peers.OURS_STORE
                    and r["operation"] == operation
                    and r["messages"] == n_messages
                ),
                None,
            )
            for row in rows:
                if row["operation"] != operation or row["messages"] != n_messages:
                    continue
                table.add(
                    row["implementation"],
                    f"{n_messages:,}",
                    ms(row["p50_ms"] / 1000) if row["samples"] else "n/a",
                    count(row["requests"]),
                    count(row["billed_commands"]),
                    size(row["bytes"]),
                    *(
                        ratio(row[key], None if base is None else base[key])
                        for key in ("p50_ms", "requests", "billed_commands", "bytes")
                    ),
                )
        table.notes = _peer_notes(operation, failures)
        run.show(table)


def _peer_notes(operation: str, failures: dict[str, str]) -> list[str]:
    notes = [
        "Same stand-in, same simulated round trip, same message texts; each peer stores "
        "messages in its own format. The store-call row is the like-for-like baseline (a library "
        "call); the API row adds this project's auth, validation and rate-limit request.",
    ]
    if operation == "read newest 50":
        notes.append(
            "LangChain and LlamaIndex cannot read a page: they read the whole list (LRANGE 0 -1) "
            "and keep the newest 50; the Vercel pattern reads the whole chat hash (HGETALL)."
        )
    if operation == "read newest 50" and peers.LANGCHAIN not in failures:
        notes.append(
            "LangChain's class is still imported from langchain_community.chat_message_histories "
            f"(langchain-community {_version('langchain-community')}, which warns on import that "
            "the package is being sunset); it uses the synchronous upstash_redis client."
        )
    if operation == "list 20 conversations":
        notes.append(
            "LangChain and LlamaIndex have no per-user list of conversations (LlamaIndex's "
            "get_keys() is KEYS * over the whole database), so they are not in this table. "
            "Every conversation holds the given number of messages."
        )
    if operation == "append 1 message":
        notes.append(
            "Vercel pattern: saveChat pipelines HMSET of the whole chat (every message, as one "
            "JSON field) and ZADD, so each turn re-sends the history."
        )
    notes += [f"{name}: {reason}" for name, reason in failures.items()]
    return notes


# ------------------------------------------------------------------------------ session


def _global_commands(tally: session.Tally) -> int | None:
    """What a global database with ``READ_REGIONS`` read regions bills for ``tally``."""
    if tally.writes is None or tally.reads is None:
        return None
    return (1 + READ_REGIONS) * tally.writes + tally.reads


def _of(total: float | None, part: float | None, fmt: Callable[[float | None], str]) -> str:
    """``total (part)``, or just ``total`` when there is no such part."""
    if not part:
        return fmt(total)
    return f"{fmt(total)} ({fmt(part)})"


def _per_million(commands: float | None) -> str:
    """USD per million sessions of ``commands`` billed commands each."""
    return "n/a" if commands is None else f"{commands * USD_PER_COMMAND * 1_000_000:,.0f}"


def _locks(tally: session.Tally) -> str:
    """``key-locked / global lock`` script runs; n/a when the stand-in does not count them."""
    if tally.key_locked_scripts is None or tally.global_lock_scripts is None:
        return "n/a"
    return f"{tally.key_locked_scripts:,} / {tally.global_lock_scripts:,}"


async def session_section(run: Run, bench: api.ApiBench) -> None:
    """Section 5: one realistic session on this project and its peers; capacity and cost."""
    progress(
        f"session: open, {session.TURNS} turns of {session.DELTAS} deltas, "
        f"{session.RELISTS} re-lists; this project streamed and final-reply-only, then peers"
    )
    results, failures = await session.run_all(bench)
    run.data["session"] = {
        "assumptions": {
            "conversations": session.CONVERSATIONS,
            "history_messages": session.HISTORY,
            "turns": session.TURNS,
            "deltas_per_reply": session.DELTAS,
            "turn_seconds": session.TURN_S,
            "session_seconds": session.SESSION_S,
            "relist_every_seconds": session.RELIST_EVERY_S,
            "relists": session.RELISTS,
            "read_regions": READ_REGIONS,
            "sessions_per_user_month": SESSIONS_PER_USER_MONTH,
        },
        "rows": [r.summary() for r in results],
        "failures": failures,
    }
    _session_table(run, results, failures)
    _session_parts_table(run, results)
    ours = [r for r in results if r.name in {session.OURS_STREAMED, session.OURS_FINAL}]
    _capacity_table(run, ours)
    _cost_table(run, ours)
    progress("session: a second device keeping in sync")
    synced = await session.second_device(bench, session.Classifier(bench.standin.redis_url))
    run.data["second_device"] = [
        {"name": name, "bytes_to_device": answered}
        | {f.name: getattr(t, f.name) for f in fields(t)}
        for name, t, answered in synced.rows
    ]
    table = Table(
        "Keeping a second device in sync: idle syncs, and following a streamed reply",
        ["what device B does", "API calls", "bytes to the device", "Upstash requests",
         "billed commands", "bytes sent to Upstash", "bytes back from Upstash"],
        notes=[
            f"The user has {session.CONVERSATIONS} conversations, the open one "
            f"{session.HISTORY} messages. Idle: nothing changed since device B's last look. "
            f"Following: device A streams {session.DELTAS} deltas (one every "
            f"{session.DELTA_INTERVAL_S:g} s); device B polls every "
            f"{session.POLL_EVERY_DELTAS} deltas (once a second) with ?after= and "
            "If-None-Match, or re-reads the conversation's newest page (?limit=50) as often.",
            "Bytes to the device: the API's answer bodies (a 304 has none). Bytes to and from "
            "Upstash: its HTTP bodies.",
        ],
    )  # fmt: skip
    for name, tally, answered in synced.rows:
        table.add(
            name, count(tally.calls), size(answered), count(tally.requests),
            count(tally.billed), size(tally.sent), size(tally.received),
        )  # fmt: skip
    run.show(table)


def _session_table(
    run: Run, results: list[session.SessionResult], failures: dict[str, str]
) -> None:
    """The session table: every implementation's whole session."""
    columns = [
        "implementation",
        "API / library calls",
        "Upstash requests (rate limit)",
        "billed commands",
        "writes / reads",
        "bytes sent (rate limit)",
        "bytes received",
        "Upstash waits",
        *(f"waits at {ms_:g} ms, s" for ms_ in ROUND_TRIPS_MS),
        "scripts key-locked / global lock",
        "USD per million sessions",
        f"USD per million sessions, global ({READ_REGIONS} read regions)",
    ]
    table = Table(
        f"A realistic session: open the app, {session.TURNS} turns, device B re-listing every "
        f"{session.RELIST_EVERY_S:g} s ({run.args.latency_ms:g} ms simulated round trip)",
        columns,
    )
    for result in results:
        total = result.total
        writes = "n/a" if total.writes is None else f"{total.writes:,} / {total.reads:,}"
        table.add(
            result.name,
            count(total.calls),
            _of(total.requests, total.rate_limit_requests, count),
            count(total.billed),
            writes,
            _of(total.sent, total.rate_limit_sent, size),
            size(total.received),
            count(total.waits),
            *(f"{total.waits * ms_ / 1000:.2f}" for ms_ in ROUND_TRIPS_MS),
            _locks(total),
            _per_million(total.billed),
            _per_million(_global_commands(total)),
        )
    unknown = sum(r.unknown_scripts for r in results)
    table.notes = [
        f"The session: the user has {session.CONVERSATIONS} conversations, the current one of "
        f"{session.HISTORY} messages. Device A opens the app (GET /api/me and GET "
        "/api/conversations?limit=20 together, then GET /api/conversations/{current}?limit=50), "
        f"then {session.TURNS} turns of {session.TURN_S:g} s each: append the user's message; "
        f"append the reply with streaming: true and empty content, {session.DELTAS} deltas "
        f"(appendContent, sequence 1..{session.DELTAS}, Prefer: return=minimal) one every "
        f"{session.DELTA_INTERVAL_S:g} s, then PATCH {{streaming: false, tokens}}. Final reply "
        "only: the finished reply appended once instead. Device B re-lists (GET "
        f"/api/conversations?limit=20) every {session.RELIST_EVERY_S:g} s of the "
        f"{session.SESSION_S:g} s session: {session.RELISTS} times.",
        "Peers, the same conversation their way (they stream nothing): LangChain as "
        "RunnableWithMessageHistory uses it (open: read the history; each turn: read it, then "
        "add_messages of the pair, one LPUSH each); LlamaIndex as ChatMemoryBuffer uses it "
        "(open: get_messages; each turn: add the user's message, get_messages, add the reply); "
        "the Vercel pattern (open: getChats and getChat together; each turn: saveChat of the "
        "whole chat; device B: getChats). LangChain and LlamaIndex cannot list, so their "
        "device B does nothing.",
        "Requests: Upstash HTTP requests; in brackets the ones running upstash-ratelimit's own "
        "script (a separate rate-limit request; none when the store limits inside its "
        "scripts). Billed commands: redis-server's INFO commandstats, every redis.call of a "
        "script included. Bytes: HTTP bodies to and from Upstash.",
        "Writes / reads: a command is a write when Redis flags it write; a script run (EVAL, "
        "EVALSHA) counts as one write command when its text can call any write command, else "
        "as a read (EVAL_RO / EVALSHA_RO always read). A global database bills (1 + read "
        "regions) x writes + reads."
        + (f" {unknown} script runs of unseen text were counted as writes." if unknown else ""),
        "Upstash waits: sequential Upstash round trips on device A's critical path. Per API "
        "call, its Upstash requests whose time in flight overlaps count once (a read's data "
        "and rate-limit requests are sent together; a write's wait for each other); calls the "
        "frontend sends together (me and list on open) count as the longer one; device B's "
        "re-lists are on another device and count nothing. A peer sends one request at a "
        "time, so each of its requests is a wait. Times: waits x 5 ms and x 20 ms, a round "
        "trip to Upstash from the same region and from further away.",
        "Scripts key-locked / global lock: script runs whose shebang carries "
        "allow-key-locking (Upstash locks only their KEYS) / that do not (Upstash's "
        "database-wide lock), counted by the stand-in; n/a when it does not count them.",
        f"USD at Upstash pay-as-you-go, ${USD_PER_COMMAND * 100_000:.2f} per 100,000 commands.",
    ]
    table.notes += [f"{name}: {reason}" for name, reason in failures.items()]
    run.show(table)


def _session_parts_table(run: Run, results: list[session.SessionResult]) -> None:
    """Requests and billed commands of each part of the session."""
    table = Table(
        "The session in parts: Upstash requests / billed commands",
        [
            "implementation",
            "open",
            "one turn (mean)",
            f"{session.TURNS} turns",
            "one re-list by device B",
            "whole session",
        ],
        notes=[
            "A turn of this project streamed: append the user's message, append the empty "
            f"reply, {session.DELTAS} deltas, finish it.",
        ],
    )

    def cell(tally: session.Tally, per: int = 1) -> str:
        if not tally.calls:
            return "-"
        billed = None if tally.billed is None else tally.billed / per
        return f"{count(tally.requests / per)} / {count(billed)}"

    for result in results:
        table.add(
            result.name,
            cell(result.open),
            cell(result.turns, session.TURNS),
            cell(result.turns),
            cell(result.relists, max(1, result.relists.calls)),
            cell(result.total),
        )
    run.show(table)


def _capacity_table(run: Run, results: list[session.SessionResult]) -> None:
    """Users in a turn at once and sessions an hour at the commands-per-second limit."""
    table = Table(
        f"Capacity at Upstash pay-as-you-go's {COMMANDS_PER_SECOND_LIMIT:,} commands a second "
        "(from the session above)",
        [
            "session",
            "billed commands per turn",
            f"commands/s of one user in a turn ({session.TURN_S:g} s)",
            "users in a turn at once",
            "Upstash requests/s at that load",
            "billed commands per session",
            "sessions an hour",
        ],
    )
    rows = {}
    for result in results:
        turns, total = result.turns, result.total
        if turns.billed is None or total.billed is None:
            table.add(result.name, *["n/a"] * 6)
            continue
        per_turn = turns.billed / session.TURNS
        per_user = per_turn / session.TURN_S
        users = COMMANDS_PER_SECOND_LIMIT / per_user
        requests_per_user = turns.requests / session.TURNS / session.TURN_S
        sessions_hour = COMMANDS_PER_SECOND_LIMIT * 3600 / total.billed
        rows[result.name] = {
            "commands_per_turn": per_turn,
            "commands_per_second_per_user": per_user,
            "users_in_a_turn_at_once": users,
            "upstash_requests_per_second_then": users * requests_per_user,
            "sessions_per_hour": sessions_hour,
        }
        table.add(
            result.name,
            count(per_turn),
            f"{per_user:,.1f}",
            f"{users:,.0f}",
            f"{users * requests_per_user:,.0f}",
            count(total.billed),
            f"{sessions_hour:,.0f}",
        )
    table.notes = [
        f"A user in a turn spends the turn's billed commands over its {session.TURN_S:g} s "
        f"({session.DELTAS} deltas at one per {session.DELTA_INTERVAL_S:g} s, then "
        f"{session.READ_AND_TYPE_S:g} s to read and type); users in a turn at once = "
        f"{COMMANDS_PER_SECOND_LIMIT:,} / that rate. While the reply streams the rate is "
        "higher (the deltas come in its first part), so bursts reach the limit sooner.",
        f"Sessions an hour = {COMMANDS_PER_SECOND_LIMIT:,} x 3,600 / billed commands per "
        "session (device B's re-lists included), spread evenly over the hour.",
        "The limit is per database; a global database's read regions serve reads, but every "
        "write runs in the primary.",
    ]
    run.data["session"]["capacity"] = rows
    run.show(table)


def _cost_table(run: Run, results: list[session.SessionResult]) -> None:
    """Monthly cost for a few user counts, regional and global."""
    table = Table(
        f"Monthly cost at pay-as-you-go ({SESSIONS_PER_USER_MONTH} sessions per monthly active "
        "user)",
        [
            "session",
            "database",
            "billed commands per session",
            *(f"{users:,} users: USD a month" for users in MONTHLY_USERS),
            "sessions a month in the free plan",
        ],
    )
    costs = []
    for result in results:
        total = result.total
        for database, commands in (
            ("regional", total.billed),
            (f"global, {READ_REGIONS} read regions", _global_commands(total)),
        ):
            if commands is None:
                table.add(result.name, database, *["n/a"] * (len(MONTHLY_USERS) + 2))
                continue
            monthly = [
                users * SESSIONS_PER_USER_MONTH * commands * USD_PER_COMMAND
                for users in MONTHLY_USERS
            ]
            costs.append({"session": result.name, "database": database, "usd": monthly})
            table.add(
                result.name,
                database,
                count(commands),
                *(f"{usd:,.2f}" for usd in monthly),
                f"{FREE_COMMANDS_PER_MONTH // commands:,}",
            )
    table.notes = [
        f"Assumed usage: each monthly active user has {SESSIONS_PER_USER_MONTH} sessions a "
        "month like the one above (and nothing else); commands only, storage and bandwidth "
        f"not included; ${USD_PER_COMMAND * 100_000:.2f} per 100,000 commands.",
        f"Global: (1 + {READ_REGIONS}) x write commands + read commands, with the session's "
        "write/read split above.",
        f"Free plan: {FREE_COMMANDS_PER_MONTH:,} commands a month (and the same "
        f"{COMMANDS_PER_SECOND_LIMIT:,} commands a second); its last column is how many such "
        "sessions that covers.",
    ]
    run.data["session"]["monthly_cost"] = costs
    run.show(table)


# ------------------------------------------------------------------------------ push


def push_section(run: Run, redis_url: str | None) -> None:
    """Live pushes: a write's added latency, a streamed reply's pushes, and the cost vs polling."""
    progress("push: writes with 0, 1 and 5 other connections, then a streamed reply")
    figures = push.measure(redis_url, run.args.iterations)
    table = Table(
        "Live pushes: an append's latency with push on (loopback, no simulated round trip)",
        ["other connections", "p50", "p99"],
    )
    for others, (p50, p99) in figures.latency_ms.items():
        table.add(others, f"{p50:.1f} ms", f"{p99:.1f} ms")
    table.notes.append(
        "Push on, each write's script also reads the user's connections (one command); the "
        "write then posts to each other connection (boto3 to make dev's @connections, side by "
        "side) before it answers. 0 connections: no post, boto3 not even imported."
    )
    run.show(table)
    # Per idle hour: a ping every 5 minutes (and its pong), 60 connection-minutes; a frame is
    # 2 Upstash requests, 6 commands. Polling: the feed every 30 s, 1 request of 4 commands.
    idle_ws_messages, idle_ws_commands, idle_ws_requests = 24, 72, 24
    idle_poll_requests, idle_poll_commands = 120, 480
    push_idle = (
        idle_ws_messages * USD_PER_WS_MESSAGE
        + 60 * USD_PER_CONNECTION_MINUTE
        + idle_ws_commands * USD_PER_COMMAND
    )
    poll_idle = idle_poll_commands * USD_PER_COMMAND
    # A pushed event: one API Gateway message per listening connection, and the HGETALL its
    # write adds (one command per write, however many it pushes to). Polled: the feed read
    # that finds it (1 request, 4 commands) on each other device.
    per_event_push = USD_PER_WS_MESSAGE + USD_PER_COMMAND
    per_event_poll = 4 * USD_PER_COMMAND
    cost = Table(
        "Live pushes: messages and cost against polling",
        ["what", "pushed", "polled"],
    )
    cost.add(
        f"a streamed reply of {figures.deltas} deltas, 50 ms apart (to one watcher)",
        f"{figures.reply_pushes} pushes, {size(figures.reply_bytes)}",
        f"{math.ceil(figures.deltas * push.DELTA_INTERVAL_S)} polls a second apart",
    )
    cost.add(
        "an idle device, per hour",
        f"{idle_ws_messages} messages, 60 conn-min, {idle_ws_requests} req / "
        f"{idle_ws_commands} cmd",
        f"{idle_poll_requests} req / {idle_poll_commands} cmd",
    )
    cost.add("an idle device, $ per hour", f"${push_idle:.6f}", f"${poll_idle:.6f}")
    cost.add(
        "per million events reaching one other device",
        f"${per_event_push * 1e6:.2f}",
        f"${per_event_poll * 1e6:.2f} (the feed read per change, at best)",
    )
    cost.notes.append(
        "API Gateway WebSocket: $1.00 per million messages (32 KB each), $0.25 per million "
        "connection-minutes; Upstash: $0.20 per 100K commands (docs/storage-and-cost.md)."
    )
    run.show(cost)
    run.data["push"] = {
        "latency_ms": figures.latency_ms,
        "reply": {"pushes": figures.reply_pushes, "bytes": figures.reply_bytes},
        "idle_hour_usd": {"push": push_idle, "poll": poll_idle},
        "per_million_events_usd": {"push": per_event_push * 1e6, "poll": per_event_poll * 1e6},
    }


# ------------------------------------------------------------------------------ main


async def run_async(run: Run, redis_url: str | None) -> None:
    """Every section that needs the stand-in."""
    only = run.args.only
    token = "bench-standin-token"  # noqa: S105  (the local stand-in's)
    if {"endpoints", "growth", "peers", "session"} & set(only):
        with standin_process(
            token=token, redis_url=redis_url, latency_ms=run.args.latency_ms
        ) as standin:
            bench = api.ApiBench(standin, label="rt")
            try:
                await bench.start()
                if "endpoints" in only:
                    await endpoints_section(run, bench)
                if "growth" in only:
                    await growth_section(run, bench)
                if "peers" in only:
                    await peers_section(run, bench)
                if "session" in only:
                    await session_section(run, bench)
            finally:
                await bench.aclose()
    if "overhead" in only:
        with standin_process(token=token, redis_url=redis_url, latency_ms=0) as standin:
            bench = api.ApiBench(standin, label="oh")
            try:
                await bench.start()
                await overhead_section(run, bench)
            finally:
                await bench.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmarks; print every table; write the results file."""
    args = parse_args(argv)
    api.ensure_import_env()
    run = Run(args)
    started = time.perf_counter()
    run.data["machine"] = machine()
    run.data["options"] = {k: v for k, v in vars(args).items() if k not in {"out"}}
    with redis_backend.private_redis() as redis_url:
        if redis_url is None:
            progress("redis-server is not on PATH: fakeredis, billed commands are n/a")
        asyncio.run(run_async(run, redis_url))
        if "push" in args.only:
            push_section(run, redis_url)
    if "coldstart" in args.only:
        coldstart_section(run)
    run.data["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run.data["tables"] = [t.as_json() for t in run.tables]
    out.write_text(json.dumps(run.data, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text("\n".join(t.render() for t in run.tables))
    progress(f"done in {run.data['seconds']} s; results in {out} and {out.with_suffix('.md')}")
