"""``docs/contract.md`` is the project's own contract, and the repository explains itself.

* every "CONTRACT §N" citation in the code, tests and docs names a section that exists;
* every contract label (C241, B112, ...) used anywhere is in the contract's glossary;
* the files the contract comes with are in the repository, and nothing reads them from
  beside it;
* drift from the shared contract folder, when there is one beside the clone, is listed in
  the terminal summary ("contract drift") and never fails the run: the shared copy gets
  corrected from time to time, and adopting a correction is a decision, not a CI failure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "docs" / "contract.md"
#: Where citations are looked for (directories are searched recursively).
CITING = ("src", "tests", "docs", "bench", "examples", ".ci", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".json", ".html", ".cfg", ".yaml", ".yml"}
SKIPPED_DIRS = {"__pycache__", ".venv", "node_modules"}
#: The contract's companion files: their name in the shared folder -> the repository's copy.
COMPANIONS = {
    "swagger.json": REPO / "tests" / "local" / "contract" / "swagger.json",
    "monitoring_elements.json": REPO / "src" / "dials_local" / "data" / "monitoring_elements.json",
}
#: Where the shared contract folder may be: $DIALS_CONTRACT_DIR, beside the clone, or this
#: machine's folder. Only the drift report looks there.
SHARED_DIRS = tuple(
    Path(path)
    for path in (
        os.environ.get("DIALS_CONTRACT_DIR", ""),
        REPO.parent / "shared" / "dials-api",
        "/work/shared/dials-api",
    )
    if str(path)
)
#: Files allowed to name the shared folder. This test looks there for the drift report;
#: test_contract_swagger.py still compares its swagger.json copy with the shared one
#: (that comparison belongs in the drift report: drop this entry once it is gone).
MAY_NAME_SHARED = {Path(__file__).resolve()}

#: A numbered heading: "## 7. Endpoint reference", "#### 7.9.1 `cert-json/`".
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.? ")
#: An item of a top-level numbered list: "9. Seed data: ...".
LIST_ITEM = re.compile(r"^(\d+)\. ")
#: A route-table row of §1.1: "| 22b | GET | ...".
ROUTE_ROW = re.compile(r"^\| (\d+[a-z]?) \|")
#: A citation: §N[.M...], optionally a §1.1 row ("§1.1 22b"); "RFC 6749 §5.2" is not ours.
CITATION = re.compile(r"(RFC\s*\d+\s*)?§(\d+(?:\.\d+)*)(?: (\d+[a-z]?)\b)?")
#: A contract label: a client (C150, C241) or backend (B112) version. Some ruff rule codes
#: look the same; they only appear in ``noqa`` comments, which are cut off first.
LABEL = re.compile(r"\b[BC]\d{3}\b")
NOQA = re.compile(r"#\s*noqa\b.*$")


@dataclass
class Contract:
    """The numbered sections of a contract text, and what else can be cited in it."""

    sections: dict[str, str] = field(default_factory=dict)  # number -> heading and body
    items: set[str] = field(default_factory=set)  # "12.9": item 9 of §12's list
    route_rows: set[str] = field(default_factory=set)  # "22b"

    def resolves(self, section: str, row: str | None = None) -> bool:
        """True when "§section [row]" points at something in this contract."""
        if section not in self.sections and section not in self.items:
            return False
        return row is None or section != "1.1" or row in self.route_rows


def _outside_code_blocks(text: str) -> Iterator[str]:
    """The lines of ``text`` that are not inside fenced code blocks (a ``## `` in a JSON
    example is not a heading)."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def parse_contract(text: str) -> Contract:
    """Split a contract into its numbered sections (text before §0 is not one)."""
    contract = Contract()
    bodies: dict[str, list[str]] = {}
    current: str | None = None
    for line in _outside_code_blocks(text):
        heading = HEADING.match(line)
        if heading:
            current = heading.group(1)
            bodies[current] = []
        if current is not None:
            bodies[current].append(line)
    contract.sections = {number: "\n".join(lines) for number, lines in bodies.items()}
    for number, lines in bodies.items():
        has_subsections = any(other.startswith(number + ".") for other in bodies)
        if not has_subsections:
            contract.items |= {f"{number}.{m.group(1)}" for m in map(LIST_ITEM.match, lines) if m}
    contract.route_rows = {m.group(1) for m in map(ROUTE_ROW.match, bodies.get("1.1", [])) if m}
    return contract


