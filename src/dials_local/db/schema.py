"""The per-workspace DIALS schema (CONTRACT §11) and dials-local's own service tables.

Table, column, key and index names mirror the Alembic DDL of the real service so that
a reader of the contract finds what they expect.  Two deliberate differences:

* ``fact_th1.data`` / ``fact_th2.data`` hold the JSON text of the bin contents instead of
  ``DOUBLE PRECISION[]``.  The server splices that text into responses unchanged
  (``orjson.Fragment``), so no float is decoded and re-encoded per request.
* ``dim_ml_models_index`` carries the columns of both client generations' model shapes
  (CONTRACT §7.8 asks for their union); JSON-valued columns hold JSON text.

Partitioning (§11.2) is a PostgreSQL storage detail the API cannot observe; it is left out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

#: Value ranges of the integer column types (INTEGER, BIGINT).
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)


def integer_range(column: ColumnElement[Any]) -> tuple[int, int]:
    """The values an integer column (INTEGER or BIGINT) can hold.

    Values outside it must never reach the database: PostgreSQL casts a parameter to the
    column's type and fails with "integer out of range" instead of matching no row.
    """
    return INT64_RANGE if isinstance(column.type, BigInteger) else INT32_RANGE


#: Tables that exist once per workspace (one SQLite file, or one PostgreSQL schema, each).
workspace_metadata = MetaData()

#: Tables that exist once per dials-local instance: credentials, OMS-like metadata.
service_metadata = MetaData()

dim_monitoring_elements = Table(
    "dim_monitoring_elements",
    workspace_metadata,
    Column("me_id", Integer, autoincrement=True),
    Column("me", String(255)),
    Column("count", Integer),
    Column("dim", Integer),
    PrimaryKeyConstraint("me_id", name="dim_monitoring_elements_pk"),
    UniqueConstraint("me", name="unique_me"),
)

fact_dataset_index = Table(
    "fact_dataset_index",
    workspace_metadata,
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("dataset", String(255)),
    Column("era", String(255)),
    Column("data_tier", String(255)),
    Column("primary_ds_name", String(255)),
    Column("processed_ds_name", String(255)),
    Column("processing_version", Integer),
    Column("last_modification_date", DateTime),
    PrimaryKeyConstraint("dataset_id", name="fact_dataset_index_pk"),
    Index("idx_fdi_dataset", "dataset"),
    Index("idx_fdi_era", "era"),
)

fact_file_index = Table(
    "fact_file_index",
    workspace_metadata,
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("file_id", BigInteger, autoincrement=False),
    Column("file_size", BigInteger),
    Column("creation_date", DateTime),
    Column("last_modification_date", DateTime),
    Column("logical_file_name", String(255)),
    Column("status", String(255)),
    Column("err_trace", String(2295)),
    PrimaryKeyConstraint("dataset_id", "file_id", name="fact_file_index_pk"),
    Index("idx_ffi_file_id", "file_id"),
    Index("idx_ffi_logical_file_name", "logical_file_name"),
    Index("idx_ffi_status", "status"),
)

fact_run = Table(
    "fact_run",
    workspace_metadata,
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("run_number", Integer, autoincrement=False),
    Column("ls_count", Integer),
    # C241 requires this key (CONTRACT §7.3); we store the fraction of the run's
    # lumisections (as OMS knows them) that were ingested.
    Column("ls_completeness", Float),
    PrimaryKeyConstraint("dataset_id", "run_number", name="fact_run_pk"),
    Index("idx_fr_run_number", "run_number"),
)

fact_lumisection = Table(
    "fact_lumisection",
    workspace_metadata,
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("run_number", Integer, autoincrement=False),
    Column("ls_number", Integer, autoincrement=False),
    Column("th1_count", Integer),
    Column("th2_count", Integer),
    PrimaryKeyConstraint("dataset_id", "run_number", "ls_number", name="fact_lumisection_pk"),
    Index("idx_fl_run_number", "run_number"),
    Index("idx_fl_ls_number", "ls_number"),
)


def _histogram_table(name: str, *, two_d: bool) -> Table:
    axis_columns = [
        Column("x_min", Float),
        Column("x_max", Float),
        Column("x_bin", Float),
    ]
    if two_d:
        axis_columns += [Column("y_min", Float), Column("y_max", Float), Column("y_bin", Float)]
    return Table(
        name,
        workspace_metadata,
        Column("dataset_id", BigInteger, autoincrement=False),
        Column("file_id", BigInteger),
        Column("run_number", Integer, autoincrement=False),
        Column("ls_number", Integer, autoincrement=False),
        Column("me_id", Integer, autoincrement=False),
        *axis_columns,
        Column("entries", Integer),
        Column("data", Text),  # JSON text: [..] for th1, [[..], ..] (rows per y) for th2
        PrimaryKeyConstraint("dataset_id", "run_number", "ls_number", "me_id", name=f"{name}_pk"),
        Index(f"idx_{name[5:]}_file_id", "file_id"),
        Index(f"idx_{name[5:]}_run_number", "run_number"),
        Index(f"idx_{name[5:]}_ls_number", "ls_number"),
        Index(f"idx_{name[5:]}_me_id", "me_id"),
        Index(f"idx_{name[5:]}_run_number_me_id", "run_number", "me_id"),
        # The primary key with the ME first: a walk of one ME's histograms (a filter that
        # pins me_id) reads its own rows in cursor order instead of stepping over every
        # other ME's rows in the primary key (listing/filters.py, `_walks_me_first`).
        Index(f"idx_{name[5:]}_me_first_key", "me_id", "dataset_id", "run_number", "ls_number"),
    )


fact_th1 = _histogram_table("fact_th1", two_d=False)
fact_th2 = _histogram_table("fact_th2", two_d=True)

dim_ml_models_index = Table(
    "dim_ml_models_index",
    workspace_metadata,
    Column("model_id", Integer, autoincrement=True),
    # B112 / C150 shape
    Column("filename", String(255)),
    Column("target_me", String(255)),
    Column("active", Boolean),
    # C241 shape (CONTRACT §7.8); `id` is served as model_id
    Column("name", String(255)),
    Column("revision", Integer),
    Column("ready", Boolean),
    Column("type", String(255)),
    Column("anomaly_threshold", Float),
    Column("builtin_threshold", Boolean),
    Column("description", Text),
    Column("flagging_key", String(255)),
    Column("metric_key", String(255)),
    Column("input_signature", Text),  # JSON list of {"me": ..., ...}
    Column("output_signature", Text),  # JSON list
    Column("tags", Text),  # JSON list of {"name": ..., "value": ...} or null
    Column("isvc_service_name", String(255)),
    Column("isvc_yaml", Text),
    Column("created_by", String(255)),
    Column("modified_by", String(255)),
    Column("created_at", DateTime),
    Column("modified_at", DateTime),
    PrimaryKeyConstraint("model_id", name="dim_ml_models_index_pk"),
    Index("idx_active", "active"),
)

fact_ml_bad_lumis = Table(
    "fact_ml_bad_lumis",
    workspace_metadata,
    Column("model_id", BigInteger, autoincrement=False),
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("file_id", BigInteger),
    Column("run_number", Integer, autoincrement=False),
    Column("ls_number", Integer, autoincrement=False),
    Column("me_id", Integer, autoincrement=False),
    Column("mse", Float),
    PrimaryKeyConstraint(
        "model_id", "dataset_id", "run_number", "ls_number", "me_id", name="fact_ml_bad_lumis_pk"
    ),
    Index("idx_mlbl_dataset_id_run_number", "dataset_id", "run_number"),
)

#: Ground truth of the synthetic generator: which (dataset, run, LS, ME) got an injected
#: anomaly and of which kind.  Not served by the API; used by tests and by people checking
#: an anomaly detector against known answers.
local_injected_anomalies = Table(
    "local_injected_anomalies",
    workspace_metadata,
    Column("dataset_id", BigInteger, autoincrement=False),
    Column("run_number", Integer, autoincrement=False),
    Column("ls_number", Integer, autoincrement=False),
    Column("me_id", Integer, autoincrement=False),
    Column("kind", String(64)),
    Column("detail", Text),
    PrimaryKeyConstraint("dataset_id", "run_number", "ls_number", "me_id", "kind"),
)

# ---------------------------------------------------------------------------------------
# Service tables (not per workspace)
# ---------------------------------------------------------------------------------------

api_clients = Table(
    "local_api_clients",
    service_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    # sha256 hex of the secret: secrets are 256-bit random strings, so a fast hash is
    # enough and lets us look a key up by its hash.
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
)

#: OMS-like records (CONTRACT §7.10): one row per resource of an OMS endpoint
#: (``runs``, ``lumisections``, ...), attributes as JSON text.
oms_records = Table(
    "local_oms_records",
    service_metadata,
    Column("endpoint", String(64), nullable=False),
    Column("position", Integer, nullable=False),  # stable order within an endpoint
    Column("resource_id", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("attributes", Text, nullable=False),
    PrimaryKeyConstraint("endpoint", "position"),
)

#: OMS attributes whose comparisons with integers the OMS proxy answers from indexes (one
#: run's lumisections, a range of runs, one fill's runs) instead of reading every record
#: of the endpoint.
OMS_INDEXED_ATTRIBUTES = ("run_number", "fill_number")

#: JSON kinds of an attribute, as each database names them, that a comparison with a
#: number can still match besides numbers: the proxy's exact test reads strings as text,
#: ``{"value": v}`` objects by ``v``, and booleans by their own rule (``api/oms.py``).
OMS_OTHER_KINDS = {
    "sqlite": ("text", "true", "false", "object"),
    "postgresql": ("string", "boolean", "object"),
}


def oms_attribute(attribute: str, dialect: str) -> ColumnElement[Any]:
    """A record's ``attribute`` as the database reads it from the JSON text: the indexed
    expression, so written with the attribute as a literal (an index serves only a WHERE
    with the very same expression).  ``attribute`` is one of :data:`OMS_INDEXED_ATTRIBUTES`
    (or another identifier of ours), never request text."""
    if dialect == "sqlite":
        return func.json_extract(oms_records.c.attributes, literal_column(f"'$.{attribute}'"))
    return cast(oms_records.c.attributes, JSONB).op("->")(literal_column(f"'{attribute}'"))


def oms_attribute_kind(attribute: str, dialect: str) -> ColumnElement[Any]:
    """The JSON kind of a record's ``attribute`` (``NULL`` when it is absent)."""
    if dialect == "sqlite":
        return func.json_type(oms_records.c.attributes, literal_column(f"'$.{attribute}'"))
    return func.jsonb_typeof(oms_attribute(attribute, dialect))


