"""Cursor pagination exactly as DIALS does it (CONTRACT §5)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from routes_truth import (
    TABLE_OF,
    expected_object,
    get,
    results,
    rows,
    session,
    walk,
    walk_back,
)

from dials_local.api.resources import RESOURCES
from dials_local.listing.cursor import (
    Cursor,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    position_text,
)
from dials_local.listing.declaration import Resource
from dials_local.listing.params import QueryParams, page_size, replace_query_param
from dials_local.listing.query import ResourceQuery
from dials_local.testing import LocalServer

DATASET, RUN = 14677060, 367112

# --- the encoding (pure) ---------------------------------------------------------------


def test_worked_example_of_the_contract_encodes_exactly() -> None:
    position = position_text((14677060, 367112, 10, 1))
    assert position == '["14677060", "367112", "10", "1"]'
    token = encode_cursor(Cursor(position=position))
    assert (
        token
        == "cD0lNUIlMjIxNDY3NzA2MCUyMiUyQyslMjIzNjcxMTIlMjIlMkMrJTIyMTAlMjIlMkMrJTIyMSUyMiU1RA=="
    )
    assert (
        base64.b64decode(token) == b"p=%5B%2214677060%22%2C+%22367112%22%2C+%2210%22%2C+%221%22%5D"
    )
    assert decode_cursor(token) == Cursor(position=position)


def test_reverse_cursor_of_dials_decodes() -> None:
    token = base64.b64encode(b"r=1&p=%5B%221%22%2C+%22103%22%5D").decode()
    assert decode_cursor(token) == Cursor(reverse=True, position='["1", "103"]')
    assert encode_cursor(Cursor(reverse=True, position='["1", "103"]')) == token
    assert decode_cursor("") == Cursor()  # an empty token is the first page


def _drf_replace_query_param(url: str, key: str, value: str) -> str:
    """DRF's ``replace_query_param``, the reference the links must match."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    query_dict = parse_qs(query, keep_blank_values=True)
    query_dict[key] = [value]
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(query_dict.items()), doseq=True), fragment)
    )


_QUERY_KEYS = st.sampled_from(["a", "next_token", "page_size", "z", "é", "a b", "n", ""])


@given(
    st.lists(st.tuples(_QUERY_KEYS, st.text(max_size=4)), max_size=6),
    st.sampled_from(["next_token", "a", "zz", ""]),
    st.text(max_size=6),
    st.sampled_from(["", "frag"]),
)
def test_links_replace_the_parameter_exactly_as_drf(
    pairs: list[tuple[str, str]], key: str, value: str, fragment: str
) -> None:
    url = urlunsplit(("http", "host:8000", "/api/v1/run/", urlencode(pairs), fragment))
    assert replace_query_param(url, key, value) == _drf_replace_query_param(url, key, value)


@pytest.mark.parametrize(
    "resource", [r for r in RESOURCES if r.paginated], ids=lambda r: str(r.prefix)
)
def test_a_page_selects_each_column_once_and_reads_its_position(resource: Resource) -> None:
    """Key columns that are output fields too are not selected again for the cursor (a
    quarter of a lumisection page's SQL on SQLite); the position still reads them, also
    when the fields requested leave some or all of the key out."""
    first_key_field = next(f.name for f in resource.fields if f.name in resource.ordering)
    others = tuple(f.name for f in resource.fields if f.name not in resource.ordering)
    for names in (resource.field_names, (first_key_field, *others[:1]), others[-1:]):
        query = ResourceQuery(resource, names)
        statement = query.page_statement([], 0, False, None, 11)
        selected = [column.element for column in statement.selected_columns]
        for key in resource.ordering:
            as_fields = [f for f in query.fields if f.stored_as_is and (f.source or f.name) == key]
            times = sum(c is resource.table.c[key] for c in selected)
            assert times == max(1, len(as_fields)), (resource.prefix, names, key)
        # A row whose every value names its column: the position is the key's names.
        row = tuple(getattr(c, "name", f"expression {i}") for i, c in enumerate(selected))
        assert query.position(row) == position_text(resource.ordering), (resource.prefix, names)


@pytest.mark.parametrize(
    "token",
    ["abcde", "cD0", base64.b64encode(b"o=-1").decode(), base64.b64encode(b"r=x").decode(), "é"],
)
def test_undecodable_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(token)


