"""The library's layout: hnnlib's modules import each other without cycles, and nothing registers at import."""

import ast
from pathlib import Path

import hnnlib

PACKAGE = Path(hnnlib.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The hnnlib modules a module imports at its top level (functions' lazy imports excluded)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("hnnlib"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)  # "from . import x" imports module x
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hnnlib"))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in imports_of(path) if t in modules and t != name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycles():
    """A package imports its own submodules (``__init__`` re-exports); no module imports one that imports it back."""
    graph = import_graph()
    for name in graph:  # a package's __init__ may import its children; the children must not need it
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert "hnnlib.experiments.cache" in graph and "hnnlib.pixel.models" in graph
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_registries_are_complete_before_any_optional_import():
    """The checkpoint classes and energy labels are written once, not added to by importing another module."""
    import subprocess
    import sys

    code = ("from hnnlib import checkpoints, labels; print(sorted(checkpoints.MODEL_CLASSES), sorted(labels.ENERGY_LABELS))\n"
            "import hnnlib.experiments, hnnlib.pixel\n"
            "print(sorted(checkpoints.MODEL_CLASSES), sorted(labels.ENERGY_LABELS))")
    before, after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert before == after
    assert "PixelDynamicsModel" in before and "pixels" in before
