"""CMS-like names and ids: eras, DBS dataset names and ids, file ids, LFNs, tracebacks.

Everything here is a pure function of its arguments so that the generator stays
deterministic.  The patterns follow real DBS records (the DIALS ETL's ``etl/mocks/dbs.json``):
file ids of the global DBS instance are ``40 k + 37`` and grow with creation time, LFNs
look like ``/store/data/Run2024F/EGamma0/DQMIO/PromptReco-v1/000/382/255/00000/<UUID>.root``.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np


def utc(text: str) -> datetime:
    """A naive UTC datetime from ``YYYY-MM-DD[THH:MM[:SS]]`` (the database convention)."""
    return datetime.fromisoformat(text)


def epoch(moment: datetime) -> int:
    """Seconds since 1970 of a naive UTC datetime."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def from_epoch(seconds: float) -> datetime:
    """Naive UTC datetime of an epoch time (whole seconds)."""
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).replace(tzinfo=None)


def stable_hash(*parts: object) -> int:
    """A 32-bit hash that, unlike ``hash()``, is the same in every process."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode())


@dataclass(frozen=True)
class Era:
    """An LHC data-taking era: run range, calendar span, fills and beam type."""

    name: str
    first_run: int
    last_run: int
    start: datetime
    end: datetime
    first_fill: int
    last_fill: int
    beam: str  # "pp" or "HI"

    @property
    def year(self) -> int:
        return self.start.year

    def run_start(self, run_number: int) -> datetime:
        """Start time of a run: runs are spread linearly over the era."""
        fraction = (run_number - self.first_run) / max(1, self.last_run - self.first_run)
        seconds = (self.end - self.start).total_seconds() * fraction
        return self.start + timedelta(seconds=int(seconds))

    def fill(self, run_number: int) -> int:
        fraction = (run_number - self.first_run) / max(1, self.last_run - self.first_run)
        return self.first_fill + round(fraction * (self.last_fill - self.first_fill))


#: Eras with approximately real run ranges, dates and fill numbers.
ERAS: dict[str, Era] = {
    era.name: era
    for era in [
        Era("Run2022F", 360390, 362167, utc("2022-09-27"), utc("2022-11-01"), 8207, 8330, "pp"),
        Era("Run2022G", 362433, 362760, utc("2022-11-10"), utc("2022-11-28"), 8383, 8496, "pp"),
        Era("Run2023C", 367080, 369802, utc("2023-05-08"), utc("2023-07-17"), 8754, 9036, "pp"),
        Era("HIRun2023A", 374719, 375900, utc("2023-09-26"), utc("2023-10-30"), 9198, 9267, "HI"),
        Era("Run2024B", 378985, 379411, utc("2024-04-12"), utc("2024-04-19"), 9490, 9524, "pp"),
        Era("Run2024C", 379412, 380252, utc("2024-04-19"), utc("2024-05-07"), 9525, 9591, "pp"),
        Era("Run2024F", 381944, 383779, utc("2024-06-20"), utc("2024-07-27"), 9689, 9900, "pp"),
        Era("Run2024G", 383780, 385813, utc("2024-07-27"), utc("2024-09-02"), 9901, 10108, "pp"),
        Era("Run2024I", 386409, 386951, utc("2024-09-25"), utc("2024-10-28"), 10182, 10298, "pp"),
    ]
}


def era_of_run(run_number: int) -> Era:
    for era in ERAS.values():
        if era.first_run <= run_number <= era.last_run:
            return era
    raise ValueError(f"run {run_number} is in no known era")


@dataclass(frozen=True)
class DatasetName:
    """The parts of a DBS dataset name ``/<primary>/<processed>/<tier>``."""

    primary: str
    era: str
    processing: str  # "PromptReco-v1", "Express-v1", or a USER processed name
    tier: str = "DQMIO"
    user: str | None = None  # owner of a private (phys03, USER tier) dataset

    @property
    def processed(self) -> str:
        if self.user is not None:
            return self.processing
        return f"{self.era}-{self.processing}"

    @property
    def name(self) -> str:
        return f"/{self.primary}/{self.processed}/{self.tier}"

    @property
    def acquisition_era(self) -> str:
        return self.user if self.user is not None else self.era

    @property
    def processing_version(self) -> int:
        tail = self.processing.rsplit("-v", 1)[-1]
        return int(tail) if tail.isdigit() else 1

    @property
    def is_express(self) -> bool:
        return self.processing.startswith("Express")


#: DBS ids the client documentation and tests use (CONTRACT §12.9).
PINNED_DATASET_IDS: dict[str, int] = {
    "/ZeroBias/Run2023C-PromptReco-v1/DQMIO": 14677060,
    "/JetMET0/Run2024G-PromptReco-v1/DQMIO": 15042670,
    "/JetMET0/Run2024I-PromptReco-v1/DQMIO": 15102369,
}

# DBS dataset ids grow with time; these knots are the pinned datasets at their era start.
_DATASET_ID_KNOTS = [
    (epoch(utc("2023-05-08")), 14677060),
    (epoch(utc("2024-07-27")), 15042670),
    (epoch(utc("2024-09-25")), 15102369),
]

# Real (creation time, file id) pairs of the global DBS instance (etl/mocks/dbs.json).
_FILE_ID_KNOTS = [
    (1665092635, 1904540117),
    (1669444656, 2251808277),
    (1674388715, 2369296277),
    (1683672054, 3393809397),
    (1693758811, 5653409757),
    (1698638944, 7680534877),
    (1711084804, 13822664277),
    (1713216156, 14178276197),
    (1719180847, 15540456317),
]


def _interpolate(knots: list[tuple[int, int]], x: int) -> float:
    xs = [k[0] for k in knots]
    i = min(max(bisect.bisect_left(xs, x), 1), len(knots) - 1)
    (x0, y0), (x1, y1) = knots[i - 1], knots[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def dataset_id_estimate(dataset: DatasetName) -> int:
    """A DBS-like 8-digit id for ``dataset`` (pinned ids where the docs use them)."""
    if dataset.name in PINNED_DATASET_IDS:
        return PINNED_DATASET_IDS[dataset.name]
    era = ERAS[dataset.era]
    base = _interpolate(_DATASET_ID_KNOTS, epoch(era.start))
    if dataset.user is not None:
        base += 190_000  # private datasets are registered long after their era
    return int(base) + 37 + stable_hash(dataset.name) % 4000


def file_id_estimate(created: datetime, *, user_instance: bool = False) -> int:
    """A DBS-like file id for a file created at ``created`` (``40 k + 37`` in global DBS)."""
    if user_instance:
        # phys03 ids are a separate, smaller sequence (e.g. 4308797521).
        base = 4_308_000_000 + (epoch(created) - epoch(utc("2024-06-20"))) * 30
        return base - base % 40 + 1
    estimate = int(_interpolate(_FILE_ID_KNOTS, epoch(created)))
    return estimate - estimate % 40 + 37


def uuid_name(rng: np.random.Generator) -> str:
    """An upper-case version-4 UUID like the file names in DQMIO LFNs."""
    raw = bytearray(rng.bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def logical_file_name(dataset: DatasetName, run_number: int, uuid: str, index: int) -> str:
    """The LFN of one DQMIO file of ``dataset`` holding lumisections of ``run_number``."""
    if dataset.user is not None:
        crab = dataset.processing.split("-", 1)[1].rsplit("-", 1)[0]
        task = f"{crab}/240620_164821/0000"
        return f"/store/user/{dataset.user}/{dataset.primary}/{task}/nanodqmio_{index}.root"
    if dataset.is_express:
        area = "express"
    elif dataset.era.startswith("HI"):
        area = "hidata"
    else:
        area = "data"
    run_dir = f"000/{run_number // 1000:03d}/{run_number % 1000:03d}/00000"
    return (
        f"/store/{area}/{dataset.era}/{dataset.primary}/{dataset.tier}/{dataset.processing}/"
        f"{run_dir}/{uuid}.root"
    )


_ETL = "/home/app/etl/python"
_UPROOT = "/usr/local/lib/python3.10/site-packages/uproot/reading.py"


def _traceback(frames: list[tuple[str, int, str, str]], error: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for path, line, function, code in frames:
        lines += [f'  File "{path}", line {line}, in {function}', f"    {code}"]
    return "\n".join([*lines, error]) + "\n"


_DOWNLOADER = f"{_ETL}/pipelines/file_downloader"
_INGESTING = f"{_ETL}/pipelines/file_ingesting"

#: Failure statuses of the ETL file lifecycle (CONTRACT §11.4), with a traceback each.
FAILURE_TRACES: dict[str, str] = {
    "FILE_NOT_AVAILABLE": _traceback(
        [
            (
                f"{_DOWNLOADER}/pipeline.py",
                41,
                "pipeline",
                "download_file(logical_file_name, fpath)",
            ),
            (
                f"{_DOWNLOADER}/utils.py",
                27,
                "download_file",
                "raise FileNotAvailableAtAnySite(lfn)",
            ),
        ],
        "python.pipelines.file_downloader.exceptions.FileNotAvailableAtAnySite: "
        "{lfn} is not available at any site (DBS replicas: 0)",
    ),
    "COPY_ERROR": _traceback(
        [
            (f"{_DOWNLOADER}/pipeline.py", 44, "pipeline", "copy_file(redirector, lfn, fpath)"),
            (f"{_DOWNLOADER}/utils.py", 52, "copy_file", "raise XrdcpError(result.stderr)"),
        ],
        "python.pipelines.file_downloader.exceptions.XrdcpError: "
        "[0B/0B][100%][==================][0B/s]\n"
        "Run: [ERROR] Server responded with an error: [3011] No servers are available to read "
        "the file. (source)",
    ),
    "ROOTFILE_ERROR": _traceback(
        [
            (f"{_INGESTING}/pipeline.py", 63, "pipeline", "reader = DQMIOReader(fpath)"),
            (
                f"{_ETL}/common/dqmio_reader.py",
                38,
                "__init__",
                "self.rootfile = uproot.open(fpath)",
            ),
            (_UPROOT, 141, "open", "file = ReadOnlyFile("),
            (_UPROOT, 585, "__init__", "raise ValueError("),
        ],
        "ValueError: not a ROOT file: first four bytes are b'\\x00\\x00\\x00\\x00'\n"
        "in file /mnt/dqmio/{basename}",
    ),
    "PARSING_ERROR": _traceback(
        [
            (
                f"{_INGESTING}/pipeline.py",
                71,
                "pipeline",
                "ingest_lumisections(reader, ds, file_id)",
            ),
            (
                f"{_INGESTING}/tasks.py",
                112,
                "ingest_lumisections",
                "for run, lumi in reader.lumis():",
            ),
            (
                f"{_ETL}/common/dqmio_reader.py",
                76,
                "list_lumis",
                'indices = self.rootfile["Indices"]',
            ),
            (_UPROOT, 2089, "__getitem__", "raise uproot.KeyInFileError("),
        ],
        "uproot.exceptions.KeyInFileError: not found: 'Indices'\nin file /mnt/dqmio/{basename}",
    ),
}


def failure_trace(status: str, lfn: str) -> str:
    """The ``err_trace`` text the ETL stores for a file that ended in ``status``."""
    text = FAILURE_TRACES[status].format(lfn=lfn, basename=lfn.rsplit("/", 1)[-1])
    return text[:2295]