def _oms_indexes(dialect: str) -> list[Index]:
    """Two indexes per indexed attribute on ``dialect``: its value (for numbers) and its
    kind (for the other values the exact test may keep)."""
    short = {"sqlite": "sqlite", "postgresql": "pg"}[dialect]
    indexes = []
    for attribute in OMS_INDEXED_ATTRIBUTES:
        for suffix, expression in (
            ("", oms_attribute(attribute, dialect)),
            ("_kind", oms_attribute_kind(attribute, dialect)),
        ):
            name = f"idx_oms_{attribute}{suffix}_{short}"
            indexes.append(Index(name, oms_records.c.endpoint, expression).ddl_if(dialect=dialect))
    return indexes


#: The OMS attribute indexes of each database: created with the table (``ddl_if``), and
#: added by ``Database.create_all`` to a table made before them.
OMS_INDEXES = {dialect: _oms_indexes(dialect) for dialect in OMS_OTHER_KINDS}

#: People who sign in on the device-approval page (``dials-local create-user``).
users = Table(
    "local_users",
    service_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    # "scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>": people choose passwords, so a slow,
    # salted hash; the parameters travel with the hash so they can be raised later.
    Column("password_hash", String(255), nullable=False),
    Column("roles", Text, nullable=False),  # JSON list of CERN role strings
    Column("created_at", DateTime, nullable=False),
)

