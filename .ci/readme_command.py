"""Print one of the README's two commands, so that CI runs exactly what the README says.

    python3 .ci/readme_command.py quickstart    # the bash block under "## Quickstart"
    python3 .ci/readme_command.py tests         # the bash block after "Run the tests"
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
#: Where each command's block starts to be looked for.
ANCHORS = {"quickstart": "## Quickstart", "tests": "Run the tests"}
BLOCK = re.compile(r"```bash\n(.*?)\n```", re.DOTALL)


def command(name: str) -> str:
    """The first ```bash block after the anchor of ``name``: one line."""
    text = README.read_text(encoding="utf-8")
    start = text.index(ANCHORS[name])
    found = BLOCK.search(text, start)
    if found is None or "\n" in found.group(1).strip():
        raise SystemExit(f"README.md: no one-line bash block after {ANCHORS[name]!r}")
    return found.group(1).strip()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ANCHORS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(ANCHORS)}}}")
    print(command(sys.argv[1]))
