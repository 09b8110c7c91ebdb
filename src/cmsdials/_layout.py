"""The fields of the histogram routes, by kind (no numpy needed to ask)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LAYOUT_1D", "LAYOUT_2D", "Layout", "layout_of"]


@dataclass(frozen=True)
class Layout:
    """Which fields a histogram route has, by kind, and their order in the row model."""

    dims: int
    ints: tuple[str, ...]
    floats: tuple[str, ...]
    strings: tuple[str, ...]
    #: Field order of the row model (CONTRACT §7.5/§7.6 key order), ``data`` last.
    fields: tuple[str, ...]

    @property
    def binning_fields(self) -> tuple[str, ...]:
        if self.dims == 1:
            return ("x_min", "x_max", "x_bin")
        return ("x_min", "x_max", "x_bin", "y_min", "y_max", "y_bin")


_KEYS = ("dataset_id", "file_id", "run_number", "ls_number", "me_id")
LAYOUT_1D = Layout(
    dims=1,
    ints=(*_KEYS, "x_bin", "entries"),
    floats=("x_min", "x_max"),
    strings=("dataset", "me"),
    fields=("dataset_id", "dataset", "me", "file_id", "run_number", "ls_number", "me_id",
            "x_min", "x_max", "x_bin", "entries", "data"),
)  # fmt: skip
LAYOUT_2D = Layout(
    dims=2,
    ints=(*_KEYS, "x_bin", "y_bin", "entries"),
    floats=("x_min", "x_max", "y_min", "y_max"),
    strings=("dataset", "me"),
    fields=("dataset_id", "dataset", "me", "file_id", "run_number", "ls_number", "me_id",
            "x_min", "x_max", "x_bin", "y_min", "y_max", "y_bin", "entries", "data"),
)  # fmt: skip


def layout_of(model: type[Any]) -> Layout | None:
    """The layout of a row model's fields, or ``None`` if it is not a histogram model."""
    fields = tuple(getattr(model, "model_fields", ()))
    for layout in (LAYOUT_1D, LAYOUT_2D):
        if fields == layout.fields:
            return layout
    return None
