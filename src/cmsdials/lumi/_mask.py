"""``LumiMask``: a set of (run, lumisection) pairs held as inclusive ranges per run.

The compact JSON format of CMS (golden, DCS and muon JSONs, DIALS' ``golden-json/`` and
``caf/`` answers): ``{"<run>": [[first, last], ...], ...}``.  A mask is immutable and always
normalised: runs ascending, ranges sorted, overlapping and adjacent ranges merged, runs
without lumisections dropped; so two masks of the same pairs are equal and print the same.

Run and lumisection numbers are integers from 1 to 2**31 - 1 (the 32-bit columns of
CONTRACT §11).  Set operations work range by range (never pair by pair); the vectorised
membership test packs ``(run, ls)`` into one int64 key and binary-searches the ranges.
"""

from __future__ import annotations

import json
import operator
import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

from typing_extensions import TypeAlias

from cmsdials._optional import require
from cmsdials.errors import LumiMaskError, LumiMaskTypeError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cmsdials.lumi._compare import MaskComparison

__all__ = ["MAX_NUMBER", "LumiMask", "Range", "Ranges"]

#: Largest run or lumisection number (32-bit signed integer columns, CONTRACT §11).
MAX_NUMBER = 2**31 - 1

Range: TypeAlias = "tuple[int, int]"
#: The inclusive ranges of one run, sorted, disjoint and not adjacent.
Ranges: TypeAlias = "tuple[tuple[int, int], ...]"
#: What ``from_json`` reads (a path, a URL, JSON text or bytes, a mapping).
JSONSource: TypeAlias = Union[str, "os.PathLike[str]", bytes, Mapping[Any, Any], "LumiMask"]

_RUN_KEY = re.compile(r"\s*\+?\d+\s*")
_URL = re.compile(r"https?://", re.IGNORECASE)
_CMSSW_PART = re.compile(r"\s*(\d+):(\d+)(?:\s*-\s*(\d+):(\d+))?\s*")
#: Default timeout (seconds) of ``from_json`` on a URL, per connection attempt and read.
URL_TIMEOUT = 30.0
#: Bytes ``from_json`` reads from a URL at most.
MAX_URL_BYTES = 64 * 2**20


# -- validation ----------------------------------------------------------------------------


def _number(value: object, what: str) -> int:
    """``value`` as an int from 1 to MAX_NUMBER, or a clear error naming ``what``."""
    if isinstance(value, (bool, float, str)):
        raise LumiMaskTypeError(
            f"{what} must be an integer, not {value!r} ({type(value).__name__})"
        )
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise LumiMaskTypeError(
            f"{what} must be an integer, not {value!r} ({type(value).__name__})"
        ) from None
    if not 1 <= number <= MAX_NUMBER:
        raise LumiMaskError(f"{what} must be from 1 to {MAX_NUMBER}, not {number}")
    return number


def _run_key(key: object) -> int:
    """A run given as a mapping key: an int, or a string of digits (JSON keys)."""
    if isinstance(key, str):
        if not _RUN_KEY.fullmatch(key):
            raise LumiMaskError(f"run {key!r} is not a run number (a string of digits)")
        return _number(int(key), f"run {key!r}")
    return _number(key, f"run {key!r}")


def _range(item: object, run: int) -> Range:
    """One ``[first, last]`` item of ``run``'s list, checked."""
    if isinstance(item, (str, bytes)) or not isinstance(item, Sequence):
        raise LumiMaskTypeError(f"run {run}: each range must be a pair [first, last], not {item!r}")
    if len(item) != 2:
        raise LumiMaskError(
            f"run {run}: each range must be a pair [first, last], not {list(item)!r}"
        )
    first = _number(item[0], f"run {run}: first lumisection of {list(item)!r}")
    last = _number(item[1], f"run {run}: last lumisection of {list(item)!r}")
    if first > last:
        raise LumiMaskError(f"run {run}: range [{first}, {last}] has first > last")
    return first, last


# -- range algebra (on normalised tuples of one run) ----------------------------------------


def _merged(ranges: Iterable[Range]) -> Ranges:
    """Sorted, with overlapping and adjacent ranges merged."""
    out: list[Range] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return tuple(out)


