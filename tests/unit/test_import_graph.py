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


def _graph() -> nx.DiGraph:
    modules = project_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports_of(path, set(modules)) - {name}:
            graph.add_edge(name, target)
    return graph


def test_the_project_has_no_import_cycle():
    cycles = sorted(nx.simple_cycles(_graph()), key=len)
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_the_top_level_modules_keep_the_layouts_rules():
    """import-linter takes packages only (pyproject.toml's contracts): the same rules for the modules at the top."""
    graph = _graph()

    def reach(module: str) -> set[str]:
        return {m.split(".")[0] for m in nx.descendants(graph, module)}

    assert "gpu_service" not in reach("main")  # the functions' entry points
    for module in ("main", "bootstrap", "settings", "topology", "processes", "storefront"):
        assert "local_stack" not in reach(module), module
    # A wrong-way import is seen: the local stack reaches itself and the GPU service does reach cutout.
    assert "local_stack" in reach("local_stack.__main__") and "cutout" in reach("gpu_service.worker")
