"""The shape of the package, checked from its source: no import cycle, the lower floors never look the
task up by name, no private torch API, and files and functions small enough to read at once.

Imports are read with ``ast`` (module level and inside functions alike), so a cycle hidden in a
function-level import counts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dlnotes"
MAX_FILE_LINES, MAX_FUNCTION_LINES, MAX_BRANCHES = 400, 50, 15
WHY = "Longer than usual because"  # a docstring saying this (and why) exempts its file or function


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The dlnotes modules ``path`` imports anywhere in its body (``from a.b import c`` is a.b.c when c
    is a module, else a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, name, known) for name, path in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
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
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from dlnotes.tasks import get_task\n")
    assert imported(src, "dlnotes.data.m", modules()) == {"dlnotes.tasks"}


@pytest.mark.parametrize("floor", ["data", "nn", "engine"])
def test_lower_floors_never_import_the_tasks_or_look_a_task_up(floor):
    g = graph()
    for name in g:
        if name.startswith(f"dlnotes.{floor}"):
            assert not {m for m in g[name] if m.startswith("dlnotes.tasks")}, name
            assert "get_task" not in modules()[name].read_text(encoding="utf-8"), name


def test_no_private_torch_api():
    private = re.compile(r"torch\._C\b|_new_shared|_cdata|getrefcount")
    hits = [f"{p.relative_to(PACKAGE)}:{n}" for p in PACKAGE.rglob("*.py")
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if private.search(line)]
    assert hits == []


def branches(fn: ast.AST) -> int:
    """Decision points of a function's own body (nested functions count on their own)."""
    count = 0
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler)):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            count += 1 + len(node.ifs)
        todo.extend(ast.iter_child_nodes(node))
    return count


def test_files_and_functions_are_small_enough_to_read_at_once():
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        rel = path.relative_to(PACKAGE.parent)
        if len(text.splitlines()) > MAX_FILE_LINES and WHY not in (ast.get_docstring(tree) or ""):
            too_big.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            lines, b = node.end_lineno - node.lineno + 1, branches(node)
            if (lines > MAX_FUNCTION_LINES or b > MAX_BRANCHES) and WHY not in (ast.get_docstring(node) or ""):
                too_big.append(f"{rel}:{node.lineno} {node.name}: {lines} lines, {b} branches")
    assert too_big == []
