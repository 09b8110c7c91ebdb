"""A misbehaving HTTP server for the client's bounds tests (test_client_hostile_server.py).

One thread per connection on 127.0.0.1 (a free port), raw sockets: each route is a
function that gets the parsed request and the socket, and may answer properly, redirect,
trickle, lie about Content-Length, or hang up.  Every request is recorded (method, path,
headers, body) before the route runs, so tests can assert what a server never saw.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson


@dataclass
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Route = Callable[["Received", socket.socket], None]


@dataclass
class HostileServer:
    """Routes by path (query string ignored); unknown paths answer 404."""

    routes: dict[str, Route] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    connections: list[socket.socket] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    def _serve(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                self.received.append(request)
                route = self.routes.get(request.path.split("?")[0], not_found)
                route(request, conn)
        except OSError:
            return
        finally:
            reader.close()
            conn.close()


def _read_request(reader: object) -> Received | None:
    line = reader.readline()  # type: ignore[attr-defined]
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline()  # type: ignore[attr-defined]
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = reader.read(length) if length else b""  # type: ignore[attr-defined]
    return Received(method, path, headers, body)


def answer(
    conn: socket.socket,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    content_type: str = "application/json",
) -> None:
    """A whole HTTP/1.1 answer with Content-Length (keep-alive)."""
    head = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if "Content-Length" not in (headers or {}):
        head.append(f"Content-Length: {len(body)}")
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def hang_up(conn: socket.socket) -> None:
    """Close the connection without a byte of answer (RemoteDisconnected on the client)."""
    conn.shutdown(socket.SHUT_RDWR)
    raise OSError("hung up")


def not_found(request: Received, conn: socket.socket) -> None:
    answer(conn, 404, b'{"detail": "Not found."}')


def json_route(payload: object, status: int = 200) -> Route:
    def route(request: Received, conn: socket.socket) -> None:
        answer(conn, status, orjson.dumps(payload))

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(request: Received, conn: socket.socket) -> None:
        answer(conn, status, b"", {"Location": location})

    return route


def trickle(declared: int, piece: bytes = b"[[[[[", every: float = 0.2) -> Route:
    """A 200 declaring ``declared`` bytes, sending ``piece`` every ``every`` seconds."""

    def route(request: Received, conn: socket.socket) -> None:
        answer(conn, 200, b"", {"Content-Length": str(declared)})
        for _ in range(int(120 / every)):
            conn.sendall(piece)
            time.sleep(every)
        hang_up(conn)

    return route


def trickle_headers(every: float = 0.2) -> Route:
    """Headers sent one line every ``every`` seconds, forever (never a blank line)."""

    def route(request: Received, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for index in range(int(120 / every)):
            conn.sendall(f"X-Filler-{index}: x\r\n".encode())
            time.sleep(every)
        hang_up(conn)

    return route


def close_delimited(size: int) -> Route:
    """A 200 with no Content-Length: ``size`` bytes, then the connection closes."""

    def route(request: Received, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        block = b" " * (1 << 16)
        sent = 0
        while sent < size:
            conn.sendall(block)
            sent += len(block)
        hang_up(conn)

    return route


@contextmanager
def hostile_server(
    routes: dict[str, Route] | None = None, port: int = 0
) -> Iterator[HostileServer]:
    """A :class:`HostileServer` listening on 127.0.0.1 (a free port unless ``port``)."""
    server = HostileServer(routes=dict(routes or {}))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    server.port = listener.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=server._serve, args=(listener, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        with contextlib.suppress(OSError):  # wakes the accept() up on Linux
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in server.connections:  # a stopped server keeps no connection open
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        thread.join(5)
