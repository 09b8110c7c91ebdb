"""The connection pool of a ``requests`` adapter: its size, and growing it in place.

Parallel walks and ``get_many`` need as many pooled connections as they have workers: a
pool smaller than that opens and drops a connection per request.  The adapter carrying
the client's requests may be the caller's own - passed as ``Dials(transport=...)`` or
``Dials(session=...)``, or mounted later with ``dials.session.mount()`` - with a client
certificate, a proxy set-up, retries, a recorder.  So the pool grows *in place*: the very
adapter object stays mounted, with every setting and attribute it has, and only its
urllib3 pool manager is rebuilt, bigger, through the adapter's own ``init_poolmanager``:
what a subclass adds there (an SSL context, say) applies to the new pools as well.

Adapters that are not ``HTTPAdapter`` s (a test transport answering from memory) have no
urllib3 pool: they are used as they are.
"""

from __future__ import annotations

from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, BaseAdapter, HTTPAdapter

__all__ = ["grow_pool", "pool_size"]


def pool_size(adapter: BaseAdapter) -> int | None:
    """Connections per host that ``adapter`` keeps, ``None`` for an adapter without a
    urllib3 pool (not an ``HTTPAdapter``)."""
    if not isinstance(adapter, HTTPAdapter):
        return None
    # requests keeps the pool settings in private attributes (no public accessor; they
    # are its pickled state, HTTPAdapter.__attrs__): read, with requests' defaults.
    return int(getattr(adapter, "_pool_maxsize", DEFAULT_POOLSIZE))


def grow_pool(adapter: BaseAdapter, size: int) -> bool:
    """Make ``adapter`` keep at least ``size`` connections per host; whether it grew.

    Called before the concurrent requests start.  The old pools are closed: their idle
    connections at once, a connection still carrying a request when it is released.
    """
    current = pool_size(adapter)
    if current is None or current >= size:
        return False
    assert isinstance(adapter, HTTPAdapter)  # pool_size() said so
    stale = [adapter.poolmanager, *adapter.proxy_manager.values()]
    # Proxy managers are built on first use from the adapter's pool settings: dropped
    # here, they are built again with the new size.
    adapter.proxy_manager.clear()
    adapter.init_poolmanager(
        getattr(adapter, "_pool_connections", DEFAULT_POOLSIZE),
        size,
        block=getattr(adapter, "_pool_block", DEFAULT_POOLBLOCK),
    )
    for manager in stale:
        manager.clear()
    return True