def citations(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(line number, section, route row) of each contract citation in ``text``."""
    for lineno, line in enumerate(text.splitlines(), 1):
        for found in CITATION.finditer(line):
            if not found.group(1):
                yield lineno, found.group(2), found.group(3)


def unresolved(contract: Contract, text: str, where: str) -> list[str]:
    """The citations of ``text`` that do not resolve in ``contract``, as ``where:line §N``."""
    return [
        f"{where}:{lineno} §{section}{f' {row}' if row and section == '1.1' else ''}"
        for lineno, section, row in citations(text)
        if not contract.resolves(section, row)
    ]


def _citing_files() -> Iterator[Path]:
    for name in CITING:
        path = REPO / name
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*")):
            if (
                found.is_file()
                and found.suffix in TEXT_SUFFIXES
                and not SKIPPED_DIRS & set(found.relative_to(REPO).parts)
                and not any(part.endswith(".egg-info") for part in found.parts)
            ):
                yield found


def _texts(paths: Iterable[Path]) -> Iterator[tuple[str, str]]:
    for path in paths:
        yield str(path.relative_to(REPO)), path.read_text(encoding="utf-8", errors="replace")


def glossary_labels(text: str) -> set[str]:
    """The labels the glossary explains: the bold first cell of each of its rows, split
    on "/" and ","."""
    glossary = text.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    labels: set[str] = set()
    for row in re.findall(r"^\| \*\*(.+?)\*\* \|", glossary, re.MULTILINE):
        labels |= {label.strip() for label in re.split(r"[/,]", row)}
    return labels


# -- drift from the shared contract folder ------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """How a contract text differs from another, section by section."""

    changed: tuple[str, ...]
    only_theirs: tuple[str, ...]
    only_ours: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.changed or self.only_theirs or self.only_ours)


def _section_order(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def contract_drift(ours: str, theirs: str) -> Drift:
    """Sections of ``theirs`` whose text (whitespace aside) differs from ``ours``."""
    mine, other = parse_contract(ours).sections, parse_contract(theirs).sections

    def same(number: str) -> bool:
        return mine[number].split() == other[number].split()

    def listed(numbers: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(numbers, key=_section_order))

    return Drift(
        changed=listed(n for n in mine.keys() & other.keys() if not same(n)),
        only_theirs=listed(other.keys() - mine.keys()),
        only_ours=listed(mine.keys() - other.keys()),
    )


def drift_report(shared: Path) -> list[str]:
    """Lines for the terminal summary: what differs from the folder ``shared``."""
    lines = []
    upstream = shared / "CONTRACT.md"
    if upstream.is_file():
        drift = contract_drift(CONTRACT.read_text(encoding="utf-8"), upstream.read_text("utf-8"))
        for what, numbers in (
            ("differ", drift.changed),
            ("are only in the shared copy", drift.only_theirs),
            ("are only in docs/contract.md", drift.only_ours),
        ):
            if numbers:
                cited = ", ".join(f"§{n}" for n in numbers)
                lines.append(f"docs/contract.md vs {upstream}: {cited} {what}")
    for name, ours in COMPANIONS.items():
        theirs = shared / name
        if theirs.is_file() and theirs.read_bytes() != ours.read_bytes():
            lines.append(f"{ours.relative_to(REPO)} differs from {theirs}")
    if lines:
        lines.append("(reported, not failed: adopt corrections by hand, see docs/contract.md)")
    else:
        lines.append(f"docs/contract.md and its data files match {shared}")
    return lines


class _DriftSummary:
    """A pytest plugin that prints the drift report in the terminal summary: a place that
    cannot fail the run (a warning would, under ``filterwarnings = error``)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("contract drift")
        for line in self.lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def _report_contract_drift(pytestconfig: pytest.Config) -> None:
    shared = next((path for path in SHARED_DIRS if (path / "CONTRACT.md").is_file()), None)
    name = "contract-drift"
    if shared is not None and pytestconfig.pluginmanager.get_plugin(name) is None:
        pytestconfig.pluginmanager.register(_DriftSummary(drift_report(shared)), name)


# -- tests --------------------------------------------------------------------------------


def test_every_contract_citation_resolves() -> None:
    contract = parse_contract(CONTRACT.read_text(encoding="utf-8"))
    files = (path for path in _citing_files() if path != Path(__file__).resolve())  # bad on purpose
    bad = [line for where, text in _texts(files) for line in unresolved(contract, text, where)]
    assert bad == [], "citations of sections docs/contract.md does not have"


def test_citations_are_actually_found() -> None:
    """Guard the premise: the code cites the contract, and those citations are seen."""
    found = {section for _, text in _texts(_citing_files()) for _, section, _ in citations(text)}
    assert {"3.3", "5.5", "6", "7.6", "12.9", "13.16"} <= found


def test_a_bad_citation_is_reported() -> None:
    contract = parse_contract(CONTRACT.read_text(encoding="utf-8"))
    text = (
        "CONTRACT §6, §7.9.2 and §12.9; §1.1 22b\n"
        "CONTRACT §99.1, §13.17, §7.12 and §1.1 22z\n"
        "RFC 6749 §5.2 is someone else's\n"
    )
    assert unresolved(contract, text, "x.py") == [
        "x.py:2 §99.1",
        "x.py:2 §13.17",
        "x.py:2 §7.12",
        "x.py:2 §1.1 22z",
    ]


def test_the_contract_has_every_section_and_says_how_it_is_cited() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    contract = parse_contract(text)
    assert {n for n in contract.sections if "." not in n} == {str(n) for n in range(16)}
    assert {"1.1", "3.5", "5.5", "7.9.1", "14.2"} <= contract.sections.keys()
    assert {"12.9", "13.16"} <= contract.items and "13.17" not in contract.items
    assert {"1", "22b", "30c", "33"} <= contract.route_rows
    assert '"CONTRACT §N"' in text.split("## 0.", 1)[0]


def test_every_label_in_use_is_in_the_glossary() -> None:
    explained = glossary_labels(CONTRACT.read_text(encoding="utf-8"))
    assert {"B112", "C150", "C241", "LS"} <= explained
    used = {
        label
        for where, text in _texts(_citing_files())
        for line in text.splitlines()
        for label in LABEL.findall(NOQA.sub("", line))
    }
    assert used, "no contract label found: the search is broken"
    assert used - explained == set(), "labels without a glossary entry in docs/contract.md"


def test_the_contracts_files_are_in_the_repository() -> None:
    swagger = json.loads(COMPANIONS["swagger.json"].read_text(encoding="utf-8"))
    assert swagger["openapi"].startswith("3.") and "/api/v1/th1/" in swagger["paths"]
    selection = json.loads(COMPANIONS["monitoring_elements.json"].read_text(encoding="utf-8"))
    assert {"tracker", "jetmet"} <= set(selection["workspaces"])


def test_nothing_reads_the_shared_folder() -> None:
    """A lone clone explains and tests itself: only the drift report looks beside it."""
    naming = [
        where
        for where, text in _texts(_citing_files())
        if (REPO / where).resolve() not in MAY_NAME_SHARED
        and re.search(r"shared/dials-api|\.\./shared\b", text)
    ]
    assert naming == []


def test_drift_is_found_section_by_section() -> None:
    ours = CONTRACT.read_text(encoding="utf-8")
    assert not contract_drift(ours, ours)
    # Re-wrapped text is not drift; a changed word, a new and a removed section are.
    rewrapped = ours.replace(
        "Filters are query parameters; all", "Filters are query\nparameters;  all"
    )
    assert not contract_drift(ours, rewrapped)
    theirs = rewrapped.replace("Default **10**", "Default **20**").replace(
        "## 15. Open questions", "## 16. Open questions"
    )
    assert contract_drift(ours, theirs) == Drift(
        changed=("5.1",), only_theirs=("16",), only_ours=("15",)
    )


def test_the_drift_report_names_what_differs(tmp_path: Path) -> None:
    ours = CONTRACT.read_text(encoding="utf-8")
    (tmp_path / "CONTRACT.md").write_text(ours.replace("Max **500**", "Max **1000**"), "utf-8")
    (tmp_path / "swagger.json").write_text("{}", "utf-8")
    report = drift_report(tmp_path)
    assert report[0] == f"docs/contract.md vs {tmp_path / 'CONTRACT.md'}: §5.1 differ"
    swagger = tmp_path / "swagger.json"
    assert report[1] == f"tests/local/contract/swagger.json differs from {swagger}"
    assert len(report) == 3  # and the note that this is a report
    (tmp_path / "CONTRACT.md").write_text(ours, "utf-8")
    (tmp_path / "swagger.json").write_bytes(COMPANIONS["swagger.json"].read_bytes())
    assert drift_report(tmp_path) == [f"docs/contract.md and its data files match {tmp_path}"]
