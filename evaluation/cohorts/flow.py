"""The numbers behind a RECORD-style flow diagram: who was excluded, at which step, why.

Rows, in order: the starting population (children with a CIN episode and
their families); for each exclusion of
:data:`~evaluation.cohorts.cohorts.EXCLUSIONS`, the children excluded and the
families that lost their last child at that step, then those remaining; and
the analysed families and children by cohort. Exclusions up to the study
window are not by cohort (no index date yet, ``cohort`` "all"); from there on
a family is counted under its cohort — its final cohort if it is analysed,
else the cohort of its earliest referral in the window — and the by-cohort
rows add up too. Counts are raw: disclosure control is applied at release.

Under the primary ``"new_referral"`` entry rule the candidates are a child's
entries, one per cohort period with a referral in the window, and each is
counted under its own period's cohort; a child who enters (or is excluded) in
two periods counts once in each cohort's rows and once in the "all" rows
(distinct children), so there the "all" rows need not add up across steps.
The steps ``no_new_referral`` and ``look_back_not_observed`` exclude no one
under ``"first_referral"``; they are kept so that step numbers do not change.
"""

from __future__ import annotations

import pandas as pd

from evaluation.cohorts.cohorts import EXCLUSIONS, child_eligibility
from evaluation.study import COHORTS, StudyConfig

FLOW_COLUMNS: tuple[str, ...] = ("step", "stage", "reason", "description", "cohort", "families",
                                 "children")
#: Exclusions decided before a child has a time zero in the study window.
UNCOHORTED = ("no_family_link", "quarantined_records", "referral_before_study_window",
              "referral_after_study_end")



def _family_key(frame: pd.DataFrame) -> pd.Series:
    # a child without a family link is its own "family" of one for counting
    return (frame["la_code"].astype(str) + "|"
            + frame["family_id"].astype("string").fillna("child:" + frame["child_id"].astype(str)))


def cohort_flow(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """Families and children at each inclusion step, overall and by cohort (see module doc).

    A child with no family link counts as a family of one at the first step.
    """
    kids = child_eligibility(tables, config)
    kids["family"] = _family_key(kids)
    kids["child"] = kids["la_code"].astype(str) + "|" + kids["child_id"].astype(str)
    included = kids["excluded_reason"].isna()
    in_window = ~kids["excluded_reason"].isin(list(UNCOHORTED)).fillna(False).astype(bool)
    if config.entry_rule == "new_referral":
        kids["cohort"] = kids["cohort"].astype(object).where(in_window, "all")
    else:
        # a family's cohort: from its analysed children's earliest time zero, else its earliest in window
        earliest_analysed = kids[included].groupby("family")["time_zero"].min()
        earliest_window = kids[in_window].groupby("family")["time_zero"].min()
        family_date = earliest_analysed.combine_first(earliest_window)
        kids["cohort"] = config.cohort_of(kids["family"].map(family_date)).where(in_window, "all")

    rows = []

    def add(step, stage, reason, description, frame, cohort="all"):
        rows.append({"step": step, "stage": stage, "reason": reason, "description": description,
                     "cohort": cohort, "families": int(frame["family"].nunique()),
                     "children": int(frame["child"].nunique())})

    add(0, "start", "cin_children", "children with a CIN episode", kids)
    remaining = kids
    for step, (reason, description) in enumerate(EXCLUSIONS, start=1):
        out = remaining["excluded_reason"] == reason
        out = out.fillna(False).astype(bool)
        left = remaining[~out]
        lost = remaining[out & ~remaining["family"].isin(left["family"])]
        excluded = remaining[out]
        rows.append({"step": step, "stage": "excluded", "reason": reason, "description": description,
                     "cohort": "all", "families": int(lost["family"].nunique()),
                     "children": int(excluded["child"].nunique())})
        if reason not in UNCOHORTED:
            for cohort in COHORTS:
                lost_c = lost[lost["cohort"] == cohort]
                rows.append({"step": step, "stage": "excluded", "reason": reason,
                             "description": description, "cohort": cohort,
                             "families": int(lost_c["family"].nunique()),
                             "children": int(excluded.loc[excluded["cohort"] == cohort, "child"].nunique())})
        add(step, "remaining", reason, f"remaining after: {description}", left)
        if reason == UNCOHORTED[-1] or reason not in UNCOHORTED:
            for cohort in COHORTS:
                add(step, "remaining", reason, f"remaining after: {description}",
                    left[left["cohort"] == cohort], cohort)
        remaining = left
    final = len(EXCLUSIONS) + 1
    add(final, "analysed", "analysed", "families and children analysed", remaining)
    for cohort in COHORTS:
        add(final, "analysed", "analysed", "families and children analysed",
            remaining[remaining["cohort"] == cohort], cohort)
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))
