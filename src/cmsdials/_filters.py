"""Filter models: the query parameters of each list route (CONTRACT §6, §7).

Filters are typed pydantic models.  Unlike the incumbent client, an unknown filter name
is an error (:class:`~cmsdials.errors.UnknownFilterError`, naming the closest valid
names) instead of being dropped silently, which used to return unfiltered data.

Values are sent the way DIALS parses them: lists comma-separated (``1,2,3``), booleans as
``True``/``False``, everything else as ``str(value)``.  ``None`` means "no filter".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from cmsdials._suggest import closest
from cmsdials.errors import UnknownFilterError

__all__ = [
    "BaseFilters",
    "DatasetIndexFilters",
    "FileIndexFilters",
    "IntList",
    "LumisectionFilters",
    "LumisectionHistogram1DFilters",
    "LumisectionHistogram2DFilters",
    "MEFilters",
    "MLBadLumisectionFilters",
    "MLModelsIndexFilters",
    "PaginatedFilters",
    "RunFilters",
]


def _as_int_list(value: Any) -> Any:
    """Let ``__in`` filters take one int or a ``"1,2,3"`` string as well as a list."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return value


#: A list of integers (``__in`` filters), sent comma-separated.
IntList = Annotated[list[int], BeforeValidator(_as_int_list)]


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return ",".join(_param(item) for item in value)
    return str(value)


