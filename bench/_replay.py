"""Replays pages that dials-local rendered, so that the server costs (almost) nothing.

    python bench/_replay.py PAGES_DIR UPSTREAM_BASE_URL

Run by ``bench/scale.py`` in its own process.  ``PAGES_DIR`` holds pages captured from a
real dials-local (``th1-000.json``, ``th1-001.json``, ..., ``th2-000.json``, ...: full
pages of one page size, as the server sent them).  The server prints its base URL on its
first line of stdout, then serves until it is killed:

* ``GET /rows-N/api/v1/{th1,th2}/?...`` (the list routes): a walk of exactly N rows.  Page
  i (``next_token`` = i; none for the first) is captured page ``i % K`` as it was rendered,
  with only its ``next`` link rewritten (``next_token`` = i + 1, ``null`` on the last
  page); the last page is cut to the exact row count.  The row count lives in the path of
  the clients' base URL, so the server holds no state between walks.
* every other request (``mes/``, count routes, ... under ``/rows-N/`` or not) is forwarded
  as it is to the real dials-local at ``UPSTREAM_BASE_URL``: a plain reverse proxy.

HTTP/1.1 with keep-alive (``ThreadingHTTPServer``), as dials-local itself, so a client
keeps one connection for its walk as it would against the real server.
"""

from __future__ import annotations

import http.client
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

#: ``/rows-N`` then the API path; a list route is ``api/v1/th1/`` or ``api/v1/th2/``.
PATH = re.compile(r"^/rows-(\d+)(/.*)$")
LIST = re.compile(r"^/api/v1/(th1|th2)/$")
#: The ``next`` link opens every page dials-local renders (CONTRACT §5.2: next, previous,
#: results, in this order): what follows it is kept as it is.
NEXT = re.compile(rb'^\{"next":(null|"[^"]*")')
#: Hop-by-hop headers: a proxy does not forward them.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host", "content-length"}  # fmt: skip


class Pages:
    """The captured pages of each route, split around their ``next`` link."""

    def __init__(self, directory: Path) -> None:
        #: route -> [bytes after the ``next`` value, per captured page]
        self.tails: dict[str, list[bytes]] = {}
        #: route -> rows per captured page (every captured page is full)
        self.page_rows: dict[str, int] = {}
        self._cut: dict[tuple[str, int, int], bytes] = {}
        self._lock = threading.Lock()
        for path in sorted(directory.glob("*.json")):
            route = path.name.split("-", 1)[0]
            body = path.read_bytes()
            found = NEXT.match(body)
            if found is None:
                raise SystemExit(f"{path}: the page does not open with its next link")
            self.tails.setdefault(route, []).append(body[found.end() :])
            rows = len(orjson.loads(body)["results"])
            if self.page_rows.setdefault(route, rows) != rows:
                raise SystemExit(f"{path}: {rows} rows, other {route} pages have more")

    def page(self, route: str, index: int, total: int, next_url: str | None) -> bytes:
        """Page ``index`` of a walk of ``total`` rows."""
        tails = self.tails[route]
        size = self.page_rows[route]
        rows = min(size, total - index * size)
        if rows <= 0:
            raise LookupError(index)
        next_json = orjson.dumps(next_url)
        if rows == size:
            return b'{"next":' + next_json + tails[index % len(tails)]
        # The last page, cut: decoded and encoded again once per (page, rows), cached.
        key = (route, index % len(tails), rows)
        with self._lock:
            if key not in self._cut:
                page = orjson.loads(b'{"next":null' + tails[key[1]])
                page["results"] = page["results"][:rows]
                self._cut[key] = NEXT.sub(b"", orjson.dumps(page), count=1)
        return b'{"next":' + next_json + self._cut[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    server: Replay

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per page would cost more than the page."""

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        prefixed = PATH.match(split.path)
        path = prefixed.group(2) if prefixed else split.path
        listing = LIST.match(path)
        if prefixed and listing:
            self.replay(listing.group(1), int(prefixed.group(1)), split.query)
        else:
            self.forward(path + (f"?{split.query}" if split.query else ""))

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        prefixed = PATH.match(split.path)
        path = prefixed.group(2) if prefixed else split.path
        self.forward(path + (f"?{split.query}" if split.query else ""))

    def replay(self, route: str, total: int, query: str) -> None:
        params = parse_qsl(query, keep_blank_values=True)
        token = dict(params).get("next_token")
        index = int(token) if token else 0
        size = self.server.pages.page_rows[route]
        last = (total + size - 1) // size - 1
        next_url = None
        if index < last:
            # As dials-local builds it (CONTRACT §5.4): the request's parameters with
            # next_token replaced, sorted by key.
            kept = [(k, v) for k, v in params if k != "next_token"]
            kept = sorted([*kept, ("next_token", str(index + 1))], key=lambda item: item[0])
            host = self.headers.get("Host", "127.0.0.1")
            next_url = f"http://{host}/rows-{total}/api/v1/{route}/?{urlencode(kept)}"
        try:
            body = self.server.pages.page(route, index, total, next_url)
        except LookupError:
            self.answer(404, b'{"detail":"Invalid cursor"}', [("Content-Type", "application/json")])
            return
        self.answer(200, body, [("Content-Type", "application/json")])

    def forward(self, path: str) -> None:
        """The request as it came, to dials-local; its answer as it came back."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        connection = self.server.upstream()
        try:
            connection.request(self.command, path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            connection.close()  # a stale keep-alive connection: once more on a new one
            connection.connect()
            connection.request(self.command, path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
        kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP]
        self.answer(answer.status, content, kept)

    def answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Replay(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: Pages, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.pages = pages
        split = urlsplit(upstream)
        self._upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self._local = threading.local()

    def upstream(self) -> http.client.HTTPConnection:
        """One keep-alive connection to dials-local per handler thread."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self._upstream, timeout=600)
            self._local.connection = connection
        return connection


def main() -> None:
    pages_dir, upstream = sys.argv[1:3]
    server = Replay(Pages(Path(pages_dir)), upstream)
    port = server.server_address[1]
    print(f"http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
