"""Does the recorded prevalence of the parental risk factors step at go-live?

The risk flags come from the index assessment, made after time zero by an
assessment service FSP changed (adult practitioners joined the teams). If the
programme changed what is recorded, the combinations a child is placed in
are partly an outcome of the programme, and the differential-impact analysis
(which splits by them) is biased. This check counts, per local authority and
month of time zero, the entries and those flagged with each factor (and with
any of the three), and fits the segmented Poisson regression of
:func:`evaluation.timeseries.segmented_regression` with the entries as
exposure: ``level_change`` is the prevalence ratio at go-live (1 = no step),
``slope_change`` the change in its monthly trend, with the study's lockdowns
as terms and Newey–West SEs.
"""

from __future__ import annotations

import pandas as pd

from evaluation.analysis.design import FLAGS
from evaluation.errors import NotEstimable
from evaluation.results import tidy
from evaluation.study import StudyConfig
from evaluation.timeseries import segmented_regression

#: The "any of the three" series besides one per flag.
ANY = "any_of_three"
#: Months with entries needed on each side of go-live for the segmented fit.
MIN_MONTHS = 12


def monthly_prevalence(analysis: pd.DataFrame) -> pd.DataFrame:
    """Per LA, month of time zero and factor: ``count`` flagged entries and ``exposure`` entries."""
    entries = analysis.drop_duplicates(["la_code", "child_id", "time_zero"]).copy()
    entries["month"] = pd.to_datetime(entries["time_zero"]).dt.to_period("M").dt.to_timestamp()
    entries[ANY] = entries[list(FLAGS)].astype(bool).any(axis=1)
    frames = []
    for factor in (*FLAGS, ANY):
        grouped = entries.groupby(["la_code", "month"], observed=True).agg(
            count=(factor, "sum"), exposure=(factor, "size")).reset_index()
        frames.append(grouped.assign(series=f"{factor}_prevalence"))
    out = pd.concat(frames, ignore_index=True)
    out["la_code"] = out["la_code"].astype(str)
    out["count"] = out["count"].astype(int)
    return out[["la_code", "month", "series", "count", "exposure"]]


def factor_prevalence_steps(analysis: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Segmented regression of each factor's monthly prevalence at go-live (tidy, see module).

    ``analysis="factor_prevalence"``; ``n`` holds the entries and ``events`` the
    flagged entries of the series (people, for disclosure control), ``method``
    the model and the months fitted.
    """
    monthly = monthly_prevalence(analysis)
    go_live = pd.Timestamp(config.go_live).to_period("M").to_timestamp()
    for la, part in monthly.groupby("la_code"):
        months = part["month"].drop_duplicates()
        if (months < go_live).sum() < MIN_MONTHS or (months >= go_live).sum() < MIN_MONTHS:
            raise NotEstimable(f"fewer than {MIN_MONTHS} months of entries before or after go-live in {la}")
    lockdowns = [(str(start), str(end)) for start, end in config.lockdown_periods]
    table = segmented_regression(monthly, go_live=str(config.go_live), lockdowns=lockdowns, family="poisson")
    totals = monthly.groupby(["la_code", "series"]).agg(count=("count", "sum"), exposure=("exposure", "sum"))
    key = list(zip(table["cohort"].astype(str), table["outcome"].astype(str)))
    table["analysis"] = "factor_prevalence"
    table["method"] = (table["method"] + "; flagged entries with entries as exposure, months "
                       + table["n"].astype(str))
    table["n"] = [int(totals.loc[k, "exposure"]) for k in key]
    table["events"] = [int(totals.loc[k, "count"]) for k in key]
    return tidy(table)


__all__ = ["ANY", "factor_prevalence_steps", "monthly_prevalence"]
