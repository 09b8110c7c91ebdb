"""Result containers: one page of a list route, or the pages of a ``list_all`` merged."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, PrivateAttr

from cmsdials._optional import require

if TYPE_CHECKING:
    import pandas as pd

    from cmsdials._filters import BaseFilters

__all__ = ["Paginated", "RowT", "next_token_of"]

RowT = TypeVar("RowT", bound=BaseModel)


def next_token_of(url: str | None) -> str | None:
    """The ``next_token`` query parameter of a ``next`` URL (CONTRACT §5.4), if any.

    Clients never follow the URL itself: its host may be the server's internal name or
    use ``http://`` behind the production proxy; only the opaque cursor is reused.
    """
    if not url:
        return None
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("next_token")
    return values[-1] if values and values[-1] else None


class Paginated(BaseModel, Generic[RowT]):
    """A page of a list route, or the merged pages returned by ``list_all``.

    Attributes
    ----------
    next:
        URL of the following page; for ``list_all`` the ``next`` of the last page fetched,
        non-null when the walk stopped early (``max_pages`` or a failure with
        ``keep_failed=True``) - pass the result as ``resume_from=`` to continue.
    previous:
        URL of the preceding page (always ``None`` for ``list_all`` results).
    results:
        The rows, in the server's order.
    exc_type, exc_formatted:
        Name and formatted traceback of the exception that interrupted a
        ``list_all(keep_failed=True)`` walk, else ``None``.
    """

    next: str | None
    previous: str | None
    results: list[RowT]
    exc_type: str | None = None
    exc_formatted: str | None = None

    # The filters of the walk that produced this result, so that resume_from= can
    # continue it even when the caller does not pass them again.
    _filters: BaseFilters | None = PrivateAttr(default=None)

    @property
    def next_token(self) -> str | None:
        """The cursor to continue from (taken from :attr:`next`), or ``None`` at the end."""
        return next_token_of(self.next)

    @property
    def failed(self) -> bool:
        """True when a ``keep_failed=True`` walk was interrupted by an exception."""
        return self.exc_type is not None

    @classmethod
    def row_model(cls) -> type[BaseModel]:
        """The pydantic model of one row."""
        annotation = cls.model_fields["results"].annotation
        (row,) = typing.get_args(annotation)
        return typing.cast(type[BaseModel], row)

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a ``pandas.DataFrame``, one column per model field.

        Needs the ``pandas`` extra (``pip install 'cmsdials[pandas]'``).
        """
        pandas = require("pandas", "pandas", "to_pandas()")
        columns = list(self.row_model().model_fields)
        records: list[dict[str, Any]] = [row.model_dump() for row in self.results]
        return pandas.DataFrame.from_records(records, columns=columns)
