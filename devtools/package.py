"""Lock, build, check and measure the Lambda artifact.

``make package`` runs ``deps`` and ``check``; ``make lock`` runs ``lock``.

    python -m devtools.package lock     # runtime dependencies -> requirements/lambda.lock
    python -m devtools.package deps     # the lock, installed -> .build/deps (manylinux, cp312)
    python -m devtools.package check    # the zip holds what Lambda needs and nothing else
    python -m devtools.package report   # zip size, cold import time of each handler

``lock`` resolves ``[project].dependencies`` of pyproject.toml for the Lambda runtime (CPython
3.12, manylinux x86_64, wheels only) and writes every distribution with its version and hashes
to ``requirements/lambda.lock``: the artifact installs exactly that, so two builds of one commit
ship the same code. ``deps`` pip-installs the lock with ``--require-hashes`` as manylinux wheels
for CPython 3.12 x86_64 whatever Python runs it, then prunes what no import needs: console
scripts, ``*.dist-info`` (no dependency reads its own metadata at import; the artifact smoke test
proves it), type stubs and bundled tests. License texts are kept, in
``.build/deps/_licenses/<name>-<version>/``, which also records what was installed.

It then compiles the dependencies to CPython 3.12 bytecode. Lambda's ``/var/task`` is read-only,
so without shipped ``.pyc`` files every cold start compiles every dependency it imports again:
about two thirds of a handler's import time (``report --compare`` measures it). The bytecode
is ``unchecked-hash``: valid whatever mtimes the zip gives the sources, which are never edited
in place (``deps`` rebuilds the folder from scratch). The project's own modules ship as source:
they are a small part of the import and are edited all the time.

``report`` unzips the artifact ``osls package`` wrote and times, in a fresh Python 3.12 process
per run with only the artifact on ``sys.path``, the import of each handler module: the work a
cold start does before the first request. ``-B`` keeps the runs from writing bytecode, as
Lambda's read-only ``/var/task`` does.
"""

from __future__ import annotations

import argparse
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

from functions import MODULES

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lambda.lock"
DEPS = ROOT / ".build" / "deps"
DEPS_IN_ZIP = ".build/deps"
LICENSES = "_licenses"

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
#: (boto3 alone is ~15 MB) costs every cold start and deserves a decision. Today's ~11 MB is
#: mostly cryptography (JWKS signatures, 5 MB), pydantic-core (2.3 MB) and bytecode (2.7 MB).
MAX_ZIP_BYTES = 16 * 1024 * 1024

#: What the zip may hold at its top level: the handler modules, the shared code, dependencies.
ALLOWED_PREFIXES = ("functions/", "shared/", f"{DEPS_IN_ZIP}/")
FORBIDDEN_PARTS = frozenset({"tests", "test", "devtools", "bin", ".venv"})
FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".pyi")
#: The one kind of bytecode that ships: the dependencies', for the runtime's CPython 3.12.
BYTECODE_TAG = "cpython-312"
_SHIPPED_BYTECODE = re.compile(
    rf"^{re.escape(DEPS_IN_ZIP)}/(?:[^/]+/)*__pycache__/[^/]+\.{BYTECODE_TAG}\.pyc$"
)
_LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)

#: Settings every handler module needs to import (it builds its app, and so its settings, at
#: import). Nothing is contacted at import.
IMPORT_ENV = {
    "UPSTASH_REDIS_REST_URL": "http://127.0.0.1:9",
    "UPSTASH_REDIS_REST_TOKEN": "import-only",
    "ANONYMOUS_TOKEN_SECRET": "import-only-anonymous-secret-0123456789",
    "AWS_LAMBDA_FUNCTION_NAME": "chat-store-import-timing",
}

# Run by the artifact's interpreter: sys.path as Lambda builds it (the task root, then
# PYTHONPATH=/var/task/.build/deps), then the import; prints milliseconds.
_TIME_IMPORT = """
import sys, time
started = time.perf_counter()
task = sys.argv[1]
sys.path[:0] = [task, task + "/.build/deps"]
import importlib
importlib.import_module(sys.argv[2])
print((time.perf_counter() - started) * 1000)
"""