def _union(a: Ranges, b: Ranges) -> Ranges:
    return _merged(a + b)


def _intersection(a: Ranges, b: Ranges) -> Ranges:
    out: list[Range] = []
    i = j = 0
    while i < len(a) and j < len(b):
        low = max(a[i][0], b[j][0])
        high = min(a[i][1], b[j][1])
        if low <= high:
            out.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _difference(a: Ranges, b: Ranges) -> Ranges:
    out: list[Range] = []
    j = 0
    for first, last in a:
        current = first
        while j < len(b) and b[j][1] < current:
            j += 1
        # A range of b may reach into the next range of a: walk with k, keep j.
        k = j
        while k < len(b) and b[k][0] <= last and current <= last:
            if b[k][0] > current:
                out.append((current, b[k][0] - 1))
            current = max(current, b[k][1] + 1)
            k += 1
        if current <= last:
            out.append((current, last))
    return tuple(out)


def _combine(
    a: dict[int, Ranges],
    b: dict[int, Ranges],
    op: Callable[[Ranges, Ranges], Ranges],
    runs: Iterable[int],
) -> dict[int, Ranges]:
    out: dict[int, Ranges] = {}
    for run in sorted(runs):
        ranges = op(a.get(run, ()), b.get(run, ()))
        if ranges:
            out[run] = ranges
    return out


def _ls_count(ranges: Ranges) -> int:
    return sum(last - first + 1 for first, last in ranges)


# -- the mask --------------------------------------------------------------------------------