class BaseFilters(BaseModel):
    """Base of every filter model.

    Subclasses declare one optional field per query parameter.  ``_renamed`` maps
    deprecated names that are still accepted (with a ``DeprecationWarning``) to the name
    that is sent.
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, defer_build=True, protected_namespaces=()
    )

    _renamed: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **filters: Any) -> None:
        # Checked here, before pydantic, so that the caller gets UnknownFilterError itself
        # rather than a ValidationError wrapping it.
        super().__init__(**self._resolve_names(filters))

    @model_validator(mode="before")
    @classmethod
    def _names_when_validating(cls, data: Any) -> Any:
        # The same check for model_validate({...}); pydantic wraps the error there.
        return cls._resolve_names(data) if isinstance(data, dict) else data

    @classmethod
    def _resolve_names(cls, filters: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        for name, value in filters.items():
            if name in cls._renamed:
                target = cls._renamed[name]
                warnings.warn(
                    f"{cls.__name__}({name}=...) is a misspelling kept for compatibility; "
                    f"use {target}= (it is what gets sent)",
                    DeprecationWarning,
                    stacklevel=3,
                )
                if filters.get(target) is not None and value is not None:
                    raise ValueError(f"give only one of {name!r} and {target!r}")
                if value is not None or target not in filters:
                    resolved[target] = value
            elif name in cls.model_fields:
                if name not in resolved or value is not None:
                    resolved[name] = value
            else:
                # Deprecated spellings are accepted but never suggested.
                raise UnknownFilterError(name, cls.__name__, closest(name, cls.model_fields))
        return resolved

    @classmethod
    def names(cls) -> list[str]:
        """The names of the filters this model accepts."""
        return list(cls.model_fields)

    def to_params(self) -> dict[str, str]:
        """The query parameters to send: non-null filters, encoded for DIALS."""
        return {
            name: _param(value)
            for name, value in self
            if value is not None and not (isinstance(value, list) and not value)
        }

    def cleandict(self) -> dict[str, Any]:
        """The filters as 2.x sent them: ``None`` left out, lists comma-joined, other
        values as they are (``requests`` turns them into text)."""
        return {
            name: _param(value) if isinstance(value, (list, tuple)) else value
            for name, value in self
            if value is not None
        }

    def with_token(self, next_token: str | None) -> BaseFilters:
        """A copy whose ``next_token`` is ``next_token`` (only for paginated filters)."""
        raise TypeError(f"{type(self).__name__} is not paginated")


class PaginatedFilters(BaseFilters):
    """Filters of a paginated route: also ``page_size`` and the ``next_token`` cursor.

    ``page_size``: rows per page, server default 10, maximum 500 (larger values are
    clamped by the server).
    """

    next_token: str | None = None
    page_size: int | None = None

    def with_token(self, next_token: str | None) -> PaginatedFilters:
        """A copy whose ``next_token`` is ``next_token``."""
        return self.model_copy(update={"next_token": next_token})


class DatasetIndexFilters(PaginatedFilters):
    """Filters of ``dataset-index/``: exact ``dataset`` name or ``dataset__regex``."""

    dataset: str | None = None
    dataset__regex: str | None = None


class FileIndexFilters(PaginatedFilters):
    """Filters of ``file-index/``; ``min_size`` is in bytes (``file_size >= min_size``)."""

    dataset_id: int | None = None
    logical_file_name: str | None = None
    logical_file_name__regex: str | None = None
    status: str | None = None
    min_size: int | None = None
    dataset: str | None = None
    dataset__regex: str | None = None


class RunFilters(PaginatedFilters):
    """Filters of ``run/``."""

    dataset_id: int | None = None
    dataset_id__in: IntList | None = None
    run_number: int | None = None
    run_number__lte: int | None = None
    run_number__gte: int | None = None
    dataset: str | None = None
    dataset__regex: str | None = None


class LumisectionFilters(PaginatedFilters):
    """Filters of ``lumisection/``."""

    dataset_id: int | None = None
    run_number: int | None = None
    run_number__lte: int | None = None
    run_number__gte: int | None = None
    ls_number: int | None = None
    ls_number__lte: int | None = None
    ls_number__gte: int | None = None
    dataset: str | None = None
    dataset__regex: str | None = None


class _HistogramFilters(PaginatedFilters):
    """Filters shared by ``th1/`` and ``th2/``.

    ``ls_numbet__lte`` (the incumbent's misspelling, which DIALS ignored) is accepted with
    a ``DeprecationWarning`` and sent as ``ls_number__lte``, so the bound now applies.
    Regex filters are case-sensitive and match anywhere (PostgreSQL ``~``).
    """

    _renamed: ClassVar[Mapping[str, str]] = {"ls_numbet__lte": "ls_number__lte"}

    dataset_id: int | None = None
    file_id: int | None = None
    run_number: int | None = None
    run_number__lte: int | None = None
    run_number__gte: int | None = None
    ls_number: int | None = None
    ls_number__lte: int | None = None
    ls_number__gte: int | None = None
    me_id: int | None = None
    entries__gte: int | None = None
    dataset: str | None = None
    dataset__regex: str | None = None
    logical_file_name: str | None = None
    logical_file_name__regex: str | None = None
    me: str | None = None
    me__regex: str | None = None

    @property
    def ls_numbet__lte(self) -> int | None:
        """Deprecated spelling of :attr:`ls_number__lte`."""
        return self.ls_number__lte


class LumisectionHistogram1DFilters(_HistogramFilters):
    """Filters of ``th1/`` (1-D histograms)."""


class LumisectionHistogram2DFilters(_HistogramFilters):
    """Filters of ``th2/`` (2-D histograms)."""


class MEFilters(BaseFilters):
    """Filters of ``mes/`` (not paginated): ``me``, ``me__regex``, ``dim`` (1 or 2)."""

    me: str | None = None
    me__regex: str | None = None
    dim: int | None = None


class MLModelsIndexFilters(PaginatedFilters):
    """Filters of ``ml-models-index/``, both generations of DIALS.

    Original: ``model_id``, ``model_id__in``, ``filename``, ``filename__regex``,
    ``target_me``, ``target_me__regex``, ``active``.  Newer: ``id``, ``id__in``, ``name``,
    ``name__regex``, ``ready``, ``type``, ``input_signature_contains_me`` (+``__regex``),
    ``tag_name``, ``tag_value``.  A server ignores the names of the other generation.
    """

    model_id: int | None = None
    model_id__in: IntList | None = None
    filename: str | None = None
    filename__regex: str | None = None
    target_me: str | None = None
    target_me__regex: str | None = None
    active: bool | None = None
    id: int | None = None
    id__in: IntList | None = None
    name: str | None = None
    name__regex: str | None = None
    ready: bool | None = None
    type: str | None = None
    input_signature_contains_me: str | None = None
    input_signature_contains_me__regex: str | None = None
    tag_name: str | None = None
    tag_value: str | None = None


class MLBadLumisectionFilters(PaginatedFilters):
    """Filters of ``ml-bad-lumisection/``."""

    model_id: int | None = None
    model_id__in: IntList | None = None
    dataset_id: int | None = None
    dataset_id__in: IntList | None = None
    dataset: str | None = None
    dataset__regex: str | None = None
    me_id: int | None = None
    me: str | None = None
    me__regex: str | None = None
    run_number: int | None = None
    run_number__in: IntList | None = None
    ls_number: int | None = None
