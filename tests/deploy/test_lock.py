"""The lock the artifact installs from: it agrees with pyproject.toml and with the runtime.

``requirements/lambda.lock`` pins every runtime dependency, with hashes, for Lambda's python3.12
on x86_64; ``make lock`` writes it from ``[project].dependencies``. These tests fail when the two
drift apart (a dependency added, dropped or re-bounded without ``make lock``), and show on
made-up changes that each kind of drift is caught.
"""

from __future__ import annotations

import yaml

from devtools import package

PROJECT, DEPENDENCIES = package.project_metadata()


def lock_problems(dependencies: list[str], text: str | None = None) -> list[str]:
    return package.lock_problems(PROJECT, dependencies, text or package.LOCK.read_text())


def test_lock_matches_pyproject() -> None:
    assert package.check_lock() == []


def test_lock_is_for_the_runtime_serverless_deploys() -> None:
    provider = yaml.safe_load((package.ROOT / "serverless.yml").read_text())["provider"]
    assert provider["runtime"] == f"python{package.LAMBDA_PYTHON_VERSION}"
    assert provider["architecture"] == package.LAMBDA_ARCHITECTURE
    header = package.LOCK.read_text().splitlines()[:3]
    assert any("make lock" in line for line in header), "written by `make lock`"


def test_every_pin_has_hashes() -> None:
    text = package.LOCK.read_text()
    assert lock_problems(DEPENDENCIES, text) == []
    unhashed = text.replace("--hash=sha256:", "--no-hash=")
    problems = lock_problems(DEPENDENCIES, unhashed)
    assert problems
    assert all(p.endswith(": no hashes") for p in problems)
    assert len(problems) == len(package.locked_versions())


def test_a_dependency_added_to_pyproject_but_not_locked_fails() -> None:
    assert lock_problems([*DEPENDENCIES, "boto3>=1.34"]) == [
        "boto3>=1.34: in pyproject.toml, not in the lock"
    ]


def test_a_dependency_dropped_from_pyproject_but_still_locked_fails() -> None:
    kept = [d for d in DEPENDENCIES if not d.startswith("mangum")]
    assert lock_problems(kept) == ["mangum: locked for pyproject.toml, which no longer names it"]


def test_a_bound_the_locked_version_breaks_fails() -> None:
    version = package.locked_versions()["starlette"]
    raised = [f"starlette>{version}" if d.startswith("starlette") else d for d in DEPENDENCIES]
    assert lock_problems(raised) == [f"starlette>{version}: the lock has starlette=={version}"]


def test_an_extra_whose_requirements_are_not_locked_fails() -> None:
    [jwt] = [d for d in DEPENDENCIES if d.startswith("pyjwt[")]
    text = package.LOCK.read_text().replace("\ncryptography==", "\nnot-cryptography==")
    problems = lock_problems(DEPENDENCIES, text)
    assert [p for p in problems if p.startswith(f"{jwt}: its extra needs cryptography")], problems


def test_a_dependency_for_another_platform_needs_no_pin() -> None:
    only_on_windows = 'pywin32>=306; sys_platform == "win32"'
    assert lock_problems([*DEPENDENCIES, only_on_windows]) == []
