"""Great Expectations is imported where a check runs or a page is built, not with the definitions.

Its import costs about 1.5 s of CPU in every process that would load it: each ``make run``'s main
process, each test worker's collection, the UI's code server, none of which runs a check. The
executor's fork server still imports it once for every step it forks (``assets/jobs.py``)."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> dict:
    """Which GX modules a fresh interpreter has imported after ``code`` (and what ``code`` printed)."""
    script = (f"import json, sys\n{code}\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          timeout=300)
    *printed, last = done.stdout.strip().splitlines()
    return {"gx": json.loads(last), "printed": printed}


def test_importing_the_definitions_does_not_import_great_expectations():
    """One fresh interpreter (an import of the definitions costs seconds): the modules that name
    and run expectations are loaded with the definitions, and GX is not."""
    found = _modules_after(
        "import assets.definitions\n"
        "print(all(m in sys.modules for m in ('checks', 'evaluation.validation.engine',\n"
        "    'evaluation.validation.suites', 'evaluation.comparison.validation')))")
    assert found["printed"][-1] == "True"
    assert found["gx"] == []


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
