"""The analysis layer's Fine–Gray rows come from the scan: no expansion, no row cap (#20).

The same tables through the finegray expansion (the oracle) agree to ~1e-10, and the
analysis no longer bounds the fit by expansion rows (tests/test_finegray.py fits a data
set whose expansion exceeds the old 1.5M-row cap).
"""

from __future__ import annotations

import numpy as np

import evaluation.analysis.competing_exits as competing
from evaluation.survival import finegray
from test_analysis_competing import CONFIG
from test_analysis_survival import simulated_analysis


def test_fine_gray_rows_are_the_scan_and_equal_the_expansion(monkeypatch):
    data = simulated_analysis(n_families=200, seed=12)
    scan = competing.competing_results(data, CONFIG, times=(365,))["fine_gray"]
    def expand(*args, **kwargs):
        return finegray.fine_gray(*args, **{**kwargs, "algorithm": "expand"})

    monkeypatch.setattr(competing, "fine_gray", expand)
    oracle = competing.competing_results(data, CONFIG, times=(365,))["fine_gray"]
    assert len(scan) == len(oracle) > 0
    fitted = scan["estimate"].notna()
    assert fitted.any() and (fitted == oracle["estimate"].notna()).all()
    assert scan.loc[fitted, "method"].str.contains("scan over sorted times").all()
    assert oracle.loc[fitted, "method"].str.contains("finegray expansion").all()
    for column in ("estimate", "se", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(scan.loc[fitted, column], oracle.loc[fitted, column], rtol=1e-8)


def test_the_analysis_asks_for_the_scan_with_no_row_bound(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return finegray.fine_gray(*args, **kwargs)

    monkeypatch.setattr(competing, "fine_gray", spy)
    data = simulated_analysis(n_families=300, seed=21)
    out = competing.competing_results(data, CONFIG, times=(365,), outcomes={"time_in_care": ("return_home",)})
    assert calls and all(c.get("algorithm") == "scan" and c.get("max_rows") is None for c in calls)
    assert out["fine_gray"]["estimate"].notna().any()
    assert not hasattr(competing, "FINEGRAY_MAX_ROWS")
