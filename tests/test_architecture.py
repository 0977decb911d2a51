"""Static architecture checks over engine/ and app/ (``ast`` only: nothing is imported).

* no import cycles between modules (every strongly connected component has one module),
* the engine never imports the app or a Qt binding,
* imports only go down the layers below (core < backbone/features < methods/export/prompts <
  pipeline < curation < evaluation < cli < app/main).

Function-level (lazy) imports count: a lazy import that goes up a layer is still a dependency. A
new engine package or top-level module must be given a layer in ``LAYERS`` (the test says so).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PySide2", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")

#: (layer, module prefixes); a module belongs to the longest matching prefix.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("engine", "engine.imageio", "engine.device", "engine.fileio", "engine.registry", "engine.proposals",
         "engine.jobs", "engine.metrics", "engine.clustering", "engine.crf", "engine.configs", "engine.datasets",
         "engine.project", "engine.store", "engine.runner", "engine.masks")),
    (1, ("engine.backbone", "engine.features", "engine.filters")),
    (2, ("engine.methods", "engine.export", "engine.prompts", "engine.imports", "engine.polygons")),
    (3, ("engine.pipeline",)),
    (4, ("engine.curation",)),
    (5, ("engine.evaluation", "engine.distributed")),
    (6, ("engine.cli",)),
    (7, ("app", "main")),
]
EXACT = {"engine", "main"}  # these prefixes name one module, not a package of them
LAYER_NAMES = {0: "core", 1: "backbone/features", 2: "methods/export/prompts", 3: "pipeline", 4: "curation",
               5: "evaluation", 6: "cli", 7: "app"}


# -- the checker (also run on synthetic trees below, so it is known to fail when it should) ----------

def module_files(root: Path, packages: tuple[str, ...] = ("engine", "app")) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    if (root / "main.py").exists():
        files["main"] = root / "main.py"
    return files


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports_of(module: str, path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(internal modules imported, external top-level names imported) by one file, lazy imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _type_checking_nodes(tree)
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    internal: set[str] = set()
    external: set[str] = set()

    def add(name: str) -> None:
        if name in modules:
            internal.add(name)
        elif name.split(".")[0] in {m.split(".")[0] for m in modules}:
            parent = name
            while parent and parent not in modules:  # `engine.x.Name` -> engine.x
                parent = parent.rpartition(".")[0]
            if parent:
                internal.add(parent)
        else:
            external.add(name.split(".")[0])

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` depends on the submodule
                sub = f"{target}.{alias.name}"
                add(sub if sub in modules else target)
    internal.discard(module)
    return internal, external


def import_graph(root: Path, packages: tuple[str, ...] = ("engine", "app")):
    files = module_files(root, packages)
    names = set(files)
    graph, external = {}, {}
    for mod, path in files.items():
        graph[mod], external[mod] = imports_of(mod, path, names)
    return graph, external


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    out.append(sorted(comp))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    return [c for c in strongly_connected(graph) if len(c) > 1]


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for layer, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or (p not in EXACT and module.startswith(p + "."))) and len(p) > best_len:
                best, best_len = layer, len(p)
    return best


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for mod, deps in sorted(graph.items()):
        lm = layer_of(mod)
        if lm is None:
            problems.append(f"{mod}: no layer assigned (add it to LAYERS in tests/test_architecture.py)")
            continue
        for dep in sorted(deps):
            ld = layer_of(dep)
            if ld is not None and ld > lm:
                problems.append(f"{mod} ({LAYER_NAMES[lm]}) imports {dep} ({LAYER_NAMES[ld]}), a higher layer")
    return problems


def engine_ui_imports(graph, external) -> list[str]:
    bad = []
    for mod in sorted(graph):
        if not mod.startswith("engine"):
            continue
        bad += [f"{mod} imports {d}" for d in sorted(graph[mod]) if d == "app" or d.startswith("app.")]
        bad += [f"{mod} imports {e}" for e in sorted(external[mod]) if e in QT or e == "app"]
    return bad


# -- the real tree ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_graph():
    return import_graph(ROOT)


def test_graph_sees_the_known_edges(real_graph):
    graph, external = real_graph
    assert "engine.curation.analysis" in graph["engine.cli"] or "engine.curation" in graph["engine.cli"]
    assert "engine.runner" in graph["engine.cli"]
    assert "engine.registry" in graph["engine.methods.base"]
    assert "engine.methods.base" in graph["engine.methods.spectral"]  # relative `from ..base import`
    assert "torch" in external["engine.pipeline"]
    assert any(e in QT for deps in (external[m] for m in graph if m.startswith("app.")) for e in deps)


def test_no_import_cycles(real_graph):
    graph, _ = real_graph
    assert cycles(graph) == []


def test_engine_never_imports_the_app_or_qt(real_graph):
    assert engine_ui_imports(*real_graph) == []


def test_imports_only_go_down_the_layers(real_graph):
    graph, _ = real_graph
    assert layer_violations(graph) == []


def test_no_hard_coded_method_lists():
    """Registries discover families; no module lists the method packages by name."""
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if '"engine.methods.stego"' in text or "_DISPATCH" in text or '("coco", "semantic")' in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


# -- the checker on synthetic trees: it must be able to fail --------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for pkg in ("engine", "app"):
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


def test_checker_finds_a_cycle_through_a_lazy_import(tmp_path):
    root = _tree(tmp_path, {"engine/cli.py": "from .evaluation import run\n",
                            "engine/evaluation.py": "def run():\n    from .cli import helper\n"})
    graph, _ = import_graph(root)
    assert cycles(graph) == [["engine.cli", "engine.evaluation"]]
    assert any("engine.evaluation (evaluation) imports engine.cli (cli)" in p for p in layer_violations(graph))


def test_checker_finds_ui_imports_and_upward_imports(tmp_path):
    root = _tree(tmp_path, {"engine/features.py": "import pyqtgraph\nfrom engine.pipeline import X\n",
                            "engine/pipeline.py": "from app.canvas import Canvas\n",
                            "engine/methods/__init__.py": "",
                            "engine/methods/base.py": "from ..curation import analysis\n",
                            "engine/curation/__init__.py": "", "engine/curation/analysis.py": "",
                            "app/canvas.py": "from PySide6 import QtCore\nfrom engine import pipeline\n"})
    graph, external = import_graph(root)
    assert engine_ui_imports(graph, external) == ["engine.features imports pyqtgraph",
                                                  "engine.pipeline imports app.canvas"]
    problems = layer_violations(graph)
    assert any(p.startswith("engine.features (backbone/features) imports engine.pipeline") for p in problems)
    assert any(p.startswith("engine.methods.base (methods/export/prompts) imports engine.curation.analysis")
               for p in problems)
    assert not any(p.startswith("app.canvas") for p in problems)  # app may import the engine
    assert cycles(graph) == [["app.canvas", "engine.pipeline"]]


def test_checker_wants_a_layer_for_new_packages(tmp_path):
    root = _tree(tmp_path, {"engine/newthing.py": ""})
    graph, _ = import_graph(root)
    assert layer_violations(graph) == ["engine.newthing: no layer assigned (add it to LAYERS in "
                                       "tests/test_architecture.py)"]
