"""The shape of the tree: no import cycle, no module too long to read in one sitting, public surfaces.

import-linter (run by bin/test before pytest) checks which way dependencies point; this checks what it
does not: cycles between any two modules, and module length.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other in a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("modbot", "modbot_adapters", cache_dir=None)
    modules = graph.modules
    edges: dict[str, set[str]] = {}
    for module in modules:
        targets = set()
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in modules:
                continue
            # A package's __init__ re-exporting its children is how packages work; a child importing
            # that __init__ back would then read as a cycle, so child -> own-ancestor edges are left out.
            if module.startswith(imported + "."):
                continue
            targets.add(imported)
        edges[module] = targets
    return edges


def test_no_import_cycles() -> None:
    cycles = _strongly_connected(_import_graph())
    assert cycles == [], f"modules that import each other in a cycle: {cycles}"


def test_cycle_finder_finds_a_cycle() -> None:
    # The checker itself must be able to fail.
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", ["bot", "adapters"])
def test_no_module_over_the_reading_limit(package: str) -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines (split them by concern): {long}"


#: The folders' old import names: the code is imported as ``modbot`` and ``modbot_adapters`` (setup.py).
_OLD_NAMES = re.compile(r"^\s*(?:from|import)\s+(?:bot|adapters)(?:\.|\s|$)|[\"'](?:bot|adapters)\.[a-z_]+\.", re.M)


def _python_sources() -> list[Path]:
    folders = ("bot", "adapters", "tests", "bench", "migrations", "docs", "bin")
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))] + [ROOT / "setup.py"]


def test_nothing_imports_the_folders_by_their_old_names() -> None:
    # The checkout's root is on pytest's path, so "import bot" would still work here and load a second
    # copy of every module (two registries, two settings classes); installed, it would not import at all.
    found = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in _python_sources()
        if path != Path(__file__).resolve()  # this file spells the old names out to test the check
        for text in [path.read_text(encoding="utf-8")]
        for m in _OLD_NAMES.finditer(text)
    ]
    assert found == [], f"old import names (use modbot / modbot_adapters): {found}"


def test_the_old_name_check_can_fail() -> None:
    assert _OLD_NAMES.search("from bot.core import Core") and _OLD_NAMES.search("import adapters.slack_app")
    assert _OLD_NAMES.search('importlib.import_module("bot.cli.main")')
    assert not _OLD_NAMES.search("from modbot.core import Core\nbot.user.id\nrobot = 1")
