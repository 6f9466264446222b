"""The floors of the code base, checked by reading the imports (an ast scan, nothing imported).

Lower floors never import higher ones, and no two modules import each other, directly or round
a longer loop; imports inside functions count too (a lazy import is still a dependency).  A
floor may use any floor below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "adapters", "attacks", "leaderboard")

FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("harness", "harness.core")),              # errors, examples, hashing, atomic, paths, record, registry, seeds
    ("models", ("adapters",)),                         # the model seam, checkpoints, every backend, the cache
    ("perturbations", ("attacks",)),                   # families, engines, similarity, TextAttack parts
    ("data", ("harness.data",)),                       # XNLI and task readers, sources, spec, benchmark reader
    ("metrics", ("harness.metrics",)),                 # accuracy, robustness, compare
    ("stages", ("harness.training", "harness.generate", "harness.scoring")),
    ("leaderboard", ("leaderboard",)),
    ("cli", ("harness.cli",)),
)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = REPO) -> set[str]:
    """Project modules `path` imports (absolute and relative, anywhere in the file)."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def project_graph(root: Path = REPO) -> dict[str, set[str]]:
    """module -> project modules it imports (names that are not modules are dropped)."""
    files = [f for pkg in PACKAGES for f in (root / pkg).rglob("*.py")]
    modules = {module_name(f, root): f for f in files}
    return {m: {i for i in imports_of(f, root) if i in modules and i != m} for m, f in modules.items()}


def floor_of(module: str) -> int:
    best, floor = -1, -1
    for level, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, floor = len(prefix), level
    if floor < 0:
        raise AssertionError(f"{module} is on no floor: add its package to FLOORS")
    return floor


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({FLOORS[floor_of(m)][0]}) imports {i} ({FLOORS[floor_of(i)][0]})"
                  for m, deps in graph.items() for i in deps if floor_of(i) > floor_of(m))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_floor_imports_a_higher_one() -> None:
    assert upward_imports(project_graph()) == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(project_graph()) == []


def test_every_module_is_on_a_floor() -> None:
    for module in project_graph():
        floor_of(module)


def _copy_tree(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            target = tmp_path / f.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.read_text("utf-8"), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("planted", ["from harness.scoring.bench import run\n",
                                     "def late():\n    from leaderboard import render\n"])
def test_a_planted_upward_import_fails(tmp_path: Path, planted: str) -> None:
    root = _copy_tree(tmp_path)
    errors = root / "harness" / "core" / "errors.py"
    errors.write_text(errors.read_text("utf-8") + "\n" + planted, encoding="utf-8")
    found = upward_imports(project_graph(root))
    assert found and all(line.startswith("harness.core.errors (core) imports") for line in found)


def test_a_planted_cycle_fails(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    accuracy = root / "harness" / "metrics" / "accuracy.py"
    accuracy.write_text(accuracy.read_text("utf-8") + "\nfrom harness.metrics import robustness\n", encoding="utf-8")
    assert ["harness.metrics.accuracy", "harness.metrics.robustness"] in cycles(project_graph(root))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_scoring_a_benchmark_needs_neither_the_generator_nor_the_trainer() -> None:
    """`bench` reads a benchmark (harness.data.benchmark); it never loads generation or training code."""
    graph = project_graph()
    needed = reachable(graph, "harness.scoring.bench") | reachable(graph, "leaderboard.verify")
    assert not {m for m in needed if m.startswith(("harness.generate", "harness.training.trainer"))}
