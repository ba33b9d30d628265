"""Every module under rnncli/ imports on its own without side effects: pytest imports them all to run their
docstring examples (``--doctest-modules``), and the CLI imports them lazily."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import rnncli

CHILD = """
import importlib, json, os, pkgutil, sys
import rnncli
before = dict(os.environ)
names = sorted(m.name for m in pkgutil.walk_packages(rnncli.__path__, "rnncli."))
for name in names:
    importlib.import_module(name)
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
sys.stdout.write(json.dumps({"modules": names, "changed_env": changed}))
"""


def test_every_module_imports_without_side_effects(tmp_path: Path) -> None:
    package_root = Path(rnncli.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(package_root), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", CHILD], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # nothing but the report on stdout: no module prints when imported
    expected = {f"rnncli.{p.relative_to(package_root / 'rnncli').with_suffix('').as_posix().replace('/', '.')}"
                for p in (package_root / "rnncli").rglob("*.py") if p.name != "__init__.py"}
    assert expected <= set(report["modules"])
    assert report["changed_env"] == []
    assert list(tmp_path.iterdir()) == []  # no files written to the working directory


def test_no_module_imports_itself_back_through_another() -> None:
    """No import cycle anywhere in the package, counting imports inside functions (grimp reads every import
    statement; it is what ``lint-imports`` builds its graph with)."""
    import grimp

    graph = grimp.build_graph("rnncli")
    cycles = sorted((module, imported) for module in graph.modules
                    for imported in graph.find_modules_directly_imported_by(module)
                    if graph.chain_exists(importer=imported, imported=module))
    assert cycles == []


def test_the_top_level_holds_only_what_everything_shares_or_a_stage_of_its_own() -> None:
    """errors (shared by all), model and summary (stages); everything else lives in the package of its stage."""
    top = Path(rnncli.__file__).resolve().parent
    modules = sorted(p.name for p in top.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(modules) <= 8, modules
    assert modules == ["errors.py", "model.py", "summary.py"]
