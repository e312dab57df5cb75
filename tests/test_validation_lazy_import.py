"""Great Expectations is imported where a check runs or a page is built, not with the definitions.

Its import costs about 1.5 s of CPU in every process that would load it: each ``make run``'s main
process, each test worker's collection, the UI's code server, none of which runs a check. The
executor's fork server still imports it once for every step it forks (``assets/jobs.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _modules_after(code: str) -> dict:
    """Which GX modules a fresh interpreter has imported after ``code`` (and what ``code`` printed)."""
    script = (f"import json, sys\n{code}\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          timeout=300)
    *printed, last = done.stdout.strip().splitlines()
    return {"gx": json.loads(last), "printed": printed}


@pytest.mark.parametrize("module", ["assets.definitions", "checks", "evaluation.validation",
                                    "evaluation.comparison.validation"])
def test_importing_does_not_import_great_expectations(module):
    assert _modules_after(f"import {module}")["gx"] == []


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
