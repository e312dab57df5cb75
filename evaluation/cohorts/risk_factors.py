"""Parental risk factors at the index referral and their eight combinations.

With ``risk_factor_source = "index_assessment"`` (default) flags come from the
factors recorded at the assessments of the child's index CIN episode dated up
to time zero + ``factor_grace_days``: an assessment is dated by its
authorisation (when the factors are confirmed); one without an authorisation
date is dated by its start (``unauthorised_assessments = "start_date"``,
default) or ignored (``"exclude"``). Factors recorded later describe what
happened after entry and are not used. Even so, the index assessment is made
after time zero, by a service the programme changed: these flags define the
subgroups of the differential-impact analysis (with a check that their
recorded prevalence does not step at go-live), and are adjusted for only in a
sensitivity analysis (``adjust_for_index_assessment``). With
``"earlier_assessments"`` (sensitivity) they come instead from the assessments
of the child's earlier CIN episodes (referred before time zero) dated before
time zero: baseline by construction, but absent for children new to services.

* domestic abuse: 3B (parent/carer is the subject), or 3A/3B/3C with
  ``domestic_abuse_definition = "broad"``;
* mental health: 4B; substance misuse: 1B (alcohol) or 2B (drugs).

With ``risk_factor_unit = "family"`` the flags of the children referred on
the family's index date are pooled (any child flagged) and shared by every
child of the family, so siblings always fall in the same combination.
"""

from __future__ import annotations

import pandas as pd

from evaluation.codes.groupings import DOMESTIC_ABUSE_BROAD, RISK_FACTOR_CODES, combination_label
from evaluation.study import StudyConfig

FLAGS: tuple[str, ...] = ("domestic_abuse", "mental_health", "substance_misuse")
KEYS = ["la_code", "child_id"]
#: The key of an entry (a child may enter once in each cohort period).
ENTRY = KEYS + ["time_zero"]


def risk_factor_codes(config: StudyConfig) -> dict[str, frozenset[str]]:
    """Assessment factor codes of each flag under ``config``."""
    codes = dict(RISK_FACTOR_CODES)
    if config.domestic_abuse_definition == "broad":
        codes["domestic_abuse"] = DOMESTIC_ABUSE_BROAD
    return codes


def risk_factors(tables: dict[str, pd.DataFrame], index_episodes: pd.DataFrame,
                 config: StudyConfig) -> pd.DataFrame:
    """Per entry of ``index_episodes`` (key ``la_code, child_id, time_zero``): the three flags,
    ``combination`` and ``assessments_used``."""
    index = index_episodes[KEYS + ["family_id", "episode_id", "time_zero", "family_index_date"]]
    if config.risk_factor_source == "earlier_assessments":
        episodes = tables["cin_episodes"][KEYS + ["episode_id", "referral_date"]]
        assessments = (tables["assessments"].merge(episodes, on=KEYS + ["episode_id"], how="inner")
                       .merge(index.drop(columns="episode_id"), on=KEYS, how="inner"))
        assessments = assessments[(assessments["referral_date"] < assessments["time_zero"]).to_numpy()]
        deadline = assessments["time_zero"] - pd.Timedelta(days=1)
    else:
        assessments = tables["assessments"].merge(index, on=KEYS + ["episode_id"], how="inner")
        deadline = assessments["time_zero"] + pd.Timedelta(days=config.factor_grace_days)
    dated = assessments["authorisation_date"]
    if config.unauthorised_assessments == "start_date":
        dated = dated.fillna(assessments["start_date"])
    used = assessments[(dated <= deadline).fillna(False).astype(bool)]
    factors = tables["assessment_factors"].merge(
        used[ENTRY + ["episode_id", "assessment_id"]], on=KEYS + ["episode_id", "assessment_id"],
        how="inner")
    out = index.copy()
    for flag, codes in risk_factor_codes(config).items():
        flagged = factors.loc[factors["factor"].isin(list(codes)).fillna(False).astype(bool), ENTRY]
        flagged = flagged.drop_duplicates().assign(**{flag: True})
        out = out.merge(flagged, on=ENTRY, how="left")
        out[flag] = out[flag].eq(True)
    counts = used.groupby(ENTRY, observed=True).size().rename("assessments_used").reset_index()
    out = out.merge(counts, on=ENTRY, how="left")
    out["assessments_used"] = out["assessments_used"].fillna(0).astype("int64")
    if config.risk_factor_unit == "family":
        at_index = out[out["time_zero"] == out["family_index_date"]]
        unit = ["la_code", "family_id", "family_index_date"]
        pooled = at_index.groupby(unit, observed=True)[list(FLAGS)].any()
        out = out.drop(columns=list(FLAGS)).merge(pooled.reset_index(), on=unit, how="left")
        for flag in FLAGS:
            out[flag] = out[flag].eq(True)
    out["combination"] = pd.Series(
        [combination_label(*flags) for flags in zip(*(out[f] for f in FLAGS))],
        index=out.index, dtype="string")
    return out[ENTRY + list(FLAGS) + ["combination", "assessments_used"]]
