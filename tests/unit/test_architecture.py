"""The layout tells the architecture (docs/ARCHITECTURE.md), checked on every run:
- infra/ imports no domain; web/ imports no domain; a domain imports no other domain's
  internals — only what the other domain's package exports in its `__init__.py` (demo.py,
  commands.py, cli.py and app.py are the composition root and may);
- controllers and pages never touch a repository (controller → service → repository);
- the import graph of livevote has no cycle, counting imports inside functions too;
- no source file is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "livevote"
DOMAINS = {"accounts", "events", "activities", "polls", "tallies"}
ROOT_MODULES = {"livevote.app", "livevote.cli", "livevote.commands", "livevote.demo"}
# a package imports its own modules; that is not a cycle through the package


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the livevote modules it imports (`from a import b` counts as a.b when b is
    a module, else as a), imports inside functions included."""
    paths = {_module(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in paths else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[module] = {m for m in found if m in paths}
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_upward_or_sideways_imports() -> None:
    wrong = []
    for module, imports in _imports().items():
        if module in ROOT_MODULES:
            continue
        area = _area(module)
        for imported in imports:
            target = _area(imported)
            if target not in DOMAINS or target == area or imported == f"livevote.{target}":
                continue
            if area in {"infra", "web", "config", "errors"} or area in DOMAINS:
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "\n".join(sorted(wrong))


def test_controllers_and_pages_never_touch_a_repository() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, imports in _imports().items()
        if module.rsplit(".", 1)[-1] in {"controllers", "pages"} or "_controllers" in module
        for imported in imports
        if "repository" in imported.rsplit(".", 1)[-1]
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_import_graph_has_no_cycle() -> None:
    graph = _imports()
    # a package's __init__ is imported with any of its modules; "a.b" depends on "a"
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_no_source_file_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long
