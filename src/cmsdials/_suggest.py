"""Help on typos: the closest valid names, and keyword checks that name them.

One rule for every misspelt name the client can see (filter names, keyword arguments,
ME names), so that the help is even: ``me_nme`` finds ``me`` as ``me_regex`` finds
``me__regex``.  :mod:`difflib` alone misses the typos people make most with these names:
a name cut short or extended at an underscore (``ls`` for ``ls_number``, ``me_name`` for
``me``) and a doubled or missing underscore (``meid``, ``me_regex``).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from cmsdials.errors import UnknownArgumentError

__all__ = ["checked_keywords", "closest"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``difflib``'s usual threshold: below it a "suggestion" is noise.
_CUTOFF = 0.6
#: The score of a name that extends or shortens a valid one at an underscore: above the
#: cutoff, below an exact match up to case and underscores.
_WORD_PREFIX = 0.8


def _words(name: str) -> list[str]:
    return [word for word in name.lower().split("_") if word]


def _squashed(name: str) -> str:
    return name.lower().replace("_", "")


def _ratio(a: str, b: str) -> float:
    """``SequenceMatcher.ratio``, skipped (0) when its cheap upper bounds are below the
    cutoff, as ``difflib.get_close_matches`` does: a workspace has thousands of MEs."""
    matcher = difflib.SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < _CUTOFF or matcher.quick_ratio() < _CUTOFF:
        return 0.0
    return matcher.ratio()


def _score(typo: str, candidate: str) -> float:
    if _squashed(typo) == _squashed(candidate):
        return 1.0  # only case or underscores differ: "meid", "ME", "me_regex"
    score = max(
        _ratio(typo.lower(), candidate.lower()), _ratio(_squashed(typo), _squashed(candidate))
    )
    short, long = sorted((_words(typo), _words(candidate)), key=len)
    if short and len(short) < len(long) and long[: len(short)] == short:
        score = max(score, _WORD_PREFIX)  # "ls" / "ls_number", "me_nme" / "me"
    return score


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``candidates`` closest to ``name``, best first.

    Ties keep the order of ``candidates`` (declaration order: the plain name before its
    ``__gte``/``__lte`` variants).
    """
    scored = []
    for position, candidate in enumerate(dict.fromkeys(candidates)):
        if candidate == name:
            continue
        score = _score(name, candidate)
        if score >= _CUTOFF:
            scored.append((-score, position, candidate))
    scored.sort()
    return [candidate for _, _, candidate in scored[:n]]


def _accepted(signature: inspect.Signature) -> tuple[list[str], bool]:
    """Keyword names a call may use, and whether ``**kwargs`` takes any other."""
    names = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and name != "self"
    ]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return names, open_ended


def checked_keywords(
    filter_names: Callable[[Any], Sequence[str]] | None = None,
) -> Callable[[F], F]:
    """Decorate a method so that a misspelt keyword names the closest valid ones.

    Python's own ``TypeError`` ("got an unexpected keyword argument") suggests nothing
    before 3.13.  The wrapper checks the keyword names against the method's signature
    first and raises :class:`~cmsdials.errors.UnknownArgumentError` (a ``TypeError``)
    with suggestions.  ``filter_names(self)`` gives the route's filter names: a keyword
    that is one of them (``list_all(me=...)``) is told to go into ``filters=``.

    The signature shown by ``help()`` and ``inspect.signature`` stays the method's own.
    """

    def decorate(method: F) -> F:
        names, open_ended = _accepted(inspect.signature(method))
        accepted = frozenset(names)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not open_ended:
                for keyword in kwargs:
                    if keyword not in accepted:
                        _refuse(self, method, keyword, names, filter_names)
            return method(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _refuse(
    owner: Any,
    method: Callable[..., Any],
    keyword: str,
    names: list[str],
    filter_names: Callable[[Any], Sequence[str]] | None,
) -> None:
    name = method.__name__
    where = (
        f"{type(owner).__name__}()" if name == "__init__" else f"{type(owner).__name__}.{name}()"
    )
    filters = list(filter_names(owner)) if filter_names is not None else []
    if keyword in filters:
        raise UnknownArgumentError(
            keyword,
            where,
            [],
            hint=f"{keyword!r} is a filter: pass it in filters=, e.g. "
            f"{method.__name__}(filters={{{keyword!r}: ...}})",
        )
    suggestions = closest(keyword, names)
    if not suggestions and filters:
        near = closest(keyword, filters)
        if near:
            raise UnknownArgumentError(
                keyword,
                where,
                near,
                hint="filters go in filters=, e.g. "
                f"{method.__name__}(filters={{{near[0]!r}: ...}})",
            )
    raise UnknownArgumentError(keyword, where, suggestions)