def artifact_path() -> Path:
    """The zip ``osls package`` writes: ``.serverless/<service>.zip``."""
    text = (ROOT / "serverless.yml").read_text()
    match = re.search(r"^service:\s*([\w-]+)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("serverless.yml has no `service:` line")
    return ROOT / ".serverless" / f"{match.group(1)}.zip"


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
    compile_bytecode(target)


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


def compile_bytecode(target: Path) -> None:
    """Compile ``target`` to CPython 3.12 bytecode, when a 3.12 interpreter is at hand.

    Without one the artifact still works, only each cold start is slower; ``check`` says so.
    The recorded file names are the ones Lambda sees (``/var/task/.build/deps/...``), so the
    bytecode does not depend on where it was built.
    """
    python = lambda_python()
    if python is None:
        print(
            "warning: no CPython 3.12 (set LAMBDA_PYTHON): the dependencies ship without "
            "bytecode, and every cold start compiles them",
            file=sys.stderr,
        )
        return
    command = [
        python,
        "-I",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(target),
        "-p",
        f"/var/task/{DEPS_IN_ZIP}",
        str(target),
    ]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def installed_distributions(names: Iterable[str]) -> list[str]:
    """``name-version`` of each dependency in a zip listing (from its kept license folder)."""
    prefix = f"{DEPS_IN_ZIP}/{LICENSES}/"
    return sorted({n[len(prefix) :].split("/")[0] for n in names if n.startswith(prefix)})


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
    for name in names:
        parts = name.rstrip("/").split("/")
        folders = parts if name.endswith("/") else parts[:-1]
        if not name.startswith(ALLOWED_PREFIXES):
            problems.append(f"{name}: outside functions/, shared/ and {DEPS_IN_ZIP}/")
        elif FORBIDDEN_PARTS.intersection(folders):
            problems.append(f"{name}: tests, dev tools and scripts do not ship")
        elif _SHIPPED_BYTECODE.match(name) or (name.endswith("/") and parts[-1] == "__pycache__"):
            continue
        elif "__pycache__" in folders or name.endswith(FORBIDDEN_SUFFIXES):
            problems.append(
                f"{name}: only the dependencies' {BYTECODE_TAG} bytecode ships; no caches "
                "of the work tree, no type stubs"
            )
        elif any(part.endswith(".dist-info") for part in parts):
            problems.append(f"{name}: package metadata does not ship")
    present = set(names)
    problems.extend(
        f"functions/{module}.py is missing"
        for module in MODULES
        if f"functions/{module}.py" not in present
    )
    if not any(name.startswith(f"{DEPS_IN_ZIP}/starlette/") for name in names):
        problems.append(f"{DEPS_IN_ZIP}/ holds no dependencies: run `make package`")
    problems.extend(lock_mismatches(names, locked_versions() if locked is None else locked))
    return problems


def missing_bytecode(names: Iterable[str]) -> list[str]:
    """Dependency modules in a zip listing that ship without their CPython 3.12 bytecode."""
    present = set(names)
    missing = []
    for name in sorted(present):
        if name.startswith(f"{DEPS_IN_ZIP}/") and name.endswith(".py"):
            folder, _, file = name.rpartition("/")
            cached = f"{folder}/__pycache__/{file[:-3]}.{BYTECODE_TAG}.pyc"
            if cached not in present:
                missing.append(name)
    return missing


def stale_files(path: Path) -> list[str]:
    """Source files of functions/ and shared/ that differ between the zip and the work tree."""
    with zipfile.ZipFile(path) as archive:
        zipped = {
            name: archive.read(name)
            for name in archive.namelist()
            if name.startswith(("functions/", "shared/")) and not name.endswith("/")
        }
    tree = {
        file.relative_to(ROOT).as_posix(): file
        for folder in ("functions", "shared")
        for file in (ROOT / folder).rglob("*")
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
    }
    return sorted(
        name
        for name in zipped.keys() | tree.keys()
        if name not in zipped or name not in tree or zipped[name] != tree[name].read_bytes()
    )


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


def time_imports(python: str, task: Path, modules: Sequence[str], runs: int) -> dict[str, float]:
    """Median milliseconds to import each module from ``task``, one fresh process per run."""
    samples: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(runs):  # interleaved, so a slow moment of the machine hits every module
        for module in modules:
            result = subprocess.run(
                [python, "-I", "-S", "-B", "-c", _TIME_IMPORT, str(task), module],
                capture_output=True,
                text=True,
                cwd=task,
                env=IMPORT_ENV,
                timeout=60,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"importing {module} from the artifact failed:\n{result.stderr}")
            samples[module].append(float(result.stdout.strip().splitlines()[-1]))
    return {module: statistics.median(values) for module, values in samples.items()}


def report(path: Path, runs: int, *, compare: bool) -> int:
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
    modules = [f"functions.{name}" for name in MODULES]
    without_bytecode = missing_bytecode(names)
    print(f"artifact  {_shown(path)}")
    print(f"zip size  {size:,} bytes ({size / 2**20:.2f} MiB)")
    print(f"unzipped  {unzipped:,} bytes ({unzipped / 2**20:.2f} MiB), {len(infos)} files")
    print("deps      " + " ".join(installed_distributions(names)))
    print(
        f"bytecode  {BYTECODE_TAG} for every dependency module"
        if not without_bytecode
        else f"bytecode  missing for {len(without_bytecode)} dependency modules"
    )
    with tempfile.TemporaryDirectory(prefix="chat-store-artifact-") as scratch:
        task = unzip(path, Path(scratch) / "task")
        shipped = time_imports(python, task, modules, runs)
        source_only: dict[str, float] = {}
        if compare:
            # The same artifact with its bytecode removed: what shipping .pyc files saves.
            plain = Path(scratch) / "task-source-only"
            shutil.copytree(task, plain, ignore=shutil.ignore_patterns("__pycache__"))
            source_only = time_imports(python, plain, modules, runs)
    print(f"\ncold import, median of {runs} fresh `python3.12 -I -S -B` processes ({python}):")
    header = f"  {'handler module':<36} {'as shipped':>11}"
    print(header + (f" {'source only':>12}" if source_only else ""))
    for module in modules:
        line = f"  {module:<36} {shipped[module]:>8.0f} ms"
        print(line + (f" {source_only[module]:>9.0f} ms" if source_only else ""))
    middle = statistics.median(shipped.values())
    summary = f"  {'median of the handlers':<36} {middle:>8.0f} ms"
    if source_only:
        summary += f" {statistics.median(source_only.values()):>9.0f} ms"
    print(summary)
    return 0


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m devtools.package", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    locking = commands.add_parser("lock", help="resolve the runtime dependencies into the lock")
    locking.add_argument("uv_args", nargs="*", help="more `uv pip compile` options: --upgrade")
    commands.add_parser("deps", help="install the locked dependencies into .build/deps")
    check = commands.add_parser("check", help="check the packaged zip's contents and size")
    check.add_argument("--zip", type=Path, default=None)
    measure = commands.add_parser("report", help="zip size and cold import time per handler")
    measure.add_argument("--zip", type=Path, default=None)
    measure.add_argument("--runs", type=int, default=5)
    measure.add_argument(
        "--compare", action="store_true", help="also time the artifact with its bytecode removed"
    )
    args = parser.parse_args(argv)

    if args.command == "lock":
        lock(args.uv_args)
        return 0
    if args.command == "deps":
        build_deps()
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
        with zipfile.ZipFile(path) as archive:
            uncompiled = missing_bytecode(archive.namelist())
        if uncompiled:
            print(
                f"warning: {len(uncompiled)} dependency modules ship without {BYTECODE_TAG} "
                f"bytecode (e.g. {uncompiled[0]}): cold starts compile them",
                file=sys.stderr,
            )
        return 1 if problems else 0
    return report(path, args.runs, compare=args.compare)


if __name__ == "__main__":
    sys.exit(main())
