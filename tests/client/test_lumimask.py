"""LumiMask checked against brute force: a mask is a set of (run, ls) pairs.

Property-based (hypothesis), no server and no database: the example database is off and
generation derandomized, so every run draws the same examples.  Runs and lumisections are
drawn from small ranges so that masks overlap, touch and nest often.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsdials.errors import DialsError
from cmsdials.lumi import MAX_NUMBER, LumiMask, LumiMaskError, LumiMaskTypeError, compare

FIXED = settings(max_examples=200, deadline=None, database=None, derandomize=True)

Pairs = set[tuple[int, int]]

pairs_st = st.sets(st.tuples(st.integers(1, 4), st.integers(1, 40)), max_size=60)


def ranges_of(pairs: Pairs) -> dict[int, list[list[int]]]:
    """Brute-force compact form: maximal runs of consecutive lumisections."""
    out: dict[int, list[list[int]]] = {}
    for run, ls in sorted(pairs):
        ranges = out.setdefault(run, [])
        if ranges and ranges[-1][1] == ls - 1:
            ranges[-1][1] = ls
        else:
            ranges.append([ls, ls])
    return out


@st.composite
def raw_compact(draw: Any) -> tuple[dict[Any, list[list[int]]], Pairs]:
    """A compact mapping as users write it (overlapping, touching, unsorted ranges, int
    or str keys) and the pairs it means."""
    compact: dict[Any, list[list[int]]] = {}
    pairs: Pairs = set()
    for run in draw(st.sets(st.integers(1, 4), max_size=4)):
        ranges = []
        for _ in range(draw(st.integers(0, 4))):
            first = draw(st.integers(1, 40))
            last = draw(st.integers(first, min(first + 10, 45)))
            ranges.append([first, last])
            pairs.update((run, ls) for ls in range(first, last + 1))
        key = str(run) if draw(st.booleans()) else run
        compact[key] = ranges
    return compact, pairs


def mask_of(pairs: Pairs) -> LumiMask:
    return LumiMask.from_pairs(pairs)


# -- construction and normal form ----------------------------------------------------------


@FIXED
@given(raw_compact())
def test_compact_input_means_its_pairs_and_is_normalised(drawn: Any) -> None:
    compact, pairs = drawn
    mask = LumiMask(compact)
    assert set(mask.pairs()) == pairs
    assert len(mask) == len(pairs)
    assert mask.to_json() == {str(run): r for run, r in ranges_of(pairs).items()}
    assert mask.runs == sorted({run for run, _ in pairs})


@FIXED
@given(pairs_st)
def test_compact_output_merges_adjacent_ranges(pairs: Pairs) -> None:
    # Split every run into single-lumisection ranges, in reverse order: the output must
    # be the maximal ranges, no two touching.
    singles = {run: [[ls, ls] for r, ls in sorted(pairs, reverse=True) if r == run]
               for run, _ in pairs}  # fmt: skip
    compact = LumiMask(singles).to_json()
    assert compact == {str(run): r for run, r in ranges_of(pairs).items()}
    for ranges in compact.values():
        for (_, last), (first, _) in zip(ranges, ranges[1:]):
            assert first > last + 1


def test_adjacent_and_overlapping_ranges_merge() -> None:
    mask = LumiMask({"7": [[5, 9], [1, 4], [12, 12], [11, 11], [3, 6]], 2: [[1, 1]], "3": []})
    assert mask.to_json() == {"2": [[1, 1]], "7": [[1, 9], [11, 12]]}
    assert mask.runs == [2, 7]  # run 3 has no lumisection: not a run of the mask
    assert len(mask) == 12


# -- the algebra against sets -----------------------------------------------------------------


@FIXED
@given(pairs_st, pairs_st)
def test_operators_equal_the_set_operations(a: Pairs, b: Pairs) -> None:
    ma, mb = mask_of(a), mask_of(b)
    assert set((ma | mb).pairs()) == a | b
    assert set((ma & mb).pairs()) == a & b
    assert set((ma - mb).pairs()) == a - b
    assert set((ma ^ mb).pairs()) == a ^ b
    # The results are normalised: equal to the mask built from the pairs.
    assert ma | mb == mask_of(a | b)
    assert ma & mb == mask_of(a & b)
    assert ma - mb == mask_of(a - b)
    assert (ma <= mb) == (a <= b)
    assert (ma >= mb) == (a >= b)


@FIXED
@given(pairs_st, pairs_st, pairs_st)
def test_union_and_intersection_associative_and_commutative(a: Pairs, b: Pairs, c: Pairs) -> None:
    ma, mb, mc = mask_of(a), mask_of(b), mask_of(c)
    assert (ma | mb) | mc == ma | (mb | mc)
    assert (ma & mb) & mc == ma & (mb & mc)
    assert ma | mb == mb | ma
    assert ma & mb == mb & ma
    assert hash(ma | mb) == hash(mb | ma)
    # Difference is neither: it distributes as sets do.
    assert ma - (mb | mc) == (ma - mb) & (ma - mc)
    assert ma.union(mb, mc) == mask_of(a | b | c)
    assert ma.intersection(mb, mc) == mask_of(a & b & c)
    assert ma.difference(mb, mc) == mask_of(a - b - c)


@FIXED
@given(raw_compact())
def test_json_round_trip(drawn: Any) -> None:
    mask = LumiMask(drawn[0])
    assert LumiMask(mask.to_json()) == mask
    assert LumiMask.from_json(json.dumps(mask.to_json())) == mask
    assert LumiMask.from_json(mask.dumps()) == mask
    assert LumiMask.from_json(mask.dumps().encode()) == mask
    assert LumiMask.from_cmssw_string(mask.to_cmssw_string()) == mask
    assert pickle.loads(pickle.dumps(mask)) == mask


@FIXED
@given(pairs_st, st.lists(st.tuples(st.integers(-3, 6), st.integers(-3, 45)), max_size=50))
def test_contains_array_equals_contains(pairs: Pairs, queries: list[tuple[int, int]]) -> None:
    mask = mask_of(pairs)
    runs = np.array([q[0] for q in queries], dtype=np.int64)
    lss = np.array([q[1] for q in queries], dtype=np.int64)
    got = mask.contains_array(runs, lss)
    assert got.dtype == bool and got.shape == runs.shape
    assert got.tolist() == [q in pairs for q in queries]
    assert [mask.contains(*q) for q in queries] == [q in pairs for q in queries]
    assert [q in mask for q in queries] == [q in pairs for q in queries]


@FIXED
@given(pairs_st)
def test_arrays_and_frames_round_trip(pairs: Pairs) -> None:
    mask = mask_of(pairs)
    runs, lss = mask.to_arrays()
    assert list(zip(runs.tolist(), lss.tolist())) == sorted(pairs)
    # Shuffled and duplicated rows give the same mask.
    order = np.r_[np.arange(len(runs))[::-1], np.arange(len(runs))]
    assert LumiMask.from_arrays(runs[order], lss[order]) == mask
    frame = pd.DataFrame({"run_number": runs[order], "ls_number": lss[order]})
    assert LumiMask.from_frame(frame) == mask
    assert LumiMask.from_results(frame) == mask


@FIXED
@given(pairs_st, pairs_st)
def test_compare_reports_the_one_sided_lumisections(a: Pairs, b: Pairs) -> None:
    report = compare(mask_of(a), mask_of(b), names=("ml", "golden"))
    assert set(report.only_a.pairs()) == a - b
    assert set(report.only_b.pairs()) == b - a
    assert set(report.common.pairs()) == a & b
    assert report.identical == (a == b)
    assert report.runs == sorted({run for run, _ in a ^ b})
    for diff in report.differences:
        assert LumiMask({diff.run: diff.only_a}) == report.only_a.select_runs([diff.run])
        assert diff.common == len({p for p in a & b if p[0] == diff.run})
    text = str(report)
    assert text.startswith(f"ml vs golden: {len(a & b)} lumisections in both")
    assert len(text.splitlines()) == (1 if a == b else 2 + len(report.differences))


# -- selection and output ----------------------------------------------------------------------


def test_select_and_filter_runs() -> None:
    mask = LumiMask({1: [[1, 3]], 5: [[2, 2]], 9: [[4, 8]]})
    assert mask.select_runs([5, 9, 10]).runs == [5, 9]
    assert mask.select_runs(5) == LumiMask({5: [[2, 2]]})
    assert mask.filter_runs(2, 9).runs == [5, 9]
    assert mask.filter_runs(min_run=6).runs == [9]
    assert mask.filter_runs(max_run=5).runs == [1, 5]
    assert mask.filter_runs(10) == LumiMask()


def test_cmssw_string_like_getcmsswstring() -> None:
    mask = LumiMask({"385801": [[14, 230], [1, 11]], "385764": [[7, 7]]})
    assert mask.to_cmssw_string() == "385764:7,385801:1-385801:11,385801:14-385801:230"
    assert LumiMask().to_cmssw_string() == ""
    with pytest.raises(LumiMaskError, match="spans two runs"):
        LumiMask.from_cmssw_string("1:1-2:5")
    with pytest.raises(LumiMaskError, match="not 'run:ls'"):
        LumiMask.from_cmssw_string("1:1,1-5")


def test_repr_names_runs_lumisections_and_the_ends() -> None:
    mask = LumiMask({"385801": [[1, 11], [14, 230]], "385764": [[1, 57]]})
    assert repr(mask) == "LumiMask(2 runs, 285 lumisections, 3 ranges, 385764:1 .. 385801:230)"
    assert repr(LumiMask({1: [[3, 3]]})) == "LumiMask(1 run, 1 lumisection, 1 ranges, 1:3 .. 1:3)"
    assert repr(LumiMask()) == "LumiMask(empty)"
    assert not LumiMask() and LumiMask({1: [[1, 1]]})


def test_to_file_is_atomic_and_reads_back(tmp_path: Path) -> None:
    mask = LumiMask({"385801": [[1, 11], [14, 230]], "385764": [[1, 57]]})
    path = mask.to_file(tmp_path / "golden.json")
    assert json.loads(path.read_text()) == mask.to_json()
    assert LumiMask.from_json(path) == mask
    assert LumiMask.from_json(str(path)) == mask
    assert [p.name for p in tmp_path.iterdir()] == ["golden.json"]  # no temporary left

    # Overwriting replaces the file whole.
    other = LumiMask({1: [[1, 1]]})
    other.to_file(path)
    assert LumiMask.from_json(path) == other
    assert [p.name for p in tmp_path.iterdir()] == ["golden.json"]


def test_caf_answer_reads_its_content() -> None:
    answer = {"name": "Cert_X_Golden.json", "url": "https://x", "content": {"5": [[1, 2]]}}
    assert LumiMask.from_json(answer) == LumiMask({5: [[1, 2]]})


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compact", "error", "message"),
    [
        ({"1": [[-1, 5]]}, LumiMaskError, r"run 1: first lumisection of \[-1, 5\] must be from 1"),
        ({"1": [[0, 5]]}, LumiMaskError, "must be from 1 to"),
        ({"1": [[7, 5]]}, LumiMaskError, r"run 1: range \[7, 5\] has first > last"),
        ({"1": [[1, 2, 3]]}, LumiMaskError, r"must be a pair \[first, last\]"),
        ({"1": [5]}, LumiMaskTypeError, r"must be a pair \[first, last\], not 5"),
        ({"1": [[1.0, 5]]}, LumiMaskTypeError, r"must be an integer, not 1.0 \(float\)"),
        ({"1": [["1", 5]]}, LumiMaskTypeError, "must be an integer, not '1'"),
        ({"1": [[True, 5]]}, LumiMaskTypeError, "must be an integer, not True"),
        ({"run1": [[1, 5]]}, LumiMaskError, "run 'run1' is not a run number"),
        ({-4: [[1, 5]]}, LumiMaskError, "run -4 must be from 1"),
        ({1.5: [[1, 5]]}, LumiMaskTypeError, "run 1.5 must be an integer"),
        ({"1": [[1, MAX_NUMBER + 1]]}, LumiMaskError, f"must be from 1 to {MAX_NUMBER}"),
        ({"1": "1-5"}, LumiMaskTypeError, "expected a list of"),
    ],
)
def test_bad_compact_input_is_refused_clearly(compact: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        LumiMask(compact)
    assert isinstance(info.value, DialsError)
    assert isinstance(info.value, ValueError)


def test_other_bad_inputs() -> None:
    with pytest.raises(LumiMaskTypeError, match="takes a mapping"):
        LumiMask([(1, 2)])  # type: ignore[arg-type]
    with pytest.raises(LumiMaskError, match="lumisection of \\(1, -2\\) must be from 1"):
        LumiMask.from_pairs([(1, 2), (1, -2)])
    with pytest.raises(LumiMaskError, match="is not valid JSON"):
        LumiMask.from_json("{not json")
    with pytest.raises(LumiMaskError, match="is an object"):
        LumiMask.from_json("[1, 2]")
    with pytest.raises(LumiMaskTypeError, match="must be an integer array, not dtype float64"):
        LumiMask().contains_array(np.array([1.0]), np.array([1]))
    with pytest.raises(LumiMaskTypeError, match="ls must be an integer"):
        LumiMask().contains(1, 2.0)  # type: ignore[arg-type]
    with pytest.raises(LumiMaskError, match="lumisection of row 1 must be from 1"):
        LumiMask.from_arrays(np.array([1, 2]), np.array([3, 0]))
    with pytest.raises(LumiMaskError, match=r"no column 'ls_number'.*'ls_numbr'"):
        LumiMask.from_frame(pd.DataFrame({"run_number": [1], "ls_numbr": [1]}))
    with pytest.raises(FileNotFoundError):
        LumiMask.from_json("/nonexistent/golden.json")
    # Operators with other types are not defined (no silent coercion of dicts).
    with pytest.raises(TypeError):
        LumiMask() | {"1": [[1, 1]]}
    assert LumiMask({1: [[1, 1]]}) != {"1": [[1, 1]]}


def test_contains_array_broadcasts_and_ignores_out_of_range_numbers() -> None:
    mask = LumiMask({1: [[1, 3]], MAX_NUMBER: [[MAX_NUMBER, MAX_NUMBER]]})
    got = mask.contains_array(1, np.array([[0, 1], [3, 4]]))
    assert got.tolist() == [[False, True], [True, False]]
    big = np.array([MAX_NUMBER, 2**40, -1], dtype=np.int64)
    assert mask.contains_array(big, big).tolist() == [True, False, False]
    unsigned = np.array([2**64 - 1, 1], dtype=np.uint64)
    assert mask.contains_array(unsigned, np.array([1, 2], dtype=np.uint32)).tolist() == [
        False,
        True,
    ]
    assert LumiMask().contains_array([], []).shape == (0,)
