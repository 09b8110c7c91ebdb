"""Response bytes -> Python objects, in one place.

Each body is decoded exactly once, straight from bytes, into the representation that is
kept:

* pages of the histogram routes (th1/th2) -> :class:`~cmsdials._columns.HistogramColumns`
  with pysimdjson: bin contents go from the JSON text into float64 buffers without a
  Python float per bin (needs the ``numpy`` extra; without it they take the model path);
* other pages and single objects -> pydantic models (``model_validate_json``, Rust);
* raw JSON routes (cert/golden JSON, OMS, workspaces) -> orjson.

A body that is not syntactically complete JSON raises
:class:`~cmsdials.errors.ResponseDecodeError`, which the transport retries like a read
error; a well-formed body of the wrong shape raises pydantic's ``ValidationError`` or
:class:`~cmsdials.errors.ResponseFormatError` (retrying would not change it).

A decoder is just a ``Callable[[bytes], T]`` handed to
:meth:`cmsdials._transport.Transport.request`, which calls it inside its retry loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from cmsdials._gc import gc_paused
from cmsdials._optional import installed
from cmsdials.errors import ResponseDecodeError, ResponseFormatError

if TYPE_CHECKING:
    from cmsdials._columns import HistogramColumns
    from cmsdials._layout import Layout
    from cmsdials._results import Paginated
    from cmsdials._resume import Continuation

__all__ = [
    "Decoder",
    "Head",
    "ReusableParser",
    "columnar_available",
    "columnar_modules",
    "compiled_decoder_enabled",
    "decode_histogram_page",
    "decode_json",
    "list_decoder",
    "model_decoder",
    "page_decoder",
    "read_head",
]

M = TypeVar("M", bound=BaseModel)
PageT = TypeVar("PageT", bound="Paginated[Any]")

#: A function from response bytes to the value the caller receives.
Decoder = Callable[[bytes], Any]


def _incomplete(exc: ValidationError, size: int) -> ResponseDecodeError | None:
    """A ResponseDecodeError when ``exc`` says the JSON itself is broken."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return ResponseDecodeError(
            f"response body is not valid JSON ({size} bytes): {errors[0]['msg']}"
        )
    return None


@contextmanager
def _broken_json_is_a_decode_error(size: int) -> Iterator[None]:
    """Re-raise pydantic's verdict on a ``size``-byte body as :class:`ResponseDecodeError`
    when the JSON itself is broken (retried like a read error); a well-formed body of the
    wrong shape keeps its ``ValidationError`` (retrying would not change it)."""
    try:
        yield
    except ValidationError as exc:
        broken = _incomplete(exc, size)
        if broken is not None:
            raise broken from exc
        raise


def model_decoder(model: type[M]) -> Callable[[bytes], M]:
    """A decoder that validates the body as ``model``."""

    def decode(content: bytes) -> M:
        with _broken_json_is_a_decode_error(len(content)):
            return model.model_validate_json(content)

    return decode


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def list_decoder(model: type[M]) -> Callable[[bytes], list[M]]:
    """A decoder for a plain JSON array of ``model`` (the unpaginated ``mes/``)."""
    adapter = _list_adapter(model)

    def decode(content: bytes) -> list[M]:
        with _broken_json_is_a_decode_error(len(content)):
            return adapter.validate_json(content)

    return decode


