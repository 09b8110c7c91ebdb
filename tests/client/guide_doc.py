"""Runs docs/guide.md: every ``python`` block, in order, as one script against a server.

Only the server and the credentials differ from a production run: ``DIALS_BASE_URL``
points the clients built without a ``base_url`` at the server, the secret key replaces
the placeholder, and the server's URL replaces ``DEV_URL``'s.  The device-flow sign-ins
the guide starts are approved over HTTP, the way a person would open the printed link.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"
SECRET_PLACEHOLDER = '"<your secret key>"'
DEV_URL = '"http://localhost:8000/"'
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"(https?://\S+/device\S*)")


def guide_blocks() -> list[str]:
    """The ``python`` code blocks of docs/guide.md, in order."""
    return _BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


def guide_script(base_url: str, secret: str) -> str:
    """The guide's blocks as one script, with the server's URL and secret filled in."""
    script = "\n".join(guide_blocks())
    assert SECRET_PLACEHOLDER in script and DEV_URL in script
    return script.replace(SECRET_PLACEHOLDER, repr(secret)).replace(DEV_URL, repr(base_url))


def run_guide(
    python: str,
    base_url: str,
    secret: str,
    workdir: Path,
    approve: Callable[[str], object],
    timeout: float = 300,
) -> tuple[int, str, int]:
    """Run the guide with ``python`` in ``workdir``; ``(returncode, output, sign-ins)``.

    ``approve(url)`` is called in a thread for each sign-in link the script prints.
    """
    script = workdir / "guide.py"
    script.write_text(guide_script(base_url, secret), encoding="utf-8")
    env = {
        **os.environ,
        "DIALS_BASE_URL": base_url,
        "XDG_CACHE_HOME": str(workdir / "xdg"),
        "CMSDIALS_INTERACTIVE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    lines: list[str] = []
    approvers: list[threading.Thread] = []
    deadline = time.monotonic() + timeout
    with subprocess.Popen(
        [python, str(script)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        # A watchdog, as reading the output blocks until the script prints or ends.
        watchdog = threading.Timer(max(deadline - time.monotonic(), 0), process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                lines.append(line)
                link = _LINK.search(line)
                if link:
                    thread = threading.Thread(target=approve, args=(link.group(1),))
                    thread.start()
                    approvers.append(thread)
            returncode = process.wait()
        finally:
            watchdog.cancel()
    for thread in approvers:
        thread.join(timeout=30)
    return returncode, "".join(lines), len(approvers)
