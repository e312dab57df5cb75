"""Every planted parameter of the synthetic county, in one place.

The generator reads nothing else, and ``truth.py`` writes all of it to
``ground_truth.json``, so an analysis can be checked against exactly what was
planted. Times are in days. Hazards are Weibull, proportional in the
covariates:

    h_k(t | x) = (shape_k / scale_k) (t / scale_k)^(shape_k - 1)
                 * exp(sum_f alpha_kf * flag_f + gamma_k[age band] + post * log HR_k[combination])

where ``flag_f`` are the three parental risk flags (domestic abuse, mental
health, substance misuse), the age band is that of the youngest child of the
journey at referral, and ``post`` is 1 for journeys referred on or after the
go-live date. ``t`` is the time since entry into the current state (clock
reset at each transition).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from evaluation.codes.groupings import COMBINATIONS

RISK_FLAGS: tuple[str, ...] = ("domestic_abuse", "mental_health", "substance_misuse")
AGE_BANDS: tuple[str, ...] = ("0-4", "5-9", "10-15", "16-17")
AGE_BAND_EDGES: tuple[int, ...] = (0, 5, 10, 16, 18)
REFERENCE_AGE_BAND = "5-9"

#: State -> its competing exit causes, in a fixed order.
STATE_CAUSES: dict[str, tuple[str, ...]] = {
    "cin_plan": ("closure", "escalation_cp", "escalation_care"),
    "cp_plan": ("step_down", "closure", "escalation_care", "other"),
    "care": ("return_home", "permanence", "other"),
}


@dataclass(frozen=True)
class Transition:
    """One cause-specific hazard: Weibull baseline, covariate effects, programme effect."""

    shape: float
    scale_days: float
    #: log hazard ratio per risk flag present (domestic abuse, mental health, substance misuse)
    risk_flag_log_hr: tuple[float, float, float]
    #: log hazard ratio per age band of the youngest child (AGE_BANDS order; 5-9 is 0)
    age_band_log_hr: tuple[float, float, float, float]
    #: programme HR (post vs pre) for a family with none of the three factors
    programme_hr_none: float
    #: multiplier of the programme HR for each flag present
    programme_hr_flag_multiplier: tuple[float, float, float]

    def programme_hr(self, flags: tuple[bool, bool, bool]) -> float:
        """Planted programme hazard ratio for one risk-factor combination."""
        hr = self.programme_hr_none
        for present, multiplier in zip(flags, self.programme_hr_flag_multiplier):
            if present:
                hr *= multiplier
        return hr


def _t(shape, scale, flags, ages, hr_none, hr_mult) -> Transition:
    return Transition(shape, scale, tuple(flags), tuple(ages), hr_none, tuple(hr_mult))


DEFAULT_TRANSITIONS: dict[str, dict[str, Transition]] = {
    "cin_plan": {
        "closure": _t(1.2, 300.0, (-0.15, -0.10, -0.20), (-0.10, 0.0, 0.10, 0.30), 1.05, (1.15, 1.10, 1.12)),
        "escalation_cp": _t(0.8, 3000.0, (0.50, 0.25, 0.60), (0.30, 0.0, -0.20, -0.50), 0.95, (0.75, 0.85, 0.80)),
        "escalation_care": _t(0.9, 9200.0, (0.30, 0.40, 0.70), (0.30, 0.0, 0.10, -0.30), 0.95, (0.80, 0.85, 0.75)),
    },
    "cp_plan": {
        "step_down": _t(1.6, 580.0, (-0.20, -0.10, -0.25), (-0.10, 0.0, 0.10, 0.20), 1.10, (1.20, 1.10, 1.15)),
        "closure": _t(1.4, 1500.0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.10, 0.30), 1.00, (1.10, 1.05, 1.05)),
        "escalation_care": _t(1.0, 2000.0, (0.30, 0.30, 0.60), (0.30, 0.0, -0.10, -0.30), 0.90, (0.75, 0.85, 0.80)),
        "other": _t(1.2, 6000.0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), 1.00, (1.0, 1.0, 1.0)),
    },
    "care": {
        "return_home": _t(0.8, 5200.0, (-0.20, -0.10, -0.30), (-0.30, 0.0, 0.20, 0.10), 1.05, (1.15, 1.05, 1.10)),
        "permanence": _t(1.8, 2100.0, (0.0, 0.10, 0.20), (0.60, 0.0, -0.60, -1.20), 1.00, (1.05, 1.05, 1.05)),
        "other": _t(1.0, 9000.0, (0.0, 0.0, 0.0), (-0.50, 0.0, 0.30, 0.50), 1.00, (1.0, 1.0, 1.0)),
    },
}

#: Probability of each risk-factor combination for a family (COMBINATIONS order). The trio
#: co-occurs more than independence would give (e.g. P(DA and MH) 0.045 vs 0.185 * 0.14).
DEFAULT_COMBINATION_PROBABILITIES: tuple[float, ...] = (0.67, 0.12, 0.08, 0.045, 0.035, 0.02, 0.02, 0.01)

#: Referral rate multipliers by calendar month (year, month) for Covid-19; 1.0 elsewhere.
DEFAULT_COVID_MULTIPLIERS: dict[tuple[int, int], float] = {
    (2020, 3): 0.93, (2020, 4): 0.80, (2020, 5): 0.84, (2020, 6): 0.90, (2020, 7): 0.95,
    (2020, 8): 0.97, (2020, 9): 0.97, (2020, 10): 0.96, (2020, 11): 0.92, (2020, 12): 0.88,
    (2021, 1): 0.77, (2021, 2): 0.85, (2021, 3): 0.93,
}


@dataclass(frozen=True)
class SyntheticParameters:
    """All knobs of the synthetic county. Defaults reproduce Oxfordshire's published scale."""

    go_live: dt.date = dt.date(2020, 11, 1)
    transition_start: dt.date = dt.date(2020, 3, 23)
    simulation_start: dt.date = dt.date(2005, 4, 1)
    first_collection_year: int = 2017
    last_collection_year: int = 2025
    #: new families referred per year at scale 1 (re-referrals come on top)
    new_families_per_year: float = 2030.0
    #: relative referral rate Monday..Sunday (normalised to mean 1 when used)
    weekday_rate: tuple[float, ...] = (1.2, 1.2, 1.2, 1.2, 1.1, 0.55, 0.55)
    covid_multipliers: dict[tuple[int, int], float] = field(
        default_factory=lambda: dict(DEFAULT_COVID_MULTIPLIERS))
    #: number of children in a family: 1..6
    family_size_probabilities: tuple[float, ...] = (0.40, 0.30, 0.17, 0.08, 0.03, 0.02)
    #: age of the eldest child at the family's first referral: weights for ages 0..17
    eldest_age_weights: tuple[float, ...] = (
        4, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 7, 6, 5, 3)
    #: gap in years between consecutive siblings: 0.9 + gamma(shape, scale)
    sibling_gap_gamma: tuple[float, float] = (2.0, 0.9)
    combination_probabilities: tuple[float, ...] = DEFAULT_COMBINATION_PROBABILITIES
    #: probability that a referral is closed at referral with no further action (no assessment)
    referral_nfa_probability: float = 0.08
    #: probability that an assessed referral closes after assessment with no further action
    assessment_nfa_probability: float = 0.45
    #: probability of a re-referral after a closure (not after permanence) and its mean gap
    re_referral_probability: float = 0.27
    re_referral_mean_gap_days: float = 420.0
    re_referral_min_gap_days: int = 28
    #: probability of a section 47 enquiry that does not lead to a plan, per CIN plan
    s47_without_plan_probability: float = 0.15
    transitions: dict[str, dict[str, Transition]] = field(
        default_factory=lambda: dict(DEFAULT_TRANSITIONS))
    #: share of permanence exits by type when the youngest child is under 6 / 6 or older
    permanence_types_young: dict[str, float] = field(
        default_factory=lambda: {"adoption": 0.55, "special_guardianship": 0.35, "child_arrangements": 0.10})
    permanence_types_older: dict[str, float] = field(
        default_factory=lambda: {"adoption": 0.0, "special_guardianship": 0.6, "child_arrangements": 0.4})
    #: placement changes per year in care (Poisson)
    placement_change_rate_per_year: float = 0.6
    #: realistic imperfections: probability per eligible unit
    imperfection_rate: float = 0.03
    #: Covid as a common shock to transition hazards (``covid.py``): state -> cause -> hazard
    #: multiplier on the calendar days of ``covid_hazard_window``; empty: no shock
    covid_hazard_multipliers: dict[str, dict[str, float]] = field(default_factory=dict)
    covid_hazard_window: tuple[dt.date, dt.date] = (dt.date(2020, 3, 23), dt.date(2021, 6, 30))
    #: history dependence (``HISTORY_DEPENDENT``): state -> cause -> hazard multiplier for a journey
    #: of a family referred before (a re-referral); empty: history changes nothing
    history_hazard_multipliers: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the re-referral probability after a re-referral's closure is multiplied by this (capped at 1)
    history_re_referral_multiplier: float = 1.0

    def __post_init__(self):
        if not self.simulation_start < self.transition_start <= self.go_live:
            raise ValueError("need simulation_start < transition_start <= go_live")
        if abs(sum(self.combination_probabilities) - 1) > 1e-9:
            raise ValueError("combination probabilities must sum to 1")
        if not 0 <= self.imperfection_rate < 0.5:
            raise ValueError("imperfection_rate must be in [0, 0.5)")
        for state, causes in self.covid_hazard_multipliers.items():
            unknown = set(causes) - set(STATE_CAUSES.get(state, ()))
            if state not in STATE_CAUSES or unknown:
                raise ValueError(f"covid_hazard_multipliers: unknown state or cause {state} {sorted(unknown)}")
            if not all(m > 0 for m in causes.values()):
                raise ValueError("covid_hazard_multipliers must be positive")
        for state, causes in self.history_hazard_multipliers.items():
            unknown = set(causes) - set(STATE_CAUSES.get(state, ()))
            if state not in STATE_CAUSES or unknown or not all(m > 0 for m in causes.values()):
                raise ValueError(f"history_hazard_multipliers: bad state, cause or multiplier in {state}")
        if self.history_re_referral_multiplier <= 0:
            raise ValueError("history_re_referral_multiplier must be positive")
        if self.covid_hazard_window[1] < self.covid_hazard_window[0]:
            raise ValueError("covid_hazard_window ends before it starts")

    @property
    def simulation_end(self) -> dt.date:
        """Reference date of the last collection year: nothing after it is observed."""
        return dt.date(self.last_collection_year, 3, 31)

    @property
    def collection_years(self) -> tuple[int, ...]:
        return tuple(range(self.first_collection_year, self.last_collection_year + 1))

    def combination_flags(self) -> tuple[tuple[bool, bool, bool], ...]:
        return tuple(flags for flags, _ in COMBINATIONS)


#: Earlier involvement raises re-referral and escalation (issue #16): a re-referred family's journey
#: escalates from a CIN plan to a CP plan at 1.8x and into care at 2x the hazard, from a CP plan into
#: care at 2x, and is re-referred after closure 1.5x as often. Under the earlier cohort definition
#: (first referral from 2018) the pre-FSP cohort holds more re-referred families than the post-FSP
#: one, so its estimate is biased; see benchmarks/target_trial.py.
HISTORY_DEPENDENT: dict[str, dict[str, float]] = {
    "cin_plan": {"escalation_cp": 1.8, "escalation_care": 2.0},
    "cp_plan": {"escalation_care": 2.0},
}
HISTORY_RE_REFERRAL_MULTIPLIER = 1.5
