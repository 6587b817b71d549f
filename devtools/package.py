"""Lock, build, check and measure the Lambda artifact.

``make package`` runs ``deps``, ``build`` and ``check``; ``make lock`` runs ``lock``.

    python -m devtools.package lock     # runtime dependencies -> requirements/lambda.lock
    python -m devtools.package deps     # the lock, installed -> .build/deps (manylinux, cp312)
    python -m devtools.package build    # .build/deps + functions/ + shared/, compiled -> the zip
    python -m devtools.package check    # the zip holds what Lambda needs, once, and nothing else
    python -m devtools.package report   # zip size; each handler's cold import against its deps

``lock`` resolves ``[project].dependencies`` of pyproject.toml for the Lambda runtime (CPython
3.12, manylinux x86_64, wheels only) and writes every distribution with its version and hashes
to ``requirements/lambda.lock``: the artifact installs exactly that, so two builds of one commit
ship the same code. ``deps`` pip-installs the lock with ``--require-hashes`` as manylinux wheels
for CPython 3.12 x86_64 whatever Python runs it, then prunes what no import needs: console
scripts, ``*.dist-info`` (no dependency reads its own metadata at import; the artifact smoke test
proves it), type stubs and bundled tests. License texts are kept, in
``.build/deps/_licenses/<name>-<version>/``, which also records what was installed.

``build`` lays the task root out in ``.build/task`` (``functions/``, ``shared/`` and the
dependencies under ``.build/deps/``) and compiles every module to CPython 3.12 bytecode, the
project's own as much as its dependencies'. Lambda's ``/var/task`` is read-only, so whatever
ships as source is compiled again on every cold start. Each module ships once, as its ``.pyc``
in place of its ``.py`` (the sourceless layout Python imports when no source is beside it):
a module shipped as both costs the zip its size and buys nothing at import, and shipped as
source it costs every cold start its compilation (``report --compare`` measures both). A
traceback still names the file (as ``/var/task/...``), the function and the line; only the
line's text is missing, which the commit that was deployed shows. The bytecode is hash-based
(``unchecked-hash``), so it records no build time, and the zip is written with fixed dates and
modes in a fixed order: the same lock and sources give the same bytes. ``serverless.yml`` ships
that zip as its ``package.artifact``.

``report`` unzips the artifact and times, in fresh Python 3.12 processes with only the artifact
on ``sys.path``, the import of each handler module (the work a cold start does before the first
request) against importing only the third-party modules that import loaded, in the same order
(what any handler on the same libraries pays). ``-B`` keeps the runs from writing bytecode, as
Lambda's read-only ``/var/task`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from functions import function_names

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lambda.lock"
BUILD = ROOT / ".build"
DEPS = BUILD / "deps"
TASK = BUILD / "task"
DEPS_IN_ZIP = ".build/deps"
LICENSES = "_licenses"
#: Where Lambda unzips the artifact; the file names the bytecode records.
TASK_ROOT = "/var/task"
#: The project's own packages: the zip's top level, beside the dependencies.
PROJECT_PACKAGES = ("functions", "shared")

#: The python3.12 runtime on x86_64 (serverless.yml's runtime and architecture).
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_ARCHITECTURE = "x86_64"
#: What the wheels in .build/deps are chosen for: pip's terms.
PIP_PLATFORM_ARGS = (
    "--implementation",
    "cp",
    "--python-version",
    LAMBDA_PYTHON_VERSION,
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--only-binary=:all:",
)
#: The same target in uv's terms, for resolving the lock: the newest manylinux tag pip accepts
#: above, so the lock never pins a version whose wheels pip would refuse.
UV_PLATFORM_ARGS = (
    "--python-version",
    LAMBDA_PYTHON_VERSION,
    "--python-platform",
    "x86_64-manylinux_2_28",
    "--only-binary",
    ":all:",
)
#: The marker environment of the runtime, for the lock's checks (``extra`` is set per use).
LAMBDA_MARKERS: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": LAMBDA_ARCHITECTURE,
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": f"{LAMBDA_PYTHON_VERSION}.0",
    "python_version": LAMBDA_PYTHON_VERSION,
    "sys_platform": "linux",
}

#: A budget, not Lambda's limit (50 MB zipped, 250 MB unzipped): a dependency that blows it
#: (boto3 alone is ~15 MB) costs every cold start and deserves a decision. Today's ~10 MB is
#: mostly cryptography (JWKS signatures, 5 MB), pydantic-core (2.3 MB) and bytecode.
MAX_ZIP_BYTES = 16 * 1024 * 1024

#: What the zip may hold at its top level: the handler modules, the shared code, dependencies.
PROJECT_PREFIXES = tuple(f"{p}/" for p in PROJECT_PACKAGES)
ALLOWED_PREFIXES = (*PROJECT_PREFIXES, f"{DEPS_IN_ZIP}/")
FORBIDDEN_PARTS = frozenset({"tests", "test", "devtools", "bin", ".venv"})
#: Pruned from the dependencies: stale caches and type stubs.
FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".pyi")
BYTECODE_TAG = "cpython-312"
#: The first four bytes of every CPython 3.12 ``.pyc`` (``importlib.util.MAGIC_NUMBER``, fixed
#: for a whole minor version), then the flags of hash-based bytecode that is never checked
#: against a source (PEP 552): there is no source beside it.
PYC_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"
PYC_UNCHECKED_HASH = (1).to_bytes(4, "little")
_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
#: Fixed for every entry, so the zip's bytes depend on its contents only (zip's epoch).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

#: Settings every handler module needs to import (it builds its app, and so its settings, at
#: import). Nothing is contacted at import.
IMPORT_ENV = {
    "UPSTASH_REDIS_REST_URL": "http://127.0.0.1:9",
    "UPSTASH_REDIS_REST_TOKEN": "import-only",
    "ANONYMOUS_TOKEN_SECRET": "import-only-anonymous-secret-0123456789",
    "AWS_LAMBDA_FUNCTION_NAME": "chat-store-import-timing",
}
#: The target the report holds each handler's import to, against its dependencies alone.
IMPORT_RATIO_TARGET = 1.15

# Run by the artifact's interpreter: sys.path as Lambda builds it (the task root, then
# PYTHONPATH=/var/task/.build/deps), then the import; prints milliseconds of the clock named.
_TIME_IMPORT = """
import sys, time
clock = getattr(time, sys.argv[2])
started = clock()
task = sys.argv[1]
sys.path[:0] = [task, task + "/.build/deps"]
import importlib
importlib.import_module(sys.argv[3])
print((clock() - started) * 1000)
"""

# The same, importing only the given third-party modules, in the order given.
_TIME_DEPENDENCIES = """
import sys, time
clock = getattr(time, sys.argv[2])
started = clock()
task = sys.argv[1]
sys.path[:0] = [task, task + "/.build/deps"]
import importlib, json
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
print((clock() - started) * 1000)
"""
#: The clocks ``report`` can time with. CPU time by default: on a shared machine a process that
#: waits for a core is charged for the wait by the wall clock, not by the CPU clock, and an
#: import from a warm page cache does no other waiting.
CLOCKS = {"cpu": "process_time", "wall": "perf_counter"}

# Prints the modules from the artifact's dependencies that importing a handler loaded, in the
# order they started loading (a package before its submodules).
_LIST_DEPENDENCIES = """
import importlib, json, sys
task = sys.argv[1]
sys.path[:0] = [task, task + "/.build/deps"]
deps = task + "/.build/deps/"
before = set(sys.modules)
importlib.import_module(sys.argv[2])
print(json.dumps([
    name for name, module in list(sys.modules.items())
    if name not in before and (getattr(module, "__file__", None) or "").startswith(deps)
]))
"""

# Prints the hash a CPython 3.12 hash-based .pyc records of each source file named.
_SOURCE_HASHES = """
import importlib.util, json, sys
print(json.dumps({
    path: importlib.util.source_hash(open(path, "rb").read()).hex() for path in sys.argv[1:]
}))
"""


def artifact_path() -> Path:
    """The zip ``build`` writes and serverless.yml ships (its ``package.artifact``)."""
    text = (ROOT / "serverless.yml").read_text()
    match = re.search(r"^  artifact:\s*(\S+)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("serverless.yml has no `package.artifact` line")
    return ROOT / match.group(1)


def project_metadata() -> tuple[str, list[str]]:
    """The project's name and ``[project].dependencies``: the one list of runtime dependencies."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    dependencies: list[str] = project["dependencies"]
    return project["name"], dependencies


