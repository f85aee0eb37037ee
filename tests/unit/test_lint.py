"""The habits that keep the code in shape: ruff (with a complexity limit) over the repository and
mypy --strict over wavrybuild/, both configured in pyproject.toml."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    # mypy's own cache (.mypy_cache, shared with `mypy wavrybuild`): a module whose source or whose
    # dependencies' interfaces changed is checked again, and an unchanged module's errors are reported
    # from the cache, so the verdict is the same as without it (8-14 s cold, under 1 s warm).
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every wavrybuild module `module` imports, at any level (TYPE_CHECKING and in functions too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            out |= {c for c in [target, *(f"{target}.{a.name}" for a in node.names)] if c in known}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
    # Importing a.b.c runs a and a.b first. The root package is a lazy facade (its one import,
    # of tasks, happens on first use of `ns`), so it is no edge.
    for target in list(out):
        parts = target.split(".")
        out |= {".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in known}
    # A module's own packages are already importing when it runs: no edge either.
    return {t for t in out if t != module and not module.startswith(t + ".")} - {"wavrybuild"}


def _modules() -> dict[str, Path]:
    """Every module of wavrybuild by dotted name (a package by its own name)."""
    paths = {}
    for p in (REPO / "wavrybuild").rglob("*.py"):
        name = ".".join(p.relative_to(REPO).with_suffix("").parts)
        paths[name.removesuffix(".__init__")] = p
    return paths


def _assert_acyclic(graph: dict[str, set[str]], what: str) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                raise AssertionError(f"{what}: " + " -> ".join([*path[path.index(t):], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_import_cycles() -> None:
    paths = _modules()
    _assert_acyclic({m: _imports(p, m, set(paths)) for m, p in paths.items()}, "import cycle")


# The layout: one package per feature, holding its logic and its stage (docs/architecture.md).
FEATURES = ("toolchain", "build", "smoke", "codesign", "package", "sign", "sbom", "provenance", "notes", "publish", "ci")
ROLE_NAMES = {"__init__.py", "stage.py", "plan.py", "format.py"}  # the same role in every feature


def _stage_classes() -> dict[str, Path]:
    """Every class following the Stage protocol (`applies`, `keys` and `steps`), by name."""
    found = {}
    for p in (REPO / "wavrybuild").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Stage") and p.parent.name != "pipeline":
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if {"applies", "keys"} <= methods and ("steps" in methods or {"plan", "run"} <= methods):
                    found[node.name] = p.relative_to(REPO / "wavrybuild")
    return found


def test_every_stage_lives_in_its_feature_package() -> None:
    assert not (REPO / "wavrybuild" / "stages").exists(), "stages/ is gone: a stage lives in its feature package"
    stages = _stage_classes()
    assert len(stages) >= 18, stages
    for name, rel in stages.items():
        assert len(rel.parts) >= 2 and rel.parts[0] not in ("pipeline", "config"), f"{name} in {rel}: not a feature package"


def test_no_module_name_repeats_within_or_across_features() -> None:
    """No `build.py` beside `stages/build.py`: a feature's modules are not named after the feature,
    and outside config/ (the section models, still one module per section) and the role names, no
    module name occurs twice."""
    root = REPO / "wavrybuild"
    packages = [root / f for f in FEATURES] + [p for p in (root / "channels").iterdir() if (p / "__init__.py").exists()]
    for pkg in packages:
        assert (pkg / "__init__.py").exists(), pkg
        assert not (pkg / f"{pkg.name}.py").exists(), f"{pkg.name}/{pkg.name}.py: name the module for what it holds"
    seen: dict[str, Path] = {}
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if p.name in ROLE_NAMES or rel.parts[0] == "config":
            continue
        assert p.name not in seen, f"{rel} and {seen[p.name]}: one name, two modules"
        seen[p.name] = rel


def _feature(module: str) -> str:
    """The unit of the layers: a feature package (channels/<name>/ each its own), or `core` for the
    top-level modules, config/ and pipeline/; `app` for tasks.py and release.py."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in ("tasks", "release"):
        return "app"
    if parts[0] == "channels" and len(parts) > 1:
        return "channels." + parts[1]
    if parts[0] in (*FEATURES, "channels", "verify"):
        return parts[0]
    return "core"


def test_layers_go_down() -> None:
    """Core imports no feature; features import core and each other's logic (never another's stage)
    without a cycle; only tasks.py and release.py see every stage."""
    paths = _modules()
    edges: dict[str, set[str]] = {}
    for m, p in paths.items():
        for t in _imports(p, m, set(paths)):
            a, b = _feature(m), _feature(t)
            assert not (a == "core" and b != "core"), f"{m} (core) imports {t}"
            assert b != "app" or a == "app", f"{m} imports {t}"
            assert a in ("app", b) or b == "core" or not t.endswith(".stage"), f"{m} imports another feature's stage {t}"
            if a != b and b != "core":
                edges.setdefault(a, set()).add(b)
    _assert_acyclic(edges, "features import each other")
