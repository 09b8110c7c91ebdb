"""The monitoring elements (MEs) of each workspace and their ``me_id`` assignment.

The ME names and dims come from ``monitoring_elements.json`` (shipped in this package,
CONTRACT §11.6): every ``cmssw_per_ls_candidate`` / ``known_me`` record with dim 1 or 2,
plus the jetmet ML model targets that the CMSSW list lacks.  Records with dim ``null``
(TProfiles, unknown types) are skipped: the real ETL would never ingest them.

``me_id`` values are per-workspace serials in the real service (assigned in ingestion
order, unknown to us).  We assign them in a fixed, documented order that makes the ids
used by the client documentation exist (tracker: 1 and 96 are 1-D, 100 is 2-D):

1. MEs of the workspace's original selection before the ``late`` additions (tracker: the
   explicit ``Tracking/...`` names come last);
2. within that, 1-D before 2-D (a DQMIO file lists its TH1 trees before its TH2 trees);
3. within that, the ME the client README uses first, then ``monitoring_elements.json`` order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from dials_local.workspaces import WORKSPACES

#: Name prefixes that sort after the rest of a workspace's MEs (see module docstring).
LATE_PREFIXES: dict[str, tuple[str, ...]] = {"tracker": ("Tracking/",)}

_INGESTED_KINDS = ("cmssw_per_ls_candidate", "known_me")


@dataclass(frozen=True)
class MEDef:
    """One monitoring element of a workspace."""

    me_id: int
    name: str
    dim: int


@cache
def monitoring_elements() -> dict[str, Any]:
    """The parsed ``monitoring_elements.json`` shipped with the package."""
    text = resources.files("dials_local.data").joinpath("monitoring_elements.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def primary_dataset_patterns(workspace: str) -> list[str]:
    """DBS patterns (``/ZeroBias/*Run202*/DQMIO``) of the datasets ``workspace`` ingests."""
    spec = monitoring_elements()["workspaces"][workspace]
    return [entry["dbs_pattern"] for entry in spec["primary_datasets"]]


def ml_model_targets(workspace: str) -> list[dict[str, Any]]:
    """ML model target MEs registered for ``workspace`` (only jetmet has any)."""
    targets: list[dict[str, Any]] = monitoring_elements()["ml_model_targets"].get(workspace, [])
    return targets


@cache
def workspace_mes(workspace: str) -> tuple[MEDef, ...]:
    """The MEs of ``workspace`` with their ``me_id`` (1..N), ordered by ``me_id``."""
    if workspace not in WORKSPACES:
        raise ValueError(f"unknown workspace {workspace!r}; valid: {', '.join(WORKSPACES)}")
    records = [
        m
        for m in monitoring_elements()["mes"]
        if m["workspace"] == workspace and m["kind"] in _INGESTED_KINDS and m["dim"] in (1, 2)
    ]
    known = {m["me"] for m in records}
    for target in ml_model_targets(workspace):
        if target["me"] not in known and target["dim"] in (1, 2):
            records.append({"me": target["me"], "dim": target["dim"], "dim_basis": None})
            known.add(target["me"])
    late = LATE_PREFIXES.get(workspace, ())

    def order(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int, int]:
        position, record = item
        is_late = int(record["me"].startswith(late)) if late else 0
        documented = 0 if record.get("dim_basis") == "dials-py-docs" else 1
        return (is_late, record["dim"], documented, position)

    ordered = [record for _, record in sorted(enumerate(records), key=order)]
    return tuple(
        MEDef(me_id=i, name=record["me"], dim=int(record["dim"]))
        for i, record in enumerate(ordered, start=1)
    )


def me_by_name(workspace: str) -> dict[str, MEDef]:
    """``workspace_mes`` keyed by ME name."""
    return {me.name: me for me in workspace_mes(workspace)}
