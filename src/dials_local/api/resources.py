"""The DIALS data resources (CONTRACT §7), one declaration each.

Field order = the DRF serializer's key order; filter order = the filterset's declaration
order (it orders the keys of a 400 body); ``ordering`` = the cursor key (§5.3).  Where the
two client generations expect different shapes, the fields are the union (§0.3, §12.6).
"""

from __future__ import annotations

from dials_local.db.schema import (
    dim_ml_models_index,
    dim_monitoring_elements,
    fact_dataset_index,
    fact_file_index,
    fact_lumisection,
    fact_ml_bad_lumis,
    fact_run,
    fact_th1,
    fact_th2,
)
from dials_local.listing.declaration import (
    CompositeRetrieve,
    OutputField,
    Resource,
    StandardRetrieve,
    column,
    dataset_name,
    integer,
    json_list,
    json_text,
    me_name,
    real,
)
from dials_local.listing.filters import (
    BooleanFilter,
    Filter,
    JsonListFilter,
    NumberFilter,
    name_lookups,
    numbers,
    texts,
)


def _dataset_lookups() -> tuple[Filter, ...]:
    """``dataset`` / ``dataset__regex`` through the dataset index."""
    return name_lookups(
        "dataset",
        local_column="dataset_id",
        names_table=fact_dataset_index,
        names_id="dataset_id",
        names_column="dataset",
    )


def _me_lookups() -> tuple[Filter, ...]:
    """``me`` / ``me__regex`` through the monitoring elements."""
    return name_lookups(
        "me",
        local_column="me_id",
        names_table=dim_monitoring_elements,
        names_id="me_id",
        names_column="me",
    )


def _file_lookups() -> tuple[Filter, ...]:
    """``logical_file_name`` / ``__regex`` through the file index."""
    return name_lookups(
        "logical_file_name",
        local_column="file_id",
        names_table=fact_file_index,
        names_id="file_id",
        names_column="logical_file_name",
    )


DATASET_INDEX = Resource(
    prefix="dataset-index",
    table=fact_dataset_index,
    model_name="DatasetIndex",
    view_name="Dataset Index",
    ordering=("dataset_id",),
    fields=(
        column("dataset_id"),
        column("dataset"),
        column("era"),
        column("data_tier"),
        column("primary_ds_name"),
        column("processed_ds_name"),
        column("processing_version"),
        column("last_modification_date"),
    ),
    filters=texts("dataset", "exact", "regex"),
    retrieve=StandardRetrieve(lookup="dataset_id"),
)

FILE_INDEX = Resource(
    prefix="file-index",
    table=fact_file_index,
    model_name="FileIndex",
    view_name="File Index",
    ordering=("dataset_id", "file_id"),
    fields=(
        column("dataset_id"),
        dataset_name(),
        column("file_id"),
        column("file_size"),
        column("creation_date"),
        column("last_modification_date"),
        column("logical_file_name"),
        column("status"),
        column("err_trace"),  # always present, null unless the file failed (§7.2)
    ),
    filters=(
        *numbers("dataset_id"),
        *texts("logical_file_name", "exact", "regex"),
        *texts("status"),
        NumberFilter("min_size", op="gte", column="file_size"),
        *_dataset_lookups(),
    ),
    count_route=True,
    retrieve=CompositeRetrieve(keys=(("dataset_id", "file_id"),)),
)

RUN = Resource(
    prefix="run",
    table=fact_run,
    model_name="Run",
    view_name="Run",
    ordering=("dataset_id", "run_number"),
    fields=(
        column("dataset_id"),
        dataset_name(),
        column("run_number"),
        column("ls_count"),
        real("ls_completeness"),  # C241 requires the key (§7.3)
    ),
    filters=(
        *numbers("dataset_id", "exact", "in"),
        *numbers("run_number", "exact", "lte", "gte"),
        *_dataset_lookups(),
    ),
    count_route=True,
    retrieve=CompositeRetrieve(keys=(("dataset_id", "run_number"),)),
)

LUMISECTION = Resource(
    prefix="lumisection",
    table=fact_lumisection,
    model_name="Lumisection",
    view_name="Lumisection",
    ordering=("dataset_id", "run_number", "ls_number"),
    fields=(
        column("dataset_id"),
        dataset_name(),
        column("run_number"),
        column("ls_number"),
        column("th1_count"),
        column("th2_count"),
    ),
    filters=(
        *numbers("dataset_id"),
        *numbers("run_number", "exact", "lte", "gte"),
        *numbers("ls_number", "exact", "lte", "gte"),
        *_dataset_lookups(),
    ),
    count_route=True,
    retrieve=CompositeRetrieve(keys=(("dataset_id", "run_number", "ls_number"),)),
)

_HISTOGRAM_KEY = ("dataset_id", "run_number", "ls_number", "me_id")

_HISTOGRAM_FILTERS: tuple[Filter, ...] = (
    *numbers("dataset_id"),
    *numbers("file_id"),
    *numbers("run_number", "exact", "lte", "gte"),
    *numbers("ls_number", "exact", "lte", "gte"),
    *numbers("me_id"),
    *numbers("entries", "gte"),
    *_dataset_lookups(),
    *_file_lookups(),
    *_me_lookups(),
)


