"""The ``requests.Session`` this client creates when the caller brings none.

``requests`` re-reads the proxy and CA-bundle settings from the environment for every
request (``Session.merge_environment_settings``): it scans every environment variable for
``*_proxy`` names and checks ``no_proxy`` against the host, about 0.1-0.16 ms of CPU per
request, a quarter of what ``requests`` costs per page of a walk.  The answer depends only
on the URL's scheme and host, the arguments, the session's own ``proxies``/``verify``/
``cert`` and the environment, so :class:`ClientSession` keeps it per scheme and host and
computes it again whenever any environment variable has changed: the behaviour is that of
``requests``, the cost a dictionary comparison.

A session the caller passes (``Dials(session=...)``) is used as it is, never replaced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings

__all__ = ["ClientSession"]

#: Scheme-and-host entries kept per session (a session talks to one or two origins).
_MAX_ENTRIES = 64


def _environment() -> Mapping[Any, Any]:
    """The process environment, for comparison; ``os.environ``'s own storage when it has
    one (comparing it costs nothing next to copying ``os.environ`` key by key)."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _frozen(value: Any) -> Any:
    """``value`` as a hashable key part (dicts of proxies become sorted tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(value)
    return value


class ClientSession(requests.Session):
    """A ``requests.Session`` that reads environment settings once per change of them."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[Any, ...], _Settings] = {}
        self._seen: dict[Any, Any] = {}
        self._settings_lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (
            parts.scheme,
            parts.netloc,
            _frozen(proxies),
            stream,
            _frozen(verify),
            _frozen(cert),
            _frozen(self.proxies),
            _frozen(self.verify),
            _frozen(self.cert),
        )
        environment = _environment()
        with self._settings_lock:
            if environment != self._seen:
                self._settings.clear()
                self._seen = dict(environment)
            found = self._settings.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._settings_lock:
                if len(self._settings) >= _MAX_ENTRIES:
                    self._settings.clear()
                self._settings[key] = found
        # Callers may change what they are given: hand out copies.
        settings = found.copy()
        settings["proxies"] = dict(found["proxies"])
        return settings

    def __setstate__(self, state: dict[str, Any]) -> None:
        # requests pickles a session by its __attrs__ and restores them so: the cache and
        # its lock stay behind.
        for name, value in state.items():
            setattr(self, name, value)
        self._settings = {}
        self._seen = {}
        self._settings_lock = threading.Lock()
