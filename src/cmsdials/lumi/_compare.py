"""``compare(a, b)``: which lumisections only one of two masks has, run by run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cmsdials.lumi._mask import JSONSource, LumiMask

__all__ = ["MaskComparison", "RunDifference", "compare", "ranges_text"]


def ranges_text(ranges: Sequence[Sequence[int]]) -> str:
    """``[[1, 3], [7, 7]]`` as ``"1-3, 7"`` (``"-"`` for none)."""
    if not ranges:
        return "-"
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


@dataclass(frozen=True)
class RunDifference:
    """One run where two masks differ.

    Attributes
    ----------
    run:
        The run number.
    only_a, only_b:
        Inclusive ``[first, last]`` ranges of the lumisections only in the first mask,
        only in the second.
    common:
        The number of lumisections of this run in both masks.
    """

    run: int
    only_a: list[list[int]]
    only_b: list[list[int]]
    common: int

    @property
    def count_a(self) -> int:
        """Number of lumisections only in the first mask."""
        return sum(last - first + 1 for first, last in self.only_a)

    @property
    def count_b(self) -> int:
        """Number of lumisections only in the second mask."""
        return sum(last - first + 1 for first, last in self.only_b)


@dataclass(frozen=True)
class MaskComparison:
    """The result of :func:`compare`: the masks' common part and per-run differences.

    ``str(comparison)`` is a table of the runs that differ; ``bool(comparison)`` is true
    when the masks differ.
    """

    names: tuple[str, str]
    only_a: LumiMask
    only_b: LumiMask
    common: LumiMask
    differences: list[RunDifference]

    @property
    def identical(self) -> bool:
        """True when both masks hold the same lumisections."""
        return not self.differences

    @property
    def runs(self) -> list[int]:
        """The runs where the masks differ, ascending."""
        return [difference.run for difference in self.differences]

    def __bool__(self) -> bool:
        return not self.identical

    def __getitem__(self, run: int) -> RunDifference:
        for difference in self.differences:
            if difference.run == run:
                return difference
        raise KeyError(f"run {run} does not differ between {self.names[0]} and {self.names[1]}")

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per differing run (``run``, ``only_<a>``, ``only_<b>``, ``common``)."""
        a, b = self.names
        return [
            {"run": d.run, f"only_{a}": d.only_a, f"only_{b}": d.only_b, "common": d.common}
            for d in self.differences
        ]

    def __str__(self) -> str:
        a, b = self.names
        head = (
            f"{a} vs {b}: {len(self.common)} lumisections in both, "
            f"{len(self.only_a)} only in {a}, {len(self.only_b)} only in {b}"
        )
        if self.identical:
            return head + " (identical)"
        rows = [("run", f"only in {a}", f"only in {b}")]
        rows += [
            (str(d.run), ranges_text(d.only_a), ranges_text(d.only_b)) for d in self.differences
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows]
        runs = len(self.differences)
        return f"{head}; {runs} run{'s' if runs != 1 else ''} differ:\n" + "\n".join(lines)

    def __repr__(self) -> str:
        a, b = self.names
        return (
            f"<MaskComparison {a} vs {b}: {len(self.common)} common, {len(self.only_a)} only "
            f"in {a}, {len(self.only_b)} only in {b}, {len(self.differences)} runs differ>"
        )


def compare(
    a: LumiMask | JSONSource, b: LumiMask | JSONSource, names: tuple[str, str] = ("a", "b")
) -> MaskComparison:
    """Compare two masks (or anything :meth:`LumiMask.from_json` reads) run by run.

    Parameters
    ----------
    a, b:
        The masks, e.g. an ML golden JSON and the official golden JSON.
    names:
        What to call them in the report (``("ml", "golden")``).
    """
    from cmsdials.lumi._mask import LumiMask

    first = LumiMask.from_json(a)
    second = LumiMask.from_json(b)
    only_a = first - second
    only_b = second - first
    common = first & second
    differences = [
        RunDifference(
            run=run,
            only_a=only_a.ranges(run),
            only_b=only_b.ranges(run),
            common=len(common.select_runs([run])),
        )
        for run in sorted(set(only_a.runs) | set(only_b.runs))
    ]
    return MaskComparison(tuple(names), only_a, only_b, common, differences)  # type: ignore[arg-type]
