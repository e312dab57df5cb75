"""The study's rules as one frozen, documented configuration.

Every date and window that decides what an estimate means lives here, so
that a sensitivity analysis is a different ``StudyConfig``, never an edit.

A leaf module: it imports nothing from this project's packages, so spells,
cohorts, analyses and the Dagster launchpad (``assets/study.py``, whose
settings are generated from these fields) can all import it. Each field's
``#:`` comment is its documentation and the launchpad's description.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

COHORTS: tuple[str, ...] = ("pre_fsp", "transition", "post_fsp")
#: Ways a child enters the study (``StudyConfig.entry_rule``): the primary design first.
ENTRY_RULES: tuple[str, ...] = ("new_referral", "first_referral")
#: Where the risk-factor flags come from (``StudyConfig.risk_factor_source``).
RISK_FACTOR_SOURCES: tuple[str, ...] = ("index_assessment", "earlier_assessments")
#: Fields that define the design of the comparison: a value other than the default makes a
#: sensitivity analysis (``StudyConfig.design``). Dates and windows that describe the data or
#: the council (go-live, study end, age bands, ...) are not design choices.
DESIGN_FIELDS: tuple[str, ...] = (
    "entry_rule", "lookback_months", "censor_earlier_cohorts_at_go_live", "risk_factor_source",
    "adjust_for_index_assessment", "factor_grace_days", "domestic_abuse_definition",
    "risk_factor_unit", "unauthorised_assessments", "exclude_quarantined")


@dataclass(frozen=True)
class StudyConfig:
    """Dates, windows and definitions of the evaluation (defaults: Oxfordshire FSP)."""

    #: who enters, and when (time zero): "new_referral" (primary design) is a CIN referral with no
    #: CIN episode open in the lookback_months before it, the same rule before and after go-live,
    #: at most once per cohort period, the cohort that of the referral's date; "first_referral"
    #: (sensitivity: the earlier definition) is each child's first referral from pre_fsp_start, in
    #: the cohort of its family's earliest such referral
    entry_rule: str = "new_referral"
    #: months before a referral that must hold no CIN episode for entry ("new_referral"); prior
    #: history (earlier CIN episodes) is counted over this same fixed window under either rule
    lookback_months: int = 12
    #: where the three parental risk flags come from: "index_assessment" (the index episode's
    #: assessments up to factor_grace_days after time zero; used for differential impact, never
    #: adjusted for in the primary design) or "earlier_assessments" (sensitivity: assessments of
    #: earlier episodes authorised before time zero)
    risk_factor_source: str = "index_assessment"
    #: sensitivity: also adjust for the index assessment's risk flags and primary need, which are
    #: recorded after time zero and may themselves be changed by the programme
    adjust_for_index_assessment: bool = False
    #: first day a family can enter (start of the pre-FSP cohort)
    pre_fsp_start: dt.date = dt.date(2018, 4, 1)
    #: first day of the transition cohort (first national Covid lockdown)
    transition_start: dt.date = dt.date(2020, 3, 23)
    #: first day of the post-FSP cohort (programme go-live)
    go_live: dt.date = dt.date(2020, 11, 1)
    #: last day a family can enter and last day of follow-up; None = each LA's extract reference date
    study_end: dt.date | None = None
    #: assessments authorised up to time zero + this many days give the risk factors
    factor_grace_days: int = 45
    #: a period of care starting up to this many days after a plan ends is an escalation into care
    escalation_window_days: int = 7
    #: a CIN plan / closure up to this many days after a plan ends makes a step-down / closure exit
    exit_window_days: int = 7
    #: follow-up after the index episode's closure for the re-referral outcome
    re_referral_days: int = 365
    #: "3B" (parent/carer is the subject) or "broad" (3A, 3B or 3C)
    domestic_abuse_definition: str = "3B"
    #: "child": each child's own index assessments; "family": the union over the
    #: children referred on the family's index date, shared by all its children
    risk_factor_unit: str = "child"
    #: factors of an assessment without an authorisation date: "start_date" (dated by its
    #: start) or "exclude" (ignored)
    unauthorised_assessments: str = "start_date"
    #: inclusive age bands (years) at time zero
    age_bands: tuple[tuple[int, int], ...] = ((0, 0), (1, 4), (5, 9), (10, 15), (16, 17))
    #: inclusive Covid-19 lockdown periods in England
    lockdown_periods: tuple[tuple[dt.date, dt.date], ...] = (
        (dt.date(2020, 3, 23), dt.date(2020, 6, 30)),
        (dt.date(2020, 11, 5), dt.date(2020, 12, 1)),
        (dt.date(2021, 1, 5), dt.date(2021, 3, 8)),
    )
    #: follow-up stops at this birthday (dated from the first of the birth month)
    censor_at_age: int = 18
    #: drop children with any quarantined record (their spells may be incomplete)
    exclude_quarantined: bool = True
    #: primary design: follow-up of the children who entered before go-live (pre-FSP and transition
    #: cohorts) stops at go-live, since their work from then on is under FSP (practice as usual vs
    #: FSP); a spell (or re-referral window) starting on or after go-live is then not theirs to
    #: count. False (sensitivity) follows them to the end of the data
    censor_earlier_cohorts_at_go_live: bool = True
    #: length given to a spell observed to start and end on the same day (days), so
    #: that every at-risk interval (entry, duration] is non-empty
    same_day_days: float = 0.5
    #: programme go-live of each council for the child-level comparison across councils, as
    #: "LA:YYYY-MM-DD" or "LA:never" (e.g. "931:2020-11-01", "825:never"); empty: every council
    #: present went live on go_live (a one-council study has nothing to compare with)
    council_go_lives: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.pre_fsp_start < self.transition_start <= self.go_live:
            raise ValueError("need pre_fsp_start < transition_start <= go_live")
        if self.study_end is not None and self.study_end < self.go_live:
            raise ValueError("study_end must not be before go_live")
        if self.entry_rule not in ENTRY_RULES:
            raise ValueError(f"entry_rule must be one of {ENTRY_RULES}")
        if self.lookback_months < 1:
            raise ValueError("lookback_months must be at least 1")
        if self.risk_factor_source not in RISK_FACTOR_SOURCES:
            raise ValueError(f"risk_factor_source must be one of {RISK_FACTOR_SOURCES}")
        if self.domestic_abuse_definition not in ("3B", "broad"):
            raise ValueError("domestic_abuse_definition must be '3B' or 'broad'")
        if self.risk_factor_unit not in ("child", "family"):
            raise ValueError("risk_factor_unit must be 'child' or 'family'")
        if self.unauthorised_assessments not in ("start_date", "exclude"):
            raise ValueError("unauthorised_assessments must be 'start_date' or 'exclude'")
        for name in ("factor_grace_days", "escalation_window_days", "exit_window_days",
                     "re_referral_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 < self.same_day_days < 1:
            raise ValueError("same_day_days must be between 0 and 1")
        previous = -1
        for low, high in self.age_bands:
            if low != previous + 1 or high < low:
                raise ValueError("age_bands must be contiguous inclusive (low, high) pairs from 0")
            previous = high
        if previous < self.censor_at_age - 1:
            raise ValueError("age_bands must cover every age below censor_at_age")
        for start, end in self.lockdown_periods:
            if end < start:
                raise ValueError("a lockdown period ends before it starts")
        self.go_live_by_council()  # each "LA:date" entry parses, no council twice

    def go_live_by_council(self, councils=()) -> dict[str, dt.date | None]:
        """LA code -> programme go-live (None: never adopted) of ``council_go_lives``.

        With ``council_go_lives`` empty, every council in ``councils`` went live on ``go_live``.
        """
        if not self.council_go_lives:
            return {str(code): self.go_live for code in councils}
        out: dict[str, dt.date | None] = {}
        for item in self.council_go_lives:
            code, sep, date = str(item).partition(":")
            code, date = code.strip(), date.strip()
            if not sep or not code or not date:
                raise ValueError(f"council_go_lives: {item!r} is not 'LA:YYYY-MM-DD' or 'LA:never'")
            if code in out:
                raise ValueError(f"council_go_lives: council {code} is given twice")
            try:
                out[code] = None if date.lower() == "never" else dt.date.fromisoformat(date)
            except ValueError:
                raise ValueError(f"council_go_lives: {item!r} has no ISO date (YYYY-MM-DD) or 'never'") from None
        return out

    @property
    def design(self) -> str:
        """"primary", or "sensitivity: field=value; ..." naming each design field that differs."""
        default = StudyConfig()
        changed = [f"{name}={getattr(self, name)}" for name in DESIGN_FIELDS
                   if getattr(self, name) != getattr(default, name)]
        return "primary" if not changed else "sensitivity: " + "; ".join(changed)

    @property
    def age_band_labels(self) -> tuple[str, ...]:
        """Labels of the age bands: "0", "1-4", ..."""
        return tuple(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.age_bands)

    def cohort_of(self, dates: pd.Series) -> pd.Series:
        """Cohort name of each date ("pre_fsp" / "transition" / "post_fsp"; <NA> before the study)."""
        dates = pd.to_datetime(dates)
        out = pd.Series(pd.NA, index=dates.index, dtype="string")
        out[dates >= pd.Timestamp(self.pre_fsp_start)] = "pre_fsp"
        out[dates >= pd.Timestamp(self.transition_start)] = "transition"
        out[dates >= pd.Timestamp(self.go_live)] = "post_fsp"
        return out