class LumiMask:
    """A set of lumisections: inclusive ``[first, last]`` ranges per run.

    Parameters
    ----------
    compact:
        ``{run: [[first, last], ...]}`` with runs as ints or strings of digits (the CMS
        JSON format), or ``None`` for the empty mask.  Ranges may overlap, touch or come
        in any order: they are normalised.

    Raises
    ------
    LumiMaskError
        A run or lumisection outside 1 .. 2**31 - 1, a range with ``first > last``, a range
        that is not a pair, a run key that is not a number.
    LumiMaskTypeError
        A number that is not an integer (float, string, bool).

    Notes
    -----
    Operators: ``a | b`` (union), ``a & b`` (intersection), ``a - b`` (difference),
    ``a ^ b`` (symmetric difference), ``==``, ``(run, ls) in mask``; ``len(mask)`` is the
    number of lumisections.  Masks are immutable and hashable.
    """

    __slots__ = ("_flat", "_hash", "_ranges")

    _ranges: dict[int, Ranges]

    def __init__(self, compact: Mapping[Any, Iterable[Sequence[int]]] | None = None) -> None:
        if isinstance(compact, LumiMask):
            self._set(dict(compact._ranges))
            return
        if compact is None:
            self._set({})
            return
        if not isinstance(compact, Mapping):
            raise LumiMaskTypeError(
                "LumiMask() takes a mapping {run: [[first, last], ...]}, not "
                f"{type(compact).__name__}; use LumiMask.from_json (path, URL, JSON text), "
                "from_pairs, from_frame or from_results"
            )
        collected: dict[int, list[Range]] = {}
        for key, items in compact.items():
            run = _run_key(key)
            if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
                raise LumiMaskTypeError(
                    f"run {run}: expected a list of [first, last] ranges, not {items!r}"
                )
            collected.setdefault(run, []).extend(_range(item, run) for item in items)
        self._set({run: _merged(collected[run]) for run in sorted(collected) if collected[run]})

    def _set(self, ranges: dict[int, Ranges]) -> None:
        self._ranges = ranges
        self._hash: int | None = None
        self._flat: tuple[Any, Any] | None = None

    @classmethod
    def _of(cls, ranges: dict[int, Ranges]) -> LumiMask:
        """A mask of ranges already normalised (runs ascending, no empty run)."""
        mask = cls.__new__(cls)
        mask._set(ranges)
        return mask

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def from_json(cls, source: JSONSource, *, timeout: float = URL_TIMEOUT) -> LumiMask:
        """A mask read from ``source``.

        Parameters
        ----------
        source:
            A path (``str`` or ``os.PathLike``), an ``http(s)://`` URL (fetched with
            ``requests``, ``timeout`` seconds), JSON text or bytes (starting with ``{``), a
            mapping ``{run: [[first, last], ...]}``, a ``caf/`` answer (a mapping whose
            ``"content"`` is such a mapping, CONTRACT §7.11) or a ``LumiMask``.
        """
        if isinstance(source, LumiMask):
            return source
        data: object
        if isinstance(source, Mapping):
            data = source
        elif isinstance(source, bytes):
            data = _loads(source.decode("utf-8"), "the JSON bytes given")
        elif isinstance(source, str) and source.lstrip().startswith(("{", "[")):
            data = _loads(source, "the JSON text given")
        elif isinstance(source, str) and _URL.match(source.strip()):
            data = _fetch(source.strip(), timeout)
        elif isinstance(source, (str, os.PathLike)):
            path = Path(source)
            data = _loads(path.read_text(encoding="utf-8"), str(path))
        else:
            raise LumiMaskTypeError(
                "LumiMask.from_json takes a path, a URL, JSON text or a mapping, not "
                f"{type(source).__name__}"
            )
        if isinstance(data, Mapping) and isinstance(data.get("content"), Mapping):
            data = data["content"]
        if not isinstance(data, Mapping):
            raise LumiMaskError(
                'a lumi mask JSON is an object {"<run>": [[first, last], ...]}, not '
                f"{type(data).__name__}"
            )
        return cls(data)

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[int]]) -> LumiMask:
        """The mask of the ``(run, ls)`` pairs (any order, duplicates allowed)."""
        by_run: dict[int, set[int]] = {}
        for pair in pairs:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise LumiMaskError(f"expected (run, ls) pairs, got {pair!r}")
            run = _number(pair[0], f"run of {tuple(pair)!r}")
            ls = _number(pair[1], f"lumisection of {tuple(pair)!r}")
            by_run.setdefault(run, set()).add(ls)
        return cls._of({run: _compressed(sorted(by_run[run])) for run in sorted(by_run)})

    @classmethod
    def from_arrays(cls, runs: Any, lss: Any) -> LumiMask:
        """The mask of ``(runs[k], lss[k])`` for two integer arrays (vectorised; numpy)."""
        numpy = require("numpy", "numpy", "LumiMask.from_arrays()")
        run_array, ls_array = _int_arrays(numpy, runs, lss, "LumiMask.from_arrays()")
        run_array = run_array.ravel()
        ls_array = ls_array.ravel()
        bad = ~(_valid(numpy, run_array) & _valid(numpy, ls_array))
        if bad.any():
            k = int(numpy.flatnonzero(bad)[0])
            _number(int(run_array[k]), f"run of row {k}")
            _number(int(ls_array[k]), f"lumisection of row {k}")
        keys = numpy.unique((run_array << 32) | ls_array)
        if keys.size == 0:
            return cls()
        breaks = numpy.diff(keys) != 1
        starts = keys[numpy.concatenate(([True], breaks))]
        ends = keys[numpy.concatenate((breaks, [True]))]
        ranges: dict[int, list[Range]] = {}
        low = (1 << 32) - 1
        for start, end in zip(starts.tolist(), ends.tolist()):
            ranges.setdefault(start >> 32, []).append((start & low, end & low))
        return cls._of({run: tuple(items) for run, items in ranges.items()})

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, run_column: str = "run_number", ls_column: str = "ls_number"
    ) -> LumiMask:
        """The mask of the rows of a ``pandas.DataFrame`` (columns ``run_number``,
        ``ls_number`` by default)."""
        from cmsdials.lumi._sources import frame_columns

        runs, lss = frame_columns(frame, run_column, ls_column)
        return cls.from_arrays(runs, lss)

    @classmethod
    def from_results(cls, results: Any) -> LumiMask:
        """The lumisections of the rows of a results object (``lumisection``, ``run``-less
        routes with ``run_number`` and ``ls_number``: ``ml_bad_lumis``, ``th1``/``th2``...),
        of a list of such rows, or of a ``cert_json`` answer (its flagged lumisections)."""
        from cmsdials.lumi._sources import mask_of_results

        return mask_of_results(cls, results)

    @classmethod
    def from_cmssw_string(cls, text: str) -> LumiMask:
        """Parse ``"run:ls,run:first-run:last,..."`` (CMSSW's ``lumisToProcess`` form);
        a range must stay within one run."""
        ranges: dict[int, list[Range]] = {}
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            match = _CMSSW_PART.fullmatch(part)
            if match is None:
                raise LumiMaskError(
                    f"{part!r} is not 'run:ls' or 'run:first-run:last' (CMSSW lumi ranges)"
                )
            run_text, first_text, end_run, last_text = match.groups()
            run = _number(int(run_text), f"run of {part!r}")
            if end_run is not None and int(end_run) != run:
                raise LumiMaskError(f"{part!r} spans two runs: a range must stay within one run")
            last = first_text if last_text is None else last_text
            ranges.setdefault(run, []).append(_range((int(first_text), int(last)), run))
        return cls._of({run: _merged(items) for run, items in sorted(ranges.items())})

    # -- access ---------------------------------------------------------------------------

    @property
    def runs(self) -> list[int]:
        """The runs with at least one lumisection, ascending."""
        return list(self._ranges)

    def ranges(self, run: int) -> list[list[int]]:
        """The ``[first, last]`` ranges of ``run`` (empty when it has none)."""
        return [[first, last] for first, last in self._ranges.get(run, ())]

    def lumisections(self, run: int) -> list[int]:
        """Every lumisection of ``run``, ascending."""
        return [ls for first, last in self._ranges.get(run, ()) for ls in range(first, last + 1)]

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Every ``(run, ls)`` pair, in order."""
        for run, ranges in self._ranges.items():
            for first, last in ranges:
                for ls in range(first, last + 1):
                    yield run, ls

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every pair as two int64 arrays ``(run_number, ls_number)``, in order (numpy)."""
        numpy = require("numpy", "numpy", "LumiMask.to_arrays()")
        starts, ends = self._keys()
        low = (1 << 32) - 1
        lengths = (ends - starts) + 1
        total = int(lengths.sum())
        offsets = numpy.cumsum(lengths) - lengths
        keys = numpy.arange(total, dtype=numpy.int64) + numpy.repeat(starts - offsets, lengths)
        runs: np.ndarray = keys >> 32
        lss: np.ndarray = keys & low
        return runs, lss

    def contains(self, run: int, ls: int) -> bool:
        """Whether lumisection ``ls`` of ``run`` is in the mask."""
        run = _index(run, "run")
        ls = _index(ls, "ls")
        ranges = self._ranges.get(run)
        if not ranges:
            return False
        k = bisect_right(ranges, (ls, MAX_NUMBER + 1)) - 1
        return k >= 0 and ranges[k][1] >= ls

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
            return False
        return self.contains(item[0], item[1])

    def contains_array(self, runs: Any, lss: Any) -> np.ndarray:
        """Element-wise :meth:`contains` over integer arrays (broadcast together).

        Returns a bool array of the broadcast shape; numbers outside 1 .. 2**31 - 1 are
        simply not in the mask.  No Python loop over the elements (a binary search of the
        packed keys).
        """
        numpy = require("numpy", "numpy", "LumiMask.contains_array()")
        run_array, ls_array = _int_arrays(numpy, runs, lss, "contains_array()")
        run_array, ls_array = numpy.broadcast_arrays(run_array, ls_array)
        valid = _valid(numpy, run_array) & _valid(numpy, ls_array)
        keys = (numpy.where(valid, run_array, 0) << 32) | numpy.where(valid, ls_array, 0)
        starts, ends = self._keys()
        if starts.size == 0:
            none: np.ndarray = numpy.zeros(keys.shape, dtype=bool)
            return none
        k = numpy.searchsorted(starts, keys, side="right") - 1
        found: np.ndarray = valid & (k >= 0) & (keys <= ends[numpy.maximum(k, 0)])
        return found

    def _keys(self) -> tuple[Any, Any]:
        """Range starts and ends as packed int64 keys ``run << 32 | ls``, ascending."""
        if self._flat is None:
            numpy = require("numpy", "numpy", "LumiMask.contains_array()")
            starts = [(run << 32) | first for run, rs in self._ranges.items() for first, _ in rs]
            ends = [(run << 32) | last for run, rs in self._ranges.items() for _, last in rs]
            self._flat = (
                numpy.array(starts, dtype=numpy.int64),
                numpy.array(ends, dtype=numpy.int64),
            )
        return self._flat

    # -- selection ------------------------------------------------------------------------

    def select_runs(self, runs: int | Iterable[int]) -> LumiMask:
        """The mask restricted to ``runs`` (one run or several; runs absent from the mask
        are ignored)."""
        wanted = {_number(run, "run") for run in _iterable(runs, "select_runs()")}
        return LumiMask._of({run: r for run, r in self._ranges.items() if run in wanted})

    def filter_runs(self, min_run: int | None = None, max_run: int | None = None) -> LumiMask:
        """The mask restricted to runs from ``min_run`` to ``max_run`` (inclusive; ``None``:
        unbounded)."""
        low = 1 if min_run is None else _index(min_run, "min_run")
        high = MAX_NUMBER if max_run is None else _index(max_run, "max_run")
        return LumiMask._of({run: r for run, r in self._ranges.items() if low <= run <= high})

    # -- output ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, list[list[int]]]:
        """The compact form ``{"<run>": [[first, last], ...]}``, runs ascending."""
        return {str(run): [[first, last] for first, last in r] for run, r in self._ranges.items()}

    def dumps(self) -> str:
        """The compact form as JSON text, one run per line (the usual CMS layout)."""
        if not self._ranges:
            return "{}"
        lines = [
            f'  "{run}": ' + json.dumps([[first, last] for first, last in r])
            for run, r in self._ranges.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n}"

    def to_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the compact JSON to ``path`` atomically (complete or not there at all)."""
        from cmsdials._writers import atomic_output

        with atomic_output(path) as temporary:
            temporary.write_text(self.dumps() + "\n", encoding="utf-8")
        return Path(path)

    def to_cmssw_string(self) -> str:
        """``"run:ls,run:first-run:last,..."``, the form CMSSW's ``lumisToProcess``
        (``LumiList.getCMSSWString``) takes; a single lumisection is written ``run:ls``."""
        parts = [
            f"{run}:{first}" if first == last else f"{run}:{first}-{run}:{last}"
            for run, r in self._ranges.items()
            for first, last in r
        ]
        return ",".join(parts)

    # -- algebra --------------------------------------------------------------------------

    def __or__(self, other: object) -> LumiMask:
        if not isinstance(other, LumiMask):
            return NotImplemented
        runs = self._ranges.keys() | other._ranges.keys()
        return LumiMask._of(_combine(self._ranges, other._ranges, _union, runs))

    def __and__(self, other: object) -> LumiMask:
        if not isinstance(other, LumiMask):
            return NotImplemented
        runs = self._ranges.keys() & other._ranges.keys()
        return LumiMask._of(_combine(self._ranges, other._ranges, _intersection, runs))

    def __sub__(self, other: object) -> LumiMask:
        if not isinstance(other, LumiMask):
            return NotImplemented
        return LumiMask._of(_combine(self._ranges, other._ranges, _difference, self._ranges))

    def __xor__(self, other: object) -> LumiMask:
        if not isinstance(other, LumiMask):
            return NotImplemented
        return (self - other) | (other - self)

    def union(self, *others: LumiMask) -> LumiMask:
        """The union with every mask of ``others``."""
        result = self
        for other in others:
            result = result | other
        return result

    def intersection(self, *others: LumiMask) -> LumiMask:
        """The intersection with every mask of ``others``."""
        result = self
        for other in others:
            result = result & other
        return result

    def difference(self, *others: LumiMask) -> LumiMask:
        """This mask without the lumisections of any of ``others``."""
        result = self
        for other in others:
            result = result - other
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LumiMask):
            return NotImplemented
        return self._ranges == other._ranges

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._ranges.items()))
        return self._hash

    def __le__(self, other: LumiMask) -> bool:
        """Subset."""
        if not isinstance(other, LumiMask):
            return NotImplemented
        return not (self - other)

    def __ge__(self, other: LumiMask) -> bool:
        """Superset."""
        if not isinstance(other, LumiMask):
            return NotImplemented
        return not (other - self)

    def __len__(self) -> int:
        return sum(_ls_count(r) for r in self._ranges.values())

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __repr__(self) -> str:
        if not self._ranges:
            return "LumiMask(empty)"
        runs = len(self._ranges)
        first_run = next(iter(self._ranges))
        last_run = next(reversed(self._ranges.keys()))
        n = len(self)
        return (
            f"LumiMask({runs} run{'s' if runs != 1 else ''}, {n} lumisection"
            f"{'s' if n != 1 else ''}, {sum(map(len, self._ranges.values()))} ranges, "
            f"{first_run}:{self._ranges[first_run][0][0]} .. "
            f"{last_run}:{self._ranges[last_run][-1][1]})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (LumiMask, (self.to_json(),))

    # -- use --------------------------------------------------------------------------------

    def apply(self, data: Any, **options: Any) -> Any:
        """``data`` restricted to the lumisections of the mask (see ``cmsdials.lumi.apply``):
        a results object, a ``HistogramArray``, a ``pandas.DataFrame`` or a fetched data set."""
        from cmsdials.lumi._apply import apply

        return apply(self, data, **options)

    def compare(self, other: LumiMask, names: tuple[str, str] = ("a", "b")) -> MaskComparison:
        """Per run, the lumisections only in this mask and only in ``other``."""
        from cmsdials.lumi._compare import compare

        return compare(self, other, names=names)


# -- helpers ---------------------------------------------------------------------------------


def _loads(text: str, origin: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LumiMaskError(f"{origin} is not valid JSON: {exc}") from None


def _fetch(url: str, timeout: float) -> object:
    import requests

    body = bytearray()
    with requests.get(url, timeout=timeout, stream=True) as response:
        response.raise_for_status()
        # A golden JSON is a few hundred kB: a larger answer is not one (and is not kept).
        for chunk in response.iter_content(1 << 16):
            body += chunk
            if len(body) > MAX_URL_BYTES:
                raise LumiMaskError(
                    f"{url} answered more than {MAX_URL_BYTES // 2**20} MiB: not a lumi JSON"
                )
    try:
        return json.loads(bytes(body))
    except ValueError as exc:
        raise LumiMaskError(f"{url} did not answer JSON: {exc}") from None


def _compressed(numbers: Sequence[int]) -> Ranges:
    """Sorted distinct numbers as maximal ranges of consecutive integers."""
    out: list[Range] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return tuple(out)


def _index(value: object, what: str) -> int:
    """An integer (any size) for membership tests: non-integers are errors."""
    if isinstance(value, (bool, float, str)):
        raise LumiMaskTypeError(f"{what} must be an integer, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise LumiMaskTypeError(f"{what} must be an integer, not {value!r}") from None


def _iterable(values: object, feature: str) -> Iterable[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        if isinstance(values, int) and not isinstance(values, bool):
            return [values]
        raise LumiMaskTypeError(f"{feature} takes run numbers, not {values!r}")
    return values


def _int_arrays(np: Any, runs: Any, lss: Any, feature: str) -> tuple[Any, Any]:
    """Two int64 arrays; float, bool or object arrays are refused (not silently cast)."""
    out = []
    for name, values in (("runs", runs), ("lss", lss)):
        array = np.asarray(values)
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise LumiMaskTypeError(
                f"{feature}: {name} must be an integer array, not dtype {array.dtype}"
            )
        if array.dtype.kind == "u":
            # uint64 beyond int64 would wrap to negative numbers, which are then invalid.
            array = np.minimum(array, MAX_NUMBER + 1)
        out.append(array.astype(np.int64, copy=False))
    return out[0], out[1]


def _valid(np: Any, array: Any) -> Any:
    return (array >= 1) & (array <= MAX_NUMBER)
