"""The package's floors, read from the source with ``ast``: no import cycles, and ``ops/`` imports
only ``autograd``, ``_backend``, ``errors`` and its own modules.

Every import counts, also one inside a function: a late import hides a cycle, it does not
remove it. Relative imports are resolved (``from . import x`` names the module ``x`` when there
is one), and importing ``gridnn.a.b`` imports the package ``gridnn.a`` too, unless that package
is one the importing module sits in (Python has already begun importing it: no cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "gridnn"
OPS_MAY_IMPORT = {"gridnn._backend", "gridnn.autograd", "gridnn.errors"}


def module_names(src: Path = SRC) -> dict[str, Path]:
    """{dotted module name: file} for every module of the package ('pkg' for pkg/__init__)."""
    names = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _ancestors(name: str) -> set[str]:
    """The packages above module ``name``: gridnn.a.b -> {gridnn, gridnn.a}."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
                "TYPE_CHECKING", "typing.TYPE_CHECKING"):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def imports_of(name: str, modules: dict[str, Path]) -> set[str]:
    """The package's own modules that module ``name`` imports, anywhere in its body."""
    tree = ast.parse(modules[name].read_text(), filename=str(modules[name]))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _run_time_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            # `from x import y`: y is a module when x.y is one, else a name defined in x.
            targets = [f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}" in modules
                       else base_name for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import gridnn.ops.conv.X` and the like
                target = target.rpartition(".")[0]
            if target:
                found |= {target} | (_ancestors(target) - _ancestors(name))
    found.discard(name)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules = module_names(src)
    return {name: imports_of(name, modules) for name in modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_ops_imports_nothing_above_it() -> None:
    graph = import_graph()
    bad = {name: sorted(deps - OPS_MAY_IMPORT - {
        d for d in deps if d == "gridnn.ops" or d.startswith("gridnn.ops.")})
        for name, deps in graph.items() if name == "gridnn.ops" or name.startswith("gridnn.ops.")}
    bad = {name: deps for name, deps in bad.items() if deps}
    assert not bad, f"ops/ may import only {sorted(OPS_MAY_IMPORT)} and ops/ modules: {bad}"


ROOMS = ("gridnn.studio", "gridnn.onnx", "gridnn.distributed", "gridnn.notebook.widgets")
# The command registers the rooms' subcommands; a run folder trains through
# distributed.fit_distributed, which is train.fit itself in one process; a read-only
# command's model may be an .onnx file (model_files).
ROOM_USERS = {"gridnn.cli", "gridnn.runfolder", "gridnn.model_files"}


def _in_room(name: str) -> bool:
    return any(name == room or name.startswith(room + ".") for room in ROOMS)


def test_nothing_below_the_rooms_imports_them() -> None:
    """studio/, onnx/ and distributed/ sit on the top floor: the library works (and its tests
    run) without their extras, so no floor below may import them; rooms may use each other."""
    graph = import_graph()
    bad = {name: sorted(d for d in deps if _in_room(d))
           for name, deps in graph.items() if not _in_room(name) and name not in ROOM_USERS}
    bad = {name: deps for name, deps in bad.items() if deps}
    assert not bad, f"only {sorted(ROOM_USERS)} and the rooms may import {ROOMS}: {bad}"


# ---- the checker itself, on small made-up packages -------------------------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("files, cycle", [
    ({"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .a import f\n"},
     ["gridnn.a", "gridnn.b", "gridnn.a"]),
    ({"__init__.py": "", "a.py": "def f():\n    from .sub import c\n",
      "sub/__init__.py": "", "sub/c.py": "import gridnn.a\n"},
     ["gridnn.a", "gridnn.sub.c", "gridnn.a"]),
    ({"__init__.py": "", "a.py": "from .sub.c import x\n", "sub/__init__.py": "",
      "sub/c.py": "from .. import a\n"},
     ["gridnn.a", "gridnn.sub.c", "gridnn.a"]),
    ({"__init__.py": "", "a.py": "from . import b\n", "b.py": "import numpy\n"}, None),
    ({"__init__.py": "", "a.py": "from . import b\n",
      "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"},
     None),
])
def test_checker_finds_cycles_through_every_import_form(tmp_path, files, cycle) -> None:
    assert find_cycle(import_graph(_write(tmp_path, files))) == cycle


def test_checker_sees_an_op_importing_upwards(tmp_path) -> None:
    root = _write(tmp_path, {"__init__.py": "", "tensor.py": "", "ops/__init__.py": "",
                             "ops/x.py": "def f():\n    from ..tensor import Tensor\n"})
    assert import_graph(root)["gridnn.ops.x"] == {"gridnn.tensor"}
