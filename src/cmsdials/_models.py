"""Row models of the DIALS data routes (CONTRACT §7) and their page containers.

Models ignore unknown keys (the server may add fields) and accept both generations of
the API where they differ (CONTRACT §0.3, §7.8, §7.9): fields that only one generation
sends are optional, and the equivalent fields are filled from each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from cmsdials._results import Paginated

__all__ = [
    "DatasetIndex",
    "FileIndex",
    "Lumisection",
    "LumisectionHistogram1D",
    "LumisectionHistogram2D",
    "MLBadLumisection",
    "MLModelsIndex",
    "MonitoringElement",
    "OMSFilter",
    "OMSPage",
    "PaginatedDatasetIndexList",
    "PaginatedFileIndexList",
    "PaginatedLumisectionHistogram1DList",
    "PaginatedLumisectionHistogram2DList",
    "PaginatedLumisectionList",
    "PaginatedMLBadLumisectionList",
    "PaginatedMLModelsIndexList",
    "PaginatedRunList",
    "Row",
    "Run",
]


class Row(BaseModel):
    """Base of the row models: unknown keys are ignored, not errors."""

    model_config = ConfigDict(extra="ignore", defer_build=True, protected_namespaces=())


class DatasetIndex(Row):
    """A DQMIO dataset known to DIALS (``dataset-index/``)."""

    dataset_id: int
    dataset: str
    era: str
    data_tier: str
    primary_ds_name: str
    processed_ds_name: str
    processing_version: int
    last_modification_date: datetime


class FileIndex(Row):
    """A DQMIO file of a dataset and its ingestion status (``file-index/``)."""

    dataset_id: int
    dataset: str
    file_id: int
    file_size: int
    creation_date: datetime
    last_modification_date: datetime
    logical_file_name: str
    status: str
    err_trace: str | None = None


class Run(Row):
    """A run of a dataset (``run/``).

    ``ls_completeness`` is only sent by the newer DIALS (CONTRACT §7.3); it is ``None``
    when the server does not send it.
    """

    dataset_id: int
    dataset: str
    run_number: int
    ls_count: int
    ls_completeness: float | None = None


class Lumisection(Row):
    """A lumisection of a run, with the number of ingested MEs (``lumisection/``)."""

    dataset_id: int
    dataset: str
    run_number: int
    ls_number: int
    th1_count: int
    th2_count: int


class _Histogram(Row):
    """What every histogram row starts with: where it comes from and its x axis.

    ``entries`` and ``data`` are declared by each dimension, after its own axes: pydantic
    orders fields base first, and the column order of ``model_dump()`` and ``to_pandas()``
    (``..., x_bin, y_min, y_max, y_bin, entries, data`` for 2-D) is cmsdials 2.4.1's.
    """

    dataset_id: int
    dataset: str
    me: str
    file_id: int
    run_number: int
    ls_number: int
    me_id: int
    x_min: float
    x_max: float
    x_bin: int


class LumisectionHistogram1D(_Histogram):
    """A 1-D histogram of one ME in one lumisection (``th1/``).

    ``data`` holds the contents of bins 1..``x_bin`` (no under/overflow); ``x_bin`` is the
    number of bins, ``x_min``/``x_max`` the outer edges (uniform binning).
    """

    entries: int
    data: list[float]


class LumisectionHistogram2D(_Histogram):
    """A 2-D histogram of one ME in one lumisection (``th2/``).

    ``data[iy][ix]`` is the content of bin (x = ix + 1, y = iy + 1): ``y_bin`` rows of
    ``x_bin`` values each (CONTRACT §7.6).
    """

    y_min: float
    y_max: float
    y_bin: int
    entries: int
    data: list[list[float]]


class MonitoringElement(Row):
    """A monitoring element ingested in the workspace (``mes/``)."""

    me_id: int
    me: str
    count: int
    dim: int


class MLModelsIndex(Row):
    """An ML model of the workspace (``ml-models-index/``).

    Accepts both generations: the original shape (``model_id``, ``filename``,
    ``target_me``, ``active``) and the newer one (``id``, ``name``, ``revision``, ...).
    ``id`` and ``model_id`` always both hold the model's id.

    Fields are in cmsdials 2.4.1's order (the newer shape), then the original
    generation's; ``to_pandas`` columns follow it.
    """

    # Newer generation (the fields of cmsdials 2.4.1's model, in its order)
    id: int | None = None
    name: str | None = None
    revision: int | None = None
    ready: bool | None = None
    active: bool  # both generations
    type: str | None = None
    anomaly_threshold: float | None = None
    builtin_threshold: bool | None = None
    description: str | None = None
    flagging_key: str | None = None
    input_signature: list[dict[str, Any]] | None = None
    metric_key: str | None = None
    output_signature: list[dict[str, Any]] | None = None
    tags: list[dict[str, Any]] | None = None
    isvc_service_name: str | None = None
    isvc_yaml: str | None = None
    created_by: str | None = None
    modified_by: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    # Original generation (DIALS 1.x); dials-local sends both (CONTRACT §7.8)
    model_id: int | None = None
    filename: str | None = None
    target_me: str | None = None

    @model_validator(mode="after")
    def _same_id(self) -> MLModelsIndex:
        if self.id is None and self.model_id is None:
            raise ValueError("an ML model needs 'id' or 'model_id'")
        if self.id is None:
            self.id = self.model_id
        elif self.model_id is None:
            self.model_id = self.id
        return self


class MLBadLumisection(Row):
    """A lumisection an ML model flagged as anomalous (``ml-bad-lumisection/``).

    Accepts both generations: ``file_id``/``me_id``/``mse`` (original) and
    ``metric_value`` (newer); ``mse`` and ``metric_value`` are filled from each other.
    Fields are in cmsdials 2.4.1's order, then the original generation's.
    """

    model_id: int
    dataset_id: int
    run_number: int
    ls_number: int
    metric_value: float | None = None
    # Original generation; dials-local sends both (CONTRACT §7.9)
    file_id: int | None = None
    me_id: int | None = None
    mse: float | None = None

    @model_validator(mode="after")
    def _same_metric(self) -> MLBadLumisection:
        if self.metric_value is None:
            self.metric_value = self.mse
        elif self.mse is None:
            self.mse = self.metric_value
        return self


class OMSFilter(BaseModel):
    """One OMS filter, sent as ``filter[<attribute_name>][<operator>]=<value>``."""

    attribute_name: str
    value: str | int | float
    operator: Literal["EQ", "NEQ", "LT", "GT", "LE", "GE", "LIKE", "CT"] = "EQ"


class OMSPage(BaseModel):
    """One OMS paging parameter, sent as ``page[<attribute_name>]=<value>``.

    E.g. ``OMSPage(attribute_name="limit", value=5000)``.
    """

    attribute_name: str
    value: int


class PaginatedDatasetIndexList(Paginated[DatasetIndex]):
    """Page(s) of ``dataset-index/``."""


class PaginatedFileIndexList(Paginated[FileIndex]):
    """Page(s) of ``file-index/``."""


class PaginatedRunList(Paginated[Run]):
    """Page(s) of ``run/``."""


class PaginatedLumisectionList(Paginated[Lumisection]):
    """Page(s) of ``lumisection/``."""


class PaginatedLumisectionHistogram1DList(Paginated[LumisectionHistogram1D]):
    """Page(s) of ``th1/``."""


class PaginatedLumisectionHistogram2DList(Paginated[LumisectionHistogram2D]):
    """Page(s) of ``th2/``."""


class PaginatedMLModelsIndexList(Paginated[MLModelsIndex]):
    """Page(s) of ``ml-models-index/``."""


class PaginatedMLBadLumisectionList(Paginated[MLBadLumisection]):
    """Page(s) of ``ml-bad-lumisection/``."""
