"""The programme against councils that had not adopted it: child-level difference in differences.

:func:`across_council_results` runs, for every outcome of the pooled analysis
dataset, the estimators of :mod:`evaluation.comparison.child_level` with each
council's go-live from :attr:`StudyConfig.council_go_lives` and returns one
tidy table, ``across_councils``:

==============================  ===============================================================
``cox_across_councils``         Cox stratified by council (family-clustered SE, delayed entry
                                where any row enters late) with calendar-period terms — cut at
                                the transition start and at every go-live — and the
                                ``programme`` term: the hazard ratio of the programme as the
                                difference in differences of log hazards against the councils
                                that had not (yet) adopted
``rmst_across_councils``        RMST at each tau after minus before each go-live date, adopting
                                minus never-adopting councils, family bootstrap
``cox_before_after_one_council``  each adopting council alone, after vs before its go-live
                                (the transition period left out): the single-council design,
                                which cannot tell the programme from Covid or national trends
==============================  ===============================================================

Rows are made only when at least two councils with different adoption (a
different go-live, or none) are present; otherwise each outcome gets a "not
estimable: one council" (or "... same go-live") row, which the report shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import pandas as pd

from evaluation.analysis import tables
from evaluation.analysis.design import DURATION, EVENT, FAMILY, LA, entry_column, outcome_rows
from evaluation.analysis.guard import attempt, concat, not_estimable
from evaluation.cohorts.analysis_dataset import OUTCOMES
from evaluation.comparison.child_level import (
    ADOPTED, DID_CONTRAST, PERIOD, PROGRAMME, adoption_design, cox_did, rmst_did, rmst_did_tidy,
)
from evaluation.study import StudyConfig
from evaluation.survival.cox import cox_ph
from evaluation.survival.rmst import DEFAULT_TAUS

TABLES: tuple[str, ...] = tables.ACROSS_COUNCILS   # listed there for the assets
#: Family bootstrap samples of the RMST difference in differences.
BOOTSTRAP_SAMPLES = 200
ONE_COUNCIL = ("one council: a comparison across councils needs the extracts of at least two councils; "
               "the before/after estimates of this council (hazard_ratios, rmst) cannot separate the "
               "programme from Covid or national trends")
SAME_ADOPTION = ("every council present has the same go-live: a comparison across councils needs "
                 "councils that adopted at other times or never (StudyConfig.council_go_lives)")
BEFORE_AFTER = ("single-council before/after (no comparison councils): cannot separate the "
                "programme from Covid, court backlogs or national trends")


def council_go_lives(analysis: pd.DataFrame, config: StudyConfig) -> dict[str, dt.date | None]:
    """Go-live of every council in ``analysis`` (None: never adopted), from the study configuration.

    A council present in the data but not in a non-empty ``council_go_lives`` is an error: whether
    it adopted is unknown, and guessing would mislabel its children.
    """
    present = sorted(analysis[LA].dropna().astype(str).unique()) if LA in analysis else []
    go_lives = config.go_live_by_council(present)
    missing = [code for code in present if code not in go_lives]
    if missing:
        raise ValueError(f"StudyConfig.council_go_lives gives no go-live for council(s) {', '.join(missing)} "
                         "present in the data: add 'LA:YYYY-MM-DD' or 'LA:never' for each")
    return {code: go_lives[code] for code in present}


def period_breaks(go_lives: dict[str, dt.date | None], config: StudyConfig) -> list[dt.date]:
    """Calendar-period cuts: the transition start (when before every go-live) and each go-live."""
    dates = sorted({d for d in go_lives.values() if d is not None and d > config.pre_fsp_start})
    if dates and config.pre_fsp_start < config.transition_start < dates[0]:
        dates = [config.transition_start] + dates
    return dates


def across_council_results(
    analysis: pd.DataFrame,
    config: StudyConfig,
    *,
    outcomes: Sequence[str] | None = None,
    taus: Sequence[float] = DEFAULT_TAUS,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The ``across_councils`` table (see the module docstring) for every outcome present."""
    if outcomes is None:
        outcomes = [o for o in OUTCOMES if o in set(analysis["outcome"].dropna())]
    go_lives = council_go_lives(analysis, config)
    reason = None
    if len(go_lives) < 2:
        reason = ONE_COUNCIL
    elif len(set(go_lives.values())) < 2:
        reason = SAME_ADOPTION
    tables = []
    for outcome in outcomes:
        if reason is not None:
            for name in ("cox_across_councils", "rmst_across_councils"):
                tables.append(not_estimable(reason, outcome=outcome, analysis=name, contrast=DID_CONTRAST,
                                            term=PROGRAMME if name.startswith("cox") else
                                            "rmst_difference_in_differences"))
            continue
        df = outcome_rows(analysis, outcome)
        if not len(df):
            tables.append(not_estimable("no rows for this outcome", outcome=outcome, analysis="cox_across_councils",
                                        contrast=DID_CONTRAST, term=PROGRAMME))
            continue
        df = adoption_design(df, "time_zero", LA, go_lives, period_breaks(go_lives, config))
        tables.append(_cox(df, outcome))
        tables.append(_rmst(df, outcome, go_lives, config, taus, n_boot, seed))
        tables.append(_before_after(df, outcome, go_lives, config))
    return {"across_councils": concat(tables)}