def decode_json(content: bytes) -> Any:
    """Raw JSON (cert/golden JSON, OMS, workspaces), decoded by orjson."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ResponseDecodeError(
            f"response body is not valid JSON ({len(content)} bytes): {exc}"
        ) from exc


# ---------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------


class Head(NamedTuple):
    """The ``next`` and ``previous`` links of a page."""

    next: str | None
    previous: str | None


#: What separates the links from the rows in a page (CONTRACT §5.2: compact JSON, keys in
#: the order next, previous, results).  A JSON string cannot contain an unescaped quote,
#: so the first occurrence is the key itself, never part of a URL.
_RESULTS_KEY = b',"results":'
#: Links are short; do not scan a whole page for a key that sits at its start.
_HEAD_LIMIT = 1 << 16


def read_head(body: bytes) -> Head | None:
    """``next``/``previous`` from the bytes before the rows, without decoding the rows.

    Lets a walk send the request for the following page while this one is decoded.
    ``None`` when the body is not laid out that way (another key order, whitespace) or
    does not end like a page: the caller then takes the links from the full decode.  The
    end is checked so that a body cut short (by a proxy, say) is retried *before* the
    following request leaves, as in a plain one-page-after-the-other walk.
    """
    end = body.find(_RESULTS_KEY, 0, _HEAD_LIMIT)
    if end < 0 or not body.rstrip().endswith(b"]}"):
        return None
    try:
        head = orjson.loads(body[:end] + b"}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict):
        return None
    links = head.get("next"), head.get("previous")
    if not all(link is None or isinstance(link, str) for link in links):
        return None
    return Head(*links)


@cache
def columnar_available() -> bool:
    """True when histogram pages can be decoded into columns: numpy is there, and a reader
    of pages - the compiled scanner, or pysimdjson.  (With the scanner alone, the pages it
    declines are read by pydantic, as without numpy, then turned into columns.)

    Looks the packages up without importing them (a walk imports them in the background
    while its first request is in flight, see ``_warmup``).
    """
    return installed("numpy") and (installed("simdjson") or installed("cmsdials._speedups"))


def columnar_modules() -> tuple[str, ...]:
    """The packages the first page decoded into columns imports (for ``warm_up``):
    pysimdjson only where the compiled scanner does not read the pages."""
    return ("numpy",) if compiled_decoder_enabled() else ("numpy", "simdjson")


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _integers(name: str, values: Sequence[Any]) -> Any:
    import numpy as np

    if not values:
        return np.empty(0, np.int64)
    array = np.array(values)
    # int(): numpy 1.x compares uint64 with a Python int as float64, where 2**63 == 2**63-1
    if array.dtype.kind == "i" or (array.dtype.kind == "u" and int(array.max()) <= _INT64_MAX):
        return array.astype(np.int64, copy=False)
    if (
        array.dtype.kind == "f"
        and np.isfinite(array).all()
        and (array == np.round(array)).all()
        # 2**63 is a double, and the first one that int64 cannot hold
        and ((array >= -(2.0**63)) & (array < 2.0**63)).all()
    ):
        return array.astype(np.int64)  # e.g. x_bin sent as 100.0: the DB column is a double
    odd = next((v for v in values if not _is_int64(v)), values[0])
    raise ResponseFormatError(f"{name!r} must hold 64-bit integers, got {odd!r}")


def _is_int64(value: Any) -> bool:
    if type(value) is float and value.is_integer():
        return -(2.0**63) <= value < 2.0**63
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _floats(name: str, values: Sequence[Any]) -> Any:
    import numpy as np

    if not values:
        return np.empty(0, np.float64)
    array = np.array(values)
    if array.dtype.kind not in "iuf":  # None (object), strings, booleans
        raise ResponseFormatError(f"{name!r} must hold numbers, got {_sample(values)}")
    return array.astype(np.float64, copy=False)


def _strings(name: str, values: Sequence[Any]) -> list[str]:
    # One object per distinct name: a page repeats the same dataset and ME names, and
    # its rows then share them (as rows decoded by pydantic do not, but nothing relies on
    # identity).  The type is checked once per distinct value, not once per row.
    shared: dict[Any, Any] = {}
    try:
        out: list[Any] = list(map(shared.setdefault, values, values))
    except TypeError:  # unhashable: a parsed array or object
        out = []
    if len(out) != len(values) or any(type(value) is not str for value in shared):
        odd = next((v for v in values if type(v) is not str), values[0] if values else None)
        raise ResponseFormatError(f"{name!r} must hold strings, got {odd!r}")
    return out


class ReusableParser:
    """A ``simdjson.Parser`` kept for the pages of one walk.

    A fresh parser allocates its tape anew for every page, and the kernel must fault in
    and zero each of its memory pages again: reusing one parser for the pages of a walk
    makes parsing about twice as fast.  Pages are parsed one at a time
    (``_one_page_at_a_time``); if the parser still has live documents (pysimdjson refuses
    to reuse it then), a fresh one parses the page.  Created lazily, so that pysimdjson
    is imported by the first page, not by whoever builds the walk.
    """

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser: Any = None

    def parse(self, body: bytes) -> Any:
        import simdjson

        if self._parser is None:
            self._parser = simdjson.Parser()
        try:
            return self._parser.parse(body)
        except RuntimeError:  # an earlier page's objects are still referenced somewhere
            return simdjson.Parser().parse(body)


def _sample(values: Sequence[Any]) -> str:
    odd = [v for v in values if type(v) not in (int, float)][:1] or values[:1]
    return repr(odd[0])


@cache
def _row_getter(layout: Layout) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The scalar field names of ``layout`` and a getter of them plus ``data`` from a row."""
    names = (*layout.ints, *layout.floats, *layout.strings)
    return names, itemgetter(*names, "data")


@cache
def _scanner() -> Callable[..., Any] | None:
    """``cmsdials._speedups.scan_page``, or None where it was not compiled."""
    try:
        from cmsdials._speedups import scan_page
    except ImportError:
        return None
    return scan_page


