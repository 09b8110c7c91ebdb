"""Schemathesis against dials-local's own OpenAPI document (``/static/swagger.json``), over
real HTTP, on SQLite and on PostgreSQL (issue #10).

Every operation of the document is fuzzed with schema-valid ("positive") and schema-invalid
("negative") requests, always with a valid ``X-CLIENT-SECRET`` and, where the route reads
it, a ``Workspace`` header naming a configured workspace.  The run is bounded and seeded:
``MAX_EXAMPLES`` requests at most per operation and mode, generated from ``SEED`` with no
shrinking and no example database, so the same requests are sent on every run (set
``DIALS_SCHEMATHESIS_SEED`` and ``DIALS_SCHEMATHESIS_EXAMPLES`` to explore further).

What must hold for every response (CONTRACT §2.3, §6):

* never a 5xx;
* a 4xx body is JSON in one of the contract's shapes: ``{"detail": "..."}`` (with an
  optional ``"code"``), the per-parameter ``{"<param>": ["..."]}`` of filter errors, or
  ``["..."]`` (cert-json / golden-json); the exceptions the contract itself lists are
  Django's HTML 404 page for a path that matches no route, and the plain-text 400 of the
  sign-in POSTs without their attribute;
* a 2xx JSON body parses.

Path parameters are declared as strings (``mes/abc/`` reaches the view); here they are
generated as integers as well, so that composite-key routes are reached with numbers,
including ones beyond 64 bits.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from dials_local.testing import LocalServer

try:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
except ImportError:  # pragma: no cover - depends on the environment
    # schemathesis 4 needs Python >= 3.11; the 3.9 matrix of .ci/run installs `[all]` only.
    if os.environ.get("CI") and sys.version_info >= (3, 11):
        raise
    pytest.skip("schemathesis is not installed (pip install -e .[test])", allow_module_level=True)

SEED = int(os.environ.get("DIALS_SCHEMATHESIS_SEED", "20241010"))
# Requests per operation and generation mode: ~2.2k per database (~30 s on SQLite).
MAX_EXAMPLES = int(os.environ.get("DIALS_SCHEMATHESIS_EXAMPLES", "30"))
WORKSPACES = ("tracker", "jetmet", "csc")  # tracker: most rows; jetmet: ML models and flags
REQUEST_TIMEOUT = 30.0

HTML_404 = "<title>Not Found</title>"
# The plain-text 400 of CONTRACT §2.3 (sign-in POST bodies without their attribute).
PLAIN_400_PATHS = ("/api/v1/auth/device-token/", "/api/v1/auth/refresh-token/")
ARRAY_400_PATHS = (
    "/api/v1/ml-bad-lumisection/cert-json/",
    "/api/v1/ml-bad-lumisection/golden-json/",
)
# Proxies of CERN services: a deliberate 501 {"detail"} (docs/dials-local.md).
NOT_IMPLEMENTED_PATHS = (
    "/api/v1/caf/",
    "/api/v1/runregistry/editable-datasets/",
    "/api/v1/brilws/brilcalc-lumi/",
)
# Keys allowed beside "detail", per route: the unknown-OMS-endpoint 404 lists the served
# endpoints (docs/dials-local.md; DIALS answers 500 there, CONTRACT §2.3).
EXTRA_DETAIL_KEYS = {"/api/v1/oms-proxy/": {"available"}}


def _fuzzable_document(base_url: str) -> dict[str, Any]:
    """The server's OpenAPI document, with integer path parameters allowed as well."""
    response = requests.get(base_url + "static/swagger.json", timeout=REQUEST_TIMEOUT)
    response.raise_for_status()
    document: dict[str, Any] = copy.deepcopy(response.json())
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["schema"] = {"anyOf": [{"type": "integer"}, parameter["schema"]]}
    document["servers"] = [{"url": base_url.rstrip("/")}]
    return document


def _contract_error_body(path: str, status: int, content_type: str, body: bytes) -> str | None:
    """Why this 4xx body is off-contract, or None when it is in a catalogued shape."""
    text = body.decode("utf-8", "replace")
    if content_type.startswith("text/html"):
        if status == 404 and HTML_404 in text:
            return None  # a path that matches no route: Django's page (CONTRACT §1, §2.3)
        if status == 400 and path in PLAIN_400_PATHS and "not found in request body" in text:
            return None
        return f"an HTML/text body for {status}"
    if not content_type.startswith("application/json"):
        return f"Content-Type {content_type!r}"
    try:
        data = json.loads(text)
    except ValueError:
        return "a body that is not JSON"
    if isinstance(data, dict):
        if "detail" in data:
            if not isinstance(data["detail"], str) or not data["detail"]:
                return '"detail" is not a non-empty string'
            extra = set(data) - {"detail", "code"} - EXTRA_DETAIL_KEYS.get(path, set())
            if extra:
                return f"unexpected keys beside detail: {sorted(extra)}"
            if "code" in data and not isinstance(data["code"], str):
                return '"code" is not a string'
            return None
        if (
            status == 400
            and data
            and all(
                isinstance(messages, list)
                and messages
                and all(isinstance(m, str) and m for m in messages)
                for messages in data.values()
            )
        ):
            return None  # {"<param>": ["..."]}: filter errors (CONTRACT §6)
        return "a JSON object in neither the detail nor the per-parameter shape"
    if (
        isinstance(data, list)
        and status == 400
        and path in ARRAY_400_PATHS
        and len(data) == 1
        and isinstance(data[0], str)
    ):
        return None
    return f"a JSON {type(data).__name__} that is no contract error body"


