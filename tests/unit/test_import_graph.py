"""No import cycle among the project's modules: module-level and function-level imports alike
(a function-level import that closes a cycle only hides it), and lazy "module:attribute"
references such as the engine registry's."""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
# Every package and top-level module, found rather than listed, so a new folder cannot be missed.
PACKAGES = tuple(sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()))
TOP = tuple(sorted(p.stem for p in ROOT.glob("*.py")))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / f"{name}.py" for name in TOP]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return {module_name(f): f for f in files}


def imports_of(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
            names = [node.value.split(":")[0]]  # a lazy "module:attribute" reference (the engine registry)
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def test_it_reads_every_package_and_top_level_module():
    assert {"adapters", "bench", "domain", "functions", "gpu_service", "tests"} <= set(PACKAGES)
    assert {"main", "bootstrap", "settings"} <= set(TOP)


def test_the_project_has_no_import_cycle():
    modules = project_modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        for target in imports_of(path, set(modules)) - {name}:
            graph.add_edge(name, target)
    cycles = sorted(nx.simple_cycles(graph), key=len)
    assert cycles == [], f"import cycles: {cycles[:5]}"
