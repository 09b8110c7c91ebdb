"""pyproject.toml declares what ``src/`` imports, in the place where it is needed.

Read from the source with ``ast`` (nothing is imported to find out):

* cmsdials: whatever importing a public module imports must be a base dependency; the
  rest (imports inside functions, under ``TYPE_CHECKING``, behind ``except ImportError``,
  or in private modules only those lazy imports load) belongs to an extra, and a
  ``require(module, extra, feature)`` call names the extra that really provides it;
* dials_local: a module-level import is a base dependency or in the ``local`` extra; an
  optional one (tqdm bars, the psycopg driver) may be in another extra; the modules the
  CLI checks before it imports anything are exactly the ``local`` / ``postgres`` extras;
* nothing declared for the runtime is left unimported, except the plugins listed below.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # 3.10: the test extra installs tomli there
    import tomli as tomllib

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGES = ("cmsdials", "dials_local")

#: Top-level module -> the distribution that provides it (a new third-party import
#: needs an entry here, and a declaration in pyproject.toml).
DISTRIBUTION_OF = {
    "anyio": "anyio",
    "click": "click",
    "cryptography": "cryptography",
    "dask": "dask",
    "distributed": "distributed",
    "filelock": "filelock",
    "hist": "hist",
    "jwt": "pyjwt",
    "matplotlib": "matplotlib",
    "mplhep": "mplhep",
    "numpy": "numpy",
    "orjson": "orjson",
    "pandas": "pandas",
    "platformdirs": "platformdirs",
    "psycopg": "psycopg",
    "pyarrow": "pyarrow",
    "pydantic": "pydantic",
    "regex": "regex",
    "requests": "requests",
    "rich": "rich",
    "simdjson": "pysimdjson",
    "sqlalchemy": "sqlalchemy",
    "starlette": "starlette",
    "tqdm": "tqdm",
    "typing_extensions": "typing-extensions",
    "urllib3": "urllib3",
    "uvicorn": "uvicorn",
}
#: Declared, never imported by name: loaded by another package.
PLUGINS = {
    "eval-type-backport": "pydantic evaluates `X | None` annotations through it on 3.9",
    "psycopg": "SQLAlchemy's postgresql+psycopg dialect imports it",
}
#: Extras that are not about running the package.
NOT_RUNTIME = {"test", "all"}
#: Functions that import the module named by their first (``warm_up``: every) argument.
IMPORTING_CALLS = {"require", "available", "installed", "import_module", "find_spec", "warm_up"}


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(line: str) -> tuple[str, set[str]]:
    """(distribution, its extras) of a requirement such as ``uvicorn[standard]>=0.29``."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", line)
    assert found, f"unreadable requirement {line!r}"
    extras = {canonical(e) for e in (found.group(2) or "").split(",") if e.strip()}
    return canonical(found.group(1)), extras


@dataclass(frozen=True)
class Declared:
    """pyproject.toml's dependencies: ``base``, and each extra with its own extras expanded."""

    base: frozenset[str]
    extras: dict[str, frozenset[str]]

    @classmethod
    def read(cls, pyproject: Path = REPO / "pyproject.toml") -> Declared:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        name = canonical(project["name"])
        raw = {extra: list(lines) for extra, lines in project["optional-dependencies"].items()}

        def expand(extra: str) -> frozenset[str]:
            found: set[str] = set()
            for line in raw[extra]:
                dist, extras = requirement(line)
                if dist == name:  # "cmsdials[pandas,numpy]": those extras' lists
                    for inner in extras:
                        found |= expand(inner)
                else:
                    found.add(dist)
            return frozenset(found)

        base = frozenset(requirement(line)[0] for line in project["dependencies"])
        return cls(base, {extra: expand(extra) for extra in raw})

    def runtime_extras(self) -> dict[str, frozenset[str]]:
        return {k: v for k, v in self.extras.items() if k not in NOT_RUNTIME}

    def anywhere(self) -> frozenset[str]:
        """Base and every runtime extra."""
        return self.base.union(*self.runtime_extras().values())


