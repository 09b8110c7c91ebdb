"""The files around the code agree with it: the pre-commit hooks run what CI runs, the
LICENSE is the licence the package declares, the CHANGELOG knows the current version."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # 3.10: the test extra installs tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
#: A style or type check in .ci/run: "python3 -m ruff check src tests bench", "python3 -m mypy",
#: "bash .ci/typecheck-tests".
CHECK = re.compile(r"^(?:python3 -m (?:ruff|mypy)\b|bash \.ci/typecheck-tests\b).*$", re.MULTILINE)


def ci_checks() -> list[str]:
    return CHECK.findall((REPO / ".ci" / "run").read_text(encoding="utf-8"))


def hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_pre_commit_runs_exactly_the_checks_of_ci() -> None:
    checks = ci_checks()
    assert any(" ruff check " in c for c in checks) and any(" mypy" in c for c in checks)
    assert [hook["entry"] for hook in hooks()] == checks


def test_pre_commit_needs_no_network() -> None:
    """Local hooks in the project's environment: the same ruff and mypy as CI, offline."""
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in hooks():
        assert hook["language"] == "system", hook["id"]
        # The commands name their own paths; file names appended would change them.
        assert hook["pass_filenames"] is False, hook["id"]


def test_license_is_the_declared_one() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"  # an SPDX expression (PEP 639, setuptools >= 77)
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the cmsdials and dials-local authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_changelog_has_the_current_version() -> None:
    version = re.search(
        r'__version__ = "([^"]+)"',
        (REPO / "src" / "cmsdials" / "_version.py").read_text(encoding="utf-8"),
    )
    assert version
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert version.group(1) in headings, "a release without its CHANGELOG section"


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by basename (rootdir-relative, no packages): two
    test files of one name in different directories stop the whole run at collection."""
    seen: dict[str, Path] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a name"
        seen[path.name] = path
