"""The packages depend one way: adaptive <- runtime <- demo_game, adaptive <- authoring -> runtime.

The test reads every module's imports (including those inside functions) and fails
on an import against that direction, on a cycle between modules, and on torch
anywhere outside authoring.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adaptive", "runtime", "authoring", "demo_game")
ALLOWED = {
    "adaptive": {"adaptive"},
    "runtime": {"adaptive", "runtime"},
    "authoring": {"adaptive", "runtime", "authoring"},
    "demo_game": {"adaptive", "runtime", "demo_game"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Modules ``path`` imports, resolved to absolute dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {
        module_name(p): p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    edges = {}
    for name, path in modules.items():
        edges[name] = {m for m in imports_of(path) if m in modules and m != name}
    return edges


def test_no_import_runs_against_the_direction() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert not wrong, wrong


def test_modules_import_no_cycle() -> None:
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of concern
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycle.extend(
                    path[path.index(target) :] + [node, target]
                    if target in path
                    else [node, target]
                )
                return True
            if state.get(target) is None and visit(target, path + [node]):
                return True
        state[node] = 2
        return False

    assert not any(visit(m, []) for m in sorted(edges) if m not in state), " -> ".join(cycle)


def test_torch_is_imported_only_by_authoring() -> None:
    offenders = [
        f"{module_name(p)}"
        for pkg in ("adaptive", "runtime", "demo_game")
        for p in (ROOT / pkg).rglob("*.py")
        if any(m == "torch" or m.startswith("torch.") for m in imports_of(p))
    ]
    assert not offenders


def test_the_audio_path_loads_no_onnxruntime_and_no_torch() -> None:
    code = (
        "import sys, runtime._mixer, runtime.outputs; "
        "print(sorted(m for m in ('onnxruntime', 'torch', 'mido') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
