"""Our package against the recorded public surface of the incumbent, cmsdials 2.4.1.

``incumbent_surface/cmsdials-2.4.1.json`` is written by ``incumbent_surface/extract.py``
run with the incumbent's interpreter.  Every module, name, signature, class member and
model field recorded there must exist here with the same meaning: scripts written for
2.4.1 import and call ours unchanged.

A 2.4.1 parameter must keep its position, kind and default; we may only add parameters
after it with defaults (or keyword-only).  A ``*args``/``**kwargs`` that 2.4.1 handed on
to another callable (``Dials(creds, ws, *args, **kwargs)`` -> ``base_url``, ``route``,
``version``) may be spelt out as the parameters it stood for.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
import typing
from pathlib import Path
from typing import Any

import pydantic
import pytest

SURFACE = json.loads(
    (Path(__file__).parent / "incumbent_surface" / "cmsdials-2.4.1.json").read_text()
)

#: Deliberate differences, each a defect of 2.4.1 (also in docs/client.md, "What is
#: different from the incumbent client").  Keys are ``fnmatch`` patterns of the problem's
#: subject; an entry that matches nothing fails the test, so the list cannot go stale.
ALLOWED: dict[str, str] = {
    # 2.4.1's retries=0 means a single dropped connection or 502 aborts a whole walk;
    # None is our default policy (3 retries with back-off, Retry-After honoured).
    "*(retries): default": "retries default to a retry policy, not to none",
    # 2.4.1 asked for a file_id and called dataset-index/{dataset_id}/{file_id}/, a route
    # that does not exist: its get() could never succeed.
    "cmsdials.*DatasetIndexClient.get(file_id): missing": "dataset_index.get(dataset_id)",
    # A progress bar when someone is watching (tqdm installed, interactive stderr).
    "cmsdials.*.list_all(enable_progress): default": "progress shown when interactive",
    # In 2.4.1 a plain X-CLIENT-SECRET key was an instance of the client-credentials
    # class (a Keycloak login it never does); ours is a credential of its own.
    "cmsdials.auth.secret_key.Credentials: bases": "secret key is not ClientCredentials",
    # The misspelt 2.4.1 filter was ignored by the server (no LS upper bound possible);
    # the name is still accepted (DeprecationWarning) and sends ls_number__lte.
    "*Filters.ls_numbet__lte: missing": "ls_numbet__lte is an alias, not a field",
    # mes.get's key is named like the row and filter field (me_id); get(id=...) and
    # positional calls still work.
    "cmsdials.*MonitoringElementClient.get(id): missing": "mes.get(me_id), id= accepted",
    "cmsdials.*MonitoringElementClient.get(me_id): extra": "mes.get(me_id), id= accepted",
    # 2.4.1 cached tokens in ./.cache of the working directory, world-readable and shared
    # by every server; ours default to a private per-user cache (docs/signin.md).
    "cmsdials.auth.*.DEFAULT_CACHE_DIR: value": "private per-user token cache",
}


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if isinstance(obj, typing.TypeVar):
        return "typevar"
    if isinstance(obj, type):
        return "class"
    if inspect.isfunction(obj):
        return "function"
    return "constant"


def _member_group(kind: str) -> str:
    """Members are compared by how they are used: called, or read."""
    return "callable" if kind in ("method", "staticmethod", "classmethod") else "data"


def _resolve(path: str) -> Any:
    """``module.Qualname`` of 2.4.1 -> our object at the same path."""
    module_name, _, name = path.rpartition(".")
    while module_name:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            name = f"{head}.{name}"
            continue
        obj: Any = module
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


def _our_params(obj: Any, *, drop_first: bool) -> list[inspect.Parameter] | None:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    return params[1:] if drop_first and params else params


def _signature_problems(
    subject: str, recorded: dict[str, Any], ours: list[inspect.Parameter] | None
) -> list[tuple[str, str]]:
    """Compare one recorded signature (and what its var-args forwarded) with ours."""
    if recorded.get("signature") is None:
        return []
    if ours is None:
        return [(f"{subject}: signature", "ours has no signature")]
    problems: list[tuple[str, str]] = []
    by_name = {p.name: p for p in ours}
    has_var = {p.kind for p in ours}
    forwarded = recorded.get("forwards", {}).get("parameters", [])
    used: set[str] = set()

    def check_default(param: dict[str, Any], mine: inspect.Parameter) -> None:
        if param["has_default"]:
            if mine.default is inspect.Parameter.empty:
                problems.append((f"{subject}({param['name']}): default", "ours is required"))
            elif repr(mine.default) != param["default"]:
                problems.append(
                    (
                        f"{subject}({param['name']}): default",
                        f"{param['default']} in 2.4.1, {mine.default!r} here",
                    )
                )

    def check_positional(param: dict[str, Any], index: int) -> None:
        mine = ours[index] if index < len(ours) else None
        if mine is None or mine.name != param["name"]:
            where = "missing" if param["name"] not in by_name else "moved"
            problems.append((f"{subject}({param['name']}): {where}", f"expected at {index}"))
            return
        if mine.kind is not getattr(inspect.Parameter, param["kind"]):
            problems.append((f"{subject}({param['name']}): kind", f"{mine.kind.name} here"))
        used.add(mine.name)
        check_default(param, mine)

    def check_keyword(param: dict[str, Any]) -> None:
        mine = by_name.get(param["name"])
        if mine is None or mine.kind not in (mine.POSITIONAL_OR_KEYWORD, mine.KEYWORD_ONLY):
            if inspect.Parameter.VAR_KEYWORD not in has_var:
                problems.append((f"{subject}({param['name']}): missing", "keyword"))
            return
        used.add(mine.name)
        check_default(param, mine)

    index = 0
    for param in recorded["signature"]:
        kind = param["kind"]
        if kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"):
            check_positional(param, index)
            index += 1
        elif kind == "KEYWORD_ONLY":
            check_keyword(param)
        elif kind == "VAR_POSITIONAL":
            if inspect.Parameter.VAR_POSITIONAL in has_var:
                continue
            if not forwarded:
                problems.append((f"{subject}(*{param['name']}): missing", "no *args here"))
            for item in forwarded:  # spelt out, in order, where *args was
                check_positional(item, index)
                index += 1
        else:  # VAR_KEYWORD
            if inspect.Parameter.VAR_KEYWORD in has_var:
                continue
            if not forwarded:
                problems.append((f"{subject}(**{param['name']}): missing", "no **kwargs here"))
            for item in forwarded:
                if item["name"] not in used:
                    check_keyword(item)
    for mine in ours:  # what we add must not make old calls fail
        named = mine.kind in (mine.POSITIONAL_OR_KEYWORD, mine.KEYWORD_ONLY)
        if named and mine.name not in used and mine.default is inspect.Parameter.empty:
            problems.append((f"{subject}({mine.name}): extra", "required parameter added"))
    return problems


def _member_problems(subject: str, cls: type, name: str, recorded: dict[str, Any]) -> list[Any]:
    if not hasattr(cls, name):
        return [(f"{subject}.{name}: missing", recorded["kind"])]
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
        kind = "method"
    elif isinstance(raw, property):
        kind = "property"
    else:
        kind = "attribute"
    if _member_group(kind) != _member_group(recorded["kind"]):
        return [(f"{subject}.{name}: kind", f"{recorded['kind']} in 2.4.1, {kind} here")]
    problems: list[Any] = []
    if "value" in recorded and recorded["type"] == "str":
        value = getattr(cls, name)
        if repr(value) != recorded["value"]:
            problems.append((f"{subject}.{name}: value", f"{recorded['value']} != {value!r}"))
    if "signature" in recorded:
        drop_first = inspect.isfunction(raw)  # plain methods: self
        ours = _our_params(getattr(cls, name), drop_first=drop_first)
        problems += _signature_problems(f"{subject}.{name}", recorded, ours)
    return problems


def _field_problems(subject: str, cls: type, recorded: list[dict[str, Any]]) -> list[Any]:
    if not issubclass(cls, pydantic.BaseModel):
        return [(f"{subject}: fields", "not a pydantic model here")]
    problems: list[Any] = []
    fields = cls.model_fields
    for field in recorded:
        mine = fields.get(field["name"])
        if mine is None:
            problems.append((f"{subject}.{field['name']}: missing", "field"))
        elif not field["required"]:
            default = mine.default_factory() if mine.default_factory else mine.default  # type: ignore[call-arg]
            if mine.is_required() or repr(default) != field["default"]:
                problems.append((f"{subject}.{field['name']}: default", field["default"]))
    return problems


def _name_problems(module_name: str, name: str, recorded: dict[str, Any]) -> list[Any]:
    subject = f"{module_name}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [(f"{module_name}: import", str(exc))]
    if recorded["kind"] == "module":
        try:
            importlib.import_module(subject)
        except ImportError as exc:
            return [(f"{subject}: import", str(exc))]
    if not hasattr(module, name):
        return [(f"{subject}: missing", recorded["kind"])]
    obj = getattr(module, name)
    if _kind(obj) != recorded["kind"]:
        return [(f"{subject}: kind", f"{recorded['kind']} in 2.4.1, {_kind(obj)} here")]
    problems: list[Any] = []
    text = recorded["kind"] == "constant" and recorded["type"] == "str"
    if text and not name.startswith("__") and repr(obj) != recorded["value"]:
        problems.append((f"{subject}: value", f"{recorded['value']} != {obj!r}"))
    if recorded["kind"] == "function":
        problems += _signature_problems(subject, recorded, _our_params(obj, drop_first=False))
    if recorded["kind"] != "class":
        return problems
    for base in recorded["bases"]:
        try:
            ours_base = _resolve(base)
        except (ImportError, AttributeError):
            problems.append((f"{subject}: bases", f"no {base} here"))
            continue
        if not issubclass(obj, ours_base):
            problems.append((f"{subject}: bases", f"not a subclass of {base}"))
    if "fields" in recorded:
        problems += _field_problems(subject, obj, recorded["fields"])
    else:
        problems += _signature_problems(subject, recorded, _our_params(obj, drop_first=False))
    for member, entry in recorded["members"].items():
        problems += _member_problems(subject, obj, member, entry)
    return problems


def _unexpected(problems: list[tuple[str, str]]) -> list[str]:
    return [
        f"{subject}: {detail}"
        for subject, detail in problems
        if not any(fnmatch.fnmatchcase(subject, pattern) for pattern in ALLOWED)
    ]


def _all_problems() -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for module_name, names in SURFACE["modules"].items():
        for name, recorded in names.items():
            problems += _name_problems(module_name, name, recorded)
    return problems


def test_the_recording_is_of_2_4_1() -> None:
    assert SURFACE["version"] == "2.4.1"
    assert len(SURFACE["modules"]) > 40


@pytest.mark.parametrize("module_name", sorted(SURFACE["modules"]))
def test_module_has_the_incumbent_surface(module_name: str) -> None:
    importlib.import_module(module_name)
    problems: list[Any] = []
    for name, recorded in SURFACE["modules"][module_name].items():
        problems += _name_problems(module_name, name, recorded)
    assert _unexpected(problems) == []


def test_every_allowed_difference_is_still_real() -> None:
    subjects = [subject for subject, _ in _all_problems()]
    stale = [p for p in ALLOWED if not any(fnmatch.fnmatchcase(s, p) for s in subjects)]
    assert stale == []


def test_the_check_catches_a_missing_name() -> None:
    # The checker itself: a name 2.4.1 had and we lack must be reported.
    recorded = {"kind": "class", "bases": [], "members": {}, "signature": []}
    assert _unexpected(_name_problems("cmsdials", "NoSuchName", recorded)) != []