# --- The lock ----------------------------------------------------------------------------------


def lock(extra_args: Sequence[str] = ()) -> None:
    """Resolve the runtime dependencies for Lambda into ``requirements/lambda.lock``.

    A version already in the lock is kept while it still satisfies pyproject.toml; pass
    ``--upgrade`` or ``--upgrade-package NAME`` to move it.
    """
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to lock: `make lock` installs it into .venv")
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    command = [
        uv,
        "pip",
        "compile",
        "--quiet",  # the lock is the output; uv would print it to the terminal too
        "pyproject.toml",
        *UV_PLATFORM_ARGS,
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        "--output-file",
        str(LOCK.relative_to(ROOT)),
        *extra_args,
    ]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def _lock_entries(text: str) -> dict[str, tuple[str, list[str], set[str]]]:
    """Each pinned distribution of a lock: its version, hashes and what it is locked for."""
    entries: dict[str, tuple[str, list[str], set[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            entries[current] = (pin.group(2), [], set())
        elif current is not None and stripped.startswith("--hash="):
            entries[current][1].append(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif current is not None and stripped.startswith("#"):
            # uv's annotations: `# via NAME`, or `# via` then one `#   NAME` per line.
            via = stripped.lstrip("#").strip().removeprefix("via").strip()
            if via:
                entries[current][2].add(via)
        elif stripped:
            current = None
    return entries


def locked_versions(text: str | None = None) -> dict[str, str]:
    """Canonical name -> version of every distribution in the lock."""
    entries = _lock_entries(LOCK.read_text() if text is None else text)
    return {name: version for name, (version, _, _) in entries.items()}


def _extra_requirements(name: str, extras: Iterable[str]) -> list[Requirement]:
    """What installing ``name[extras]`` adds, on Lambda, per the installed distribution."""
    declared = [Requirement(text) for text in metadata.requires(name) or ()]
    return [
        requirement
        for requirement in declared
        for extra in extras
        if requirement.marker is not None
        and requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": extra})
    ]


def lock_problems(project: str, dependencies: Sequence[str], text: str) -> list[str]:
    """How the lock ``text`` disagrees with the project's runtime ``dependencies``; empty if not.

    Each dependency is locked at a version it allows, with what its extras add; the lock holds
    no dependency of the project's that pyproject.toml no longer names; every pin has hashes.
    (That the lock holds every dependency of a dependency, pip's ``--require-hashes`` checks
    when ``deps`` installs it.)
    """
    entries = _lock_entries(text)
    problems: list[str] = []
    wanted: set[str] = set()
    for line in dependencies:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        wanted.add(name)
        if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
            continue
        if name not in entries:
            problems.append(f"{line}: in pyproject.toml, not in the lock")
            continue
        version = entries[name][0]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{line}: the lock has {name}=={version}")
        if requirement.extras:
            try:
                added = _extra_requirements(requirement.name, requirement.extras)
            except metadata.PackageNotFoundError:
                problems.append(f"{line}: not installed here, so its extras cannot be checked")
                added = []
            problems.extend(
                f"{line}: its extra needs {extra.name}{extra.specifier}, not in the lock"
                for extra in added
                if canonicalize_name(extra.name) not in entries
            )
    source = f"{project} (pyproject.toml)"
    problems.extend(
        f"{name}: locked for pyproject.toml, which no longer names it"
        for name, (_, _, via) in sorted(entries.items())
        if source in via and name not in wanted
    )
    problems.extend(
        f"{name}=={version}: no hashes"
        for name, (version, hashes, _) in entries.items()
        if not hashes
    )
    return problems


def check_lock() -> list[str]:
    """``lock_problems`` for this project's pyproject.toml and lock."""
    if not LOCK.exists():
        return [f"{LOCK.relative_to(ROOT)} is missing: run `make lock`"]
    project, dependencies = project_metadata()
    return lock_problems(project, dependencies, LOCK.read_text())


# --- Building ----------------------------------------------------------------------------------


def build_deps(target: Path = DEPS) -> None:
    """Install the locked runtime dependencies for Lambda into ``target`` (emptied), pruned."""
    problems = check_lock()
    if problems:
        raise SystemExit(
            "requirements/lambda.lock does not match pyproject.toml (run `make lock`):\n  "
            + "\n  ".join(problems)
        )
    shutil.rmtree(target, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--no-compile",
        # Exactly the lock: every distribution pinned with its hashes, none resolved here.
        "--require-hashes",
        "--target",
        str(target),
        *PIP_PLATFORM_ARGS,
        "--requirement",
        str(LOCK),
    ]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    prune(target)


def prune(target: Path) -> None:
    """Remove what no import needs; keep each distribution's license texts."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    licenses = target / LICENSES
    for info in sorted(target.glob("*.dist-info")):
        kept = licenses / info.name.removesuffix(".dist-info")
        kept.mkdir(parents=True, exist_ok=True)
        for file in info.rglob("*"):
            relative = file.relative_to(info)
            if file.is_file() and (
                relative.parts[0] == "licenses" or _LICENSE_FILE.match(relative.name)
            ):
                destination = kept / relative.name
                shutil.copyfile(file, destination)
        shutil.rmtree(info)
    for path in sorted(target.rglob("*"), reverse=True):  # children before their parents
        if path.is_dir() and path.name in {"__pycache__", "tests", "test"}:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in FORBIDDEN_SUFFIXES:
            path.unlink()


def build(deps: Path = DEPS, task: Path = TASK, output: Path | None = None) -> Path:
    """Lay out the task root in ``task``, compile it for CPython 3.12 and zip it to ``output``."""
    python = lambda_python()
    if python is None:
        raise SystemExit(
            "no CPython 3.12 (set LAMBDA_PYTHON): the artifact ships its modules as 3.12 bytecode"
        )
    if not (deps / LICENSES).is_dir():
        raise SystemExit(f"{deps} holds no dependencies: run `python -m devtools.package deps`")
    output = output or artifact_path()
    shutil.rmtree(task, ignore_errors=True)
    task.mkdir(parents=True)
    for package in PROJECT_PACKAGES:
        shutil.copytree(
            ROOT / package, task / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copytree(deps, task / DEPS_IN_ZIP)
    stamp_checked_lua(task)
    compile_sourceless(python, task)
    write_zip(task, output)
    return output


# Where the build stamps the shipped Lua as checked (shared.scripts.CHECKED_STAMP).
CHECKED_STAMP = "shared/lua/checked"


def stamp_checked_lua(task: Path) -> None:
    """Run every check of the scripts against their Lua, then stamp the shipped Lua as checked.

    A cold start then skips the checks (``shared.scripts.CHECKING``). They run in a fresh
    process on the source tree, whose Lua the task root holds a copy of.
    """
    fingerprint = subprocess.run(
        [
            sys.executable,
            "-c",
            "from shared import scripts; scripts.check_all(); print(scripts.lua_fingerprint())",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (task / CHECKED_STAMP).write_text(fingerprint, "ascii")


def compile_sourceless(python: str, task: Path) -> None:
    """Compile every module under ``task`` to a ``.pyc`` in place of its ``.py``.

    ``-b`` writes ``module.pyc`` beside ``module.py`` (not into ``__pycache__``), which is where
    Python looks for a module that has no source. The recorded file names are the ones Lambda
    sees (``/var/task/...``), so the bytecode does not depend on where it was built.
    """
    command = [
        python,
        "-s",
        "-m",
        "compileall",
        "-q",
        "-b",
        # One process, files in sorted order: what marshal writes for an object depends on
        # what that process compiled before (shared objects are written as references), so
        # parallel workers would give a different file from one build to the next.
        "-j",
        "1",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(task),
        "-p",
        TASK_ROOT,
        str(task),
    ]
    print("+", " ".join(command), flush=True)
    # A fixed string hash, so sets among a module's constants are written in a fixed order.
    # (-I would ignore it, so the environment is cleared instead.)
    subprocess.run(command, check=True, env={"PYTHONHASHSEED": "0"})
    for source in sorted(task.rglob("*.py")):
        if not source.with_suffix(".pyc").is_file():
            raise RuntimeError(f"{source} was not compiled")
        source.unlink()


def write_zip(folder: Path, output: Path) -> None:
    """Zip ``folder``'s contents to ``output``: fixed dates and modes, sorted, so reproducible."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_dir():
                if any(path.iterdir()):
                    continue  # its files imply it
                # An empty one is kept: a license folder with no text still records its
                # distribution's version.
                info = zipfile.ZipInfo(name + "/", date_time=ZIP_DATE)
                info.external_attr = (0o40755 << 16) | 0x10  # a directory, for unzip and Lambda
                archive.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            # Read permission is all Lambda needs, shared libraries included; the execute bit
            # is kept on them only as unzip tools expect it.
            mode = 0o755 if ".so" in path.suffixes else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # Unix, so the modes above are read
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED, 9)
    partial.replace(output)


# --- Checking ----------------------------------------------------------------------------------


def installed_distributions(names: Iterable[str]) -> list[str]:
    """``name-version`` of each dependency in a zip listing (from its kept license folder)."""
    prefix = f"{DEPS_IN_ZIP}/{LICENSES}/"
    folders = {n[len(prefix) :].split("/")[0] for n in names if n.startswith(prefix)}
    return sorted(folders - {""})


def lock_mismatches(names: Iterable[str], locked: Mapping[str, str]) -> list[str]:
    """How the distributions in a zip listing differ from the lock's; empty when they do not."""
    shipped: dict[str, str] = {}
    for folder in installed_distributions(names):
        name, _, version = folder.rpartition("-")
        shipped[canonicalize_name(name)] = version
    problems = [
        f"{name}=={version} ships, the lock has "
        + (f"{name}=={locked[name]}" if name in locked else "no such distribution")
        for name, version in sorted(shipped.items())
        if locked.get(name) != version
    ]
    problems.extend(
        f"{name}=={version} is locked, but does not ship"
        for name, version in sorted(locked.items())
        if name not in shipped
    )
    return problems


def _module_key(name: str) -> str | None:
    """The module a zip entry holds (its path without suffix), or None if it holds none."""
    folder, _, file = name.rpartition("/")
    if file.endswith(".py"):
        return name[:-3]
    if file.endswith(".pyc"):
        if folder.endswith("__pycache__"):
            stem = file.split(".")[0]
            return f"{folder.removesuffix('__pycache__')}{stem}"
        return name[:-4]
    return None


def shipped_twice(names: Iterable[str]) -> list[str]:
    """Modules a zip listing holds more than once (source and bytecode, or two bytecodes)."""
    seen: dict[str, list[str]] = {}
    for name in names:
        key = _module_key(name)
        if key is not None:
            seen.setdefault(key, []).append(name)
    return sorted(" and ".join(sorted(entries)) for entries in seen.values() if len(entries) > 1)


def missing_bytecode(names: Iterable[str]) -> list[str]:
    """Modules in a zip listing that ship as source: each cold start compiles them again."""
    return sorted(name for name in names if name.endswith(".py"))


def bytecode_problems(archive: zipfile.ZipFile) -> list[str]:
    """Bytecode in ``archive`` that is not unchecked hash-based CPython 3.12 bytecode."""
    problems = []
    for name in archive.namelist():
        if name.endswith(".pyc"):
            with archive.open(name) as file:
                header = file.read(8)
            if header[:4] != PYC_MAGIC:
                problems.append(f"{name}: not {BYTECODE_TAG} bytecode")
            elif header[4:] != PYC_UNCHECKED_HASH:
                problems.append(f"{name}: not unchecked hash-based bytecode")
    return problems


def zip_problems(path: Path, locked: Mapping[str, str] | None = None) -> list[str]:
    """Why the zip at ``path`` is not fit to deploy; empty when it is.

    ``locked`` defaults to the lock's versions, which the zip's dependencies must match.
    """
    problems: list[str] = []
    size = path.stat().st_size
    if size > MAX_ZIP_BYTES:
        problems.append(f"{size:,} bytes: over the {MAX_ZIP_BYTES:,}-byte budget")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        problems.extend(bytecode_problems(archive))
    for name in names:
        parts = name.rstrip("/").split("/")
        folders = parts if name.endswith("/") else parts[:-1]
        if not name.startswith(ALLOWED_PREFIXES):
            problems.append(f"{name}: outside functions/, shared/ and {DEPS_IN_ZIP}/")
        elif FORBIDDEN_PARTS.intersection(folders):
            problems.append(f"{name}: tests, dev tools and scripts do not ship")
        elif "__pycache__" in parts:
            problems.append(f"{name}: bytecode ships in place of its source, not in a cache")
        elif name.endswith((".pyo", ".pyi")):
            problems.append(f"{name}: no type stubs or optimized bytecode")
        elif any(part.endswith(".dist-info") for part in parts):
            problems.append(f"{name}: package metadata does not ship")
    problems.extend(f"{name}: ships as source" for name in missing_bytecode(names))
    problems.extend(f"{twice}: the same module twice" for twice in shipped_twice(names))
    present = set(names)
    problems.extend(
        f"functions/{module}.pyc is missing"
        for module in function_names()
        if f"functions/{module}.pyc" not in present
    )
    problems.extend(
        f"{lua.relative_to(ROOT).as_posix()} is missing"
        for lua in sorted((ROOT / "shared" / "lua").rglob("*.lua"))
        if lua.relative_to(ROOT).as_posix() not in present
    )
    if not any(name.startswith(f"{DEPS_IN_ZIP}/starlette/") for name in names):
        problems.append(f"{DEPS_IN_ZIP}/ holds no dependencies: run `make package`")
    problems.extend(lock_mismatches(names, locked_versions() if locked is None else locked))
    return problems


def stale_files(path: Path, python: str) -> list[str]:
    """Files of functions/ and shared/ that differ between the zip and the work tree.

    A module's ``.pyc`` records the hash of the source it was compiled from; ``python`` (a
    CPython 3.12) hashes the work tree's sources the same way.
    """
    with zipfile.ZipFile(path) as archive:
        zipped = {
            name: archive.read(name)
            for name in archive.namelist()
            if name.startswith(PROJECT_PREFIXES)
            and not name.endswith("/")
            and name != CHECKED_STAMP  # (the build's, never in the work tree)
        }
    tree = {
        file.relative_to(ROOT).as_posix(): file
        for folder in PROJECT_PACKAGES
        for file in (ROOT / folder).rglob("*")
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
    }
    sources = sorted(str(file) for file in tree.values() if file.suffix == ".py")
    hashes: dict[str, str] = json.loads(
        subprocess.run(
            [python, "-I", "-c", _SOURCE_HASHES, *sources],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    expected = {
        (name[:-3] + ".pyc" if name.endswith(".py") else name): file for name, file in tree.items()
    }
    stale = []
    for name in sorted(zipped.keys() | expected.keys()):
        if name not in zipped or name not in expected:
            stale.append(name)
        elif name.endswith(".pyc"):
            if zipped[name][8:16].hex() != hashes[str(expected[name])]:
                stale.append(name)
        elif zipped[name] != expected[name].read_bytes():
            stale.append(name)
    return stale


def lambda_python() -> str | None:
    """The path of a CPython 3.12 interpreter (the Lambda runtime's version), or None.

    ``LAMBDA_PYTHON`` when set; else ``python3.12`` on PATH; else pyenv's newest 3.12. The
    interpreter's real path is returned, so timings carry no pyenv shim overhead.
    """
    candidates: list[tuple[str, dict[str, str]]] = []
    if os.environ.get("LAMBDA_PYTHON"):
        candidates.append((os.environ["LAMBDA_PYTHON"], {}))
    candidates.append(("python3.12", {}))
    if shutil.which("pyenv"):
        listed = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
        )
        versions = [v.strip() for v in listed.stdout.split() if v.strip().startswith("3.12.")]
        versions.sort(key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])
        candidates.extend(("python3.12", {"PYENV_VERSION": v}) for v in reversed(versions))
    probe = "import sys; print(sys.version_info[:2] == (3, 12), sys.executable)"
    for program, extra_env in candidates:
        try:
            answer = subprocess.run(
                [program, "-I", "-c", probe],
                capture_output=True,
                text=True,
                env={**os.environ, **extra_env},
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        matches, _, executable = answer.stdout.strip().partition(" ")
        if answer.returncode == 0 and matches == "True":
            return executable
    return None


def unzip(path: Path, destination: Path) -> Path:
    """Unzip the artifact into ``destination`` (created; must not exist or be empty)."""
    destination.mkdir(parents=True, exist_ok=True)
    if any(destination.iterdir()):
        raise RuntimeError(f"{destination} is not empty")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(destination)
    return destination


# --- Measuring ---------------------------------------------------------------------------------


def _run_in_task(python: str, task: Path, code: str, *args: str) -> str:
    """Run ``code`` in a fresh ``python`` with only the task root and its deps on the path."""
    result = subprocess.run(
        # -I -S: no PYTHON* variables, no site-packages; -B: /var/task is read-only.
        [python, "-I", "-S", "-B", "-c", code, str(task), *args],
        capture_output=True,
        text=True,
        cwd=task,
        env=IMPORT_ENV,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"running from {task} failed ({args}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def dependencies_loaded(python: str, task: Path, module: str) -> list[str]:
    """The dependency modules importing ``module`` from ``task`` loads, in loading order."""
    names: list[str] = json.loads(_run_in_task(python, task, _LIST_DEPENDENCIES, module))
    return names


def source_variant(task: Path, destination: Path, *, project_only: bool) -> Path:
    """A copy of the unzipped ``task`` with modules as source: the project's, or all of them.

    The sources are the work tree's and ``.build/deps``'s, which the zip was built from.
    """
    shutil.copytree(task, destination)
    for compiled in sorted(destination.rglob("*.pyc")):
        relative = compiled.relative_to(destination).with_suffix(".py")
        if relative.parts[0] in PROJECT_PACKAGES:
            source = ROOT / relative
        elif project_only:
            continue
        else:
            source = DEPS / relative.relative_to(DEPS_IN_ZIP)
        shutil.copyfile(source, compiled.with_suffix(".py"))
        compiled.unlink()
    return destination


def time_imports(
    python: str,
    variants: Mapping[str, Path],
    dependencies: Mapping[str, list[str]],
    runs: int,
    clock: str = "cpu",
) -> dict[str, dict[str, float]]:
    """Median ms per module: each variant's handler import, and ``"dependencies"`` alone.

    Every timing is a fresh process. Runs are interleaved, so a slow moment of the machine hits
    every column; a first round warms the page cache and is not counted.
    """
    shipped = next(iter(variants.values()))
    samples: dict[str, dict[str, list[float]]] = {
        module: {column: [] for column in (*variants, "dependencies")} for module in dependencies
    }
    for round_ in range(runs + 1):
        for module, loaded in dependencies.items():
            timed = {
                column: float(_run_in_task(python, task, _TIME_IMPORT, CLOCKS[clock], module))
                for column, task in variants.items()
            }
            timed["dependencies"] = float(
                _run_in_task(python, shipped, _TIME_DEPENDENCIES, CLOCKS[clock], json.dumps(loaded))
            )
            if round_:
                for column, milliseconds in timed.items():
                    samples[module][column].append(milliseconds)
    return {
        module: {column: statistics.median(values) for column, values in columns.items()}
        for module, columns in samples.items()
    }


def report(path: Path, runs: int, *, compare: bool, clock: str = "cpu") -> int:
    """Print the artifact's size and each handler's cold import time; 1 when it cannot."""
    python = lambda_python()
    if not path.exists():
        print(f"cannot report: {_shown(path)} does not exist (run `make package`)", file=sys.stderr)
        return 1
    if python is None:
        print("cannot report: no CPython 3.12 (set LAMBDA_PYTHON)", file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    unzipped = sum(info.file_size for info in infos)
    size = path.stat().st_size
    modules = [f"functions.{name}" for name in function_names()]
    sources = missing_bytecode(names)
    print(f"artifact  {_shown(path)}")
    print(f"zip size  {size:,} bytes ({size / 2**20:.2f} MiB)")
    print(f"unzipped  {unzipped:,} bytes ({unzipped / 2**20:.2f} MiB), {len(infos)} entries")
    print("deps      " + " ".join(installed_distributions(names)))
    print(
        f"modules   {BYTECODE_TAG} bytecode only, each shipped once"
        if not sources and not shipped_twice(names)
        else f"modules   {len(sources)} as source, {len(shipped_twice(names))} shipped twice"
    )
    with tempfile.TemporaryDirectory(prefix="chat-store-artifact-") as scratch:
        task = unzip(path, Path(scratch) / "task")
        variants = {"as shipped": task}
        if compare:
            variants["own source"] = source_variant(
                task, Path(scratch) / "own-source", project_only=True
            )
            variants["all source"] = source_variant(
                task, Path(scratch) / "all-source", project_only=False
            )
        loaded = {module: dependencies_loaded(python, task, module) for module in modules}
        timings = time_imports(python, variants, loaded, runs, clock)
    _print_timings(python, runs, clock, timings, list(variants))
    return 0


def _print_timings(
    python: str,
    runs: int,
    clock: str,
    timings: Mapping[str, Mapping[str, float]],
    variants: list[str],
) -> None:
    print(
        f"\ncold import from the zip, {clock} time, median of {runs} fresh `python3.12 -I -S -B`"
        f" processes each ({python})\ndeps alone: importing only the third-party modules the"
        " handler's import loaded, in the same order"
    )
    columns = ["as shipped", "deps alone", "ratio"]
    for variant in variants[1:]:  # with --compare: the same zip with modules as source
        columns += [variant, "ratio"]
    print(f"  {'handler module':<36}" + "".join(f" {c:>11}" for c in columns))
    rows: dict[str, list[float]] = {}
    for module, timed in timings.items():
        row = [
            timed["as shipped"],
            timed["dependencies"],
            timed["as shipped"] / timed["dependencies"],
        ]
        for variant in variants[1:]:
            row += [timed[variant], timed[variant] / timed["dependencies"]]
        rows[module] = row
        print(f"  {module:<36}" + "".join(_cell(i, value) for i, value in enumerate(row)))
    medians = [statistics.median(row[i] for row in rows.values()) for i in range(len(columns))]
    print(f"  {'median of the handlers':<36}" + "".join(_cell(i, v) for i, v in enumerate(medians)))
    ratios = [row[2] for row in rows.values()]
    over = [module for module, row in rows.items() if row[2] > IMPORT_RATIO_TARGET]
    verdict = "within" if medians[2] <= IMPORT_RATIO_TARGET else "over"
    print(
        f"\ntarget    at most {IMPORT_RATIO_TARGET:.2f}x the dependencies alone: median "
        f"{medians[2]:.2f}x ({verdict}), handlers {min(ratios):.2f}-{max(ratios):.2f}x, "
        f"{len(over)} of {len(rows)} over"
    )


def _cell(index: int, value: float) -> str:
    # Every third column from the third on is a ratio; the rest are milliseconds.
    return f" {value:>10.2f}x" if index % 2 == 0 and index >= 2 else f" {value:>8.0f} ms"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m devtools.package", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    locking = commands.add_parser("lock", help="resolve the runtime dependencies into the lock")
    locking.add_argument("uv_args", nargs="*", help="more `uv pip compile` options: --upgrade")
    commands.add_parser("deps", help="install the locked dependencies into .build/deps")
    commands.add_parser("build", help="compile the task root and write the zip")
    check = commands.add_parser("check", help="check the zip's contents and size")
    check.add_argument("--zip", type=Path, default=None)
    measure = commands.add_parser("report", help="zip size and cold import time per handler")
    measure.add_argument("--zip", type=Path, default=None)
    measure.add_argument("--runs", type=int, default=5)
    measure.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="time CPU (default) or wall time"
    )
    measure.add_argument(
        "--compare",
        action="store_true",
        help="also time the zip with the project's modules, then all modules, as source",
    )
    args = parser.parse_args(argv)

    if args.command == "lock":
        lock(args.uv_args)
        return 0
    if args.command == "deps":
        build_deps()
        return 0
    if args.command == "build":
        print(f"{_shown(build())} written")
        return 0
    path: Path = args.zip or artifact_path()
    if args.command == "check":
        if not path.exists():
            print(f"{path} does not exist: run `make package`", file=sys.stderr)
            return 1
        problems = check_lock() + zip_problems(path)
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
        if not problems:
            print(f"{_shown(path)}: {path.stat().st_size:,} bytes, contents checked")
        return 1 if problems else 0
    return report(path, args.runs, compare=args.compare, clock=args.clock)


if __name__ == "__main__":
    sys.exit(main())
