"""``ml-bad-lumisection/cert-json/`` and ``golden-json/`` (CONTRACT §7.9.1, §7.9.2).

Both take three integer lists - ``model_id__in``, ``dataset_id__in``, ``run_number__in`` -
as comma-separated query parameters (GET, B112/C150) or as a JSON body (POST, C241; comma
strings accepted too).  Errors are DRF ``ValidationError``s: a 400 whose body is a JSON
array with one message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import select
from starlette.responses import Response

from dials_local.api.context import Call, ErrorAnswer
from dials_local.data.lumi_ranges import ranges
from dials_local.db.schema import (
    INT64_RANGE,
    dim_ml_models_index,
    fact_lumisection,
    fact_ml_bad_lumis,
    integer_range,
)
from dials_local.render import json_response, python_float

PARAMS = ("model_id__in", "dataset_id__in", "run_number__in")

CERT_JSON_ERROR = (
    "dataset_id and run_number must be valid integers and model_ids a valid list of integers"
)
GOLDEN_JSON_ERROR = "dataset_id__in and run_number__in, and model_id__in a valid list of integers"

#: The value range of each input's column (``run_number`` is INTEGER, the ids BIGINT):
#: PostgreSQL casts the values to the column type and fails beyond it.
_RANGES = {
    "model_id__in": integer_range(fact_ml_bad_lumis.c.model_id),
    "dataset_id__in": integer_range(fact_ml_bad_lumis.c.dataset_id),
    "run_number__in": integer_range(fact_ml_bad_lumis.c.run_number),
}


def _int(item: object, bounds: tuple[int, int]) -> int:
    """One list item as an integer within ``bounds`` (ints or digit strings; never
    booleans)."""
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise ValueError(item)
    # 20 characters hold any 64-bit integer; refusing longer strings first keeps int()
    # (quadratic in the length) cheap.
    if isinstance(item, str) and len(item.strip()) > 20:
        raise ValueError(item)
    value = int(item)
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(item)
    return value


def _int_list(value: object, bounds: tuple[int, int] = INT64_RANGE) -> list[int]:
    """A list of integers from ``[1, 2]``, ``["1", "2"]`` or ``"1,2"``; empty items of a
    comma string are dropped; nothing at all is an error (the parameter is required)."""
    if isinstance(value, str):
        items: list[object] = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(value)
    numbers = [_int(item, bounds) for item in items]
    if not numbers:
        raise ValueError(value)
    return numbers


def _inputs(call: Call) -> Mapping[str, object]:
    """The three inputs: query parameters (GET) or the JSON / form body (POST)."""
    if call.request.method != "POST":
        return {name: call.params.get(name) for name in PARAMS}
    content_type = call.request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        body = orjson.loads(call.body) if call.body.strip() else {}
    except orjson.JSONDecodeError:
        raise ErrorAnswer(
            400, {"detail": "JSON parse error - the request body is not JSON."}
        ) from None
    if not isinstance(body, dict):
        return {}
    return body


def _parse(call: Call, message: str) -> tuple[list[int], list[int], list[int]]:
    """Models, datasets and runs; any problem is a 400 ``[message]``."""
    inputs = _inputs(call)
    try:
        models, datasets, runs = (_int_list(inputs.get(name), _RANGES[name]) for name in PARAMS)
    except ValueError:
        raise ErrorAnswer(400, [message]) from None
    return models, datasets, runs


def _unique(values: list[int]) -> list[int]:
    """``values`` without repeats, first occurrence order kept."""
    return list(dict.fromkeys(values))


def cert_json(call: Call) -> Response:
    """Per requested run (request order): LS -> flags of the requested models."""
    models, datasets, runs = _parse(call, CERT_JSON_ERROR)
    bad, model = fact_ml_bad_lumis, dim_ml_models_index
    statement = (
        select(
            bad.c.run_number,
            bad.c.ls_number,
            bad.c.model_id,
            bad.c.me_id,
            model.c.filename,
            model.c.target_me,
            bad.c.mse,
        )
        .select_from(bad.outerjoin(model, model.c.model_id == bad.c.model_id))
        .where(
            bad.c.model_id.in_(models),
            bad.c.dataset_id.in_(datasets),
            bad.c.run_number.in_(runs),
        )
        .order_by(bad.c.run_number, bad.c.ls_number, bad.c.model_id, bad.c.dataset_id, bad.c.me_id)
    )
    result: dict[str, dict[str, list[dict[str, Any]]]] = {str(run): {} for run in _unique(runs)}
    with call.connect() as conn:
        for run, ls, model_id, me_id, filename, target_me, mse in conn.execute(statement):
            flags = result[str(run)].setdefault(str(ls), [])
            value = python_float(mse)
            flags.append(
                {
                    "model_id": model_id,
                    "me_id": me_id,
                    "filename": filename,
                    "me": target_me,  # the model's target ME, not looked up from me_id
                    "mse": value,
                    "metric_value": value,
                }
            )
    return json_response(result)


def golden_json(call: Call) -> Response:
    """Per requested run: the LS ranges no requested model flagged; empty runs omitted."""
    models, datasets, runs = _parse(call, GOLDEN_JSON_ERROR)
    bad, lumis = fact_ml_bad_lumis, fact_lumisection
    with call.connect() as conn:
        flagged = {
            (run, ls)
            for run, ls in conn.execute(
                select(bad.c.run_number, bad.c.ls_number)
                .where(
                    bad.c.model_id.in_(models),
                    bad.c.dataset_id.in_(datasets),
                    bad.c.run_number.in_(runs),
                )
                .distinct()
            )
        }
        known: dict[int, list[int]] = {}
        for run, ls in conn.execute(
            select(lumis.c.run_number, lumis.c.ls_number)
            .where(lumis.c.dataset_id.in_(datasets), lumis.c.run_number.in_(runs))
            .distinct()
            .order_by(lumis.c.run_number, lumis.c.ls_number)
        ):
            known.setdefault(run, []).append(ls)
    result: dict[str, list[list[int]]] = {}
    for run in _unique(runs):
        # Several datasets may list the same LS; it is counted once (CONTRACT §7.9.2
        # allows removing the overlapping pairs the real service emits then).
        good = [ls for ls in known.get(run, []) if (run, ls) not in flagged]
        if good:
            result[str(run)] = ranges(good)
    return json_response(result)