@pytest.mark.parametrize(
    ("raw", "size"),
    [(None, 10), ("7", 7), (" 7 ", 7), ("+7", 7), ("500", 500), ("501", 500), ("100000", 500),
     ("0", 10), ("-3", 10), ("abc", 10), ("7.0", 10), ("", 10)],
)  # fmt: skip
def test_page_size_rules(raw: str | None, size: int) -> None:
    params = QueryParams.parse("" if raw is None else f"page_size={raw.replace('+', '%2B')}")
    assert page_size(params) == size


# --- walks over real HTTP --------------------------------------------------------------

WALKS = [
    # (route, filters, workspace, table, brute-force selection)
    ("run/", {}, "tracker", "fact_run", {}),
    ("lumisection/", {"run_number": RUN}, "tracker", "fact_lumisection", {"run_number": RUN}),
    (
        "th1/",
        {"run_number": RUN, "me_id": 1},
        "tracker",
        "fact_th1",
        {"run_number": RUN, "me_id": 1},
    ),
    ("file-index/", {}, "tracker", "fact_file_index", {}),
    ("ml-bad-lumisection/", {}, "jetmet", "fact_ml_bad_lumis", {}),
    # Equality filters on the leading ordering columns (the cursor bound drops them).
    ("run/", {"dataset_id": DATASET}, "tracker", "fact_run", {"dataset_id": DATASET}),
    (
        "th1/",
        {"dataset_id": DATASET, "run_number": RUN, "me_id": 1},
        "tracker",
        "fact_th1",
        {"dataset_id": DATASET, "run_number": RUN, "me_id": 1},
    ),
]


@pytest.mark.parametrize("size", [1, 7, 500])
@pytest.mark.parametrize(("route", "filters", "workspace", "table", "where"), WALKS)
def test_walk_forward_and_back_equals_one_query(
    any_server: LocalServer,
    size: int,
    route: str,
    filters: dict[str, Any],
    workspace: str,
    table: str,
    where: dict[str, Any],
) -> None:
    prefix = route.rstrip("/")
    expected = [
        expected_object(any_server, workspace, prefix, r)
        for r in rows(any_server, workspace, table, **where)
    ]
    # Page size 1 means a request per row: WALKS keeps its selections small.
    assert size > 1 or len(expected) <= 150, f"{len(expected)} rows: too many for page size 1"
    assert expected, f"no {table} rows for {where}"
    pages = walk(any_server, route, {**filters, "page_size": size}, workspace)
    assert results(pages) == expected  # none lost, none repeated, in §5.3 order
    assert all(len(p["results"]) == size for p in pages[:-1])
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    back = walk_back(any_server, pages[-1], workspace)
    assert [p["results"] for p in back] == [p["results"] for p in reversed(pages)]
    assert back[-1]["previous"] is None
    if len(pages) > 1:
        assert all(p["previous"] is not None for p in pages[1:])
        assert all(p["next"] is not None for p in back[1:])


def test_links_are_absolute_with_sorted_params_and_unknown_ones_kept(
    any_server: LocalServer,
) -> None:
    params = [
        ("zeta", "a b"),
        ("run_number", str(RUN)),
        ("page_size", "3"),
        ("ls_numbet__lte", "5"),
        ("zeta", "c"),
    ]
    body = get(any_server, "lumisection/", params)
    next_url = body["next"]
    parts = urlsplit(next_url)
    assert f"{parts.scheme}://{parts.netloc}/" == any_server.base_url
    assert parts.path == "/api/v1/lumisection/"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert [k for k, _ in pairs] == sorted(k for k, _ in pairs)
    assert ("zeta", "a b") in pairs and ("zeta", "c") in pairs  # repeated values kept
    assert "zeta=a+b" in parts.query  # spaces as +
    assert ("ls_numbet__lte", "5") in pairs  # unknown parameters survive
    token = dict(pairs)["next_token"]
    last = body["results"][-1]
    assert decode_cursor(token).position == position_text(
        (last["dataset_id"], last["run_number"], last["ls_number"])
    )
    second = session(any_server).get(next_url, timeout=10).json()
    prev_token = dict(parse_qsl(urlsplit(second["previous"]).query))["next_token"]
    first = second["results"][0]
    assert decode_cursor(prev_token) == Cursor(
        reverse=True,
        position=position_text((first["dataset_id"], first["run_number"], first["ls_number"])),
    )