def compiled_decoder_enabled() -> bool:
    """True when th1/th2 pages go through the compiled scanner first.

    It is there when the package was installed with a C compiler at hand (``setup.py``);
    ``CMSDIALS_SPEEDUPS=0`` turns it off (read on every page: for comparisons).
    """
    return _scanner() is not None and os.environ.get("CMSDIALS_SPEEDUPS", "1") != "0"


def _scan_histogram_page(body: bytes, layout: Layout) -> tuple[Head, HistogramColumns] | None:
    """The compiled scanner's reading of one page, or None where it declines the page.

    It declines whatever it does not read exactly as the reference path does (escapes,
    non-ASCII outside names, null or non-integer values in integer fields, NaN/Infinity,
    numbers beyond float64, bins not of their binning's shape, missing or duplicate
    keys, deep nesting): the reference path then decides, and words any error.
    """
    import numpy as np

    from cmsdials._columns import HistogramColumns

    scan = _scanner()
    if scan is None:
        return None
    scanned = scan(body, layout.dims, layout.ints, layout.floats, layout.strings)
    if scanned is None:
        return None
    next_link, previous_link, ints, floats, strings, values = scanned
    columns: dict[str, Any] = {
        name: np.frombuffer(buffer, np.int64) for name, buffer in zip(layout.ints, ints)
    }
    columns.update(
        {name: np.frombuffer(buffer, np.float64) for name, buffer in zip(layout.floats, floats)}
    )
    columns.update(zip(layout.strings, strings))
    page = HistogramColumns(layout, columns, np.frombuffer(values, np.float64))
    return Head(next_link, previous_link), page


def decode_histogram_page(
    body: bytes, layout: Layout, parser: ReusableParser | None = None
) -> tuple[Head, HistogramColumns]:
    """One th1/th2 page -> its links and its rows as columns.

    The compiled scanner (:func:`_scan_histogram_page`) reads the page in one pass when
    it is there and takes the page.  Otherwise (the reference path):
    pysimdjson parses the body (validating it) into a tape; each row's ``data`` is copied
    from the tape into a float64 buffer by ``as_buffer`` (nested th2 rows are flattened
    in ``data[iy][ix]`` order), so no Python float is created for a bin.  The scalar
    fields (a dozen per row) become Python objects briefly, then numpy columns.

    ``parser``: the walk's parser (see :class:`ReusableParser`); a fresh one if None.
    """
    import numpy as np

    from cmsdials._columns import HistogramColumns

    if compiled_decoder_enabled():
        scanned = _scan_histogram_page(body, layout)
        if scanned is not None:
            return scanned
    if not installed("simdjson"):
        # page_decoder hands the page to pydantic, as for a page pysimdjson refuses.
        raise ResponseDecodeError("no pysimdjson to read a page the compiled scanner declines")
    try:
        doc: Any = (parser or ReusableParser()).parse(body)
    except (ValueError, UnicodeDecodeError, RuntimeError) as exc:
        # RuntimeError: what pysimdjson cannot represent although it is JSON (an integer
        # beyond 64 bits anywhere in the page); page_decoder lets the plain path decide.
        raise ResponseDecodeError(
            f"response body is not valid JSON ({len(body)} bytes): {exc}"
        ) from exc
    names, getter = _row_getter(layout)
    two_d = layout.dims == 2
    try:
        with gc_paused():
            head = Head(doc["next"], doc["previous"])
            # One C call per row looks up all its fields (``itemgetter`` over the parsed
            # object): a Python loop over a dozen names cost a third of the decoding.
            rows = [getter(row) for row in doc["results"]]
            fields = list(zip(*rows)) if rows else [()] * (len(names) + 1)
            arrays = fields[-1]  # each row's `data`, still in the parsed document
            lines = [len(data) for data in arrays] if two_d else []
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ResponseFormatError(f"unexpected th{layout.dims} page: {exc}") from exc
    if not all(link is None or isinstance(link, str) for link in head):
        raise ResponseFormatError(f"unexpected page links: {head!r}")

    by_name = dict(zip(names, fields))
    columns: dict[str, Any] = {name: _integers(name, by_name[name]) for name in layout.ints}
    columns.update({name: _floats(name, by_name[name]) for name in layout.floats})
    columns.update({name: _strings(name, by_name[name]) for name in layout.strings})
    page = HistogramColumns(layout, columns, np.empty(0, np.float64))
    shapes = page.shapes()
    wrong = (shapes < 0).any(axis=1)
    if two_d:
        wrong |= np.array(lines, np.int64) != shapes[:, 0]
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise ResponseFormatError(
            f"row {row} of the page: 'data' does not have the (y_bin, x_bin) shape "
            f"{shapes[row].tolist()}"
        )
    # Each row's bins go from the parsed text straight into their place in one array;
    # only one row's buffer exists at a time.
    offsets = page.offsets()
    values = np.empty(int(offsets[-1]), np.float64)
    # Byte offsets into the values: copying each row's buffer through a memoryview costs
    # a third of wrapping it in an ndarray first (it matters for short rows, th1).
    target = values.data.cast("B")
    width = values.itemsize
    bounds = zip(offsets[:-1].tolist(), offsets[1:].tolist())
    for row, (data, (start, end)) in enumerate(zip(arrays, bounds)):
        try:
            buffer = memoryview(data.as_buffer(of_type="d"))  # bytes ("B") of float64s
        except (AttributeError, TypeError, ValueError) as exc:
            raise ResponseFormatError(f"row {row} of the page: 'data' {exc}") from exc
        if buffer.nbytes != (end - start) * width:
            shape = "x_bin" if layout.dims == 1 else "y_bin x x_bin"
            raise ResponseFormatError(
                f"row {row} of the page: 'data' has {buffer.nbytes // width} values, expected "
                f"{shape} = {end - start}"
            )
        target[start * width : end * width] = buffer
    page.values = values
    return head, page


