"""docs/oms.md's worked example (issue #14: from "an ME and runs" to "good lumisections
with pileup beside them") runs as written against dials-local, key and URL aside."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dials_local.testing import LocalServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "oms.md"
KEY_PLACEHOLDER = '"<the key serve --demo printed>"'
DEMO_URL = '"http://127.0.0.1:8000/"'


def worked_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Worked example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/oms.md lost its worked example"
    return match.group(1)


def test_the_worked_example_runs(server: LocalServer, tmp_path: Path) -> None:
    code = worked_example()
    assert KEY_PLACEHOLDER in code and DEMO_URL in code
    script = tmp_path / "example.py"
    script.write_text(
        code.replace(KEY_PLACEHOLDER, "__import__('os').environ['DIALS_TEST_KEY']").replace(
            DEMO_URL, repr(server.base_url)
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "DIALS_TEST_KEY": server.secret_key},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # "(n, bins) [pileup, ...] {'both': n, 'no_histograms': m}": some good lumisections,
    # each with an OMS record.
    shape = re.search(r"^\((\d+), (\d+)\) ", done.stdout, re.MULTILINE)
    assert shape and int(shape.group(1)) > 0, done.stdout
    counts = re.search(r"\{'both': (\d+)", done.stdout)
    assert counts and int(counts.group(1)) == int(shape.group(1)), done.stdout
