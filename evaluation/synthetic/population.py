"""Families and their children: ids, dates of birth, sex, ethnicity, UPNs, home postcodes.

A family is created when it is first referred; its children's birth dates are
drawn so that the eldest is a child at that first referral and younger
siblings may be born later (and join later referrals). Ids are strings with
leading zeros, drawn without replacement from one id space per local
authority, so child ids never collide with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.codes.ssda903 import ETHNIC
from evaluation.synthetic.dates import add_years
from evaluation.synthetic.parameters import SyntheticParameters

#: Ethnicity of a family (SSDA903 ETHNIC order), roughly a Home Counties mix.
ETHNIC_WEIGHTS: dict[str, float] = {
    "WBRI": 70.0, "WIRI": 0.4, "WOTH": 6.0, "WIRT": 0.3, "WROM": 0.3, "MWBC": 4.0, "MWBA": 1.5,
    "MWAS": 1.5, "MOTH": 3.0, "AIND": 1.0, "APKN": 2.5, "ABAN": 0.5, "AOTH": 1.0, "BCRB": 1.0,
    "BAFR": 2.0, "BOTH": 0.5, "CHNE": 0.3, "OOTH": 1.5, "REFU": 0.5, "NOBT": 1.7,
}
_UPN_CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


@dataclass
class Population:
    """Children (one row each) and the family they belong to."""

    children: pd.DataFrame   # child_id, family, birth_order, dob, birthday_18, sex, ethnic, upn, ...
    families: pd.DataFrame   # family_id, first_referral, n_children, combination, home_post, child_start


def upn_check_letter(body: np.ndarray) -> np.ndarray:
    """DfE UPN check letter for 12-digit bodies (weights 2..13, modulus 23)."""
    digits = np.array([[int(c) for c in b] for b in body], dtype=np.int64).reshape(-1, 12)
    total = (digits * np.arange(2, 14)).sum(axis=1) % 23
    return np.array(list(_UPN_CHECK_LETTERS))[total]


def make_upns(rng: np.random.Generator, la_code: str, assigned_year: np.ndarray) -> np.ndarray:
    """Permanent UPNs: check letter + LA code + school number + 2-digit year + serial."""
    n = len(assigned_year)
    school = rng.integers(2000, 5000, size=n)
    serial = rng.integers(0, 1000, size=n)
    body = np.array([f"{la_code}{s:04d}{y % 100:02d}{r:03d}"
                     for s, y, r in zip(school, assigned_year, serial)], dtype=object)
    if n == 0:
        return body
    return np.char.add(upn_check_letter(body).astype(str), body.astype(str)).astype(object)


def unique_ids(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    """``n`` distinct zero-padded numeric strings."""
    space = 10**digits
    ids = rng.choice(space, size=n, replace=False)
    return np.char.zfill(ids.astype(str), digits).astype(object)


def make_population(rng: np.random.Generator, first_referral: np.ndarray, params: SyntheticParameters,
                    la_code: str, postcode_districts: tuple[str, ...]) -> Population:
    """Families first referred on ``first_referral`` (day numbers) and all their children."""
    n_fam = len(first_referral)
    size_p = np.asarray(params.family_size_probabilities, dtype=float)
    n_children = rng.choice(np.arange(1, len(size_p) + 1), size=n_fam, p=size_p / size_p.sum())
    age_w = np.asarray(params.eldest_age_weights, dtype=float)
    eldest_age_days = (rng.choice(len(age_w), size=n_fam, p=age_w / age_w.sum()) * 365.25
                       + rng.uniform(0, 365, size=n_fam))
    eldest_dob = first_referral - eldest_age_days.astype(np.int64)

    family = np.repeat(np.arange(n_fam), n_children)
    child_start = np.concatenate([[0], np.cumsum(n_children)[:-1]])
    birth_order = np.arange(len(family)) - child_start[family]
    shape, scale = params.sibling_gap_gamma
    gap = np.where(birth_order == 0, 0.0,
                   (0.9 + rng.gamma(shape, scale, size=len(family))) * 365.25).astype(np.int64)
    # cumulative gap within each family
    cum = np.cumsum(gap)
    cum -= np.repeat(cum[child_start], n_children)
    dob = eldest_dob[family] + cum
    n = len(family)

    ethnic_codes = np.array(list(ETHNIC_WEIGHTS), dtype=object)
    assert set(ethnic_codes) == set(ETHNIC)
    ew = np.array(list(ETHNIC_WEIGHTS.values()))
    fam_ethnic = rng.choice(ethnic_codes, size=n_fam, p=ew / ew.sum())
    ethnic = fam_ethnic[family].copy()
    mixed = rng.random(n) < 0.04   # half-siblings with a different recorded ethnicity
    ethnic[mixed] = rng.choice(ethnic_codes, size=mixed.sum(), p=ew / ew.sum())

    sex = np.where(rng.random(n) < 0.52, 1, 2)         # 1 male, 2 female (M / F from 2025)

    upn_day = add_years(dob, 4) + rng.integers(120, 400, size=n)
    upn_year = (upn_day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970)
    upn = make_upns(rng, la_code, upn_year)
    upn_unknown = np.full(n, "", dtype=object)
    no_upn = rng.random(n) < 0.03
    upn_unknown[no_upn] = rng.choice(np.array(["UN2", "UN3", "UN4", "UN5"], dtype=object),
                                     size=no_upn.sum(), p=[0.4, 0.2, 0.3, 0.1])
    former_upn = np.full(n, "", dtype=object)
    has_former = (~no_upn) & (rng.random(n) < 0.02)
    former_upn[has_former] = make_upns(rng, la_code, upn_year[has_former])

    disability = np.full(n, "", dtype=object)
    u = rng.random(n)
    disability[u < 0.70] = "NONE"
    dis_codes = np.array(["AUT", "BEH", "COMM", "LD", "MOB", "HEAR", "VIS", "DDA"], dtype=object)
    disabled = u >= 0.92
    disability[disabled] = rng.choice(dis_codes, size=disabled.sum())

    child_ids = unique_ids(rng, n, 7)
    family_ids = unique_ids(rng, n_fam, 6)
    districts = np.array(postcode_districts, dtype=object)
    home_post = np.char.add(np.char.add(rng.choice(districts, size=n_fam).astype(str), " "),
                            rng.integers(1, 10, size=n_fam).astype(str)).astype(object)
    combination = rng.choice(len(params.combination_probabilities), size=n_fam,
                             p=np.asarray(params.combination_probabilities))

    children = pd.DataFrame({
        "child_id": child_ids, "family": family, "birth_order": birth_order, "dob": dob,
        "birthday_18": add_years(dob, 18), "sex": sex, "ethnic": ethnic, "upn": upn,
        "upn_day": upn_day, "upn_unknown": upn_unknown, "former_upn": former_upn,
        "disability": disability,
    })
    families = pd.DataFrame({
        "family_id": family_ids, "first_referral": first_referral, "n_children": n_children,
        "combination": combination, "home_post": home_post, "ethnic": fam_ethnic,
        "child_start": child_start,
    })
    return Population(children=children, families=families)
