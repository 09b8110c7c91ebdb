"""docs/guide.md runs as written against dials-local (secret key and server URL aside)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from guide_doc import guide_blocks, run_guide
from test_auth_server import USER, approve_over_http, signin_data_dir

from dials_local.testing import LocalServer


@pytest.fixture(scope="module")
def guide_server(
    tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """The tiny data set, with a person (for the guide's sign-ins) and an API key."""
    data = signin_data_dir(tiny_data_dir, tmp_path_factory.mktemp("guide-data"))
    with LocalServer(data) as server:
        yield server


def test_the_guide_imports_every_filter_it_uses() -> None:
    script = "\n".join(guide_blocks())
    used = set(re.findall(r"\b(\w+Filters)\(", script))
    imported = set(re.findall(r"^\s+(\w+Filters),$", script, re.MULTILINE))
    imported |= set(re.findall(r"import (\w+Filters)$", script, re.MULTILINE))
    assert used <= imported, f"used but never imported: {sorted(used - imported)}"


def check_guide_output(returncode: int, output: str, sign_ins: int) -> None:
    """What a run of the guide must show: success, two sign-ins, the prints add up."""
    assert returncode == 0, output[-4000:]
    # One sign-in for the default server, one for the DEV_URL cache directory; every
    # other Credentials.from_creds_file() found its cached tokens.
    assert sign_ins == 2, output[-4000:]
    counts = [int(line) for line in output.splitlines() if line.strip().isdigit()]
    first_five_pages, resumed_from_nothing, resumed_after, one_page, two_pages = (
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
    )
    assert first_five_pages == 50  # 5 pages of the default 10 rows of that ME
    # Nothing failed: the walk was whole, and resuming a finished walk adds nothing.
    assert resumed_from_nothing == resumed_after > 0
    assert one_page == 10 and two_pages == 20
    assert "None\nNone\n" in output  # exc_type and exc_formatted of a walk that did not fail
    assert "(50, " in output  # the pandas frame of the five pages


def test_every_block_of_the_guide_runs(guide_server: LocalServer, tmp_path: Path) -> None:
    returncode, output, sign_ins = run_guide(
        sys.executable,
        guide_server.base_url,
        guide_server.secret_key,
        tmp_path,
        approve_over_http,
    )
    check_guide_output(returncode, output, sign_ins)
    assert USER  # the person who approved the sign-ins (see signin_data_dir)