@dataclass(frozen=True)
class Import:
    """One import of a third-party or own module found in the source."""

    module: str  # dotted name as written (absolute)
    where: str  # "src/cmsdials/_decode.py:221"
    importer: str  # the importing module, dotted
    eager: bool  # runs when its module is imported: module level and not guarded
    extra: str | None = None  # the extra a require(module, extra, ...) call names

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module of ``from ... import``, relative ones resolved."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".")
    if not is_package:
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if handler.type is None or any(
            isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError", "Exception"}
            for n in names
        ):
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _string_args(call: ast.Call) -> Iterator[str]:
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield arg.value


def imports_of(path: Path, importer: str | None = None) -> Iterator[Import]:
    """Every import in ``path`` (the module ``importer``, by default named after its place
    under ``src/``): statements, and calls that import a module named by a string literal
    (``require("pandas", "pandas", ...)``, ``import_module("x")``)."""
    importer = importer or module_name(path)
    is_package = path.name == "__init__.py"
    where = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)

    def visit(node: ast.AST, eager: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, f"{where}:{node.lineno}", importer, eager)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, importer, is_package)
            yield Import(module, f"{where}:{node.lineno}", importer, eager)
            if module.split(".")[0] in PACKAGES:  # "from cmsdials import _stream": a module
                for alias in node.names:
                    submodule = f"{module}.{alias.name}"
                    yield Import(submodule, f"{where}:{node.lineno}", importer, eager)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in IMPORTING_CALLS:
                strings = list(_string_args(node))
                modules = strings if name == "warm_up" else strings[:1]
                extra = strings[1] if name == "require" and len(strings) > 1 else None
                for module in modules:
                    yield Import(module, f"{where}:{node.lineno}", importer, False, extra)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            eager = False
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.body:
                yield from visit(child, False)
            for other in (*node.handlers, *node.orelse, *node.finalbody):
                yield from visit(other, eager)
            return
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, eager)
            return
        for inner in ast.iter_child_nodes(node):
            yield from visit(inner, eager)

    yield from visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), True)


