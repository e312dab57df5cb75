"""Write the SSDA903 (children looked after) return: one folder per collection year.

Each year's ``episodes.csv`` holds the episodes open at the start of the year
plus those starting in it, with DEC / REC blank for episodes still open at the
reference date; ``header.csv`` holds one row per child in that year's
episodes (MOTHER 0/1 for every girl, blank for boys). Dates are dd/mm/YYYY, SEX is 1/2 up to 2024 and M/F from 2025. A
few years also get other 903 tables (reviews, missing) that the readers must
recognise by their columns and ignore.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.codes.ssda903 import EPISODE_COLUMNS, HEADER_COLUMNS, OTHER_TABLES, ssda903_sex_codes
from evaluation.synthetic.dates import OPEN, DateText, add_years, reference_day, year_start

#: Collection years that also carry other 903 tables.
OTHER_TABLE_YEARS: dict[str, tuple[int, ...]] = {"reviews": (2019, 2022, 2025), "missing": (2020, 2023)}


def episodes_in_year(episodes: pd.DataFrame, year: int) -> pd.DataFrame:
    """Episodes open at the start of ``year`` or starting in it, as known at its reference date."""
    ref, start = reference_day(year), year_start(year)
    e = episodes
    sel = (e["DECOM"].to_numpy() <= ref) & (e["DEC"].to_numpy() >= start)
    out = e[sel].copy()
    after = out["DEC"].to_numpy() > ref
    out.loc[after, "DEC"] = OPEN
    out.loc[after, "REC"] = ""
    out.loc[after, "REASON_PLACE_CHANGE"] = ""
    out["year"] = year
    return out


def sex_code(sex: np.ndarray, year: int) -> np.ndarray:
    codes = ssda903_sex_codes(year)
    mapping = {1: "1", 2: "2"} if "1" in codes else {1: "M", 2: "F"}
    return np.array([mapping[s] for s in sex], dtype=object)


def header_rows(rows: pd.DataFrame, children: pd.DataFrame, mothers: pd.DataFrame, year: int,
                dates: DateText) -> pd.DataFrame:
    """One header row per child in the year's episodes."""
    ref = reference_day(year)
    kids = np.unique(rows["child"].to_numpy())
    ch = children.iloc[kids]
    unknown = ch["upn_unknown"].to_numpy()
    # UN4 ("UPN not yet obtained") is the CIN census's: a child looked after for more than a week
    # at 31 March has had one obtained (DfE rule 210), so the header gives the child's UPN
    known = (unknown == "") | (unknown == "UN4")
    upn = np.where((ch["upn_day"].to_numpy() <= ref) & known,
                   ch["upn"].to_numpy(), np.where(known, "UN1", unknown))
    female = ch["sex"].to_numpy() == 2
    mc = mothers.reindex(kids)["mc_dob"].to_numpy()
    is_mother = ~np.isnan(mc) & (np.nan_to_num(mc, nan=OPEN) <= ref)
    # MOTHER is recorded for every girl looked after (DfE rules 393 / 607) and for no boy
    mother = np.where(female, np.where(is_mother, "1", "0"), "")
    mc_dob = dates.dmy_of(np.where(is_mother, np.nan_to_num(mc, nan=OPEN), OPEN).astype(np.int64))
    out = pd.DataFrame({
        "CHILD": ch["child_id"].to_numpy(), "SEX": sex_code(ch["sex"].to_numpy(), year),
        "DOB": dates.dmy_of(ch["dob"].to_numpy()), "ETHNIC": ch["ethnic"].to_numpy(), "UPN": upn,
        "MOTHER": mother, "MC_DOB": mc_dob})
    return out.sort_values("CHILD", kind="stable")[list(HEADER_COLUMNS)]


def format_episodes(rows: pd.DataFrame, children: pd.DataFrame, dates: DateText) -> pd.DataFrame:
    out = rows.copy()
    out["CHILD"] = children["child_id"].to_numpy()[rows["child"].to_numpy()]
    out["DECOM"] = dates.dmy_of(rows["DECOM"].to_numpy())
    out["DEC"] = dates.dmy_of(rows["DEC"].to_numpy())
    return out[list(EPISODE_COLUMNS)]


