"""Child-level Children in Need records from family journeys.

Siblings share every family-level date; each child's record is cut at its 18th
birthday (anything still open closes that day). Child protection conferences
(the initial conference that starts a plan, a section 47's initial conference)
are held on weekdays: one that would fall on a Saturday or Sunday moves to the
next Monday (:func:`conferences_on_weekdays`; review conferences keep the
weekday of the plan's start, see ``write_cin``). Codes are drawn so that they
are valid in every collection year whose file can carry them (code lists only
grow between 2017 and 2026, so a code valid in the year of the event and in
all later years is enough).

What a council's return must look like to pass DfE's validation queries shapes a few
records: a referral closed with no further action closes RC7 (RC8/RC9 mean "after
assessment", query 8825Q); factor 21 ("no factors identified") is recorded only at an
assessment the case closes after as RC8/RC9 (8873Q), any other assessment with no factor
drawn gets a child or household factor; every section 47 enquiry is accompanied by an
assessment in each year's file it is in (2991Q), the episode's own or one started with the
enquiry; no enquiry starts while another of the same episode is open (8890); and some
disabled children have several disabilities (2888Q). These draws come from a generator
spawned from ``rng``, so the rest of the county (SSDA903, families) is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from evaluation.codes.cin import cin_code_list
from evaluation.synthetic.dates import OPEN, collection_year, day_number
from evaluation.synthetic.journeys import Journeys, cohort_of
from evaluation.synthetic.parameters import SyntheticParameters

#: Parental factors of the trio, by risk flag.
TRIO_CODES = {"domestic_abuse": ("3B",), "mental_health": ("4B",), "substance_misuse": ("1B", "2B")}
#: Other parental ('B') factors: probability for a family without / with a trio factor.
OTHER_PARENT_FACTORS: dict[str, float] = {"5B": 0.30, "6B": 0.45, "18B": 0.15, "19B": 0.10}
OTHER_PARENT_PROBABILITY = (0.31, 0.25)
#: Child ('A'), household ('C') and other factors: (probability, teenagers only)
CHILD_FACTORS: dict[str, tuple[float, bool]] = {
    "16A": (0.25, False), "17A": (0.20, False), "18A": (0.06, False), "18C": (0.02, False),
    "19A": (0.03, False), "19C": (0.01, False), "3A": (0.03, False), "3C": (0.06, False),
    "1C": (0.02, False), "2C": (0.02, False), "4A": (0.03, False), "5A": (0.03, False),
    "6A": (0.03, False), "7A": (0.02, False), "14A": (0.05, False), "20": (0.10, False),
    "15A": (0.12, True), "10A": (0.10, True), "11A": (0.04, True), "13A": (0.03, True),
    "24A": (0.05, True), "2A": (0.03, True), "1A": (0.02, True), "22A": (0.002, False),
    "23A": (0.003, False), "9A": (0.005, True), "12A": (0.003, True),
}
REFERRAL_SOURCES: dict[str, float] = {
    "1A": 1.0, "1B": 3.0, "1C": 1.5, "1D": 2.5, "2A": 18.0, "2B": 2.0, "3A": 3.0, "3B": 1.5,
    "3C": 1.0, "3D": 2.0, "3E": 4.0, "3F": 2.5, "4": 2.0, "5A": 4.0, "5B": 3.0, "5C": 3.0,
    "5D": 6.0, "6": 28.0, "7": 3.0, "8": 5.0, "9": 2.0, "10": 2.0,
}
NEED_CODES: dict[str, float] = {"N1": 55, "N2": 4, "N3": 4, "N4": 10, "N5": 16, "N6": 4, "N7": 1, "N8": 6}
ABUSE_CATEGORIES = ("NEG", "EMO", "PHY", "SAB", "MUL")


@lru_cache(maxsize=None)
def codes_valid_from(field: str, year: int, last_year: int) -> frozenset[str]:
    """Codes of ``field`` valid in every collection year from ``year`` to ``last_year``."""
    sets = [cin_code_list(field, y) for y in range(year, last_year + 1)]
    return frozenset.intersection(*sets)


def _event_years(days: np.ndarray, params: SyntheticParameters) -> np.ndarray:
    years = collection_year(np.where(days == OPEN, 0, days))
    return np.clip(years, params.first_collection_year, params.last_collection_year)


@dataclass
class CinRecords:
    episodes: pd.DataFrame     # one row per child and journey (a CINdetails)
    plans: pd.DataFrame        # CIN plans (CINPlanDates)
    s47: pd.DataFrame          # section 47 enquiries
    cp_plans: pd.DataFrame     # child protection plans
    states: pd.DataFrame       # every child-level state interval (cin_plan / cp_plan / care)
    permanence_type: np.ndarray  # per journey: adoption / special_guardianship / child_arrangements
    #: assessments that accompany a section 47 enquiry (episode, child, start, auth, factors)
    s47_assessments: pd.DataFrame | None = None
    #: per child, the Disability codes ('|'-separated; '' when none recorded)
    disabilities: np.ndarray | None = None


def child_intervals(j: Journeys, children: pd.DataFrame, sim_end: int) -> pd.DataFrame:
    """Family intervals projected onto each member and cut at the member's 18th birthday."""
    mi = j.members.merge(j.intervals, on="journey")
    b18 = children["birthday_18"].to_numpy()[mi["child"].to_numpy()]
    mi = mi[mi["start"].to_numpy() < b18].copy()
    b18 = children["birthday_18"].to_numpy()[mi["child"].to_numpy()]
    cut = (mi["end"].to_numpy() > b18) & (b18 <= sim_end)
    mi.loc[cut, "end"] = b18[cut]
    mi.loc[cut, "cause"] = "aged_out"
    return mi.sort_values(["child", "journey", "seq"], kind="stable").reset_index(drop=True)


