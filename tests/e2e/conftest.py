"""Fixtures of the browser tests: headless Chromium driven by Playwright, and dials-local
servers with a user who signs in on the approval page.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright's own
browser download (``playwright install``) is never used.  Without it the tests fail on CI
(``CI`` set) and are skipped on a developer machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import FAST, PASSWORD, USER

from dials_local.testing import LocalServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the browser tests must run on CI; see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e .[test])")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own context (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def _data_dir(tiny: Path, target: Path, *, user: bool) -> Path:
    shutil.copytree(tiny, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.log"))
    if user:
        subprocess.run(
            [sys.executable, "-m", "dials_local.cli", "create-user", USER,
             "--password", PASSWORD, "--data-dir", str(target)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return target


@pytest.fixture(scope="session")
def signin_server(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """A dials-local with user ``erin`` and 3-second access tokens."""
    data = _data_dir(tiny_data_dir, tmp_path_factory.mktemp("e2e-data"), user=True)
    with LocalServer(data, extra_args=FAST) as server:
        yield server


@pytest.fixture(scope="session")
def short_code_server(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """A dials-local whose sign-in codes expire after 1 second."""
    data = _data_dir(tiny_data_dir, tmp_path_factory.mktemp("e2e-short-data"), user=False)
    with LocalServer(data, extra_args=(*FAST, "--device-ttl", "1")) as server:
        yield server
