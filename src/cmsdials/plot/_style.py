"""CMS style and labels (through mplhep), axis titles from the ME, figures to draw on.

Everything that imports matplotlib or mplhep goes through :func:`modules`, which names the
``plot`` extra when they are missing: ``import cmsdials`` never imports them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from cmsdials._optional import require

__all__ = ["DEFAULT_LABEL", "axis_title", "cms_label", "figure", "modules", "short_dataset", "unit"]

#: The text beside "CMS" (``label=`` of every plot; ``None`` or ``""`` for "CMS" alone).
DEFAULT_LABEL = "Preliminary"

#: Units of common DQM quantities, by a word of the ME's last path element.  A heuristic:
#: DQM MEs carry no unit, but these words mean the same thing across subsystems.
_UNITS: tuple[tuple[str, str], ...] = (
    (r"charge", "e"),
    (r"(^|_)pt(_|$)|^pt|transverse ?momentum", "GeV"),
    (r"(^|_)(e|et|energy|met|sumet)(_|$)", "GeV"),
    (r"(^|_)phi(_|$)|^phi", "rad"),
    (r"time", "ns"),
    (r"(^|_)size(_|$)|^size", "pixels"),
    (r"hRHGlobal|global(x|y|z)?", "cm"),
)


def modules(feature: str) -> tuple[ModuleType, ModuleType, ModuleType]:
    """``(matplotlib, matplotlib.pyplot, mplhep)``, or ``MissingDependencyError`` naming the
    ``plot`` extra and ``feature``."""
    mpl = require("matplotlib", "plot", feature)
    plt = require("matplotlib.pyplot", "plot", feature)
    hep = require("mplhep", "plot", feature)
    return mpl, plt, hep


def unit(me: str) -> str | None:
    """The unit of the quantity an ME histograms, when its name says (else ``None``)."""
    leaf = me.rsplit("/", 1)[-1]
    for pattern, symbol in _UNITS:
        if re.search(pattern, leaf, re.IGNORECASE):
            return symbol
    return None


def axis_title(me: str) -> str:
    """The ME's last path element, with its unit: ``"charge_PXLayer_2 [e]"``."""
    leaf = me.rsplit("/", 1)[-1]
    symbol = unit(me)
    return f"{leaf} [{symbol}]" if symbol else leaf


def short_dataset(dataset: str) -> str:
    """``/ZeroBias/Run2023C-PromptReco-v1/DQMIO`` -> ``ZeroBias/Run2023C-PromptReco-v1``."""
    parts = [part for part in dataset.split("/") if part]
    if len(parts) >= 2 and parts[-1] in ("DQMIO", "DQM"):
        parts = parts[:-1]
    return "/".join(parts) or dataset


@contextlib.contextmanager
def figure(ax: Any, feature: str, nrows: int = 1, **options: Any) -> Iterator[tuple[Any, Any]]:
    """``(figure, axes)`` to draw on in CMS style: ``ax``'s own, or a new figure.

    The style applies while the caller draws (inside the ``with``); a caller's ``ax`` keeps
    its figure's look, only the new artists follow the style.
    """
    _, plt, hep = modules(feature)
    with plt.style.context(hep.style.CMS):
        if ax is not None:
            yield ax.figure, ax
            return
        if nrows == 1:
            fig, axes = plt.subplots(**options)
        else:
            fig, axes = plt.subplots(nrows, 1, sharex=True, squeeze=False, **options)
            axes = tuple(axes[:, 0])
        yield fig, axes


def cms_label(ax: Any, right: str, label: str | None) -> Any:
    """ "CMS <label>" on the left above ``ax``, ``right`` (the run, ...) on the right."""
    _, _, hep = modules("the CMS label")
    return hep.cms.label(llabel=label or "", data=True, rlabel=right, ax=ax)
