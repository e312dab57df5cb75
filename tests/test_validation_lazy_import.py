"""Great Expectations is imported where a check runs or a page is built, not with the definitions;
nor are the estimators (SciPy, statsmodels, pysyncon, differences) or matplotlib, which the steps
that fit a model or draw a figure import.

GX's import costs about 1.5 s of CPU in every process that would load it, the estimators' and
matplotlib's about 2 s more: each ``make run``'s main process, each test worker's collection, the
UI's code server, none of which runs a check or fits a model. The executor's fork server still
imports them once for every step it forks (``assets/jobs.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Packages the definitions do not import: GX, then the estimators' libraries and matplotlib.
NOT_WITH_THE_DEFINITIONS = ("great_expectations", "scipy", "statsmodels", "pysyncon", "differences",
                            "lifelines", "matplotlib")


def _modules_after(code: str, packages: tuple[str, ...] = ("great_expectations",)) -> dict:
    """Which modules of ``packages`` (by default GX's) a fresh interpreter has imported after
    ``code``, by package (and what ``code`` printed)."""
    script = (f"import json, sys\n{code}\n"
              f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          timeout=300)
    *printed, last = done.stdout.strip().splitlines()
    found = {package: [m for m in json.loads(last) if m.split(".")[0] == package] for package in packages}
    return {"gx": found.get("great_expectations", []), "modules": found, "printed": printed}


@pytest.fixture(scope="module")
def definitions_imported() -> dict:
    """One fresh interpreter (an import of the definitions costs seconds) for both tests below."""
    return _modules_after(
        "import assets.definitions\n"
        "print(all(m in sys.modules for m in ('checks', 'evaluation.validation.engine',\n"
        "    'evaluation.validation.suites', 'evaluation.comparison.validation')))",
        packages=NOT_WITH_THE_DEFINITIONS)


def test_importing_the_definitions_does_not_import_great_expectations(definitions_imported):
    """The modules that name and run expectations are loaded with the definitions, and GX is not."""
    found = definitions_imported
    assert found["printed"][-1] == "True"
    assert found["gx"] == []


def test_importing_the_definitions_imports_no_estimator_nor_matplotlib(definitions_imported):
    """Nor SciPy, statsmodels, pysyncon, differences, lifelines or matplotlib: the pooled analysis,
    comparison and release assets import their modules in the steps."""
    assert definitions_imported["modules"] == {package: [] for package in NOT_WITH_THE_DEFINITIONS}


def test_the_assets_name_the_estimators_tables_and_settings():
    """What the definitions name without importing an estimator is the estimator's own: each
    pooled analysis asset's outputs are its module's ``TABLES``, and the staggered analysis's
    default control groups are ``evaluation.comparison.staggered.CONTROL_GROUPS``."""
    from assets import analysis, comparison
    from evaluation.analysis import across_councils, competing_exits, states, survival_outcomes, time_series
    from evaluation.comparison import staggered

    modules = {"survival_analysis": survival_outcomes, "competing_exits_analysis": competing_exits,
               "days_in_state_analysis": states, "time_series_analysis": time_series,
               "across_councils_analysis": across_councils}
    for asset in analysis.POOLED_ASSETS:
        assert sorted(key.path[-1] for key in asset.keys) == sorted(modules.pop(asset.node_def.name).TABLES)
    assert modules == {}
    assert comparison.CONTROL_GROUPS == staggered.CONTROL_GROUPS
    assert comparison.StaggeredSettings().control_groups == list(staggered.CONTROL_GROUPS)


def test_a_check_imports_it_when_it_builds_an_expectation():
    """The same modules, used: building a suite's expectations imports GX (and so does opening the
    validation project, the executor's fork server's preload), and they are GX's own classes."""
    found = _modules_after(
        "from evaluation.validation import suites\n"
        "import pandas as pd\n"
        "_, expectations = suites.model_counts_suite(pd.DataFrame({'outcome': ['a'], 'cohort': ['b'], 'event': [1]}))\n"
        "print(type(expectations[0]).__module__, type(expectations[0]).__name__)")
    assert "great_expectations" in found["gx"]
    assert found["printed"][-1].split()[0].startswith("great_expectations.expectations")
    assert found["printed"][-1].split()[1] == "ExpectColumnValuesToBeBetween"


def test_the_docs_index_is_found_without_great_expectations(tmp_path):
    """``make run``'s own process prints where the validation pages are: from the docs folder, with
    no GX project opened and GX not imported."""
    (tmp_path / "index.html").write_text("<html></html>", encoding="utf-8")
    found = _modules_after("from evaluation.validation.engine import docs_index\n"
                           f"print(docs_index({str(tmp_path)!r}), docs_index({str(tmp_path / 'none')!r}))")
    assert found["gx"] == []
    assert found["printed"][-1] == f"{tmp_path / 'index.html'} None"