#: Pages are decoded one at a time in a process.  Decoding holds the GIL for most of its
#: time, so two pages decoded at once (parallel partitions, or a page arriving while the
#: previous one is decoded) would not finish sooner - but both parsed documents (about
#: ten times the page size for a page of 2-D maps) would be in memory together.
_one_page_at_a_time = threading.Lock()


def _model_page(
    page_model: type[PageT], body: bytes, continuation: Continuation[Paginated[Any]] | None
) -> PageT:
    """A page validated by pydantic, row models and all."""
    with gc_paused(), _broken_json_is_a_decode_error(len(body)):
        return page_model.from_json(body, continuation=continuation)


def _check_model_shapes(page: Paginated[Any], layout: Layout) -> None:
    """Refuse rows whose ``data`` does not have their binning's shape, or whose integers do
    not fit the int64 columns they become, as :func:`decode_histogram_page` does (the row
    models check neither)."""
    for row, model in enumerate(page.results):
        for name in layout.ints:
            value = getattr(model, name)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise ResponseFormatError(
                    f"row {row} of the page: {name!r} is beyond 64 bits: {value}"
                )
        data = model.data
        if layout.dims == 1:
            ok = len(data) == model.x_bin
        else:
            ok = len(data) == model.y_bin and all(len(line) == model.x_bin for line in data)
        if not ok:
            raise ResponseFormatError(
                f"row {row} of the page: 'data' does not have the shape of its binning"
            )


def page_decoder(
    page_model: type[PageT],
    on_next: Callable[[str | None], None] | None = None,
    parser: ReusableParser | None = None,
    *,
    continuation: Continuation[Paginated[Any]] | None = None,
) -> Callable[[bytes], PageT]:
    """A decoder for one page of ``page_model``'s route.

    ``on_next`` is called with the page's ``next`` URL as soon as it is known - from the
    bytes before the rows when possible, i.e. *before* the rows are decoded - so that a
    walk can already request the following page.  It may be called again when the
    transport retries the request.  ``parser``: the walk's histogram-page parser.
    ``continuation``: the query the page answers (a ``list()`` page: for ``resume_from=``).
    """
    layout = page_model.histogram_layout() if columnar_available() else None

    def decode(body: bytes) -> PageT:
        head = read_head(body) if on_next is not None else None
        if on_next is not None and head is not None:
            on_next(head.next)
        with _one_page_at_a_time:
            page: PageT | None = None
            if layout is not None:
                try:
                    links, columns = decode_histogram_page(body, layout, parser)
                except ResponseDecodeError:
                    # pysimdjson refuses NaN, Infinity and numbers beyond float64, which
                    # pydantic (the path of a client without numpy) reads as nan/inf, and
                    # is not there for every client: the plain path decides, so that
                    # both read a body alike (and a body that is really broken is still a
                    # ResponseDecodeError).
                    page = _model_page(page_model, body, continuation)
                    _check_model_shapes(page, layout)
                else:
                    page = page_model.from_columns(
                        links.next, links.previous, columns, continuation=continuation
                    )
            if page is None:
                page = _model_page(page_model, body, continuation)
        if on_next is not None and head is None:
            on_next(None if page.next is None else str(page.next))
        return page

    return decode
