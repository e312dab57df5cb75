"""The executor's fork server imports what the steps import: every project module an asset imports
in its body (the definitions name the estimators, the comparison fits and the release without
importing them) is imported by the server (``assets.fork_server.PRELOADED``, ``assets/preload.py`` and
what they import at module level), so no step process imports it again after the fork (SciPy's
stats, statsmodels' formulas, pysyncon, differences and the report take up to a few seconds).
Checked on the source (``ast``), without starting a server."""

from __future__ import annotations

import ast
from pathlib import Path

from assets.fork_server import PRELOADED

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
PROJECT = ("assets", "checks", "evaluation")
#: Modules whose function bodies run in ``make run``'s own process, not in steps.
NOT_STEPS = {"run.py", "jobs.py", "preload.py"}


def _imports(tree: ast.AST, top_level_only: bool = False) -> set[str]:
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module.split(".")[0] in PROJECT:   # submodules imported by name
                names |= {f"{node.module}.{alias.name}" for alias in node.names
                          if _source(f"{node.module}.{alias.name}") is not None}
    return names


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_in_bodies(path: Path) -> set[str]:
    """Modules imported inside the functions of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return set().union(*(_imports(function) for function in functions)) if functions else set()


def preloaded() -> set[str]:
    """What the fork server imports: PRELOADED and assets/preload.py's imports, with every project
    module they import at module level, and theirs (the packages of each included)."""
    todo = set(PRELOADED) | _imports(ast.parse((ASSETS / "preload.py").read_text(encoding="utf-8")),
                                     top_level_only=True)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for package in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            if package in seen:
                continue
            seen.add(package)
            source = _source(package) if parts[0] in PROJECT else None
            if source is not None:
                todo |= _imports(ast.parse(source.read_text(encoding="utf-8")), top_level_only=True)
    return seen


def covered(module: str, loaded: set[str]) -> bool:
    """A project module a step imports in a body is imported by the fork server. (Libraries are
    imported by the project's modules that use them, or listed in PRELOADED.)"""
    return module.split(".")[0] not in PROJECT or module in loaded


def test_every_module_a_step_imports_in_its_body_is_preloaded():
    loaded = preloaded()
    missing = {f"{path.name}: {module}" for path in sorted(ASSETS.glob("*.py")) if path.name not in NOT_STEPS
               for module in imported_in_bodies(path) if not covered(module, loaded)}
    assert not missing, sorted(missing)


def test_the_check_sees_body_imports():
    # the release and the comparison fits import their libraries in their bodies
    assert {"evaluation.report.assemble", "evaluation.comparison.synthetic"} <= imported_in_bodies(
        ASSETS / "release.py") | imported_in_bodies(ASSETS / "comparison.py")
    assert not covered("evaluation.report.assemble", {"evaluation", "evaluation.report"})
    assert covered("evaluation.report", preloaded())
    # module-level imports are followed: the definitions bring the asset modules and their imports
    assert {"assets.comparison", "evaluation.comparison.panel", "checks"} <= preloaded()


def test_the_analyses_pooled_steps_import_by_name_are_preloaded():
    # assets/analysis.py takes each estimator from evaluation.analysis's lazy exports (importlib)
    from evaluation.analysis import _EXPORTS

    assert set(_EXPORTS.values()) <= preloaded()


#: ``make run`` up to the moment it asks for the fork server, which is replaced by a stop that says
#: whether Dagster, or pandas, had been imported by then.
_UNTIL_THE_SERVER = """
import sys
import assets.fork_server

def stop():
    raise SystemExit("fork server asked for; Dagster imported: " + str("dagster" in sys.modules)
                     + "; pandas imported: " + str("pandas" in sys.modules))

assets.fork_server.fork_server_context = stop
import assets.run
assets.run.main(["--demo-key"])
"""


def test_make_run_starts_the_fork_server_before_it_imports_dagster(tmp_path):
    """The server's imports are the longest wait before the first step: ``make run`` starts it once
    the key is checked and the instance folder made (umask set), not after importing Dagster, nor
    pandas (the key is checked by :mod:`evaluation.keys`, which does not import it)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSP_", "DAGSTER_HOME"))}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", _UNTIL_THE_SERVER], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "fork server asked for; Dagster imported: False; pandas imported: False" in done.stderr, \
        done.stderr[-2000:]
    assert "pseudonymisation key fingerprint" in done.stdout      # the key was checked first
    assert (tmp_path / "home" / "dagster.yaml").is_file()
    assert (tmp_path / "home").stat().st_mode & 0o077 == 0        # owner-only before the server
