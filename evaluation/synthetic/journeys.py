"""Family journeys through children's social care, simulated as a multi-state model.

A journey starts with a referral of a family (all its children under 18 share
the referral and assessment dates). After the assessment it either closes
with no further action or enters a CIN plan; from there the family moves
between CIN plan, child protection (CP) plan and care by competing
cause-specific Weibull hazards (see ``parameters.py``) until the case closes,
the youngest child turns 18, or the simulation ends (censored, open).

Exposure is fixed at entry: a journey referred on or after go-live has the
programme hazards in every state. Siblings share the same durations, which is
the only family clustering (no unobserved frailty). The simulation is
vectorised over journeys: one numpy step per transition, one loop over
re-referral generations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.synthetic.covid import hazard_multiplier, latent_exit_days
from evaluation.synthetic.dates import OPEN, day_number
from evaluation.synthetic.parameters import AGE_BAND_EDGES, STATE_CAUSES, SyntheticParameters

#: Next state after each (state, cause); None ends the journey.
NEXT_STATE: dict[tuple[str, str], str | None] = {
    ("cin_plan", "closure"): None,
    ("cin_plan", "escalation_cp"): "cp_plan",
    ("cin_plan", "escalation_care"): "care",
    ("cp_plan", "step_down"): "cin_plan",
    ("cp_plan", "closure"): None,
    ("cp_plan", "escalation_care"): "care",
    ("cp_plan", "other"): None,
    ("care", "return_home"): "cin_plan",
    ("care", "permanence"): None,
    ("care", "other"): None,
}
#: Children must be referred at least this many days before their 18th birthday.
MIN_DAYS_BEFORE_18 = 60
MAX_TRANSITIONS = 40


@dataclass
class Journeys:
    journeys: pd.DataFrame    # one row per family journey
    members: pd.DataFrame     # (journey, child) pairs
    intervals: pd.DataFrame   # one row per state interval of a journey


def daily_referral_rate(params: SyntheticParameters, scale: float) -> np.ndarray:
    """Expected new-family referrals on each simulated day (weekday and Covid effects)."""
    start, end = day_number(params.simulation_start), day_number(params.simulation_end)
    days = np.arange(start, end + 1)
    d = days.astype("datetime64[D]")
    weekday = (days + 3) % 7    # 1970-01-01 was a Thursday; 0 = Monday
    w = np.asarray(params.weekday_rate, dtype=float)
    rate = params.new_families_per_year * scale / 365.25 * w[weekday] / w.mean()
    return rate * covid_multiplier(d, params)


def covid_multiplier(d: np.ndarray, params: SyntheticParameters) -> np.ndarray:
    """Referral-rate multiplier of each day: the Covid dips, 1 elsewhere and before 23 March 2020."""
    d = np.asarray(d, dtype="datetime64[D]")
    year = d.astype("datetime64[Y]").astype(int) + 1970
    month = d.astype("datetime64[M]").astype(int) % 12 + 1
    out = np.ones(d.shape)
    for (y, m), mult in params.covid_multipliers.items():
        out[(year == y) & (month == m)] = mult
    lockdown = np.datetime64(params.transition_start, "D")
    out[(year == 2020) & (month == 3) & (d < lockdown)] = 1.0
    return out


def new_family_referrals(rng: np.random.Generator, params: SyntheticParameters, scale: float) -> np.ndarray:
    """Day numbers of first referrals of new families (Poisson per day)."""
    rate = daily_referral_rate(params, scale)
    counts = rng.poisson(rate)
    start = day_number(params.simulation_start)
    return np.repeat(np.arange(start, start + len(rate)), counts).astype(np.int64)


def age_band_index(age_days: np.ndarray) -> np.ndarray:
    """Index into AGE_BANDS of an age given in days."""
    years = np.floor(np.asarray(age_days) / 365.25)
    return np.clip(np.searchsorted(np.asarray(AGE_BAND_EDGES[1:-1]), years, side="right"), 0, 3)


def _linear_predictor(params: SyntheticParameters, state: str, cause: str, flags: np.ndarray,
                      band: np.ndarray, post: np.ndarray, combination: np.ndarray) -> np.ndarray:
    tr = params.transitions[state][cause]
    lp = flags @ np.asarray(tr.risk_flag_log_hr) + np.asarray(tr.age_band_log_hr)[band]
    log_hr = np.log([tr.programme_hr(f) for f in params.combination_flags()])
    return lp + post * log_hr[combination]


def simulate_journeys(rng: np.random.Generator, params: SyntheticParameters, children: pd.DataFrame,
                      families: pd.DataFrame) -> Journeys:
    """All journeys of all families, re-referrals included, from the simulation start to its end."""
    sim_end = day_number(params.simulation_end)
    go_live = day_number(params.go_live)
    flags_of_combination = np.array(params.combination_flags(), dtype=float)
    child_start = families["child_start"].to_numpy()
    n_children = families["n_children"].to_numpy()
    dob = children["dob"].to_numpy()
    b18 = children["birthday_18"].to_numpy()

    journeys_out, members_out, intervals_out = [], [], []
    fam = np.arange(len(families))
    ref = families["first_referral"].to_numpy()
    next_jid = 0
    generation = 0
    while len(fam):
        # members: children of the family born by the referral and at least 60 days short of 18
        rep = np.repeat(np.arange(len(fam)), n_children[fam])
        child = child_start[fam][rep] + (np.arange(len(rep)) - np.repeat(
            np.concatenate([[0], np.cumsum(n_children[fam])[:-1]]), n_children[fam]))
        ok = (dob[child] <= ref[rep]) & (ref[rep] + MIN_DAYS_BEFORE_18 < b18[child])
        rep, child = rep[ok], child[ok]
        has_member = np.bincount(rep, minlength=len(fam)) > 0
        keep = np.flatnonzero(has_member)
        remap = -np.ones(len(fam), dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        fam, ref = fam[keep], ref[keep]
        rep = remap[rep]
        n = len(fam)
        jid = next_jid + np.arange(n)
        next_jid += n
        youngest_dob = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(youngest_dob, rep, dob[child])
        # the journey ends when its youngest member turns 18
        limit = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(limit, rep, b18[child])
        band = age_band_index(ref - youngest_dob)
        combination = families["combination"].to_numpy()[fam]
        flags = flags_of_combination[combination]
        post = (ref >= go_live).astype(float)

        referral_nfa = rng.random(n) < params.referral_nfa_probability
        weekday_shift = rng.integers(0, 8, size=n)
        assess_start = np.where(referral_nfa, OPEN, ref + weekday_shift)
        assess_auth = np.where(referral_nfa, OPEN, assess_start + rng.integers(7, 45, size=n))
        assess_nfa = (~referral_nfa) & (rng.random(n) < params.assessment_nfa_probability)
        plan_start = np.where(referral_nfa | assess_nfa, OPEN, assess_auth + rng.integers(0, 8, size=n))

        closure = np.full(n, OPEN, dtype=np.int64)
        reason = np.full(n, "", dtype=object)
        closure[referral_nfa] = ref[referral_nfa]
        reason[referral_nfa] = "referral_nfa"
        closure[assess_nfa] = assess_auth[assess_nfa]
        reason[assess_nfa] = "assessment_nfa"
        # an assessment not finished by the end of the simulation leaves the journey open
        unfinished = np.where(referral_nfa | assess_nfa, closure > sim_end, plan_start > sim_end)
        closure[unfinished] = OPEN
        reason[unfinished] = "open"

        # multi-state part
        idx = np.flatnonzero(~referral_nfa & ~assess_nfa & (plan_start <= sim_end))
        state = np.full(len(idx), "cin_plan", dtype=object)
        t0 = plan_start[idx]
        seq = 0
        while len(idx) and seq < MAX_TRANSITIONS:
            end = np.empty(len(idx), dtype=np.int64)
            cause = np.empty(len(idx), dtype=object)
            for st, causes in STATE_CAUSES.items():
                s = np.flatnonzero(state == st)
                if not len(s):
                    continue
                j = idx[s]
                times = np.empty((len(s), len(causes)))
                for k, c in enumerate(causes):
                    tr = params.transitions[st][c]
                    lp = _linear_predictor(params, st, c, flags[j], band[j], post[j], combination[j])
                    if generation > 0:   # a re-referral: earlier involvement (history_hazard_multipliers)
                        lp = lp + np.log(params.history_hazard_multipliers.get(st, {}).get(c, 1.0))
                    e = rng.exponential(size=len(s))
                    times[:, k] = latent_exit_days(tr.scale_days, tr.shape, e * np.exp(-lp), t0[s],
                                                   params.covid_hazard_window,
                                                   hazard_multiplier(params, st, c))
                first = times.argmin(axis=1)
                duration = np.maximum(np.ceil(times[np.arange(len(s)), first]), 1).astype(np.int64)
                end[s] = t0[s] + duration
                cause[s] = np.array(causes, dtype=object)[first]
            aged = end >= limit[idx]
            end[aged] = limit[idx][aged]
            cause[aged] = "aged_out"
            is_open = end > sim_end
            end[is_open] = OPEN
            cause[is_open] = "open"
            intervals_out.append(pd.DataFrame({
                "journey": jid[idx], "seq": seq, "state": state, "start": t0, "end": end, "cause": cause}))
            nxt = np.array([NEXT_STATE.get((s_, c_)) for s_, c_ in zip(state, cause)], dtype=object)
            done = pd.isna(nxt) | (cause == "aged_out") | (cause == "open")
            finished = idx[done]
            closure[finished] = end[done]
            reason[finished] = np.array([f"{s_}:{c_}" for s_, c_ in zip(state[done], cause[done])], dtype=object)
            cont = ~done
            idx, state, t0 = idx[cont], nxt[cont], end[cont]
            seq += 1
        if len(idx):   # pathological long chains: leave open
            closure[idx] = OPEN
            reason[idx] = "open"

        journeys_out.append(pd.DataFrame({
            "journey": jid, "family": fam, "generation": generation, "referral": ref,
            "referral_nfa": referral_nfa, "assessment_start": assess_start, "assessment_auth": assess_auth,
            "assessment_nfa": assess_nfa, "combination": combination, "age_band": band,
            "post": post.astype(bool), "youngest_dob": youngest_dob, "limit": limit,
            "closure": closure, "closure_kind": reason,
        }))
        members_out.append(pd.DataFrame({"journey": jid[rep], "child": child}))

        # re-referrals after a closure that leaves the family intact
        can = np.isin(reason, ["referral_nfa", "assessment_nfa", "cin_plan:closure", "cp_plan:closure",
                               "care:other"]) & (closure <= sim_end)
        probability = params.re_referral_probability * (
            params.history_re_referral_multiplier if generation > 0 else 1.0)
        again = can & (rng.random(n) < min(probability, 1.0))
        gap = params.re_referral_min_gap_days + rng.exponential(params.re_referral_mean_gap_days, size=n)
        new_ref = closure + gap.astype(np.int64)
        again &= new_ref <= sim_end
        # Covid thins re-referrals as it thins new referrals
        mult = covid_multiplier(np.where(again, new_ref, 0), params)
        again &= rng.random(n) < mult
        fam, ref = fam[again], new_ref[again]
        generation += 1

    return Journeys(
        journeys=pd.concat(journeys_out, ignore_index=True),
        members=pd.concat(members_out, ignore_index=True),
        intervals=pd.concat(intervals_out, ignore_index=True) if intervals_out else pd.DataFrame(
            columns=["journey", "seq", "state", "start", "end", "cause"]),
    )


def cohort_of(referral: np.ndarray, params: SyntheticParameters) -> np.ndarray:
    """pre_fsp / transition / post_fsp by referral date."""
    r = np.asarray(referral)
    out = np.full(r.shape, "pre_fsp", dtype=object)
    out[r >= day_number(params.transition_start)] = "transition"
    out[r >= day_number(params.go_live)] = "post_fsp"
    return out
