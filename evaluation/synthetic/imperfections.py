"""Realistic imperfections of council returns, planted at a known rate and recorded.

Each kind is applied independently to each eligible unit with probability
``rate``; ``ground_truth.json`` gets, per kind, the count, the number
eligible, where it is and every case. The clean records stay the truth.

CIN census (XML; every file still validates against its year's schema):

* ``premature_closure_corrected`` — year N's file shows an episode closed
  (RC7) a little before the reference date; year N+1 shows it still open or
  closed later (later year wins).
* ``missing_reason_for_closure`` — a closed episode without ReasonForClosure
  (the schema allows it).

SSDA903 (CSV):

* ``open_episode_superseded`` — year N shows an episode open (no DEC) that in
  truth ended in year N; the next episode (open at the reference date) is
  missing from year N and first appears in year N+1 (repair: end at the next
  DECOM).
* ``overlapping_episodes`` — an episode's DEC is written after the next
  episode's DECOM (repair: truncate to the next DECOM).
* ``duplicated_row`` — an episode row written twice in the same file.
* ``code_from_another_year`` — REC E43/E44 (valid up to 2019) written for a
  special guardianship exit from 2020, or PLACE H5 (valid up to 2023)
  written in a 2024+ file. Only in the 903 CSVs: a wrong-year code in the
  XML would break schema validation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.synthetic.cin_records import CinRecords
from evaluation.synthetic.dates import OPEN, DateText, reference_day, year_start
from evaluation.synthetic.write_cin import CinOverrides

KINDS: dict[str, str] = {
    "premature_closure_corrected": "cin_census/cin_census_N.xml: CINclosureDate/ReasonForClosure (RC7) "
                                   "shown in year N, absent or later in year N+1",
    "missing_reason_for_closure": "cin_census/cin_census_N.xml: CINdetails with CINclosureDate but no "
                                  "ReasonForClosure",
    "open_episode_superseded": "ssda903/N/episodes.csv: episode with blank DEC/REC; the next episode is "
                               "missing in year N and appears in year N+1",
    "overlapping_episodes": "ssda903/N/episodes.csv: DEC later than the next episode's DECOM",
    "duplicated_row": "ssda903/N/episodes.csv: the same row twice",
    "code_from_another_year": "ssda903/N/episodes.csv: REC E43/E44 in 2020+ or PLACE H5 in 2024+",
}


def _record(kind: str, eligible: int, cases: list[dict], rate: float) -> dict:
    return {"count": len(cases), "eligible": int(eligible), "rate": rate, "where": KINDS[kind],
            "cases": cases}


def plan_cin_imperfections(rng: np.random.Generator, records: CinRecords, children: pd.DataFrame,
                           years: tuple[int, ...], rate: float, dates: DateText) -> tuple[CinOverrides, dict]:
    ep = records.episodes
    ids = children["child_id"].to_numpy()
    first, last = year_start(years[0]), reference_day(years[-1])
    ov = CinOverrides()
    report: dict[str, dict] = {}

    closure = ep["closure"].to_numpy()
    closed = (closure >= first) & (closure <= last) & (ep["reason_for_closure"].to_numpy() != "")
    pick = closed & (rng.random(len(ep)) < rate)
    ov.missing_reason = set(np.flatnonzero(pick).tolist())
    report["missing_reason_for_closure"] = _record("missing_reason_for_closure", closed.sum(), [
        {"child": ids[ep["child"].iat[e]], "referral": str(dates.iso_of([ep["referral"].iat[e]])[0]),
         "year": int(_year_of(closure[e]))} for e in sorted(ov.missing_reason)], rate)

    st = records.states
    cases = []
    eligible = 0
    used: set[int] = set()
    for year in years[:-1]:
        ref = reference_day(year)
        open_at = st[(st["start"] <= ref) & (st["end"] > ref)]
        in_plan = set(open_at.loc[open_at["state"] == "cin_plan", "episode"].tolist())
        busy = set(open_at.loc[open_at["state"] != "cin_plan", "episode"].tolist())
        candidates = [e for e in sorted(in_plan - busy) if closure[e] > ref]
        eligible += len(candidates)
        for e in candidates:
            if e in used or rng.random() >= rate:
                continue
            last_event = _last_event_before(records, e, ref)
            shown = max(last_event, ref - int(rng.integers(0, 31)))
            ov.closure[(e, year)] = (shown, "RC7")
            used.add(e)
            cases.append({"child": ids[ep["child"].iat[e]], "referral": str(dates.iso_of([ep["referral"].iat[e]])[0]),
                          "year": year, "closure_shown": str(dates.iso_of([shown])[0])})
    report["premature_closure_corrected"] = _record("premature_closure_corrected", eligible, cases, rate)
    return ov, report


def _year_of(day: int) -> int:
    d = np.datetime64(int(day), "D").astype(object)
    return d.year + 1 if d.month >= 4 else d.year


def _last_event_before(records: CinRecords, e: int, ref: int) -> int:
    ep = records.episodes
    days = [ep["referral"].iat[e]]
    for col in ("assessment_start", "assessment_auth"):
        v = ep[col].iat[e]
        if v != OPEN and v <= ref:
            days.append(v)
    tabs = [(records.states, ("start", "end")), (records.s47, ("start", "icpc"))]
    if records.s47_assessments is not None:
        tabs.append((records.s47_assessments, ("start", "auth")))
    for tab, cols in tabs:
        rows = tab[tab["episode"] == e]
        for c in cols:
            v = rows[c].to_numpy()
            v = v[(v != OPEN) & (v <= ref)]
            if len(v):
                days.append(int(v.max()))
    return int(max(days))


def apply_ssda903_imperfections(rng: np.random.Generator, frames: dict[int, pd.DataFrame],
                                children: pd.DataFrame, rate: float, dates: DateText) -> tuple[dict, dict]:
    """Modify the per-year episode frames; returns (frames, report)."""
    ids = children["child_id"].to_numpy()
    dob = children["dob"].to_numpy()
    years = sorted(frames)
    report: dict[str, dict] = {}

    def case(row, year, **extra):
        return {"child": ids[int(row["child"])], "year": int(year),
                "DECOM": str(dates.dmy_of(np.array([row["DECOM"]]))[0]), **extra}

    # open episode superseded
    cases, eligible = [], 0
    for year in years[:-1]:
        f = frames[year].sort_values(["child", "DECOM", "_order"], kind="stable")
        same_period = f["period"].to_numpy()[:-1] == f["period"].to_numpy()[1:]
        x1 = f["REC"].to_numpy()[:-1] == "X1"
        next_open = f["DEC"].to_numpy()[1:] == OPEN
        cand = np.flatnonzero(same_period & x1 & next_open)
        eligible += len(cand)
        pick = cand[rng.random(len(cand)) < rate]
        if len(pick):
            idx = f.index.to_numpy()
            for k in pick:
                cases.append(case(f.loc[idx[k]], year, true_DEC=str(dates.dmy_of(np.array([f.loc[idx[k], "DEC"]]))[0])))
            f.loc[idx[pick], ["DEC"]] = OPEN
            f.loc[idx[pick], ["REC", "REASON_PLACE_CHANGE"]] = ""
            f = f.drop(index=idx[pick + 1])
        frames[year] = f
    report["open_episode_superseded"] = _record("open_episode_superseded", eligible, cases, rate)

    # overlapping episodes
    cases, eligible = [], 0
    for year in years:
        f = frames[year]
        ref = reference_day(year)
        cand = np.flatnonzero((f["REC"].to_numpy() == "X1") & (f["DEC"].to_numpy() < ref))
        eligible += len(cand)
        pick = cand[rng.random(len(cand)) < rate]
        idx = f.index.to_numpy()[pick]
        new_dec = np.minimum(f.loc[idx, "DEC"].to_numpy() + rng.integers(1, 22, size=len(idx)), ref)
        for i, d in zip(idx, new_dec):
            cases.append(case(f.loc[i], year, true_DEC=str(dates.dmy_of(np.array([f.loc[i, "DEC"]]))[0]),
                              DEC_shown=str(dates.dmy_of(np.array([d]))[0])))
        f.loc[idx, "DEC"] = new_dec
    report["overlapping_episodes"] = _record("overlapping_episodes", eligible, cases, rate)

    # codes valid only in another year
    cases, eligible = [], 0
    for year in years:
        f = frames[year]
        if year >= 2020:
            cand = np.flatnonzero(np.isin(f["REC"].to_numpy(), ["E45", "E46", "E47", "E48"]))
            eligible += len(cand)
            idx = f.index.to_numpy()[cand[rng.random(len(cand)) < rate]]
            for i in idx:
                wrong = "E43" if rng.random() < 0.5 else "E44"
                cases.append(case(f.loc[i], year, column="REC", true=f.loc[i, "REC"], shown=wrong))
                f.loc[i, "REC"] = wrong
        if year >= 2024:
            age = (f["DECOM"].to_numpy() - dob[f["child"].to_numpy()]) / 365.25
            cand = np.flatnonzero((age >= 16) & np.isin(f["PLACE"].to_numpy(), ["U4", "U5", "U6", "K2"]))
            eligible += len(cand)
            idx = f.index.to_numpy()[cand[rng.random(len(cand)) < rate]]
            for i in idx:
                cases.append(case(f.loc[i], year, column="PLACE", true=f.loc[i, "PLACE"], shown="H5"))
                f.loc[i, "PLACE"] = "H5"
    report["code_from_another_year"] = _record("code_from_another_year", eligible, cases, rate)

    # duplicated rows
    cases, eligible = [], 0
    for year in years:
        f = frames[year]
        eligible += len(f)
        pick = rng.random(len(f)) < rate
        dup = f[pick]
        for _, row in dup.iterrows():
            cases.append(case(row, year))
        frames[year] = pd.concat([f, dup]).sort_values(["child", "DECOM", "_order"], kind="stable")
    report["duplicated_row"] = _record("duplicated_row", eligible, cases, rate)
    return frames, report