def own_modules(package: str) -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted((SRC / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def is_third_party(module: str) -> bool:
    top = module.split(".")[0]
    return bool(top) and top not in sys.stdlib_module_names and top not in PACKAGES


def loaded_on_import(package: str, entry_points: list[str]) -> set[str]:
    """The package's modules that importing ``entry_points`` loads (eager imports only,
    parents included: importing ``a.b`` runs ``a/__init__.py`` first)."""
    modules = own_modules(package)
    edges = {
        name: {
            imp.module
            for imp in imports_of(path)
            if imp.eager and imp.module in modules and imp.module != name
        }
        for name, path in modules.items()
    }
    seen: set[str] = set()
    todo = list(entry_points)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for known in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            if known in modules and known not in seen:
                seen.add(known)
                todo.extend(edges[known])
    return seen


def third_party_imports(package: str) -> list[Import]:
    return [
        imp
        for path in own_modules(package).values()
        for imp in imports_of(path)
        if is_third_party(imp.module)
    ]


def distribution(imp: Import) -> str:
    assert imp.top in DISTRIBUTION_OF, (
        f"{imp.where}: imports {imp.top!r}; add it to DISTRIBUTION_OF and to pyproject.toml"
    )
    return canonical(DISTRIBUTION_OF[imp.top])


@pytest.fixture(scope="module")
def declared() -> Declared:
    return Declared.read()


def test_importing_cmsdials_needs_only_the_base_dependencies(declared: Declared) -> None:
    public = [name for name in own_modules("cmsdials") if not re.search(r"(^|\.)_", name)]
    assert {"cmsdials", "cmsdials.filters", "cmsdials.auth.secret_key"} <= set(public)
    loaded = loaded_on_import("cmsdials", public)
    assert "cmsdials._dials" in loaded and "cmsdials._columns" not in loaded  # premise
    wrong = {
        f"{imp.where}: {imp.module} ({distribution(imp)})"
        for imp in third_party_imports("cmsdials")
        if imp.eager and imp.importer in loaded and distribution(imp) not in declared.base
    }
    assert wrong == set(), "imported by `import cmsdials...` but not a base dependency"


def test_every_cmsdials_import_is_declared(declared: Declared) -> None:
    imports = third_party_imports("cmsdials")
    assert {"numpy", "simdjson", "pandas", "hist", "tqdm"} <= {imp.top for imp in imports}
    undeclared = {
        f"{imp.where}: {imp.module}"
        for imp in imports
        if distribution(imp) not in declared.anywhere()
    }
    assert undeclared == set()


def test_require_names_the_extra_that_provides_the_module(declared: Declared) -> None:
    calls = [imp for imp in third_party_imports("cmsdials") if imp.extra is not None]
    assert {(imp.top, imp.extra) for imp in calls} >= {("pandas", "pandas"), ("hist", "hist")}
    wrong = {
        f"{imp.where}: require({imp.module!r}, {imp.extra!r})"
        for imp in calls
        if distribution(imp) not in declared.extras.get(imp.extra or "", frozenset())
    }
    assert wrong == set(), "the error would tell users to install an extra that lacks it"


def test_dials_local_imports_are_in_the_local_extra(declared: Declared) -> None:
    local = declared.base | declared.extras["local"]
    imports = third_party_imports("dials_local")
    eager = {f"{i.where}: {i.module}" for i in imports if i.eager and distribution(i) not in local}
    assert eager == set(), "dials-local imports these without the local extra declaring them"
    optional = {
        f"{imp.where}: {imp.module}"
        for imp in imports
        if not imp.eager and distribution(imp) not in declared.anywhere()
    }
    assert optional == set()


def test_the_cli_checks_exactly_the_extras(declared: Declared) -> None:
    """dials-local's one-line "install the extra" check looks for these modules: it must
    look for every module of the extra (none missed, none invented)."""
    from dials_local.cli import LOCAL_EXTRA_MODULES, POSTGRES_EXTRA_MODULES

    provides = {canonical(dist): module for module, dist in DISTRIBUTION_OF.items()}
    for modules, extra in ((LOCAL_EXTRA_MODULES, "local"), (POSTGRES_EXTRA_MODULES, "postgres")):
        assert {provides[dist] for dist in declared.extras[extra]} == set(modules), extra


def test_nothing_is_declared_that_nothing_imports(declared: Declared) -> None:
    imported = {distribution(imp) for package in PACKAGES for imp in third_party_imports(package)}
    plugins = {canonical(name) for name in PLUGINS}
    unused = declared.anywhere() - imported - plugins
    assert unused == set(), "declared, never imported: drop them or list them in PLUGINS"
    assert plugins <= declared.anywhere(), "a plugin listed here is no longer declared"
    assert "fastapi" not in declared.anywhere()  # the server is plain Starlette


def test_all_is_every_runtime_extra(declared: Declared) -> None:
    assert declared.extras["all"] == frozenset().union(*declared.runtime_extras().values())
    assert declared.extras["all"] <= declared.extras["test"]


def test_the_import_reader_tells_eager_from_optional(tmp_path: Path) -> None:
    """Guard the premise of the tests above on a module written for it."""
    source = tmp_path / "__init__.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import orjson\n"
        "from . import _stream\n"
        "from ._optional import require\n"
        "if TYPE_CHECKING:\n"
        "    import pandas\n"
        "try:\n"
        "    import tqdm\n"
        "except ImportError:\n"
        "    tqdm = None\n"
        "def to_hist():\n"
        "    import simdjson\n"
        "    return require('hist', 'hist', 'to_hist()')\n"
        "warm_up('numpy', 'simdjson')\n",
        encoding="utf-8",
    )
    found = {(i.module, i.eager, i.extra) for i in imports_of(source, "cmsdials.clients")}
    assert found == {
        ("typing", True, None),
        ("orjson", True, None),
        ("cmsdials.clients", True, None),  # "from . import _stream": the package ...
        ("cmsdials.clients._stream", True, None),  # ... and the module
        ("cmsdials.clients._optional", True, None),
        ("cmsdials.clients._optional.require", True, None),
        ("pandas", False, None),
        ("tqdm", False, None),
        ("simdjson", False, None),
        ("hist", False, "hist"),
        ("numpy", False, None),
    }


def test_the_real_source_is_read() -> None:
    """The package has the kinds of import the tests above judge."""
    imports = {(i.top, i.eager) for i in third_party_imports("cmsdials")}
    assert {("orjson", True), ("simdjson", False), ("pandas", False)} <= imports
    assert ("simdjson", True) not in imports
    assert ("tqdm", False) in {(i.top, i.eager) for i in third_party_imports("dials_local")}
