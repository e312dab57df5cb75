"""Periods of care as SSDA903 episodes: legal status, placements and the exit.

Each family care interval from the journey simulation becomes one period of
care for every member: a first episode (RNE S), then a new episode at every
change of legal status (RNE L, e.g. V2 -> C1 -> C2; adoption via E1) or of
placement (RNE P new carer / T same carer; B or U when both change), ending
with X1 inside the period and an exit code (REC) at its end. Change dates are
family-level, so siblings share them; a child turning 18 leaves care that day
(E17 / E5 / E6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.synthetic.dates import OPEN, collection_year, day_number
from evaluation.synthetic.parameters import SyntheticParameters

FOSTER = ("U1", "U2", "U3", "U4", "U5", "U6")
PLACE_WEIGHTS_CHILD = {"U1": 6, "U2": 3, "U3": 5, "U4": 25, "U5": 25, "U6": 20, "K2": 3, "P1": 4, "R1": 1,
                       "T1": 1}
PLACE_WEIGHTS_TEEN = {"U1": 4, "U2": 2, "U3": 3, "U4": 18, "U5": 18, "U6": 14, "K2": 25, "K1": 1, "P1": 3,
                      "R1": 3, "S1": 3, "T2": 1}
PROVIDERS = {  # placement -> (providers, weights)
    "U1": (("PR1",), (1,)), "U2": (("PR1",), (1,)), "U3": (("PR1",), (1,)),
    "U4": (("PR1", "PR4"), (6, 4)), "U5": (("PR1", "PR4"), (6, 4)), "U6": (("PR1", "PR4"), (5, 5)),
    "K1": (("PR1", "PR2"), (5, 5)), "K2": (("PR1", "PR4"), (3, 7)), "P1": (("PR0",), (1,)),
    "R1": (("PR4", "PR3"), (8, 2)), "S1": (("PR4", "PR5"), (7, 3)), "T1": (("PR1",), (1,)),
    "T2": (("PR1",), (1,)), "A5": (("PR1", "PR5"), (7, 3)), "A6": (("PR1", "PR5"), (7, 3)),
}
NEEDS_URN = {"K1", "K2", "R1", "S1"}
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
        urns = {}
        for child, ep_idx, end, cause in zip(c_child[g0:g1].tolist(), c_episode[g0:g1].tolist(),
                                             ends.tolist(), c_cause[g0:g1].tolist()):
            pl_post = ""
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
                if place == "P1":
                    pl_post = home[ep_idx]
                elif rne in ("S", "P", "B") or k == 0:
                    pool = la_districts if rng.random() < 0.7 else other_districts
                    pl_post = f"{pool[int(rng.integers(len(pool)))]} {int(rng.integers(1, 10))}"
                if place in NEEDS_URN:
                    urn = urns.setdefault((place, k), f"SC{rng.integers(100000, 999999)}")
                else:
                    urn = "XXXXXXX"
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


def _family_plan(rng, params, start: int, horizon: int, cause: str, ptype: str, youngest_dob: int) -> dict:
    """Dated legal-status and placement changes of one family period of care."""
    dur = horizon - start
    adoption = cause == "permanence" and ptype == "adoption"
    first_ls = "C1" if adoption else _pick(rng, {"V2": 55, "C1": 35, "L1": 5, "L2": 5})
    legal: list[tuple[int, str]] = []
    ls = first_ls
    t = start
    if ls in ("L1", "L2"):
        t = start + int(rng.integers(1, 9))
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
    place = _pick(rng, table)
    changes = [(start, "S", first_ls, place)]
    providers = [_provider(rng, place)]
    ls = first_ls
    for d in sorted(events):
        e = events[d]
        new_ls = e.get("ls", ls)
        if e.get("place"):
            same_carer = rng.random() < 0.15 and place in FOSTER
            if adopt_place is not None and d == adopt_place:
                new_place = "A5" if rng.random() < 0.5 else "A6"
                same_carer = False
            elif same_carer:
                new_place = place
            else:
                new_place = _pick(rng, table)
            if "ls" in e:
                rne = "U" if same_carer else "B"
            else:
                rne = "T" if same_carer else "P"
            place = new_place
            providers.append(_provider(rng, place) if not same_carer else providers[-1])
        else:
            rne = "L"
            providers.append(providers[-1])
        ls = new_ls
        changes.append((d, rne, ls, place))
    return {"changes": changes, "providers": providers}


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
