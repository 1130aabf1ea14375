"""The two packages: the plug-in (sppo) installs and runs on its own, the studies (sppo_lab) import it, never the
reverse, and neither package's imports form a cycle."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PLUGIN = REPO / "sppo"
LAB = REPO / "lab" / "sppo_lab"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module a file imports, at module level or inside functions (absolute names; relative ones resolved)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (sub-module names collapsed onto existing modules)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path, name):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, first == last), or None. Edges into a package's ``__init__`` count."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_on_a_hand_made_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_plugin_never_imports_the_lab():
    offenders = sorted(
        f"{p.relative_to(REPO)} imports {m}"
        for p in PLUGIN.rglob("*.py")
        for m in _imports(p, _module_name(p, PLUGIN))
        if m == "sppo_lab" or m.startswith("sppo_lab.")
    )
    assert offenders == []


def test_studies_live_outside_the_plugin():
    for study in ("quickstart", "graded", "control", "analysis", "gpu_check", "tiny.py", "stats.py"):
        assert not (PLUGIN / study).exists(), study
        assert (LAB / study).exists(), study


@pytest.mark.parametrize("root", [PLUGIN, LAB], ids=["sppo", "sppo_lab"])
def test_no_import_cycles(root):
    # imports a package's __init__ makes of its own sub-modules (re-exports) are the package, not a cycle
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in import_graph(root).items()}
    assert find_cycle(graph) is None


def test_wheel_installs_non_editable_and_composes_the_sppo_config(tmp_path):
    """Build the plug-in's wheel from a copy of the tracked sources, install it (no -e) in a fresh venv outside
    the checkout, and compose ``python -m sppo.main``'s config there with hydra's ``--cfg job``."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (bash uv_verl.sh installs it)")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PLUGIN, src / "sppo", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "-q", "--out-dir", str(dist), str(src)], check=True, timeout=300)
    (wheel,) = dist.glob("sppo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sppo/configs/sppo_trainer.yaml" in names and "sppo/configs/platform/cpu.yaml" in names
    assert not [n for n in names if n.startswith("sppo_lab") or "warm_start" in n]

    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # the dependencies (verl, torch, hydra, ...) come from the project's venv, read-only, through a .pth path;
    # the plug-in itself only from the wheel (the checkout's editable finder is not loaded from a .pth path)
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    Path(purelib, "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([uv, "pip", "install", "-q", "--python", str(py), "--no-deps", str(wheel)], check=True, timeout=300)
    where = subprocess.run(
        [py, "-c", "import sppo; print(sppo.__file__)"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert where.stdout.strip().startswith(purelib), where.stdout + where.stderr
    composed = subprocess.run(
        [py, "-m", "sppo.main", "--cfg", "job", "platform=cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "adv_estimator: sppo" in composed.stdout
    assert "device: cpu" in composed.stdout


def test_readme_layout_lists_every_module_of_both_packages_and_nothing_missing():
    """README's Layout block names each top-level module/package of sppo/ and lab/sppo_lab/, and every path it
    names exists."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    named = set()
    for line in block.splitlines():
        for token in line.strip().split("  ")[0].split():
            named.add(token.rstrip("/"))
    for root in (PLUGIN, LAB):
        for child in root.iterdir():
            if child.name.startswith(("__", ".")) or (child.is_file() and child.suffix != ".py"):
                continue
            assert child.name.rstrip("/") in named, f"README's Layout misses {child.relative_to(REPO)}"
    for top in ("sppo", "lab", "run_scripts", "tests", "benchmarks", "docs", "constraints", ".ci/run"):
        assert top in named and (REPO / top).exists(), top
