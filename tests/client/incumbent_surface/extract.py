"""Record the public surface of an installed ``cmsdials`` as JSON.

Run with the interpreter of the incumbent release (not ours)::

    /tmp/inc/venv/bin/python tests/client/incumbent_surface/extract.py \
        > tests/client/incumbent_surface/cmsdials-2.4.1.json

``tests/client/test_incumbent_surface.py`` checks our package against the output.  Only
the standard library is used here (plus pydantic, to read model fields), so that the
script runs in the incumbent's own environment.

Per module: each public name (not starting with ``_``; plus ``__all__``) that is not a
plain import of a standard-library or third-party object, with its kind (``module``,
``class``, ``function``, ``typevar``, ``constant``) and:

* functions and classes: the call signature (names, kinds, defaults as ``repr``).  Where a
  ``*args``/``**kwargs`` is handed on to another callable of the package
  (``super().__init__(*args, **kwargs)``, ``super()._get(edp, **kwargs)``, ...), the
  parameters it stands for are recorded as ``forwards``;
* classes: the package's own base classes, and the public methods, properties and class
  attributes the package defines (inherited ones included, those of pydantic, ``object``
  and other libraries left out);
* pydantic models: the fields in order, with their defaults.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import json
import pkgutil
import sys
import textwrap
import typing
from typing import Any

import pydantic

PACKAGE = "cmsdials"

#: Private modules that users import from all the same (``TokenEncoder``, ``BaseCredentials``).
PRIVATE_MODULES_USED = ("_json", "_base")

_SIMPLE = (str, int, float, bool, type(None))


def _ours(obj: Any) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == PACKAGE


def _modules() -> list[str]:
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") and leaf not in PRIVATE_MODULES_USED:
            continue
        names.append(info.name)
    for name in names:  # everything imported first: dir() then sees every submodule
        importlib.import_module(name)
    return sorted(names)


def _foreign_imports(module: Any) -> set[str]:
    """Names the module binds by importing them from outside the package."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != PACKAGE:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] != PACKAGE
        ):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _param(param: inspect.Parameter) -> dict[str, Any]:
    has_default = param.default is not inspect.Parameter.empty
    return {
        "name": param.name,
        "kind": param.kind.name,
        "has_default": has_default,
        "default": repr(param.default) if has_default else None,
    }


def _function_node(func: Any) -> ast.FunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    node = ast.parse(source).body[0]
    return node if isinstance(node, ast.FunctionDef) else None


def _resolve(call: ast.Call, func: Any, owner: type | None) -> Any:
    """The callable a call expression inside ``func`` refers to, when it is ours."""
    target = call.func
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Call)
        and isinstance(target.value.func, ast.Name)
        and target.value.func.id == "super"
        and owner is not None
    ):
        mro = owner.__mro__
        for klass in mro[mro.index(owner) + 1 :]:
            if target.attr in vars(klass):
                return getattr(klass, target.attr)
        return None
    if isinstance(target, ast.Name):
        found = getattr(inspect.getmodule(func), target.id, None)
        return found if _ours(found) else None
    return None