#: Device-authorization grants (CONTRACT §3.5, RFC 8628), one per started sign-in.
device_grants = Table(
    "local_device_grants",
    service_metadata,
    # sha256 hex of the device code: the code is a bearer secret until it is redeemed.
    Column("device_code_sha256", String(64), primary_key=True),
    Column("user_code", String(16), nullable=False, unique=True),  # "BCDFGHJK", no dash
    Column("client_id", String(255), nullable=False),  # who started it (token azp)
    Column("scope", String(255), nullable=False),
    # Unix times (float seconds): intervals below one second are allowed for tests.
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("interval", Float, nullable=False),
    Column("last_poll_at", Float, nullable=True),
    Column("state", String(16), nullable=False),  # pending approved denied consumed
    Column("user_name", String(255), nullable=True),  # who approved or denied
)

#: Issued refresh tokens (rotation: each is usable once).
refresh_tokens = Table(
    "local_refresh_tokens",
    service_metadata,
    Column("jti", String(64), primary_key=True),  # the token's random id claim
    Column("user_name", String(255), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("state", String(16), nullable=False),  # active used revoked
    Column("created_at", Float, nullable=False),
    Index("idx_lrt_session_id", "session_id"),
)

#: The RS256 signing key when there is no data directory to keep it in (PostgreSQL).
signing_keys = Table(
    "local_signing_keys",
    service_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("private_pem", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

WORKSPACE_TABLES: dict[str, Table] = {t.name: t for t in workspace_metadata.sorted_tables}
