"""The codebase's layout, checked from the source (ast, nothing imported): no import circle, no
module over 600 lines (in assistant/, pages/ and app.py), few modules outside a package, every
package saying what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "assistant"
MAX_LINES = 600
MAX_TOP_LEVEL_MODULES = 4  # __init__, __main__, the agent shim ...


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every assistant module ``name`` imports, at module level or inside a function."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def nearest(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # ``from pkg import mod`` imports the module; ``from mod import name`` the module
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
            targets = [t for t in targets if t in known] or [module]
        for target in targets:
            if target.split(".")[0] != "assistant":
                continue
            hit = nearest(target)
            if hit is not None and hit != name:
                found.add(hit)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle: one cycle (a path back to its start) per strongly connected part."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, part) for part in parts]


def _cycle_in(graph: dict[str, set[str]], part: list[str]) -> list[str]:
    """A shortest path from the part's first module back to itself, inside the part."""
    start, members = part[0], set(part)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return part  # not reached: a strongly connected part holds a cycle through every member


def test_the_import_graph_sees_function_level_and_relative_imports() -> None:
    graph = import_graph()
    assert "assistant.core.errors" in graph["assistant.cli.registry"]
    assert "assistant.cli.replay" in graph["assistant.cli.registry"]  # from pkg import module
    assert "assistant.sessions.replay" in graph["assistant.cli.replay"]  # inside run()
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(circle) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    graph = import_graph()
    found = cycles(graph)
    lines = []
    for cycle in found:
        part = _part_of(graph, cycle[0])
        lines.append(" -> ".join(cycle) + f"   [{len(part)} modules in circles: {', '.join(part)}]")
    assert not found, "import circles:\n" + "\n".join(lines)


def _part_of(graph: dict[str, set[str]], start: str) -> list[str]:
    """Every module on some circle through ``start`` (reachable from it and reaching it)."""

    def reach(edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    back: dict[str, set[str]] = {}
    for node, targets in graph.items():
        for target in targets:
            back.setdefault(target, set()).add(node)
    return sorted(reach(graph) & reach(back))


def _page_files() -> dict[str, Path]:
    """app.py and every page file and module under pages/ (the cap covers them too)."""
    root = PACKAGE.parent
    files = [root / "app.py", *sorted((root / "pages").rglob("*.py"))]
    return {str(p.relative_to(root)): p for p in files}


def test_no_module_over_600_lines() -> None:
    long = {
        name: n
        for name, path in {**_modules(), **_page_files()}.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
    assert "pages/routing_lab.py" in _page_files() and "app.py" in _page_files()


def test_few_modules_sit_directly_in_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"modules directly in assistant/: {top}"


def test_every_package_says_what_it_is_for() -> None:
    missing = [
        _module_name(init)
        for init in sorted(PACKAGE.rglob("__init__.py"))
        if not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    ]
    assert not missing, f"packages without a docstring: {missing}"


def test_no_command_module_imports_another() -> None:
    graph = import_graph()
    shared = {"assistant.cli", "assistant.cli.registry", "assistant.cli.terminal"}
    commands = {m for m in graph if m.startswith("assistant.cli.") and m not in shared}
    crossing = {m: sorted(graph[m] & commands) for m in commands if graph[m] & commands}
    assert not crossing, f"command modules importing other command modules: {crossing}"


# Which layers each package may import (assistant/README.md's table). Imports inside a package
# are free; ``__init__``, ``__main__`` and the agent shim at the top may import anything.
BELOW_VIEWS = {
    "core", "ledger", "providers", "pricing", "routing", "rag", "pipeline", "sessions",
    "analysis", "livekit", "jobs", "benchmarks", "telemetry", "perception_evals",
}  # fmt: skip
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "ledger": {"core"},
    "providers": {"core"},
    "pricing": {"core"},
    "routing": {"core"},
    "rag": {"core", "ledger"},
    "pipeline": {"core", "ledger", "providers", "pricing", "routing", "rag"},
    "sessions": {"core", "ledger", "providers", "pricing", "routing", "rag", "pipeline"},
    "analysis": {"core", "ledger", "providers", "pricing", "routing", "sessions"},
    "livekit": {"core", "ledger", "providers", "pricing", "routing", "pipeline", "sessions"}
    | {"telemetry"},  # RoutedLLM's span attribute names
    "jobs": {"core", "sessions"},
    "telemetry": {"core", "ledger", "pricing"},
    "perception_evals": {"core", "providers", "pricing", "pipeline", "sessions"},
    "benchmarks": (BELOW_VIEWS - {"benchmarks"}) | {"views"},  # times what the pages read
    "views": BELOW_VIEWS,
    "cli": BELOW_VIEWS | {"views"},
}
# Single modules a layer may import from a layer it may not: pricing reads each vendor's token
# rules from the vendor catalog (data only: it imports core alone).
MAY_ALSO_IMPORT: dict[str, set[str]] = {"pricing": {"assistant.providers.catalog"}}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else None


def test_every_layer_imports_only_the_layers_below_it() -> None:
    graph = import_graph()
    layers = {_layer(m) for m in graph} - {None}
    assert layers <= set(MAY_IMPORT), f"packages with no rule here: {layers - set(MAY_IMPORT)}"
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if (layer := _layer(module)) is not None
        for target in targets
        if (other := _layer(target)) not in (None, layer)
        and other not in MAY_IMPORT[layer]
        and target not in MAY_ALSO_IMPORT.get(layer, set())
    )
    assert not upward, "imports against the layers (assistant/README.md):\n" + "\n".join(upward)


def test_the_vendor_catalog_is_data_only() -> None:
    """What pricing may import from providers must stay below it: the catalog imports core only."""
    graph = import_graph()
    for layer, modules in MAY_ALSO_IMPORT.items():
        for module in modules:
            below = {m for m in graph[module] if _layer(m) not in (None, _layer(module))}
            assert {_layer(m) for m in below} <= MAY_IMPORT[layer] | {"core"}, (module, below)
