"""``cmsdials.oms``: every OMS page as a DataFrame, lumisections keyed by (run, ls), and
the join of histogram rows with OMS columns (rows, order, lumisections missing on either
side, several runs), against the session's dials-local (synthetic OMS records)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from client_support import JETMET_DATASET, JETMET_RUNS

from cmsdials import Dials
from cmsdials.filters import LumisectionHistogram1DFilters, OMSFilter
from cmsdials.oms import (
    MATCH,
    MissingLumisectionsError,
    MissingLumisectionsWarning,
    OMSClient,
    frame,
    join,
)

RUNS = sorted(JETMET_RUNS)


@pytest.fixture
def oms(jetmet: Dials) -> Iterator[OMSClient]:
    """``dials.oms`` once the facade builds an OMSClient; until then one on its transport."""
    if isinstance(jetmet.oms, OMSClient):
        yield jetmet.oms
        return
    yield OMSClient(jetmet.oms._transport)


def raw_lumisections(oms: OMSClient, run: int) -> list[dict[str, Any]]:
    """The records of one run in one big page (what the walks must reassemble)."""
    page = [OMSFilter(attribute_name="run_number", value=run, operator="EQ")]
    document = oms.query("lumisections", page, params={"page[limit]": "100000"})
    records: list[dict[str, Any]] = document["data"]
    assert document["meta"]["totalResourceCount"] == len(records) > 20
    return records


def test_query_all_walks_every_page_into_flat_columns(oms: OMSClient) -> None:
    run = RUNS[0]
    records = raw_lumisections(oms, run)
    filters = [OMSFilter(attribute_name="run_number", value=run, operator="EQ")]
    result = oms.query_all("lumisections", filters, page_size=7)  # several pages
    assert len(result) == len(records)
    assert result["lumisection_number"].tolist() == [
        r["attributes"]["lumisection_number"] for r in records
    ]
    assert list(result.columns) == list(records[0]["attributes"])
    assert result["pileup"].dtype == np.float64
    assert result.attrs["ids"] == [r["id"] for r in records]
    stable = oms.query_all(
        "lumisections",
        [*filters, OMSFilter(attribute_name="beams_stable", value="true", operator="EQ")],
        page_size=5,
    )
    assert 0 < len(stable) < len(records) and stable["beams_stable"].all()


def test_frame_flattens_value_and_units_objects() -> None:
    document = {
        "data": [
            {
                "id": "1",
                "attributes": {
                    "run_number": 1,
                    "lumi": {"value": 0.5, "units": "pb"},
                    "beam": {"energy": 6800, "kind": "p"},
                },
            },
            {
                "id": "2",
                "attributes": {
                    "run_number": 2,
                    "lumi": {"value": None, "units": "pb"},
                    "extra": [1, 2],
                },
            },
        ],
        "meta": {"totalResourceCount": 2},
    }
    result = frame(document)
    assert list(result.columns) == ["run_number", "lumi", "beam.energy", "beam.kind", "extra"]
    assert result["lumi"].tolist()[0] == 0.5 and pd.isna(result["lumi"].tolist()[1])
    assert result.attrs["units"] == {"lumi": "pb"}
    assert result["extra"].tolist()[1] == [1, 2] and pd.isna(result["beam.kind"].iloc[1])


def test_lumisections_of_several_runs_are_keyed_by_run_and_ls(oms: OMSClient) -> None:
    result = oms.lumisections([RUNS[1], RUNS[0], RUNS[1]], page_size=50)
    assert result.index.names == ["run_number", "ls_number"]
    expected = [
        (run, r["attributes"]["lumisection_number"])
        for run in RUNS[:2]
        for r in raw_lumisections(oms, run)
    ]
    assert list(result.index) == sorted(expected)
    assert result.index.is_unique and "lumisection_number" not in result.columns
    assert result.attrs["missing_runs"] == []
    one = oms.lumisections(RUNS[0])
    assert one.loc[(RUNS[0], 3), "pileup"] == result.loc[(RUNS[0], 3), "pileup"]
    unknown = oms.lumisections([RUNS[0], 1])
    assert unknown.attrs["missing_runs"] == [1] and len(unknown) == len(one)


def histogram_rows(jetmet: Dials) -> Any:
    """th1 rows of one ME of the JetMET dataset in the runs of :data:`RUNS` (a results
    object; the runs between them too)."""
    first = jetmet.h1d.list(LumisectionHistogram1DFilters(dataset_id=JETMET_DATASET))
    me = first.results[0].me
    filters = LumisectionHistogram1DFilters(
        dataset_id=JETMET_DATASET, me=me, run_number__gte=RUNS[0], run_number__lte=RUNS[-1]
    )
    rows = jetmet.h1d.list_all(filters)
    assert len({row.run_number for row in rows.results}) >= 2  # several runs
    return rows


def runs_of(histograms: pd.DataFrame) -> list[int]:
    return sorted(set(histograms["run_number"].tolist()))


def test_join_puts_oms_columns_beside_each_histogram_row(jetmet: Dials, oms: OMSClient) -> None:
    rows = histogram_rows(jetmet)
    histograms = rows.to_pandas()
    lumis = oms.lumisections(runs_of(histograms))
    joined = join(rows, lumis)
    n = len(histograms)
    present = set(zip(histograms["run_number"], histograms["ls_number"]))
    # histogram rows first, in their order, then OMS lumisections without histograms
    assert joined.iloc[:n]["ls_number"].tolist() == histograms["ls_number"].tolist()
    assert joined.iloc[:n]["run_number"].tolist() == histograms["run_number"].tolist()
    assert list(joined.index) == list(range(len(joined)))
    assert len(joined) == n + len(set(lumis.index) - present)
    assert set(joined[MATCH].iloc[:n]) == {"both"}
    for k in (0, n // 2, n - 1):
        key = (histograms["run_number"].iloc[k], histograms["ls_number"].iloc[k])
        assert joined["pileup"].iloc[k] == lumis.loc[key, "pileup"]
        assert np.array_equal(joined["data"].iloc[k], histograms["data"].iloc[k])
    tail = joined.iloc[n:]
    assert (tail[MATCH] == "no_histograms").all() and tail["data"].isna().all()
    assert list(zip(tail["run_number"], tail["ls_number"])) == sorted(set(lumis.index) - present)
    # a HistogramArray: row k of the frame describes array.data[k]
    array = rows.to_numpy()
    from_array = join(array, lumis)
    assert len(array) == n and len(from_array) == len(joined)
    assert from_array["pileup"].iloc[:n].tolist() == joined["pileup"].iloc[:n].tolist()
    assert from_array["me_id"].iloc[:n].tolist() == array.me_id.tolist()


def test_lumisections_missing_on_either_side_are_explicit(jetmet: Dials, oms: OMSClient) -> None:
    histograms = histogram_rows(jetmet).to_pandas()
    lumis = oms.lumisections(runs_of(histograms))
    keys = list(zip(histograms["run_number"], histograms["ls_number"]))
    dropped = keys[len(keys) // 2]  # a lumisection OMS "does not know"
    partial = lumis.drop(index=dropped)
    extra = (RUNS[0], 10_000)  # one OMS knows and no histogram has
    copied = partial.iloc[[0]].copy()
    copied.index = pd.MultiIndex.from_tuples([extra], names=partial.index.names)
    partial = pd.concat([partial, copied])
    joined = join(histograms, partial)
    mine = (joined["run_number"] == dropped[0]) & (joined["ls_number"] == dropped[1])
    assert mine.sum() == keys.count(dropped) and (joined.loc[mine, MATCH] == "no_oms").all()
    assert joined.loc[mine, "pileup"].isna().all()
    last = joined.iloc[-1]
    assert (last["run_number"], last["ls_number"], last[MATCH]) == (*extra, "no_histograms")
    with pytest.warns(MissingLumisectionsWarning, match=rf"\({RUNS[0]}, 10000\)"):
        left = join(histograms, partial, how="left")
    assert len(left) == len(histograms) and (left[MATCH] == "no_oms").sum() == mine.sum()
    with pytest.warns(MissingLumisectionsWarning, match="without OMS records.*10000"):
        inner = join(histograms, partial, how="inner")
    assert len(inner) == len(histograms) - mine.sum() and (inner[MATCH] == "both").all()
    with pytest.raises(
        MissingLumisectionsError, match=rf"1 without OMS records: \({dropped[0]}, {dropped[1]}\)"
    ):
        join(histograms, partial, how="strict")
    with pytest.raises(ValueError, match="how must be one of"):
        join(histograms, partial, how="right")
    with pytest.raises(ValueError, match="no run_number or ls_number"):
        join(histograms, pd.DataFrame({"pileup": [1.0]}))