def _content_type(response: Any) -> str:
    """The Content-Type of a schemathesis response (its headers map names to lists)."""
    for name, values in response.headers.items():
        if name.lower() == "content-type":
            return str(values[0] if isinstance(values, list) else values)
    return ""


def _problem(case: Any, response: Any) -> str | None:
    """What is wrong with ``response`` to ``case``, or None."""
    status = response.status_code
    content_type = _content_type(response)
    if status == 501 and case.path in NOT_IMPLEMENTED_PATHS:
        why = _contract_error_body(case.path, status, content_type, response.content)
        return None if why is None else f"{status} with {why}"
    if status >= 500:
        return f"server error {status}"
    if 400 <= status < 500:
        why = _contract_error_body(case.path, status, content_type, response.content)
        return None if why is None else f"{status} with {why}"
    if 200 <= status < 300 and content_type.startswith("application/json"):
        try:
            response.json()
        except ValueError:
            return f"{status} whose JSON body does not parse"
    return None


def _describe(case: Any, response: Any, why: str, server: LocalServer) -> str:
    curl = case.as_curl_command(
        headers={"X-CLIENT-SECRET": "$DIALS_LOCAL_SECRET_KEY"},
        base_url=server.base_url.rstrip("/"),
    )
    body = response.content[:400].decode("utf-8", "replace")
    return (
        f"{why}\n  request: {curl}\n"
        f"  response: {response.status_code} {_content_type(response)!r} {body!r}"
    )


def _run_operation(
    operation: Any,
    mode: Any,
    server: LocalServer,
    session: requests.Session,
    on_response: Callable[[Any, requests.Response], None],
) -> None:
    """Send up to MAX_EXAMPLES generated requests for ``operation`` in ``mode``."""
    header_names = {p.name.lower() for p in operation.iter_parameters() if p.location == "header"}
    fixed = {"X-CLIENT-SECRET": server.secret_key}
    if "workspace" in header_names:
        strategy = st.one_of(
            *(operation.as_strategy(mode, headers={**fixed, "workspace": w}) for w in WORKSPACES)
        )
    else:
        strategy = operation.as_strategy(mode, headers=fixed)

    @seed(SEED)
    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: every failure is recorded, none replayed
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        headers = {"X-CLIENT-SECRET": server.secret_key}
        if "workspace" in header_names and not (case.headers or {}).get("workspace"):
            headers["workspace"] = WORKSPACES[0]
        response = case.call(
            base_url=server.base_url.rstrip("/"),
            session=session,
            headers=headers,
            timeout=REQUEST_TIMEOUT,
            allow_redirects=False,
        )
        on_response(case, response)

    try:
        send()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, or only fixed ones): positive mode
        # covered the operation.
        if mode != schemathesis.GenerationMode.NEGATIVE:
            raise


def test_schemathesis_finds_no_server_errors_or_off_contract_bodies(
    any_server: LocalServer,
) -> None:
    # Unsanitized, so that the curl lines of failures are exact (next_token included); the
    # key is replaced by a placeholder there instead.
    config = schemathesis.config.SchemathesisConfig(
        output=schemathesis.config.OutputConfig(
            sanitization=schemathesis.config.SanitizationConfig(enabled=False)
        )
    )
    schema = schemathesis.openapi.from_dict(_fuzzable_document(any_server.base_url), config=config)
    # A schema error would be an Err: .ok() raises on it, failing the test as it should.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 40, [op.label for op in operations]

    problems: dict[tuple[str, str], str] = {}  # first failure per (operation, kind)
    statuses: dict[int, int] = {}
    sent = 0

    def on_response(case: Any, response: Any) -> None:
        nonlocal sent
        sent += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        why = _problem(case, response)
        if why is not None:
            key = (case.operation.label, why.split(" with ")[0])
            problems.setdefault(key, _describe(case, response, why, any_server))

    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            for mode in (
                schemathesis.GenerationMode.POSITIVE,
                schemathesis.GenerationMode.NEGATIVE,
            ):
                _run_operation(operation, mode, any_server, session, on_response)
    elapsed = time.monotonic() - started
    summary = f"{sent} requests in {elapsed:.1f} s, statuses {dict(sorted(statuses.items()))}"
    print(summary)

    assert not problems, (
        f"{len(problems)} off-contract responses ({summary}; seed {SEED}):\n"
        + "\n".join(f"- {label}: {text}" for (label, _), text in sorted(problems.items()))
    )
    # The run really exercised the server: successes, filter errors and not-found pages.
    assert sent >= 1000, summary
    assert statuses.get(200, 0) >= 200 and statuses.get(400, 0) >= 50, summary
