"""``get_many``: many single-object gets at once, results in input order.

Each key is one ``GET <route>/<keys>/`` over the shared connection pool, with the usual
retry policy per request.  A key that fails (a 404 for a missing object, a server error
after the retries) does not stop the others; the failures are reported together, with
the key and the exception of each, once every key has been tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cmsdials._decode import model_decoder
from cmsdials._progress import make_progress, progress_mode
from cmsdials._route import Route, RouteBinding
from cmsdials._transport import Cancellation, Retries
from cmsdials.errors import GetManyError

__all__ = ["get_many"]


def _path(route: Route, key: Any) -> str:
    """The object path of one key: a tuple/list of key values, a dict, or one value."""
    if isinstance(key, Mapping):
        return route.object_path(**key)
    if isinstance(key, (tuple, list)):
        return route.object_path(*key)
    return route.object_path(key)


def get_many(
    binding: RouteBinding,
    keys: Iterable[Any],
    *,
    workers: int,
    retries: Retries,
    return_exceptions: bool,
    enable_progress: bool | None,
) -> list[Any]:
    """See :meth:`cmsdials._resources.Resource.get_many`."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    keys = list(keys)
    # Every key is checked before the first request: a malformed key is a bug in the
    # caller's code, reported at once rather than among the server's answers.
    paths = [_path(binding.route, key) for key in keys]
    if not paths:
        return []
    transport = binding.transport
    transport.reserve_connections(workers)
    decode = model_decoder(binding.route.row)
    progress = make_progress(
        progress_mode(enable_progress),
        label=f"{binding.path} get_many",
        total=len(paths),
    )
    results: list[Any] = []
    errors: dict[int, BaseException] = {}
    cancel = Cancellation()
    pool = ThreadPoolExecutor(min(workers, len(paths)), thread_name_prefix="cmsdials-get")
    try:
        with cancel:  # Ctrl-C ends the requests in flight (the queued ones are dropped)
            futures = [
                pool.submit(transport.request, "GET", path, decode, retries=retries, cancel=cancel)
                for path in paths
            ]
            for index, future in enumerate(futures):
                try:
                    results.append(future.result())
                except Exception as exc:  # this key failed; Ctrl-C in the wait propagates
                    errors[index] = exc
                    results.append(exc if return_exceptions else None)
                progress.page(1, more=index + 1 < len(futures))
    finally:
        # Keys not requested yet are dropped (on success there are none left).
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close(complete=len(results) == len(paths))
    if errors and not return_exceptions:
        raise GetManyError(keys, results, errors)
    return results