def weekday(days) -> np.ndarray:
    """Day of the week of day numbers: 0 Monday ... 5 Saturday, 6 Sunday (1970-01-01 a Thursday)."""
    return (np.asarray(days, dtype=np.int64) + 3) % 7


def next_weekday(days) -> np.ndarray:
    """A Saturday or Sunday moved to the following Monday; other days (and ``OPEN``) unchanged."""
    days = np.asarray(days, dtype=np.int64)
    wd = weekday(days)
    return np.where((days != OPEN) & (wd >= 5), days + 7 - wd, days)


def conferences_on_weekdays(states: pd.DataFrame, sim_end: int) -> pd.DataFrame:
    """Move each protection plan starting on a weekend (its initial conference) to the Monday.

    The state before it (same child and journey, ending that day) ends on the
    Monday too. If the plan would then not last a day (or would start after the
    simulation), it starts on the Friday before instead, when the state before
    it still lasts a day; otherwise it is left as it is (never seen in practice).
    """
    st = states.sort_values(["child", "journey", "seq"], kind="stable").reset_index(drop=True)
    start = st["start"].to_numpy().astype(np.int64)
    end = st["end"].to_numpy().astype(np.int64)
    wd = weekday(start)
    weekend = (st["state"].to_numpy() == "cp_plan") & (start != OPEN) & (wd >= 5)
    if not weekend.any():
        return states
    child, journey = st["child"].to_numpy(), st["journey"].to_numpy()
    before = np.r_[False, (child[1:] == child[:-1]) & (journey[1:] == journey[:-1])
                   & (end[:-1] == start[1:])]
    prev_start = np.r_[np.int64(0), start[:-1]]
    monday, friday = start + 7 - wd, start - (wd - 4)
    forward = weekend & (monday < end) & (monday <= sim_end)
    back = weekend & ~forward & (~before | (prev_start < friday))
    moved = np.where(forward, monday, np.where(back, friday, start))
    shift = moved != start
    st["start"] = moved
    prev = np.flatnonzero(shift & before) - 1
    end[prev] = moved[prev + 1]
    st["end"] = end
    return st


