"""Which adapter operations an entry point can reach, found in the code itself.

An AST walk from the entry point (a function, or a module's top level): it follows
calls and references to the project's own functions and classes (a class reached
counts with all its methods), across modules through their imports, and collects
every call `<port>.<method>(...)`, `<x>.<port>.<method>(...)` or `<port>().<method>(...)`
where `<port>` is a port's conventional name (PORTS) and not an imported module.
A port passed under another name escapes the walk, so test_permissions also checks
that every parameter annotated with a port type carries its conventional name.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".local", "tests", "web", "bench", "docs", ".git", ".models", "out", "node_modules"}

# Conventional variable name -> the port's type names (what annotations say).
PORTS = {
    "jobs": {"JobRepository"},
    "blobs": {"BlobStore"},
    "publisher": {"Publisher"},
    "leases": {"LeaseStore"},
    "store": {"OpsStore"},
    "cloud_run": {"CloudRun"},
    "metrics": {"RevisionMetrics"},
    "caller": {"ServiceCaller"},
    "notifier": {"Notifier"},
    "limiter": {"RateLimiter"},
    "cloud_scheduler": {"CloudSchedulerClient"},
    "source": {"ReportSource"},
    "request_counts": {"RequestCounts"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache
def modules() -> dict[str, ast.Module]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        found[_module_name(path)] = ast.parse(path.read_text(), str(path))
    return found


@lru_cache
def _names(module: str) -> dict[str, tuple[str, str | None]]:
    """Names bound in a module: own defs -> (module, name); imports -> (module, name or None)."""
    tree, known = modules()[module], modules()
    bound: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = (alias.name, None)
                else:
                    bound[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                bound[alias.asname or alias.name] = (full, None) if full in known else (node.module, alias.name)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = (module, node.name)
    return bound


def _definition(module: str, name: str):
    if module not in modules():
        return None
    for node in modules()[module].body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    if (module, name) != (bound := _names(module).get(name, (module, name))):  # re-exported
        return _definition(*bound) if bound[1] else None
    return None


def _port(node: ast.AST, module: str) -> str | None:
    if isinstance(node, ast.Name) and node.id in PORTS and node.id not in _names(module):
        return node.id
    if isinstance(node, ast.Attribute) and node.attr in PORTS:
        return node.attr
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PORTS:
        return node.func.id
    return None


def reach(root: str) -> set[str]:
    """Operations (`port.method`) reachable from `module:function`, or from `module` (its top level)."""
    return set(reach_with_arguments(root))


def reach_with_arguments(root: str) -> dict[str, set[str]]:
    """Each reachable operation with the source text of the first argument of each call of it."""
    module, _, function = root.partition(":")
    start = [_definition(module, function)] if function else [modules()[module]]
    if start[0] is None:
        raise LookupError(f"{root} not found")
    seen: set[int] = set()
    found: dict[str, set[str]] = {}
    todo = [(module, node) for node in start]
    while todo:
        module, node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for child in ast.walk(node):
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                if port := _port(child.func.value, module):
                    first = ast.unparse(child.args[0]) if child.args else ""
                    found.setdefault(f"{port}.{child.func.attr}", set()).add(first)
            target = None
            if isinstance(child, ast.Name) and child.id in _names(module):
                target = _names(module)[child.id]
            elif isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
                bound = _names(module).get(child.value.id)
                if bound and bound[1] is None and bound[0] in modules():
                    target = (bound[0], child.attr)
            if target and target[1] and (definition := _definition(*target)) is not None:
                todo.append((target[0], definition))
            elif target and target[1] is None and target[0] in modules() and isinstance(child, ast.Name):
                pass  # a module object itself: its attributes are followed where used
    return found


def misnamed_ports() -> list[str]:
    """Parameters annotated with a port type under another name than the port's."""
    by_type = {t: name for name, types in PORTS.items() for t in types}
    problems = []
    for module, tree in modules().items():
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                kind = annotation.rsplit(".", 1)[-1].split("|")[0].strip()
                if kind in by_type and arg.arg != by_type[kind]:
                    problems.append(f"{module}.{node.name}({arg.arg}: {annotation}) should be named {by_type[kind]}")
    return problems
