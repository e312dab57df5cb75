"""Covid-19 as a common shock to the transition hazards, by calendar time.

Referral volume alone (``covid_multipliers``) is not all Covid changed: court
backlogs slowed exits from care, fewer children came into care, plans lasted
longer. Here every cause-specific hazard of a state may be multiplied by a
factor while the calendar date is inside ``covid_hazard_window`` — for every
family in the county, whatever its cohort, programme or council, which is what
makes it a *common* shock that only a comparison across councils can separate
from a programme that started in the middle of it.

With a multiplier ``m`` on the calendar days ``[a, b]``, an interval entered on
day ``t0`` has the cumulative hazard (local time ``s`` since entry)

    H(s) = H0(s) + (m - 1) (H0(min(s, B)) - H0(min(s, A))),   A, B = clip(a - t0, b + 1 - t0, >= 0)

with ``H0(s) = (s / scale)^shape`` the Weibull baseline; the latent exit time
solves ``H(s) = E exp(-lp)`` (``E`` standard exponential), piecewise in closed
form (:func:`latent_exit_days`). With ``m = 1`` it is the plain Weibull
inversion, bit for bit, so the default county (no shock) is unchanged.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from evaluation.synthetic.dates import day_number

#: A shock the county can be given (``SyntheticParameters(covid_hazard_multipliers=...)``):
#: slower exits from plans and care, fewer escalations, from the first lockdown to the end of
#: June 2021. State -> cause -> hazard multiplier; causes left out keep 1.
COVID_HAZARD_SHOCK: dict[str, dict[str, float]] = {
    "cin_plan": {"closure": 0.85, "escalation_cp": 0.80, "escalation_care": 0.75},
    "cp_plan": {"step_down": 0.70, "closure": 0.70, "escalation_care": 0.70, "other": 0.85},
    "care": {"return_home": 0.80, "permanence": 0.60, "other": 0.90},
}
#: Calendar days (inclusive) of the shock: the first national lockdown to the end of June 2021.
COVID_HAZARD_WINDOW: tuple[dt.date, dt.date] = (dt.date(2020, 3, 23), dt.date(2021, 6, 30))


def latent_exit_days(scale: float, shape: float, target: np.ndarray, t0: np.ndarray,
                     window: tuple[dt.date, dt.date], multiplier: float) -> np.ndarray:
    """Days from entry ``t0`` (day numbers) to the exit whose cumulative hazard reaches ``target``.

    ``target`` is ``E exp(-lp)``; the hazard is multiplied by ``multiplier`` on the calendar
    days of ``window`` (inclusive). ``multiplier == 1``: ``scale * target ** (1 / shape)``.
    """
    if multiplier == 1:
        return scale * target ** (1.0 / shape)
    if not multiplier > 0:
        raise ValueError("a Covid hazard multiplier must be positive")
    start, end = day_number(window[0]), day_number(window[1]) + 1
    a = np.clip(start - np.asarray(t0, dtype=float), 0.0, None)
    b = np.clip(end - np.asarray(t0, dtype=float), 0.0, None)
    h_a, h_b = (a / scale) ** shape, (b / scale) ** shape
    inside = h_a + multiplier * (h_b - h_a)
    h = np.where(target <= h_a, target,
                 np.where(target <= inside, h_a + (target - h_a) / multiplier,
                          target - (multiplier - 1.0) * (h_b - h_a)))
    return scale * h ** (1.0 / shape)


def hazard_multiplier(params, state: str, cause: str) -> float:
    """The Covid multiplier of one cause-specific hazard (1 when none is planted)."""
    return float(params.covid_hazard_multipliers.get(state, {}).get(cause, 1.0))
