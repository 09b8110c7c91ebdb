"""The ML models index of a workspace (``dim_ml_models_index``).

jetmet registers the models of the DIALS ETL's ``etl/fill_ml_index.py``, in its order:
ids 1-10 are the 2024-05-17 checkpoints (inactive), ids 11-20 the 2024-07-20 checkpoints
(active), one per target ME of ``monitoring_elements.json`` (``ml_model_targets``).  So
model 19 targets ``METSig`` and model 20 ``SumET``.  Other workspaces have no models.

The C241 columns (CONTRACT §7.8) are filled consistently: ``name`` is the target's short
name, ``revision`` counts checkpoints, ``anomaly_threshold`` is the threshold on
``metric_key`` (``mse``) that :mod:`dials_local.data.scorer` applies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from dials_local.data.catalog import me_by_name, ml_model_targets
from dials_local.data.me_specs import me_spec
from dials_local.data.names import utc

#: Checkpoints in registration order: (date tag, active?).
CHECKPOINTS = (("20240517", False), ("20240720", True))

# fill_ml_index.py lists the targets in this order (CHFrac x 6, MET_2, METPhi, METSig, SumET).
_TARGET_ORDER = (
    "CHFrac_highPt_Barrel",
    "CHFrac_highPt_EndCap",
    "CHFrac_lowPt_Barrel",
    "CHFrac_lowPt_EndCap",
    "CHFrac_mediumPt_Barrel",
    "CHFrac_mediumPt_EndCap",
    "MET_2",
    "METPhi",
    "METSig",
    "SumET",
)


def _targets(workspace: str) -> list[tuple[str, str]]:
    """(short name, full ME name) of the workspace's model targets, in registration order."""
    by_short = {t["me"].rsplit("/", 1)[-1]: t["me"] for t in ml_model_targets(workspace)}
    ordered = [s for s in _TARGET_ORDER if s in by_short]
    ordered += sorted(s for s in by_short if s not in _TARGET_ORDER)
    return [(s, by_short[s]) for s in ordered]


def _threshold(short: str) -> float:
    # Multiplicities and MET quantities fluctuate a little more run to run.
    return 2.5 if short.startswith(("MET", "SumET")) else 2.2


def model_rows(workspace: str, *, coarse: bool = False, seed: int = 2024) -> list[dict[str, Any]]:
    """Rows of ``dim_ml_models_index`` for ``workspace`` (empty outside jetmet)."""
    targets = _targets(workspace)
    mes = me_by_name(workspace)
    rows: list[dict[str, Any]] = []
    model_id = 0
    for revision, (tag, active) in enumerate(CHECKPOINTS, start=1):
        created = utc(f"{tag[:4]}-{tag[4:6]}-{tag[6:]}T09:30")
        for short, me in targets:
            model_id += 1
            filename = f"model_{short}_checkpoint_{tag}.onnx"
            nbins = me_spec(me, coarse=coarse, seed=seed).x.nbins if me in mes else None
            inputs = [{"me": me, "name": "input", "dtype": "float32", "shape": [None, nbins]}]
            outputs = [
                {"name": "mse", "dtype": "float32", "shape": [None]},
                {"name": "is_anomaly", "dtype": "bool", "shape": [None]},
            ]
            group = "MET" if "/MET/" in me else "Jet"
            service = f"{workspace}-{short.lower().replace('_', '-')}-r{revision}"
            rows.append(
                {
                    "model_id": model_id,
                    "filename": filename,
                    "target_me": me,
                    "active": active,
                    "name": short,
                    "revision": revision,
                    "ready": True,
                    "type": "autoencoder",
                    "anomaly_threshold": _threshold(short) if active else None,
                    "builtin_threshold": not active,
                    "description": (
                        f"Autoencoder of the per-lumisection {short} histogram (checkpoint {tag}); "
                        "metric: mean squared Poisson-standardised reconstruction error."
                    ),
                    "flagging_key": "is_anomaly",
                    "metric_key": "mse",
                    "input_signature": orjson.dumps(inputs).decode(),
                    "output_signature": orjson.dumps(outputs).decode(),
                    "tags": (
                        orjson.dumps(
                            [
                                {"name": "checkpoint", "value": tag},
                                {"name": "object", "value": group},
                            ]
                        ).decode()
                        if active
                        else None
                    ),
                    "isvc_service_name": service if active else None,
                    "isvc_yaml": _isvc_yaml(service, filename) if active else None,
                    "created_by": "dials-etl",
                    "modified_by": "dials-etl",
                    "created_at": created + timedelta(minutes=model_id),
                    "modified_at": (
                        created + timedelta(minutes=model_id)
                        if active
                        else utc("2024-07-20T09:30") + timedelta(minutes=model_id)
                    ),
                }
            )
    return rows


def _isvc_yaml(service: str, filename: str) -> str:
    return (
        "apiVersion: serving.kserve.io/v1beta1\n"
        "kind: InferenceService\n"
        f"metadata:\n  name: {service}\n"
        "spec:\n  predictor:\n    model:\n      modelFormat:\n        name: onnx\n"
        f"      storageUri: s3://dials-models/jetmet/{filename}\n"
    )
