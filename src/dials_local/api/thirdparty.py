"""``caf/`` and ``brilws/brilcalc-lumi/`` (CONTRACT §7.11) from loaded and synthetic data.

DIALS scrapes the CMS certification area and runs ``brilcalc lumi`` on lxplus; here both
answer from what the operator loaded (:mod:`dials_local.cli_load`) and from the synthetic
data set (:mod:`dials_local.data.thirdparty_demo`), in the real service's shapes.  Input
the real service answers with 500 (an unknown ``kind``, a missing ``class_name``, a
brilcalc error) is a 400 naming what is valid here: dials-local never answers 5xx to
input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from starlette.responses import Response

from dials_local.api.context import Call, ErrorAnswer
from dials_local.data.certification import (
    KINDS,
    CertificationFile,
    LumiRow,
    stored_class_names,
    stored_files,
    stored_lumi,
    stored_lumi_runs,
)
from dials_local.data.thirdparty_demo import demo_data
from dials_local.render import json_response

CAF_PARAMS = ("class_name", "kind")
BRILWS_PARAMS = (
    "brilws_version",
    "connect",
    "fillnum",
    "runnumber",
    "beamstatus",
    "unit",
    "amodetag",
    "normtag",
    "begin",
    "end",
    "byls",
    "scope",
)

CAF_NOT_FOUND = "CAF entry for given class_name and kind could not be found"

#: Integrated-luminosity units brilcalc's ``-u`` takes, as multiples of /ub.
UNITS = {"/mb": 1e-3, "/ub": 1.0, "/nb": 1e3, "/pb": 1e6, "/fb": 1e9, "/ab": 1e12}
BEAM_STATUSES = ("STABLE BEAMS", "FLAT TOP", "SQUEEZE", "ADJUST", "BEAM DUMP")
#: ``--amodetag``: the beam type it selects.
AMODETAGS = {"PROTPHYS": 6800, "IONPHYS": 5360}
BRILCALC_TIME = "%m/%d/%y %H:%M:%S"
_TRUE = ("true", "1", "t", "yes", "y")


def _text(call: Call, name: str) -> str | None:
    value = call.params.get(name)
    return None if value is None else str(value)


# ----------------------------------------------------------------------------------- caf


def caf(call: Call) -> Response:
    """The latest file of ``class_name`` and ``kind``: loaded or synthetic."""
    class_name, kind = _text(call, "class_name"), _text(call, "kind")
    if kind not in KINDS:
        problem = "kind is required" if kind is None else f"{kind!r} is not a valid kind"
        raise ErrorAnswer(400, {"kind": [f"{problem}: choose one of {', '.join(KINDS)}"]})
    if not class_name:
        raise ErrorAnswer(
            400, {"class_name": ["class_name is required, e.g. Collisions24 (a CAF folder)"]}
        )
    engine = call.database.service_engine()
    candidates = stored_files(engine, class_name, kind)
    demo = demo_data(call.database)
    if demo is not None and (class_name, kind) in demo.files:
        candidates.append(demo.files[class_name, kind])
    if not candidates:
        known = set(stored_class_names(engine, kind))
        if demo is not None:
            known |= {name for name, of_kind in demo.files if of_kind == kind}
        raise ErrorAnswer(404, {"detail": CAF_NOT_FOUND, "available": sorted(known)})
    # The real service sorts the listing by its "YYYY-MM-DD HH:MM" text: the same order.
    latest: CertificationFile = max(candidates, key=lambda f: (f.last_modified, f.name))
    return json_response(latest.answer())


# ------------------------------------------------------------------------------- brilws


def _int_param(call: Call, name: str) -> int | None:
    text = _text(call, name)
    if text is None or not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise ErrorAnswer(400, {name: [f"{name} must be an integer, got {text!r}"]}) from None
    if not 0 < value < 2**31:
        raise ErrorAnswer(400, {name: [f"{name} must be a positive 32-bit integer"]})
    return value


Bound = Callable[[LumiRow], bool]


def _bound(call: Call, name: str) -> Bound | None:
    """``begin``/``end``: a run number (6 digits or more), a fill number, or a time
    ``mm/dd/yy HH:MM:SS`` (UTC), as brilcalc reads them; ``None`` when not given."""
    text = (_text(call, name) or "").strip()
    if not text:
        return None
    after = name == "begin"
    if text.isdigit() and len(text) < 11:
        number = int(text)
        if len(text) >= 6:
            return (
                (lambda r: r.run_number >= number) if after else (lambda r: r.run_number <= number)
            )
        return (lambda r: r.fill_number >= number) if after else (lambda r: r.fill_number <= number)
    try:
        moment = dt.datetime.strptime(text, BRILCALC_TIME)
    except ValueError:
        raise ErrorAnswer(
            400,
            {name: [f"{name} must be a run number, a fill number or a time mm/dd/yy HH:MM:SS, "
                    f"got {text!r}"]},
        ) from None  # fmt: skip
    return (lambda r: r.time >= moment) if after else (lambda r: r.time <= moment)


def _choice(call: Call, name: str, valid: Iterable[str], default: str | None) -> str | None:
    text = _text(call, name)
    if text is None or not text.strip():
        return default
    options = list(valid)
    wanted = text.strip()
    for option in options:
        if option.lower() == wanted.lower():
            return option
    raise ErrorAnswer(400, {name: [f"{wanted!r} is not valid: choose one of {', '.join(options)}"]})


def _selection(call: Call) -> list[Bound]:
    tests: list[Bound] = []
    run, fill = _int_param(call, "runnumber"), _int_param(call, "fillnum")
    if run is not None:
        tests.append(lambda r: r.run_number == run)
    if fill is not None:
        tests.append(lambda r: r.fill_number == fill)
    for name in ("begin", "end"):
        bound = _bound(call, name)
        if bound is not None:
            tests.append(bound)
    if not tests:
        raise ErrorAnswer(
            400,
            {"detail": "Select lumisections with runnumber, fillnum, or begin/end "
             "(brilcalc lumi needs one of -r, -f, --begin)."},
        )  # fmt: skip
    status = _choice(call, "beamstatus", BEAM_STATUSES, None)
    if status is not None:
        tests.append(lambda r: r.beamstatus == status)
    amodetag = _choice(call, "amodetag", AMODETAGS, None)
    if amodetag is not None:
        energy = AMODETAGS[amodetag]
        tests.append(lambda r: r.energy_gev == energy)
    return tests


def _rows(call: Call, tests: list[Bound]) -> list[LumiRow]:
    """Matching rows, loaded runs replacing synthetic ones, by run and lumisection."""
    engine = call.database.service_engine()
    loaded = stored_lumi_runs(engine)
    found = [row for row in stored_lumi(engine) if all(test(row) for test in tests)]
    demo = demo_data(call.database)
    if demo is not None:
        # Rows are built per run: skip the runs that runnumber / fillnum already exclude.
        run, fill = _int_param(call, "runnumber"), _int_param(call, "fillnum")
        runs = [
            number
            for number, conditions in demo.conditions.items()
            if number not in loaded
            and run in (None, number)
            and fill in (None, conditions.fill_number)
        ]
        found += [row for row in demo.lumi_rows(runs) if all(test(row) for test in tests)]
    found.sort(key=lambda row: (row.run_number, row.ls_number))
    return found


def _by_run(rows: list[LumiRow], unit: str, scale: float) -> list[dict[str, Any]]:
    runs: dict[int, list[LumiRow]] = {}
    for row in rows:
        runs.setdefault(row.run_number, []).append(row)
    return [
        {
            "time": group[0].time.strftime(BRILCALC_TIME),
            "nls": str(len(group)),
            "ncms": str(sum(1 for row in group if row.cms_ls)),
            f"delivered({unit})": sum(row.delivered_ub for row in group) / scale,
            f"recorded({unit})": sum(row.recorded_ub for row in group) / scale,
            "run": run,
            "fill": group[0].fill_number,
        }
        for run, group in runs.items()
    ]


def _by_ls(rows: list[LumiRow], unit: str, scale: float) -> list[dict[str, Any]]:
    return [
        {
            "ls": f"{row.ls_number}:{row.cms_ls}",
            "time": row.time.strftime(BRILCALC_TIME),
            "beamstatus": row.beamstatus,
            "E(GeV)": row.energy_gev,
            f"delivered({unit})": row.delivered_ub / scale,
            f"recorded({unit})": row.recorded_ub / scale,
            "avgpu": row.avgpu,
            "source": row.source,
            "run": row.run_number,
            "fill": row.fill_number,
        }
        for row in rows
    ]


def brilcalc_lumi(call: Call) -> Response:
    """``brilcalc lumi`` over the known lumisections: ``detailed`` and ``summary``."""
    tests = _selection(call)
    unit = _choice(call, "unit", UNITS, "/ub")
    assert unit is not None
    scale = UNITS[unit]
    byls = (_text(call, "byls") or "False").lower() in _TRUE
    rows = _rows(call, tests)
    detailed = _by_ls(rows, unit, scale) if byls else _by_run(rows, unit, scale)
    summary = {
        "nfill": len({row.fill_number for row in rows}),
        "nrun": len({row.run_number for row in rows}),
        "nls": len(rows),
        "ncms": sum(1 for row in rows if row.cms_ls),
        f"totdelivered({unit})": sum(row.delivered_ub for row in rows) / scale,
        f"totrecorded({unit})": sum(row.recorded_ub for row in rows) / scale,
    }
    scope = _text(call, "scope") or "all"
    # As the real view: "detailed" or "summary" alone, anything else both.
    if scope == "detailed":
        return json_response(detailed)
    if scope == "summary":
        return json_response(summary)
    return json_response({"detailed": detailed, "summary": summary})
