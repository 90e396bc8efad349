"""The layout keeps its promises: no import cycles, imports go one way, the library prints nothing.

Read from the source with :mod:`ast` (function-level imports included), so a
cycle or a wrong-way import fails here before it confuses anyone.
``docs/architecture.md`` describes the rooms and the rules checked here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "gridmap"
DOC = REPO / "docs" / "architecture.md"

#: Rank of each room: a room may import rooms of lower or equal rank only
#: (equal rank: the cycle test keeps them apart). cli and api are the surfaces.
RANKS = {
    "errors": 0,
    "coords": 1,
    "policy": 2,  # privacy reads the schema's layer names; the store reads ids
    "workspace": 2,
    "datasets": 2,
    "join": 3,
    "checks": 4,
    "ingest": 4,
    "analysis": 5,
    "lookup": 5,
    "requests": 5,
    "division": 5,
    "maps": 6,
    "cli": 7,
    "api": 7,
}
SURFACES = {"cli", "api", "__main__"}
#: Third-party modules only the surfaces may import (terminals and HTTP).
SURFACE_ONLY = {"rich", "typer", "click", "fastapi", "starlette", "uvicorn"}
#: Rooms of the core, which draw nothing.
CORE = {"errors", "policy", "coords", "workspace", "datasets", "join", "checks", "ingest"}
DRAWING = {"matplotlib", "folium", "branca"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path) -> list[tuple[str, int]]:
    """(imported module name, line) for every import in the file, wherever it is."""
    out: list[tuple[str, int]] = []
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # 'from gridmap.cli import workspace' imports the submodule, not the package's names
            subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in MODULES]
            if len(subs) < len(node.names):
                out.append((name, node.lineno))
            out.extend((sub, node.lineno) for sub in subs)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        deps = set()
        for name, _ in _imports(mod, path):
            if name == "gridmap" or name.startswith("gridmap."):
                target = _resolve(name)
                if target and target != mod and target != "gridmap":
                    deps.add(target)
        graph[mod] = deps
    return graph


def _room(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "gridmap"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (each one a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _cycle_path(graph: dict[str, set[str]], comp: list[str]) -> str:
    """One concrete loop inside a component, e.g. 'a -> b -> c -> a'."""
    members = set(comp)
    start = comp[0]
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return " -> ".join([*paths[v], start])
            if w not in paths:
                paths[w] = [*paths[v], w]
                todo.append(w)
    return " <-> ".join(comp)


def test_cycle_finder_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(g) == [["a", "b", "c"]]
    assert _cycle_path(g, ["a", "b", "c"]) == "a -> b -> c -> a"


#: Cycles known and owned by work in progress; each must go (never add one here
#: without the issue that removes it). Empty since issue 11: keep it so.
KNOWN_CYCLES: list[list[str]] = []
#: Wrong-way imports landed by work in progress, (module, imported room); each must go.
KNOWN_WRONG_WAY: set[tuple[str, str]] = set()


def test_no_import_cycles():
    graph = _graph()
    cycles = [c for c in find_cycles(graph) if c not in KNOWN_CYCLES]
    assert not cycles, "import cycles: " + "; ".join(_cycle_path(graph, c) for c in cycles)


def test_every_room_has_a_rank_and_a_docstring():
    rooms = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert set(rooms) <= set(RANKS), f"rooms without a rank here: {set(rooms) - set(RANKS)}"
    for room in rooms:
        doc = ast.get_docstring(ast.parse((PKG / room / "__init__.py").read_text("utf-8")))
        assert doc and doc.strip(), f"gridmap/{room}/__init__.py has no docstring"


def test_imports_go_one_way():
    bad = []
    for mod, path in MODULES.items():
        room = _room(mod)
        if room not in RANKS:
            continue
        for name, line in _imports(mod, path):
            if not name.startswith("gridmap."):
                continue
            target = _room(name)
            known = (mod, target) in KNOWN_WRONG_WAY
            if target in RANKS and target != room and RANKS[target] > RANKS[room] and not known:
                bad.append(f"{path.relative_to(REPO)}:{line} ({room}) imports {name} ({target})")
            if room == "api" and target == "cli":
                bad.append(f"{path.relative_to(REPO)}:{line}: the API imports the CLI ({name})")
    assert not bad, "\n".join(bad)


def test_storage_knows_nothing_of_analysis():
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for mod, path in MODULES.items()
        if _room(mod) == "workspace"
        for name, line in _imports(mod, path)
        if name.startswith("gridmap.")
        and _room(name) in {"analysis", "join", "maps", "cli", "api", "lookup", "ingest", "checks"}
    ]
    assert not bad, "\n".join(bad)


def test_library_knows_no_cli_http_or_terminal():
    bad = []
    for mod, path in MODULES.items():
        if _room(mod) in SURFACES:
            continue
        for name, line in _imports(mod, path):
            top = name.split(".")[0]
            if name.startswith("gridmap.") and _room(name) in SURFACES:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
            elif top in SURFACE_ONLY:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_core_draws_nothing():
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for mod, path in MODULES.items()
        if _room(mod) in CORE | {"analysis", "lookup"}
        for name, line in _imports(mod, path)
        if name.split(".")[0] in DRAWING or (name.startswith("gridmap.") and _room(name) == "maps")
    ]
    assert not bad, "\n".join(bad)


def test_library_never_prints():
    bad = []
    for mod, path in MODULES.items():
        if _room(mod) in {"cli", "__main__"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
            ):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "print() in library code (use warnings.warn or logging): " + ", ".join(bad)


#: A command-line flag in a library string: '--skip-bad-rows', '--crs'.
FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Library strings that still name flags, (file, flag); each must go.
KNOWN_FLAG_MESSAGES: set[tuple[str, str]] = set()


def _flags_in_strings(source: str) -> list[tuple[int, str]]:
    """(line, flag) for every flag named in a string literal that is not a docstring."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, flag)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
        for flag in FLAG_RE.findall(node.value)
    ]