def _cox(df: pd.DataFrame, outcome: str) -> pd.DataFrame:
    keys = dict(outcome=outcome, analysis="cox_across_councils", contrast=DID_CONTRAST, term=PROGRAMME)
    reference = sorted(df[PERIOD].unique())[0]
    return attempt(lambda: cox_did(df, DURATION, EVENT, LA, reference_period=reference, entry=entry_column(df),
                                   cluster=FAMILY).tidy(outcome), **keys)


def _rmst(df, outcome, go_lives, config, taus, n_boot, seed) -> pd.DataFrame:
    never = [code for code, day in go_lives.items() if day is None]
    tables = []
    for day in sorted({d for d in go_lives.values() if d is not None}):
        contrast = f"{DID_CONTRAST}, go-live {day.isoformat()}"
        keys = dict(outcome=outcome, analysis="rmst_across_councils", contrast=contrast,
                    term="rmst_difference_in_differences")
        if not never:
            tables.append(not_estimable("no council that never adopted", **keys))
            continue
        adopters = [code for code, d in go_lives.items() if d == day]
        rows = df[df[LA].astype(str).isin(adopters + never)].reset_index(drop=True)
        after = pd.to_datetime(rows["time_zero"]) >= pd.Timestamp(day)
        before_start = pd.Timestamp(min(config.transition_start, day))
        # the transition months before a go-live belong to neither side, as in the study's cohorts
        rows = rows[(after | (pd.to_datetime(rows["time_zero"]) < before_start)).to_numpy()].reset_index(drop=True)
        rows["after"] = (pd.to_datetime(rows["time_zero"]) >= pd.Timestamp(day)).to_numpy(dtype=int)
        cells = rows.groupby([LA, "after"]).agg(n=(EVENT, "size"), events=(EVENT, "sum"))
        for tau in taus:
            def run(tau=tau, rows=rows, cells=cells, keys=keys):
                result = rmst_did(rows, DURATION, EVENT, LA, after="after", adopted=ADOPTED, tau=tau,
                                  entry=entry_column(rows), cluster=FAMILY, n_boot=n_boot, seed=seed)
                table = rmst_did_tidy(result, outcome, cell_counts=(int(cells["n"].min()),
                                                                    int(cells["events"].min())))
                table["contrast"] = keys["contrast"]
                return table
            tables.append(attempt(run, time=tau, **keys))
    return concat(tables)


def _before_after(df, outcome, go_lives, config) -> pd.DataFrame:
    tables = []
    for code, day in go_lives.items():
        if day is None:
            continue
        keys = dict(outcome=outcome, analysis="cox_before_after_one_council",
                    contrast=f"after vs before go-live {day.isoformat()}, council {code} only", term=PROGRAMME)
        rows = df[(df[LA].astype(str) == code).to_numpy()]
        time_zero = pd.to_datetime(rows["time_zero"])
        transition = (time_zero >= pd.Timestamp(config.transition_start)) & (time_zero < pd.Timestamp(day))
        rows = rows[~transition.to_numpy()].reset_index(drop=True)
        if rows[PROGRAMME].nunique() < 2:
            tables.append(not_estimable("needs children both before and after the council's go-live", **keys))
            continue

        def run(rows=rows, keys=keys):
            fit = cox_ph(rows, DURATION, EVENT, [PROGRAMME], entry=entry_column(rows), cluster=FAMILY)
            table = fit.tidy(outcome, analysis=keys["analysis"])
            table["contrast"] = keys["contrast"]
            table["method"] = table["method"] + f"; {BEFORE_AFTER}"
            return table

        tables.append(attempt(run, **keys))
    return concat(tables)


__all__ = ["BEFORE_AFTER", "ONE_COUNCIL", "SAME_ADOPTION", "TABLES", "across_council_results",
           "council_go_lives", "period_breaks"]