def _histogram_fields(two_d: bool) -> tuple[OutputField, ...]:
    """The th1 / th2 object keys in serializer order (CONTRACT §7.5, §7.6)."""
    head = (
        column("dataset_id"),
        dataset_name(),
        me_name(),
        column("file_id"),
        column("run_number"),
        column("ls_number"),
        column("me_id"),
        real("x_min"),
        real("x_max"),
        integer("x_bin"),
    )
    y_axis = (real("y_min"), real("y_max"), integer("y_bin")) if two_d else ()
    # data: stored JSON text, spliced into the page without decoding (§7.5, §7.6)
    return (*head, *y_axis, column("entries"), json_text("data"))


TH1 = Resource(
    prefix="th1",
    table=fact_th1,
    model_name="TH1",
    view_name="TH1",
    ordering=_HISTOGRAM_KEY,
    fields=_histogram_fields(two_d=False),
    filters=_HISTOGRAM_FILTERS,
    retrieve=CompositeRetrieve(keys=(_HISTOGRAM_KEY,)),
)

TH2 = Resource(
    prefix="th2",
    table=fact_th2,
    model_name="TH2",
    view_name="TH2",
    ordering=_HISTOGRAM_KEY,
    fields=_histogram_fields(two_d=True),
    filters=_HISTOGRAM_FILTERS,
    retrieve=CompositeRetrieve(keys=(_HISTOGRAM_KEY,)),
)

MES = Resource(
    prefix="mes",
    table=dim_monitoring_elements,
    model_name="MEs",
    view_name="MEs",
    ordering=("me_id",),
    fields=(column("me_id"), column("me"), column("count"), column("dim")),
    filters=(*texts("me", "exact", "regex"), *numbers("dim")),
    paginated=False,  # a plain array of every ME (§7.7)
    retrieve=StandardRetrieve(lookup="me_id"),
    list_params=("fields",),
)

ML_MODELS_INDEX = Resource(
    prefix="ml-models-index",
    table=dim_ml_models_index,
    model_name="MLModelsIndex",
    view_name="ML Models Index",
    ordering=("model_id",),
    fields=(
        # B112 / C150 shape
        column("model_id"),
        column("filename"),
        column("target_me"),
        column("active"),
        # C241 shape (§7.8); "id" is the same number as "model_id"
        column("id", source="model_id"),
        column("name"),
        column("revision"),
        column("ready"),
        column("type"),
        real("anomaly_threshold"),
        column("builtin_threshold"),
        column("description"),
        column("flagging_key"),
        column("metric_key"),
        json_list("input_signature", null_as_empty=True),
        json_list("output_signature", null_as_empty=True),
        json_list("tags", null_as_empty=False),
        column("isvc_service_name"),
        column("isvc_yaml"),
        column("created_by"),
        column("modified_by"),
        column("created_at"),
        column("modified_at"),
    ),
    filters=(
        # B112 / C150 filterset
        *numbers("model_id", "exact", "in"),
        *texts("filename", "exact", "regex"),
        *texts("target_me", "exact", "regex"),
        BooleanFilter("active"),
        # C241 filterset (its "active" is the same filter)
        *numbers("id", "exact", "in", column="model_id"),
        *texts("name", "exact", "regex"),
        BooleanFilter("ready"),
        *texts("type"),
        JsonListFilter(
            "input_signature_contains_me",
            column="input_signature",
            key="me",
            id_column="model_id",
        ),
        JsonListFilter(
            "input_signature_contains_me__regex",
            column="input_signature",
            key="me",
            id_column="model_id",
            op="regex",
        ),
        JsonListFilter("tag_name", column="tags", key="name", id_column="model_id"),
        JsonListFilter("tag_value", column="tags", key="value", id_column="model_id"),
    ),
    retrieve=StandardRetrieve(lookup="model_id"),
)

_BAD_LUMI_KEY = ("model_id", "dataset_id", "run_number", "ls_number", "me_id")

ML_BAD_LUMISECTION = Resource(
    prefix="ml-bad-lumisection",
    table=fact_ml_bad_lumis,
    model_name="MLBadLumisection",
    view_name="ML Bad Lumisection",
    ordering=_BAD_LUMI_KEY,
    fields=(
        column("model_id"),
        column("dataset_id"),
        column("file_id"),
        column("run_number"),
        column("ls_number"),
        column("me_id"),
        real("mse"),
        real("metric_value", source="mse"),  # C241's name for the same number (§7.9)
    ),
    filters=(
        *numbers("model_id", "exact", "in"),
        *numbers("dataset_id", "exact", "in"),
        *_dataset_lookups(),
        *numbers("me_id"),
        *_me_lookups(),
        *numbers("run_number", "exact", "in"),
        *numbers("ls_number"),
    ),
    # C150 names all five keys; C241 leaves out me_id and gets the lowest one (§7.9)
    retrieve=CompositeRetrieve(keys=(_BAD_LUMI_KEY, _BAD_LUMI_KEY[:4])),
)

#: Every data resource, in the order of the API root (CONTRACT §1).
RESOURCES: tuple[Resource, ...] = (
    DATASET_INDEX,
    FILE_INDEX,
    MES,
    RUN,
    LUMISECTION,
    TH1,
    TH2,
    ML_MODELS_INDEX,
    ML_BAD_LUMISECTION,
)