def build_cin_records(rng: np.random.Generator, params: SyntheticParameters, j: Journeys,
                      children: pd.DataFrame, families: pd.DataFrame) -> CinRecords:
    sim_end = day_number(params.simulation_end)
    last = params.last_collection_year
    # draws added for DfE validation (factor 21, assessments with a section 47, several
    # disabilities) come from a spawned generator, so that ``rng``'s stream -- and everything
    # drawn from it after this function -- is unchanged
    extra = rng.spawn(1)[0]
    jr = j.journeys.set_index("journey")
    ep = j.members.merge(j.journeys, on="journey").sort_values(["child", "referral"], kind="stable")
    ep = ep.reset_index(drop=True)
    n = len(ep)
    b18 = children["birthday_18"].to_numpy()[ep["child"].to_numpy()]
    dob = children["dob"].to_numpy()[ep["child"].to_numpy()]

    # family-level codes: referral source, need code, closure codes, category of abuse
    jn = len(jr)
    jref = jr["referral"].to_numpy()
    ref_year = _event_years(jref, params)
    src_codes = np.array(list(REFERRAL_SOURCES), dtype=object)
    src_w = np.array(list(REFERRAL_SOURCES.values()))
    source = np.empty(jn, dtype=object)
    for y in np.unique(ref_year):
        sel = ref_year == y
        valid = codes_valid_from("ReferralSource", int(y), last)
        w = np.where([c in valid for c in src_codes], src_w, 0.0)
        source[sel] = rng.choice(src_codes, size=sel.sum(), p=w / w.sum())
    need_codes = np.array(list(NEED_CODES), dtype=object)
    nw = np.array(list(NEED_CODES.values()), dtype=float)
    need = rng.choice(need_codes, size=jn, p=nw / nw.sum())
    nfa = jr["referral_nfa"].to_numpy() | jr["assessment_nfa"].to_numpy()
    need[nfa & (rng.random(jn) < 0.3)] = "N9"

    kind = jr["closure_kind"].to_numpy()
    jclose = jr["closure"].to_numpy()
    close_year = _event_years(jclose, params)
    rc = np.full(jn, "", dtype=object)
    # RC8/RC9 mean "closed after assessment" (DfE query 8825Q): a referral closed with no
    # further action before any assessment closes as RC7 (services ceased for another reason)
    rc[kind == "referral_nfa"] = "RC7"
    rc[kind == "assessment_nfa"] = "RC8"
    early_help = (kind == "assessment_nfa") & (close_year >= 2023) & (rng.random(jn) < 0.3)
    rc[early_help] = "RC9"
    rc[np.isin(kind, ["cin_plan:closure", "cp_plan:closure", "care:other"])] = "RC7"
    other = kind == "cp_plan:other"
    rc[other] = np.where(rng.random(other.sum()) < 0.5, "RC3", "RC4")
    perm_type = _permanence_types(rng, params, j)
    perm = kind == "care:permanence"
    rc[perm] = pd.Series(perm_type[perm]).map(
        {"adoption": "RC1", "special_guardianship": "RC4", "child_arrangements": "RC3"}).to_numpy()
    aged = np.char.endswith(kind.astype(str), "aged_out")
    rc[aged] = np.where(rng.random(aged.sum()) < 0.8, "RC7", "RC6")

    comb = jr["combination"].to_numpy()
    flags = np.array([f for f in params.combination_flags()])[comb]
    cat_w = np.tile([0.45, 0.38, 0.08, 0.04, 0.05], (jn, 1))
    cat_w[flags[:, 0], :] = [0.25, 0.62, 0.06, 0.02, 0.05]
    cat_w[flags[:, 2] & ~flags[:, 0], :] = [0.62, 0.25, 0.05, 0.02, 0.06]
    u = rng.random(jn)[:, None]
    initial_cat = np.array(ABUSE_CATEGORIES, dtype=object)[(u > np.cumsum(cat_w, axis=1)).sum(axis=1)]

    jpos = pd.Index(jr.index).get_indexer(ep["journey"].to_numpy())
    ep["referral_source"] = source[jpos]
    ep["need_code"] = need[jpos]
    ep["category_of_abuse"] = initial_cat[jpos]
    ep["cohort"] = cohort_of(ep["referral"].to_numpy(), params)
    ep["family_id"] = families["family_id"].to_numpy()[ep["family"].to_numpy()]
    ep["home_post"] = families["home_post"].to_numpy()[ep["family"].to_numpy()]

    # child-level closure: the journey's, or the 18th birthday if that comes first
    close = ep["closure"].to_numpy().copy()
    reason = rc[jpos].copy()
    at18 = (b18 < close) & (b18 <= sim_end)
    close[at18] = b18[at18]
    reason[at18] = np.where(rng.random(at18.sum()) < 0.8, "RC7", "RC6")
    reason[close == OPEN] = ""
    ep["closure"] = close
    ep["reason_for_closure"] = reason
    ep["closed_at_18"] = at18
    # assessment after the 18th birthday cannot happen (members are referred >= 60 days before)
    ep["factors"] = _assessment_factors(rng, params, ep, flags[jpos], dob, extra,
                                        np.isin(reason, ["RC8", "RC9"]))
    ep["episode"] = np.arange(n)

    states = conferences_on_weekdays(child_intervals(j, children, sim_end), sim_end)
    key = pd.MultiIndex.from_arrays([ep["child"], ep["journey"]])
    states["episode"] = key.get_indexer(pd.MultiIndex.from_arrays([states["child"], states["journey"]]))
    plans = states[states["state"] == "cin_plan"][["episode", "child", "start", "end"]].reset_index(drop=True)
    cp = states[states["state"] == "cp_plan"][["episode", "child", "journey", "seq", "start", "end"]]
    cp = cp.reset_index(drop=True)
    cp["initial_category"] = ep["category_of_abuse"].to_numpy()[cp["episode"].to_numpy()]
    change = rng.random(len(cp)) < 0.15
    cp["latest_category"] = np.where(change, rng.choice(np.array(ABUSE_CATEGORIES, dtype=object), len(cp)),
                                     cp["initial_category"].to_numpy())
    cp["previous_plans"] = cp.groupby("child").cumcount()
    s47 = _section47(rng, params, j, states, cp, sim_end)
    s47 = _no_overlapping_section47(s47)
    assessments = _s47_assessments(extra, ep, s47, sim_end)
    return CinRecords(episodes=ep, plans=plans, s47=s47, cp_plans=cp, states=states,
                      permanence_type=perm_type, s47_assessments=assessments,
                      disabilities=_disabilities(extra, children))


