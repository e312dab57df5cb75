"""The analysis layer: every estimator run on the analysis dataset, as result tables.

* :func:`survival_results` — Kaplan–Meier, log-rank, Cox (unadjusted /
  adjusted) with PH tests, RMST, differential impact by risk-factor
  combination, inverse-probability weighting, for every outcome;
* :func:`competing_results` — cumulative incidence, Gray's test,
  cause-specific Cox and Fine–Gray for the exits from a protection plan and
  from care;
* :func:`state_results` — days in each state and the share reaching a
  protection plan or care (multi-state, family bootstrap);
* :func:`time_series_results` — segmented regression of monthly flows and
  stocks at go-live and at a placebo go-live;
* :func:`across_council_results` — the programme against councils that had not
  adopted it (difference in differences on the hazard and RMST scales), when
  the extracts of councils with different go-lives are present.

Each is a pure function of DataFrames and the
:class:`~evaluation.study.StudyConfig`, returning a dict of tables,
tidy (:mod:`evaluation.results`) except the internal curve and balance tables.
This layer only orchestrates: the shared model conventions are in
:mod:`evaluation.analysis.design`, the "not estimable" rows in
:mod:`evaluation.analysis.guard`, and every number comes from
:mod:`evaluation.survival` or :mod:`evaluation.timeseries`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "survival_results": "evaluation.analysis.survival_outcomes",
    "competing_results": "evaluation.analysis.competing_exits",
    "state_results": "evaluation.analysis.states",
    "time_series_results": "evaluation.analysis.time_series",
    "across_council_results": "evaluation.analysis.across_councils",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'evaluation.analysis' has no attribute {name!r}")
