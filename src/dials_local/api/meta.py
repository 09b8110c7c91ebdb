"""Routes about the API itself: the API root, the Swagger pages, and the third-party
proxies dials-local does not reproduce (CONTRACT §1, §7.11)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from dials_local.api.context import Call, ErrorAnswer
from dials_local.render import html_response, json_response

#: Prefixes listed by ``GET /api/v1/`` (those with a list route), in DRF router order.
ROOT_PREFIXES = (
    "dataset-index",
    "file-index",
    "mes",
    "run",
    "lumisection",
    "th1",
    "th2",
    "ml-models-index",
    "ml-bad-lumisection",
    "oms-proxy",
    "caf",
)


def api_root(call: Call) -> Response:
    """``{"dataset-index": "http://host/api/v1/dataset-index/", ...}``."""
    base = f"{call.base_url}api/v1/"
    return json_response({prefix: f"{base}{prefix}/" for prefix in ROOT_PREFIXES})


_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>DIALS (dials-local)</title>
</head>
<body>
  <h1>DIALS API (dials-local)</h1>
  <p>A DIALS-compatible local server. The OpenAPI document of this server is at
  <a href="/static/swagger.json">/static/swagger.json</a>; the API root is
  <a href="/api/v1/">/api/v1/</a>.</p>
  <p>Every data route needs a credential, e.g.
  <code>curl -H "X-CLIENT-SECRET: &lt;key&gt;" {base}api/v1/run/</code>.</p>
</body>
</html>
"""


def swagger_page(call: Call) -> Response:
    """A small HTML page standing in for the Swagger UI (no external assets: offline)."""
    return html_response(_SWAGGER_PAGE.replace("{base}", call.base_url).encode(), 200)


def not_implemented(detail: str) -> Callable[[Call], Response]:
    """A handler answering 501 ``{"detail": detail}`` (a feature dials-local lacks)."""

    def handle(call: Call) -> Response:
        raise ErrorAnswer(501, {"detail": detail})

    return handle