def _permanence_types(rng: np.random.Generator, params: SyntheticParameters, j: Journeys) -> np.ndarray:
    """Adoption / special guardianship / child arrangements for each journey (family level)."""
    jr = j.journeys
    young = (jr["closure"].to_numpy() - jr["youngest_dob"].to_numpy()) < 6 * 365.25
    out = np.empty(len(jr), dtype=object)
    for mask, table in ((young, params.permanence_types_young), (~young, params.permanence_types_older)):
        kinds = np.array(list(table), dtype=object)
        w = np.array(list(table.values()), dtype=float)
        out[mask] = rng.choice(kinds, size=mask.sum(), p=w / w.sum())
    return out


def _assessment_factors(rng, params, ep, flags, dob, extra=None, closed_after_assessment=None) -> np.ndarray:
    """Comma-separated factors per child assessment ('' when there is no assessment).

    An assessment where no factor is drawn records 21 ("no factors identified") only when
    the case closes after it as RC8/RC9 (DfE query 8873Q: a case with factors identified
    as none should close after assessment); any other gets one child or household factor,
    drawn with the ``CHILD_FACTORS`` weights (so parental shares are unchanged).
    """
    n = len(ep)
    start = ep["assessment_start"].to_numpy()
    has = start != OPEN
    year = _event_years(start, params)
    teen = (start - dob) >= 11 * 365.25
    # parental factors are family-level: draw them once per journey
    journey = ep["journey"].to_numpy()
    uj, inv = np.unique(journey, return_inverse=True)
    fam_u = rng.random((len(uj), 8))
    cols: list[tuple[str, np.ndarray]] = []
    sm_u = fam_u[inv, 0]
    cols.append(("3B", flags[:, 0]))
    cols.append(("4B", flags[:, 1]))
    cols.append(("1B", flags[:, 2] & (sm_u < 0.6)))
    cols.append(("2B", flags[:, 2] & (sm_u >= 0.4)))
    any_trio = flags.any(axis=1)
    p_other = np.where(any_trio, OTHER_PARENT_PROBABILITY[1], OTHER_PARENT_PROBABILITY[0])
    has_other = fam_u[inv, 1] < p_other
    pick = fam_u[inv, 2]
    w = np.array(list(OTHER_PARENT_FACTORS.values()))
    cum = np.cumsum(w / w.sum())
    which = (pick[:, None] > cum).sum(axis=1)
    for k, code in enumerate(OTHER_PARENT_FACTORS):
        cols.append((code, has_other & (which == k)))
    u = rng.random((n, len(CHILD_FACTORS)))
    for k, (code, (p, teen_only)) in enumerate(CHILD_FACTORS.items()):
        cols.append((code, (u[:, k] < p) & (teen if teen_only else True)))
    codes = [c for c, _ in cols]
    matrix = np.column_stack([m for _, m in cols])
    valid = {y: codes_valid_from("AssessmentFactors", int(y), params.last_collection_year)
             for y in np.unique(year)}
    valid_mask = {y: np.array([c in v for c in codes]) for y, v in valid.items()}
    out = np.full(n, "", dtype=object)
    allow21 = np.ones(n, dtype=bool) if closed_after_assessment is None else closed_after_assessment
    child_codes = np.array(list(CHILD_FACTORS), dtype=object)
    child_w = np.array([p for p, _ in CHILD_FACTORS.values()])
    child_teen = np.array([t for _, t in CHILD_FACTORS.values()])
    for y, vm in valid_mask.items():
        rows = np.flatnonzero((year == y) & has)
        sub = matrix[rows][:, vm]
        names = np.array(codes, dtype=object)[vm]
        valid_child = np.array([c in valid[y] for c in child_codes])
        for r, row in zip(rows, sub):
            chosen = names[row]
            if len(chosen):
                out[r] = ",".join(chosen)
            elif allow21[r] or extra is None:
                out[r] = "21"
            else:
                w = np.where(valid_child & (teen[r] | ~child_teen), child_w, 0.0)
                out[r] = extra.choice(child_codes, p=w / w.sum())
    return out


