"""DQMIO files of each dataset: ids, LFNs, sizes, dates, which lumisections they hold.

Files are global (the same DBS records in every workspace).  A small fraction fails in
ingestion (``FILE_NOT_AVAILABLE``, ``COPY_ERROR``, ``ROOTFILE_ERROR``, ``PARSING_ERROR``,
with the ETL's traceback); their lumisections are missing from DIALS, which leaves gaps in
runs and ``ls_completeness`` below 1.  Files holding lumisections that documented examples
read (``SizePlan.pinned_ls``) never fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from dials_local.data.names import (
    FAILURE_TRACES,
    failure_trace,
    file_id_estimate,
    from_epoch,
    logical_file_name,
    utc,
    uuid_name,
)
from dials_local.data.plan import DatasetSpec, SizePlan
from dials_local.data.runs import RunConditions


@dataclass(frozen=True)
class DQMIOFile:
    """One file of one dataset, holding lumisections ``first_ls..last_ls`` of one run."""

    dataset_id: int
    file_id: int
    run_number: int
    first_ls: int
    last_ls: int
    logical_file_name: str
    file_size: int
    created: datetime
    failure: str | None  # ingestion failure status, or None when it ingests fine

    @property
    def err_trace(self) -> str | None:
        return failure_trace(self.failure, self.logical_file_name) if self.failure else None


#: The file the client documentation fetches (real DBS record, etl/mocks/dbs.json).
PINNED_FILE = {
    "dataset": "/ZeroBias/Run2023C-PromptReco-v1/DQMIO",
    "run_number": 367112,
    "file_id": 3393809397,
    "file_size": 423578592,
    "created": 1683672054,
    "logical_file_name": (
        "/store/data/Run2023C/ZeroBias/DQMIO/PromptReco-v1/000/367/112/00000/"
        "D878867F-54B6-4353-9067-9A5218FF785F.root"
    ),
}

_DELAY = {"Express": timedelta(hours=1, minutes=40), "PromptReco": timedelta(hours=48)}


def _creation_time(dataset: DatasetSpec, run: RunConditions, block: int) -> datetime:
    if dataset.name.user is not None:
        return utc("2024-06-20T16:48:21") + timedelta(minutes=7 * block + run.run_number % 97)
    kind = "Express" if dataset.name.is_express else "PromptReco"
    return run.end_time + _DELAY[kind] + timedelta(minutes=11 * block, seconds=run.run_number % 59)


def dataset_files(
    plan: SizePlan,
    dataset: DatasetSpec,
    conditions: dict[int, RunConditions],
    seed: int,
    used_ids: set[int],
) -> list[DQMIOFile]:
    """All files of ``dataset`` (every run it covers), in (run, first lumisection) order.

    ``used_ids`` collects file ids across datasets so that none repeats.
    """
    files = []
    counter = 0
    for run_number in dataset.runs:
        run = conditions[run_number]
        rng = np.random.default_rng([seed, 404, dataset.dataset_id, run_number])
        first, block = 1, 0
        while first <= run.n_ls:
            length = int(rng.integers(plan.ls_per_file[0], plan.ls_per_file[1] + 1))
            last = min(run.n_ls, first + length - 1)
            if run.n_ls - last < plan.ls_per_file[0] // 2:
                last = run.n_ls  # no tiny file at the end of a run
            created = _creation_time(dataset, run, block)
            counter += 1
            uuid = uuid_name(rng)
            lfn = logical_file_name(dataset.name, run_number, uuid, counter)
            size = int((last - first + 1) * rng.uniform(1.5e6, 4.0e6))
            failure = None
            pinned = any(plan.is_pinned(run_number, ls) for ls in range(first, last + 1))
            if not pinned and rng.random() < plan.failed_file_fraction:
                failure = str(rng.choice(sorted(FAILURE_TRACES)))
            if (
                dataset.name.name == PINNED_FILE["dataset"]
                and run_number == PINNED_FILE["run_number"]
                and block == 0
            ):
                file_id = int(PINNED_FILE["file_id"])  # type: ignore[call-overload]
                lfn = str(PINNED_FILE["logical_file_name"])
                size = int(PINNED_FILE["file_size"])  # type: ignore[call-overload]
                created = from_epoch(int(PINNED_FILE["created"]))  # type: ignore[call-overload]
            else:
                file_id = file_id_estimate(created, user_instance=dataset.name.user is not None)
                while file_id in used_ids or file_id == PINNED_FILE["file_id"]:
                    file_id += 40
            used_ids.add(file_id)
            files.append(
                DQMIOFile(
                    dataset_id=dataset.dataset_id,
                    file_id=file_id,
                    run_number=run_number,
                    first_ls=first,
                    last_ls=last,
                    logical_file_name=lfn,
                    file_size=size,
                    created=created,
                    failure=failure,
                )
            )
            first, block = last + 1, block + 1
    return files


def all_files(
    plan: SizePlan, conditions: dict[int, RunConditions], seed: int
) -> dict[str, list[DQMIOFile]]:
    """Files of every dataset of the plan, keyed by dataset key (deterministic order)."""
    used: set[int] = set()
    return {
        key: dataset_files(plan, dataset, conditions, seed, used)
        for key, dataset in plan.datasets.items()
    }