def test_default_and_maximum_page_sizes(any_server: LocalServer) -> None:
    assert len(get(any_server, "lumisection/")["results"]) == 10
    assert len(get(any_server, "lumisection/", {"page_size": "abc"})["results"]) == 10
    big = get(any_server, "lumisection/", {"page_size": 100000})
    assert len(big["results"]) == 500 and big["next"] is not None


def test_empty_result_envelope(any_server: LocalServer) -> None:
    assert get(any_server, "run/", {"run_number": 1}) == {
        "next": None,
        "previous": None,
        "results": [],
    }


def test_cursor_is_not_bound_to_filters(any_server: LocalServer) -> None:
    lumis = rows(any_server, "tracker", "fact_lumisection", run_number=RUN)
    position = position_text(tuple(lumis[4][k] for k in ("dataset_id", "run_number", "ls_number")))
    token = encode_cursor(Cursor(position=position))
    body = get(
        any_server, "lumisection/", {"next_token": token, "page_size": 3, "ls_number__gte": 1}
    )
    keys = [(r["dataset_id"], r["run_number"], r["ls_number"]) for r in body["results"]]
    everything = [
        (r["dataset_id"], r["run_number"], r["ls_number"])
        for r in rows(any_server, "tracker", "fact_lumisection")
    ]
    start = everything.index(tuple(lumis[4][k] for k in ("dataset_id", "run_number", "ls_number")))
    assert keys == everything[start + 1 : start + 4]


def test_resending_a_token_with_the_same_filters_is_stable(any_server: LocalServer) -> None:
    first = get(any_server, "th1/", {"run_number": RUN, "me_id": 1, "page_size": 5})
    token = dict(parse_qsl(urlsplit(first["next"]).query))["next_token"]
    a = get(
        any_server, "th1/", {"run_number": RUN, "me_id": 1, "page_size": 5, "next_token": token}
    )
    b = get(
        any_server, "th1/", {"me_id": 1, "next_token": token, "run_number": RUN, "page_size": 5}
    )
    assert a == b
    assert [r["ls_number"] for r in a["results"]] == [
        r["ls_number"] for r in rows(any_server, "tracker", "fact_th1", run_number=RUN, me_id=1)
    ][5:10]
    assert TABLE_OF["th1"] == "fact_th1"


def _keys(body: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(r["dataset_id"], r["run_number"], r["ls_number"]) for r in body["results"]]


@pytest.mark.parametrize("reverse", [False, True])
def test_cursor_outside_the_pinned_dataset(any_server: LocalServer, reverse: bool) -> None:
    """A cursor from another walk whose position lies before, inside or after the dataset
    a ``dataset_id=`` filter pins: the page is what the plain row-value bound selects."""
    mine = [
        (r["dataset_id"], r["run_number"], r["ls_number"])
        for r in rows(any_server, "tracker", "fact_lumisection", dataset_id=DATASET)
    ]
    everything = [
        (r["dataset_id"], r["run_number"], r["ls_number"])
        for r in rows(any_server, "tracker", "fact_lumisection")
    ]
    before = [k for k in everything if k[0] < DATASET]
    after = [k for k in everything if k[0] > DATASET]
    assert before and after and len(mine) > 6, "the tiny data set has changed"
    for position in (before[-1], mine[3], after[0], (DATASET, 10**9, 0), (DATASET, 0, 0)):
        token = encode_cursor(Cursor(reverse=reverse, position=position_text(position)))
        body = get(
            any_server, "lumisection/", {"dataset_id": DATASET, "page_size": 3, "next_token": token}
        )
        expected = (
            [k for k in mine if k < position][-3:]
            if reverse
            else [k for k in mine if k > position][:3]
        )
        assert _keys(body) == expected, position


def test_every_ordering_column_pinned(any_server: LocalServer) -> None:
    """Filters that fix the whole key select one row; a cursor at that row selects none."""
    row = rows(any_server, "tracker", "fact_th1", dataset_id=DATASET, run_number=RUN, me_id=1)[2]
    key = {k: row[k] for k in ("dataset_id", "run_number", "ls_number", "me_id")}
    body = get(any_server, "th1/", {**key, "page_size": 1})
    assert [r["ls_number"] for r in body["results"]] == [row["ls_number"]]
    assert body["next"] is None
    for reverse in (False, True):
        token = encode_cursor(Cursor(reverse=reverse, position=position_text(tuple(key.values()))))
        assert get(any_server, "th1/", {**key, "next_token": token})["results"] == []
