"""What ``resume_from=`` continues: the query a result answers, and how far its walk got.

A result of ``list_all`` carries a :class:`Continuation`: the filters of its walk and the
state of each partition (``_walk`` walks them, ``_collect`` assembles and resumes them).
A page of ``list()`` carries its filters only, so that ``list_all(resume_from=page)``
re-sends them after the page's cursor.

This module knows nothing of pages or transports: the pages a partition holds are of the
type the walk gives it (``PageT``), so the result classes can carry a continuation without
importing the walk machinery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cmsdials._filters import PaginatedFilters

__all__ = ["Continuation", "Partition", "WalkState"]

PageT = TypeVar("PageT")


@dataclass
class Partition(Generic[PageT]):
    """One cursor walk of a query, and how far it got.

    Attributes
    ----------
    filters:
        The query restricted to this slice; its ``next_token`` is where the walk starts.
    started, next_token, next_url:
        Whether a page was received, and the cursor / ``next`` link after the last one.
    done:
        The last page was received (its ``next`` was null).
    held:
        Pages received but not part of the result yet, because an earlier partition is
        unfinished (kept for ``resume_from``, never fetched twice).
    """

    filters: PaginatedFilters
    started: bool = False
    next_token: str | None = None
    next_url: str | None = None
    done: bool = False
    held: list[PageT] = field(default_factory=list)

    def cursor(self) -> str | None:
        """The ``next_token`` of the next page to fetch."""
        return self.next_token if self.started else self.filters.next_token

    def copy(self) -> Partition[PageT]:
        return dataclasses.replace(self, held=list(self.held))


@dataclass
class WalkState(Generic[PageT]):
    """The partitions of a ``list_all`` walk, in result order."""

    filters: PaginatedFilters
    partitions: list[Partition[PageT]]

    def copy(self) -> WalkState[PageT]:
        """A copy to walk on: resuming twice from one result gives the same rows."""
        return WalkState(self.filters, [part.copy() for part in self.partitions])

    @property
    def complete(self) -> bool:
        return all(part.done for part in self.partitions)


@dataclass(frozen=True)
class Continuation(Generic[PageT]):
    """The query a result answers, and the walk that produced it (``list_all`` only).

    ``list_all(resume_from=result)`` continues ``walk`` when there is one; otherwise it
    follows the result's ``next`` cursor with ``filters`` (when the caller gives none).
    """

    filters: PaginatedFilters
    walk: WalkState[PageT] | None = None