def write_year(folder: Path, year: int, rows: pd.DataFrame, children: pd.DataFrame, mothers: pd.DataFrame,
               dates: DateText, rng: np.random.Generator) -> dict[str, int]:
    """Write ``header.csv``, ``episodes.csv`` and any other tables of ``year``; returns row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows.sort_values(["child", "DECOM", "_order"], kind="stable")
    episodes = format_episodes(rows, children, dates)
    episodes.to_csv(folder / "episodes.csv", index=False, lineterminator="\n")
    header = header_rows(rows, children, mothers, year, dates)
    header.to_csv(folder / "header.csv", index=False, lineterminator="\n")
    counts = {"episodes": len(episodes), "header": len(header)}
    if year in OTHER_TABLE_YEARS["reviews"]:
        t = _reviews(rows, children, year, dates, rng)
        t.to_csv(folder / "reviews.csv", index=False, lineterminator="\n")
        counts["reviews"] = len(t)
    if year in OTHER_TABLE_YEARS["missing"]:
        t = _missing(rows, children, year, dates, rng)
        t.to_csv(folder / "missing.csv", index=False, lineterminator="\n")
        counts["missing"] = len(t)
    return counts


def _reviews(rows, children, year, dates, rng) -> pd.DataFrame:
    """Looked-after reviews: 20 days after entry, then 3 months, then every 6 months."""
    ref, start = reference_day(year), year_start(year)
    out = []
    for period, g in rows.groupby("period", sort=True):
        child = int(g["child"].iloc[0])
        first = int(g["DECOM"].min())
        last = min(int(g["DEC"].max()), ref)
        day, k = first + 20, 0
        while day <= last:
            if day >= start:
                out.append((child, day))
            day += 70 if k == 0 else 182
            k += 1
    if not out:
        return pd.DataFrame(columns=list(OTHER_TABLES["reviews"]))
    c = np.array([x for x, _ in out])
    d = np.array([y for _, y in out])
    # PN0: the child was under 4 at the review; PN1-PN7 (how a child of 4 or over took part) otherwise
    # (DfE rules 440 / 441 compare with the 4th birthday)
    codes = np.array(["PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"], dtype=object)
    drawn = rng.choice(codes, size=len(c), p=[.35, .2, .1, .1, .1, .05, .1])
    under_4 = d < add_years(children["dob"].to_numpy()[c], 4)
    t = pd.DataFrame({
        "CHILD": children["child_id"].to_numpy()[c], "DOB": dates.dmy_of(children["dob"].to_numpy()[c]),
        "REVIEW": dates.dmy_of(d),
        "REVIEW_CODE": np.where(under_4, "PN0", drawn)})
    return t[list(OTHER_TABLES["reviews"])]


def _missing(rows, children, year, dates, rng) -> pd.DataFrame:
    """Missing / away-from-placement episodes of some teenagers in care.

    Each lies inside one period of care within the year (DfE rules 577 / 578 / 581: never
    before the child is looked after, after they leave, or across a gap between periods),
    and a child's periods never overlap (rule 574).
    """
    ref, start = reference_day(year), year_start(year)
    # one row per child and period of care ("period" is the family's: siblings share it)
    g = rows.groupby(["period", "child"]).agg(first=("DECOM", "min"), last=("DEC", "max")).reset_index()
    dob = children["dob"].to_numpy()[g["child"].to_numpy()]
    lo = np.maximum(g["first"].to_numpy(), start)
    hi = np.minimum(g["last"].to_numpy(), ref)
    teen = (lo - dob) >= 13 * 365.25
    pick = teen & (hi - lo > 10) & (rng.random(len(g)) < 0.15)
    out = []
    for child, a, b in zip(g["child"].to_numpy()[pick], lo[pick], hi[pick]):
        # 1-3 missing / away periods of 0-3 days, one after another, ending by the period's end
        span = int(b - a - 3)
        starts = np.sort(a + rng.choice(span, size=min(int(rng.integers(1, 4)), span), replace=False))
        free = int(a)
        for s in starts.tolist():
            s = max(int(s), free)
            if s > b - 3:
                break
            e = s + int(rng.integers(0, 4))
            out.append((child, s, e, "M" if rng.random() < 0.7 else "A"))
            free = e + 1
    if not out:
        return pd.DataFrame(columns=list(OTHER_TABLES["missing"]))
    out.sort(key=lambda x: (x[0], x[1]))
    c = np.array([x[0] for x in out])
    t = pd.DataFrame({
        "CHILD": children["child_id"].to_numpy()[c], "DOB": dates.dmy_of(children["dob"].to_numpy()[c]),
        "MISSING": [x[3] for x in out], "MIS_START": dates.dmy_of(np.array([x[1] for x in out])),
        "MIS_END": dates.dmy_of(np.array([x[2] for x in out]))})
    return t[list(OTHER_TABLES["missing"])]
