"""Periods of care as SSDA903 episodes: legal status, placements and the exit.

Each family care interval from the journey simulation becomes one period of
care for every member: a first episode (RNE S), then a new episode at every
change of legal status (RNE L, e.g. V2 -> C1 -> C2; adoption via E1) or of
placement (RNE P new carer / T same carer; B or U when both change), ending
with X1 inside the period and an exit code (REC) at its end. Change dates are
family-level, so siblings share them (and their placement: type, provider,
postcode, URN); a child turning 18 leaves care that day (E17 / E5 / E6).

The episodes obey DfE's SSDA903 validation rules (checked by
``benchmarks/dfe_validators.py``): every new episode records a real change
(RNE L changes the legal status only, keeping placement, postcode, provider and
URN; RNE T/U keeps the carer but the placement moves: a new postcode, or the
foster carer becomes the adopter, A5); no temporary placements (T0-T4);
placed with parents (P1) only under a care order; police protection (L1) at
most 3 days; own-provision (PR1) placements other than fostering/adoption
inside the LA; a URN only for the placement types that have one; SGO exits to
former foster carers (E45/E46) only from a foster placement; full postcodes,
the placement's never the home's unless placed with parents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.synthetic.dates import OPEN, collection_year, day_number
from evaluation.synthetic.parameters import SyntheticParameters
from evaluation.synthetic.population import draw_postcodes, other_unit

FOSTER = ("U1", "U2", "U3", "U4", "U5", "U6")
PLACE_WEIGHTS_CHILD = {"U1": 6, "U2": 3, "U3": 5, "U4": 25, "U5": 25, "U6": 20, "K2": 3, "P1": 4, "R1": 1}
PLACE_WEIGHTS_TEEN = {"U1": 4, "U2": 2, "U3": 3, "U4": 18, "U5": 18, "U6": 14, "K2": 25, "K1": 1, "P1": 3,
                      "R1": 3, "S1": 3}
#: Placed with parents (P1) only under a care order (DfE rule 378: not with V2 accommodation).
P1_LEGAL_STATUSES = ("C1", "C2")
#: Placement types that own provision (PR1) may have outside the LA (DfE rule 1015).
ANY_LOCATION_OWN_PROVISION = {"A3", "A4", "A5", "A6", "U1", "U2", "U3", "U4", "U5", "U6", "K3"}
#: Police protection lasts at most 72 hours (DfE rule 361): days to the next legal status.
POLICE_PROTECTION_DAYS = (1, 3)
PROVIDERS = {  # placement -> (providers, weights)
    "U1": (("PR1",), (1,)), "U2": (("PR1",), (1,)), "U3": (("PR1",), (1,)),
    "U4": (("PR1", "PR4"), (6, 4)), "U5": (("PR1", "PR4"), (6, 4)), "U6": (("PR1", "PR4"), (5, 5)),
    "K1": (("PR1", "PR2"), (5, 5)), "K2": (("PR1", "PR4"), (3, 7)), "P1": (("PR0",), (1,)),
    "R1": (("PR4", "PR3"), (8, 2)), "S1": (("PR4", "PR5"), (7, 3)),
    "A5": (("PR1", "PR5"), (7, 3)), "A6": (("PR1", "PR5"), (7, 3)),
}
#: Placement types recorded with an Ofsted URN (DfE rule 222: none for P1, R1, R2, R5, T0-T4, Z1x).
NEEDS_URN = {"K1", "K2", "S1"}
#: SGO exits to former foster carers need a foster placement (DfE rule 516); else the non-foster code.
SGO_NOT_FOSTER = {"E45": "E47", "E46": "E48"}
REASONS_PLACE_CHANGE = (("CARPL", 40), ("CHILD", 8), ("CREQB", 6), ("CREQO", 6), ("LAREQ", 8),
                        ("PLACE", 12), ("ALLEG", 2), ("STAND", 6), ("APPRR", 4), ("CLOSE", 4),
                        ("OTHER", 4))
SGO_CODES_FROM_2020 = (("E45", 0.15), ("E46", 0.2), ("E47", 0.35), ("E48", 0.3))
SGO_CODES_TO_2019 = (("E43", 0.5), ("E44", 0.5))


_CUMULATIVE: dict[tuple, tuple[list[str], np.ndarray]] = {}


def _pick(rng, table) -> str:
    """One code drawn from a {code: weight} table (or ((code, weight), ...))."""
    key = tuple(table.items()) if isinstance(table, dict) else tuple(table)
    if key not in _CUMULATIVE:
        w = np.array([x for _, x in key], dtype=float)
        _CUMULATIVE[key] = ([c for c, _ in key], np.cumsum(w / w.sum()))
    codes, cum = _CUMULATIVE[key]
    return codes[min(int(np.searchsorted(cum, rng.random(), side="right")), len(codes) - 1)]


def _provider(rng, place: str) -> str:
    providers, w = PROVIDERS[place]
    if len(providers) == 1:
        return providers[0]
    return providers[0] if rng.random() < w[0] / sum(w) else providers[1]


def exit_code(rng, cause: str, permanence_type: str, exit_year: int) -> str:
    """REC of the last episode of a period of care, valid in the year of the exit."""
    if cause == "return_home":
        return "E4A" if rng.random() < 0.8 else "E4B"
    if cause == "permanence":
        if permanence_type == "adoption":
            return "E11" if rng.random() < 0.8 else "E12"
        if permanence_type == "special_guardianship":
            return _pick(rng, SGO_CODES_FROM_2020 if exit_year >= 2020 else SGO_CODES_TO_2019)
        return "E41"
    if cause == "other":
        return "E13" if rng.random() < 0.5 else "E8"
    raise ValueError(cause)


def build_episodes(rng: np.random.Generator, params: SyntheticParameters, states: pd.DataFrame,
                   episodes: pd.DataFrame, children: pd.DataFrame, permanence_type: np.ndarray,
                   la_districts: tuple[str, ...], other_districts: tuple[str, ...]) -> pd.DataFrame:
    """SSDA903 episodes (one row each, child-level) of every period of care."""
    sim_end = day_number(params.simulation_end)
    care = states[states["state"] == "care"]
    if not len(care):
        return pd.DataFrame()
    dob_all = children["dob"].to_numpy()
    need = episodes["need_code"].to_numpy()
    home = episodes["home_post"].to_numpy()
    rows: dict[str, list] = {k: [] for k in (
        "child", "episode", "period", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
        "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN")}
    # one plan per family interval, shared by its members
    care = care.sort_values(["journey", "seq", "child"], kind="stable")
    c_journey, c_seq = care["journey"].to_numpy(), care["seq"].to_numpy()
    c_start, c_end = care["start"].to_numpy(), care["end"].to_numpy()
    c_child, c_episode, c_cause = care["child"].to_numpy(), care["episode"].to_numpy(), care["cause"].to_numpy()
    new_group = np.r_[True, (c_journey[1:] != c_journey[:-1]) | (c_seq[1:] != c_seq[:-1])]
    bounds = np.r_[np.flatnonzero(new_group), len(care)]
    for g0, g1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        journey, seq = int(c_journey[g0]), int(c_seq[g0])
        start = int(c_start[g0])
        ends = c_end[g0:g1]
        fam_end = int(ends.max())
        fam_cause = c_cause[g0 + int(np.argmax(ends))]
        horizon = sim_end + 1 if fam_end == OPEN else fam_end
        youngest_dob = int(dob_all[c_child[g0:g1]].max())
        ptype = permanence_type[journey]
        plan = _family_plan(rng, params, start, horizon, fam_cause, ptype, youngest_dob)
        changes = plan["changes"]   # list of (day, rne, ls, place)
        fam_rec = (exit_code(rng, fam_cause, ptype, int(collection_year(np.array([fam_end]))[0]))
                   if fam_end != OPEN and fam_cause in ("return_home", "permanence", "other") else "")
        # one postcode and URN per placement of the family (siblings placed together)
        place_post: dict[int, str] = {}
        urns: dict[int, str] = {}
        for j, in_area in enumerate(plan["in_area"]):
            pool = la_districts if in_area else other_districts
            post = draw_postcodes(rng, pool, 1)[0]
            if j and post == place_post[j - 1]:
                post = other_unit(post)
            place_post[j] = post
        for child, ep_idx, end, cause in zip(c_child[g0:g1].tolist(), c_episode[g0:g1].tolist(),
                                             ends.tolist(), c_cause[g0:g1].tolist()):
            period_id = f"{journey}-{seq}"
            n_ch = len(changes)
            for k, (day, rne, ls, place) in enumerate(changes):
                if day >= end:
                    break
                nxt = changes[k + 1][0] if k + 1 < n_ch else None
                if nxt is not None and nxt < end:
                    dec, rec = nxt, "X1"
                    rpc = _pick(rng, REASONS_PLACE_CHANGE) if changes[k + 1][1] in ("P", "T", "B", "U") else ""
                else:
                    dec = end
                    rpc = ""
                    if end == OPEN:
                        rec = ""
                    elif cause == "aged_out":
                        rec = _pick(rng, {"E17": 3, "E5": 4, "E6": 2})
                    else:
                        rec = fam_rec
                        if rec in SGO_NOT_FOSTER and place not in FOSTER:
                            rec = SGO_NOT_FOSTER[rec]
                j = plan["placement"][k]
                if place == "P1":
                    pl_post = home[ep_idx]
                else:
                    pl_post = place_post[j]
                    if pl_post == home[ep_idx]:
                        pl_post = other_unit(pl_post)
                urn = urns.setdefault(j, f"SC{rng.integers(100000, 999999)}") if place in NEEDS_URN else "XXXXXXX"
                rows["child"].append(child)
                rows["episode"].append(ep_idx)
                rows["period"].append(period_id)
                rows["DECOM"].append(day)
                rows["RNE"].append(rne)
                rows["LS"].append(ls)
                rows["CIN"].append(need[ep_idx] if need[ep_idx] != "N9" else "N1")
                rows["PLACE"].append(place)
                rows["PLACE_PROVIDER"].append(plan["providers"][k])
                rows["DEC"].append(dec)
                rows["REC"].append(rec)
                rows["REASON_PLACE_CHANGE"].append(rpc)
                rows["HOME_POST"].append(home[ep_idx])
                rows["PL_POST"].append(pl_post)
                rows["URN"].append(urn)
    out = pd.DataFrame(rows)
    out["DECOM"] = out["DECOM"].astype(np.int64)
    out["DEC"] = out["DEC"].astype(np.int64)
    return out


def _pick_place(rng, table: dict, ls: str, current: str | None = None) -> str:
    """A placement type valid under legal status ``ls`` (P1 only under a care order, never P1 again)."""
    place = _pick(rng, table)
    if place == "P1" and (ls not in P1_LEGAL_STATUSES or current == "P1"):
        place = _pick(rng, {c: w for c, w in table.items() if c != "P1"})
    return place


def _provider_at(rng, place: str, in_area: bool) -> str:
    """Provider of a placement; own provision outside the LA only for fostering and adoption."""
    provider = _provider(rng, place)
    if provider == "PR1" and not in_area and place not in ANY_LOCATION_OWN_PROVISION:
        provider = "PR2" if place in ("K1", "K2") else "PR4"
    return provider


def _family_plan(rng, params, start: int, horizon: int, cause: str, ptype: str, youngest_dob: int) -> dict:
    """Dated legal-status and placement changes of one family period of care.

    Returns ``changes`` (day, RNE, LS, PLACE), ``providers`` and ``placement`` (index of
    the placement each change belongs to) per change, and ``in_area`` per placement.
    """
    dur = horizon - start
    adoption = cause == "permanence" and ptype == "adoption"
    first_ls = "C1" if adoption else _pick(rng, {"V2": 55, "C1": 35, "L1": 5, "L2": 5})
    legal: list[tuple[int, str]] = []
    ls = first_ls
    t = start
    if ls in ("L1", "L2"):
        lo, hi = POLICE_PROTECTION_DAYS if ls == "L1" else (1, 8)
        t = start + int(rng.integers(lo, hi + 1))
        ls = "C1" if (adoption or rng.random() < 0.7) else "V2"
        legal.append((t, ls))
    if ls == "V2" and dur > 90 and rng.random() < 0.25:
        t = t + int(rng.integers(30, 200))
        ls = "C1"
        legal.append((t, ls))
    if ls == "C1":
        t = t + int(rng.integers(150, 330))
        legal.append((t, "C2"))
    placements: list[int] = []
    years = dur / 365.25
    k = rng.poisson(params.placement_change_rate_per_year * max(years, 0))
    if dur > 2:
        placements = sorted(set((start + 1 + rng.integers(0, dur - 1, size=k)).tolist()))
    adopt_place = None
    if adoption and dur > 6:
        # court order C2, placement order E1, then placed for adoption before the order
        legal = [(d, s) for d, s in legal if d < start + int(0.35 * dur)]
        if not any(s == "C2" for _, s in legal):
            legal.append((start + max(1, int(0.35 * dur)), "C2"))
        legal.append((start + max(2, int(0.6 * dur)), "E1"))
        adopt_place = start + max(3, int(0.8 * dur))
        placements = [d for d in placements if d < adopt_place] + [adopt_place]
    legal = [(d, s) for d, s in legal if start < d < horizon]
    placements = [d for d in placements if start < d < horizon]
    events: dict[int, dict] = {}
    for d, s in legal:
        events.setdefault(d, {})["ls"] = s
    for d in placements:
        events.setdefault(d, {})["place"] = True
    age = (start - youngest_dob) / 365.25
    table = PLACE_WEIGHTS_TEEN if age >= 11 else PLACE_WEIGHTS_CHILD
    place = _pick_place(rng, table, first_ls)
    in_area = [bool(rng.random() < 0.7)]
    changes = [(start, "S", first_ls, place)]
    providers = [_provider_at(rng, place, in_area[0])]
    placement = [0]
    ls = first_ls
    for d in sorted(events):
        e = events[d]
        new_ls = e.get("ls", ls)
        legal_change = new_ls != ls
        if e.get("place"):
            if adopt_place is not None and d == adopt_place:
                # placed for adoption: with the current foster carers (A5, same carer) or not (A6)
                same_carer = place in FOSTER and rng.random() < 0.4
                new_place = "A5" if same_carer else "A6"
            else:
                # same carer, new address (the carers moved): a new postcode, nothing else new
                same_carer = rng.random() < 0.15 and place in FOSTER
                new_place = place if same_carer else _pick_place(rng, table, new_ls, place)
            if legal_change:
                rne = "U" if same_carer else "B"
            else:
                rne = "T" if same_carer else "P"
            if same_carer:
                in_area.append(in_area[-1])
                provider = providers[-1]
            else:
                in_area.append(bool(rng.random() < 0.7))
                provider = _provider_at(rng, new_place, in_area[-1])
            place = new_place
            providers.append(provider)
            placement.append(placement[-1] + 1)
        elif legal_change:
            rne = "L"
            providers.append(providers[-1])
            placement.append(placement[-1])
        else:
            continue   # nothing changes: no new episode
        ls = new_ls
        changes.append((d, rne, ls, place))
    return {"changes": changes, "providers": providers, "placement": placement, "in_area": in_area}


def teenage_mothers(rng: np.random.Generator, episodes: pd.DataFrame, children: pd.DataFrame,
                    probability: float = 0.03) -> pd.DataFrame:
    """Girls in care who become mothers (SSDA903 MOTHER / MC_DOB), indexed by child."""
    if not len(episodes):
        return pd.DataFrame({"mc_dob": pd.Series(dtype=float)})
    g = episodes.groupby("child").agg(first=("DECOM", "min"), last=("DEC", "max"))
    kids = g.index.to_numpy()
    dob = children["dob"].to_numpy()[kids]
    female = children["sex"].to_numpy()[kids] == 2
    lo = np.maximum(g["first"].to_numpy(), dob + int(15 * 365.25))
    hi = np.minimum(g["last"].to_numpy(), children["birthday_18"].to_numpy()[kids])
    pick = female & (hi > lo + 30) & (rng.random(len(kids)) < probability)
    mc = lo[pick] + (rng.random(pick.sum()) * (hi[pick] - lo[pick])).astype(np.int64)
    return pd.DataFrame({"mc_dob": mc.astype(float)}, index=kids[pick])