def test_flag_finder_finds_a_planted_flag():
    src = '''"""Docstrings may say --format json."""
def f(skip):
    """Nor here: --crs."""
    raise ValueError(f"pass --skip-bad-rows (or skip_bad_rows=True); not a-b--c, x --> y")
'''
    assert _flags_in_strings(src) == [(4, "--skip-bad-rows")]


def test_library_messages_name_parameters_not_flags():
    """Rule 4: a library message says ``skip_bad_rows=True``; the CLI says ``--skip-bad-rows``."""
    bad, seen = [], set()
    for mod, path in MODULES.items():
        if _room(mod) in SURFACES:
            continue
        rel = path.relative_to(REPO).as_posix()
        for line, flag in _flags_in_strings(path.read_text(encoding="utf-8")):
            seen.add((rel, flag))
            if (rel, flag) not in KNOWN_FLAG_MESSAGES:
                bad.append(f"{rel}:{line} names the flag {flag}")
    assert not bad, "library messages name CLI flags (name the parameter):\n" + "\n".join(bad)
    gone = KNOWN_FLAG_MESSAGES - seen
    assert not gone, f"fixed: remove from KNOWN_FLAG_MESSAGES: {sorted(gone)}"


def _doc_rooms() -> tuple[set[str], set[str]]:
    """Rooms in the table of docs/architecture.md: (all, marked planned)."""
    rows = re.findall(r"^\|\s*`gridmap/(\w+)/`\s*\|(.*)$", DOC.read_text("utf-8"), re.M)
    return {r for r, _ in rows}, {r for r, rest in rows if "(planned)" in rest}


def test_architecture_doc_agrees_with_the_folder_listing():
    named, planned = _doc_rooms()
    rooms = {p.parent.name for p in PKG.glob("*/__init__.py")}
    assert rooms - named == set(), f"rooms missing from docs/architecture.md: {rooms - named}"
    ghosts = named - planned - rooms
    assert ghosts == set(), f"docs/architecture.md names rooms that do not exist: {ghosts}"
    text = DOC.read_text("utf-8")
    for room in ("requests", "division"):
        assert f"`gridmap/{room}/`" in text


def test_every_rank_is_documented():
    text = DOC.read_text("utf-8")
    missing = [
        r for r in RANKS if f"`gridmap/{r}/`" not in text and f"`gridmap/{r}.py`" not in text
    ]
    assert not missing, f"docs/architecture.md does not name: {missing}"