def _first_of_group(keys: list[np.ndarray]) -> np.ndarray:
    """Per row, the position of the first row with the same keys (siblings share a family state)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    g = pd.MultiIndex.from_arrays(keys).factorize()[0]
    return pd.Series(np.arange(len(g))).groupby(g).transform("first").to_numpy()


def _section47(rng, params, j: Journeys, states: pd.DataFrame, cp: pd.DataFrame, sim_end: int) -> pd.DataFrame:
    """Section 47 enquiries: one before each CP plan, and some that lead to no plan.

    Siblings in the same family state share their enquiries (one strategy discussion for
    the sibling group): the draws are made per child as before, then every child takes the
    draws of the first sibling, so the random stream is unchanged.
    """
    rows = []
    if len(cp):
        prev = states.set_index(["child", "journey", "seq"])["start"]
        prev_start = prev.reindex(pd.MultiIndex.from_arrays(
            [cp["child"], cp["journey"], cp["seq"] - 1])).to_numpy()
        prev_start = np.where(np.isnan(prev_start), cp["start"].to_numpy(), prev_start).astype(np.int64)
        lead = rng.integers(3, 15, size=len(cp))
        lead = lead[_first_of_group([cp["journey"].to_numpy(), cp["seq"].to_numpy()])]
        s47_day = np.maximum(cp["start"].to_numpy() - lead, prev_start)
        rows.append(pd.DataFrame({
            "episode": cp["episode"].to_numpy(), "child": cp["child"].to_numpy(), "start": s47_day,
            "icpc": cp["start"].to_numpy(), "icpc_not_required": False}))
    plans = states[states["state"] == "cin_plan"]
    if len(plans):
        span = np.minimum(plans["end"].to_numpy(), sim_end) - plans["start"].to_numpy()
        drawn = (rng.random(len(plans)) < params.s47_without_plan_probability) & (span > 20)
        m = int(drawn.sum())
        frac, conf = np.zeros(len(plans)), np.zeros(len(plans), dtype=bool)
        lag = np.zeros(len(plans), dtype=np.int64)
        frac[drawn] = rng.random(m)
        conf[drawn] = rng.random(m) < 0.3
        lag[drawn] = rng.integers(5, 15, size=m)
        first = _first_of_group([plans["journey"].to_numpy(), plans["seq"].to_numpy()])
        pick = drawn[first] & (span > 20)
        p = plans[pick]
        frac, conf, lag = frac[first][pick], conf[first][pick], lag[first][pick]
        day = p["start"].to_numpy() + (frac * (span[pick] - 15)).astype(np.int64)
        icpc = np.where(conf, next_weekday(day + lag), OPEN)
        icpc = np.where(icpc >= np.minimum(p["end"].to_numpy(), sim_end), OPEN, icpc)
        rows.append(pd.DataFrame({
            "episode": p["episode"].to_numpy(), "child": p["child"].to_numpy(), "start": day,
            "icpc": icpc, "icpc_not_required": icpc == OPEN}))
    if not rows:
        return pd.DataFrame(columns=["episode", "child", "start", "icpc", "icpc_not_required"])
    out = pd.concat(rows, ignore_index=True)
    out["before_plan"] = np.r_[np.ones(len(cp), dtype=bool), np.zeros(len(out) - len(cp), dtype=bool)] \
        if len(cp) else np.zeros(len(out), dtype=bool)
    return out.sort_values(["episode", "start"], kind="stable").reset_index(drop=True)


def _no_overlapping_section47(s47: pd.DataFrame) -> pd.DataFrame:
    """No enquiry starts while another of the same episode is open (DfE rule 8890).

    An enquiry is open from its start to its initial conference (one that needed no
    conference ends the day it starts). Where two meet, an enquiry that led to no plan
    gives way to the one before a protection plan; one before a plan that starts while the
    previous is open starts the day after that one's conference instead.
    """
    if s47.empty:
        return s47.drop(columns="before_plan", errors="ignore")
    s47 = s47.sort_values(["episode", "start"], kind="stable").reset_index(drop=True)
    ep, start = s47["episode"].to_numpy(), s47["start"].to_numpy().copy()
    icpc, plan = s47["icpc"].to_numpy(), s47["before_plan"].to_numpy()
    end = np.where(icpc == OPEN, start, icpc)
    keep = np.ones(len(s47), dtype=bool)
    last: dict[int, int] = {}   # episode -> row of the enquiry kept last
    for k in range(len(s47)):
        e = int(ep[k])
        q = last.get(e)
        if q is not None and start[k] <= end[q]:
            if not plan[k]:
                keep[k] = False
                continue
            if not plan[q]:
                keep[q] = False
            elif end[q] + 1 <= icpc[k]:
                start[k] = end[q] + 1
            else:
                keep[k] = False
                continue
        last[e] = k
    s47["start"] = start
    return s47[keep].drop(columns="before_plan").reset_index(drop=True)


def _s47_assessments(extra: np.random.Generator, ep: pd.DataFrame, s47: pd.DataFrame,
                     sim_end: int) -> pd.DataFrame:
    """An assessment that accompanies each section 47 enquiry not covered by the episode's.

    A section 47 enquiry is carried out with a child and family assessment. The episode's
    initial assessment covers an enquiry when it is in every yearly file the enquiry is
    in (it started in or before the enquiry's first year and was authorised in or after its
    last: DfE query 2991Q looks within each file); otherwise the enquiry gets its own
    assessment, starting the day it starts (or the day after the episode's previous
    assessment is authorised, if later: query 8863Q) and authorised 10-44 days later, not before
    its initial conference, not after the episode closes (unauthorised if after the
    simulation), with the episode's factors. Siblings share it (their enquiries are shared).
    """
    cols = ["episode", "child", "start", "auth", "factors"]
    if s47.empty:
        return pd.DataFrame(columns=cols)
    e = s47["episode"].to_numpy()
    s = s47["start"].to_numpy().astype(np.int64)
    icpc = s47["icpc"].to_numpy().astype(np.int64)
    end = np.where(icpc == OPEN, s, icpc)
    a0 = ep["assessment_start"].to_numpy()[e]
    a1 = ep["assessment_auth"].to_numpy()[e]
    closure = ep["closure"].to_numpy()[e]
    journey = ep["journey"].to_numpy()[e]
    yr = lambda d: collection_year(np.where(d == OPEN, 0, d))  # noqa: E731
    ys, ye = yr(s), yr(end)
    cov_lo = np.where(a0 == OPEN, 10**6, yr(a0))
    cov_hi = np.where(a1 == OPEN, 10**6, yr(a1))
    # one draw per family enquiry (journey and start), shared by the siblings
    first = _first_of_group([journey, s])
    days = extra.integers(10, 45, size=len(s))[first]
    out = []
    covers: dict[int, list[tuple[int, int]]] = {}
    last_auth: dict[int, int] = {}
    for k in range(len(s)):
        ek = int(e[k])
        cv = covers.setdefault(ek, [(int(cov_lo[k]), int(cov_hi[k]))])
        if any(lo <= ys[k] and ye[k] <= hi for lo, hi in cv):
            continue
        # assessments of an episode do not overlap (DfE query 8863Q): one that accompanies an
        # enquiry starting before the previous assessment is authorised starts the day after
        prev = last_auth.get(ek, int(a1[k]) if a0[k] != OPEN else -1)
        start = max(int(s[k]), prev + 1)
        auth = max(start + int(days[k]), int(end[k]))
        auth = min(auth, int(closure[k]))
        if k + 1 < len(s) and e[k + 1] == ek:
            auth = min(auth, int(s[k + 1]) - 1) if s[k + 1] - 1 >= end[k] else auth
        if auth > sim_end:
            auth = int(OPEN)
        cv.append((int(yr(np.array([start]))[0]), 10**6 if auth == OPEN else int(yr(np.array([auth]))[0])))
        last_auth[ek] = auth
        out.append((ek, int(s47["child"].iat[k]), start, auth, ep["factors"].iat[ek]))
    return pd.DataFrame(out, columns=cols).astype({"start": np.int64, "auth": np.int64})


def _disabilities(extra: np.random.Generator, children: pd.DataFrame) -> np.ndarray:
    """Disability codes per child: a disabled child has one or more (DfE query 2888Q).

    The population draws one code per disabled child (or NONE); about a third of them get
    a second code and some of those a third, distinct, from the same list.
    """
    first = children["disability"].to_numpy().astype(object)
    codes = np.array(["AUT", "BEH", "COMM", "LD", "MOB", "HEAR", "VIS", "DDA"], dtype=object)
    u = extra.random((len(first), 3))
    out = first.copy()
    for i in np.flatnonzero(np.isin(first, codes) & (u[:, 0] < 0.35)):
        n_more = 2 if u[i, 1] < 0.25 else 1
        others = [c for c in codes if c != first[i]]
        pick = extra.choice(len(others), size=n_more, replace=False)
        out[i] = "|".join([first[i]] + [others[p] for p in sorted(pick)])
    return out