def _forwards(func: Any, sig: inspect.Signature) -> dict[str, Any] | None:
    """What ``*args``/``**kwargs`` of ``func`` stand for: the parameters of the callable
    they are handed on to, minus those the call fills itself."""
    owner = _owner_of(func)  # where ``super()`` inside func starts looking
    var = {p.kind: p.name for p in sig.parameters.values()}
    star, double = var.get(inspect.Parameter.VAR_POSITIONAL), var.get(inspect.Parameter.VAR_KEYWORD)
    if star is None and double is None:
        return None
    node = _function_node(func)
    if node is None:
        return None
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        starred = any(
            isinstance(a, ast.Starred) and isinstance(a.value, ast.Name) and a.value.id == star
            for a in call.args
        )
        double_starred = any(
            k.arg is None and isinstance(k.value, ast.Name) and k.value.id == double
            for k in call.keywords
        )
        if not (starred or double_starred):
            continue
        target = _resolve(call, func, owner)
        if target is None:
            return None
        target_sig = _signature(target)
        if target_sig is None:
            return None
        params = [p for p in target_sig.parameters.values() if p.name not in ("self", "cls")]
        target_forwards = _forwards(_init_of(target), target_sig)
        explicit = [a for a in call.args if not isinstance(a, ast.Starred)]
        named = {k.arg for k in call.keywords if k.arg is not None}
        left = [
            p
            for p in params[len(explicit) :]
            if p.name not in named and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        expanded = [_param(p) for p in left]
        if target_forwards:
            expanded.extend(target_forwards["parameters"])
        return {"target": _qualname(target), "parameters": expanded}
    return None


def _init_of(target: Any) -> Any:
    if isinstance(target, type):
        for klass in target.__mro__:
            if "__init__" in vars(klass) and _ours(klass):
                return vars(klass)["__init__"]
    return target


def _owner_of(func: Any) -> type | None:
    qualname = getattr(func, "__qualname__", "")
    if "." not in qualname:
        return None
    owner = getattr(inspect.getmodule(func), qualname.split(".")[0], None)
    return owner if isinstance(owner, type) else None


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def _callable(obj: Any, *, drop_self: bool = False) -> dict[str, Any]:
    sig = _signature(obj)
    if sig is None:
        return {"signature": None}
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    entry: dict[str, Any] = {"signature": [_param(p) for p in params]}
    forwards = _forwards(_init_of(obj) if isinstance(obj, type) else obj, sig)
    if forwards:
        entry["forwards"] = forwards
    return entry


def _member(cls: type, name: str) -> dict[str, Any] | None:
    """One public member of a class, if the package defines it (on cls or a base)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            raw = vars(klass)[name]
            break
    else:
        return None
    if not _ours(klass):
        return None
    if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel) and name in cls.model_fields:
        return None  # recorded with the fields
    defined_in = klass.__qualname__
    if isinstance(raw, property):
        return {"kind": "property", "defined_in": defined_in}
    if isinstance(raw, staticmethod):
        return {"kind": "staticmethod", "defined_in": defined_in, **_callable(raw.__func__)}
    if isinstance(raw, classmethod):
        entry = _callable(raw.__func__, drop_self=True)
        return {"kind": "classmethod", "defined_in": defined_in, **entry}
    if inspect.isfunction(raw):
        return {"kind": "method", "defined_in": defined_in, **_callable(raw, drop_self=True)}
    if isinstance(raw, type):
        return {"kind": "class", "defined_in": defined_in}
    return {"kind": "attribute", "defined_in": defined_in, **_value(raw)}


def _value(obj: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type(obj).__name__}
    if isinstance(obj, (*_SIMPLE, enum.Enum)):
        entry["value"] = repr(obj)
    return entry


def _default(field: Any) -> dict[str, Any]:
    if field.is_required():
        return {"required": True, "default": None}
    if field.default_factory is not None:
        return {"required": False, "default": repr(field.default_factory())}
    return {"required": False, "default": repr(field.default)}


def _origin(cls: type) -> type:
    """``PaginatedBaseModel`` for pydantic's parametrised ``PaginatedBaseModel[Run]``."""
    metadata = getattr(cls, "__pydantic_generic_metadata__", None) or {}
    return metadata.get("origin") or cls


def _class(cls: type) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "class",
        "bases": [_qualname(_origin(b)) for b in cls.__bases__ if _ours(b)],
    }
    if issubclass(cls, pydantic.BaseModel):
        entry["fields"] = [
            {"name": name, **_default(field)} for name, field in cls.model_fields.items()
        ]
    elif not issubclass(cls, enum.Enum):  # an Enum's call signature is the enum module's
        entry.update(_callable(cls))
    members = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = _member(cls, name)
        if member is not None:
            members[name] = member
    entry["members"] = members
    return entry


def _name(obj: Any) -> dict[str, Any] | None:
    if inspect.ismodule(obj):
        return (
            {"kind": "module", "module": obj.__name__}
            if _ours(obj) or obj.__name__.startswith(PACKAGE + ".")
            else None
        )
    if isinstance(obj, typing.TypeVar):
        bound = obj.__bound__
        return {"kind": "typevar", "bound": _qualname(bound) if bound is not None else None}
    if isinstance(obj, type):
        return _class(obj) if _ours(obj) else None
    if inspect.isfunction(obj):
        return {"kind": "function", **_callable(obj)} if _ours(obj) else None
    return {"kind": "constant", **_value(obj)}


def extract() -> dict[str, Any]:
    """The surface of every module of the installed package."""
    modules: dict[str, Any] = {}
    for module_name in _modules():
        module = sys.modules[module_name]
        foreign = _foreign_imports(module)
        # Not isidentifier(): pydantic registers parametrised generics in the module
        # namespace under names like "PaginatedBaseModel[Run]".
        names = {n for n in dir(module) if not n.startswith("_") and n.isidentifier()}
        names.update(getattr(module, "__all__", ()))
        entries = {}
        for name in sorted(names - foreign):
            entry = _name(getattr(module, name))
            if entry is not None:
                entries[name] = entry
        modules[module_name] = entries
    package = importlib.import_module(PACKAGE)
    return {
        "package": PACKAGE,
        "version": package.__version__,
        "python": ".".join(map(str, sys.version_info[:2])),
        "modules": modules,
    }


if __name__ == "__main__":
    json.dump(extract(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
