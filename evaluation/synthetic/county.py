"""Generate a synthetic county: one folder per local authority plus ground_truth.json.

The folder layout is the project's input contract (see the package docstring).
Each local authority gets its own random stream ``SeedSequence([seed, i])``,
so the output is byte-identical for a seed and adding authorities does not
change the earlier ones.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from evaluation.ingest.inventory import write_marker
from evaluation.pseudonymise import DEMO_KEY
from evaluation.synthetic.care import build_episodes, teenage_mothers
from evaluation.synthetic.cin_records import build_cin_records
from evaluation.synthetic.dates import DateText, day_number, reference_day, year_start
from evaluation.synthetic.imperfections import apply_ssda903_imperfections, plan_cin_imperfections
from evaluation.synthetic.journeys import new_family_referrals, simulate_journeys
from evaluation.synthetic.parameters import SyntheticParameters
from evaluation.synthetic.population import make_population
from evaluation.synthetic.truth import ground_truth, la_truth, write_ground_truth
from evaluation.synthetic.write_cin import CinWriter
from evaluation.synthetic.write_ssda903 import episodes_in_year, write_year

MARKER_VERSION = 1

#: DfE LA code -> (name, home postcode districts). 931 Oxfordshire first.
LOCAL_AUTHORITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "931": ("Oxfordshire", ("OX1", "OX2", "OX3", "OX4", "OX5", "OX7", "OX9", "OX10", "OX11", "OX12",
                            "OX13", "OX14", "OX15", "OX16", "OX18", "OX20", "OX25", "OX26", "OX28",
                            "OX29", "OX33", "OX39", "OX44", "OX49", "RG9", "SN7")),
    "825": ("Buckinghamshire", ("HP5", "HP6", "HP9", "HP10", "HP11", "HP12", "HP13", "HP17", "HP19",
                                "HP20", "HP21", "HP22", "SL7", "SL9", "MK18")),
    "919": ("Hertfordshire", ("AL1", "AL3", "AL10", "SG1", "SG2", "SG4", "SG12", "WD17", "WD24", "HP2",
                              "HP3", "EN8", "CM23")),
    "916": ("Gloucestershire", ("GL1", "GL2", "GL3", "GL4", "GL5", "GL10", "GL20", "GL50", "GL51", "GL52")),
    "865": ("Wiltshire", ("SN1", "SN8", "SN10", "SN11", "SN12", "SN13", "SN14", "SN15", "SP1", "SP2", "BA14")),
    "850": ("Hampshire", ("SO14", "SO15", "SO16", "SO50", "SO53", "PO7", "PO8", "PO9", "GU14", "RG21", "RG22")),
    "886": ("Kent", ("ME1", "ME4", "ME7", "ME14", "ME15", "CT1", "CT9", "CT11", "DA1", "TN23", "TN24")),
    "936": ("Surrey", ("GU1", "GU2", "GU15", "GU21", "GU22", "KT12", "KT13", "RH1", "RH2", "TW20")),
    "881": ("Essex", ("CM1", "CM2", "CM7", "CO1", "CO2", "CO4", "SS13", "SS14", "SS16", "RM16")),
    "937": ("Warwickshire", ("CV10", "CV11", "CV12", "CV21", "CV22", "CV31", "CV32", "CV34", "B49", "B79")),
    "855": ("Leicestershire", ("LE2", "LE3", "LE4", "LE7", "LE9", "LE10", "LE11", "LE12", "LE13", "LE67")),
    "925": ("Lincolnshire", ("LN1", "LN2", "LN5", "LN6", "PE10", "PE11", "PE21", "PE25", "NG31", "DN21")),
    "926": ("Norfolk", ("NR1", "NR2", "NR3", "NR5", "NR7", "NR30", "NR31", "PE30", "PE31", "IP24")),
    "935": ("Suffolk", ("IP1", "IP2", "IP3", "IP4", "IP11", "IP14", "IP28", "IP32", "IP33", "NR32", "CB9")),
    "878": ("Devon", ("EX1", "EX2", "EX4", "EX8", "EX31", "EX32", "EX39", "TQ12", "TQ13", "PL21")),
    "908": ("Cornwall", ("TR1", "TR7", "TR11", "TR14", "TR15", "TR18", "PL25", "PL26", "PL31", "PL14")),
    "888": ("Lancashire", ("PR1", "PR2", "PR5", "PR7", "BB1", "BB2", "BB5", "BB9", "LA1", "LA3", "FY8")),
    "830": ("Derbyshire", ("DE4", "DE5", "DE7", "DE11", "DE55", "DE56", "S40", "S41", "S42", "SK17")),
    "891": ("Nottinghamshire", ("NG5", "NG9", "NG15", "NG17", "NG18", "NG19", "NG21", "NG22", "S80", "S81")),
    "933": ("Somerset", ("TA1", "TA2", "TA6", "TA8", "TA18", "TA20", "BA4", "BA5", "BA11", "BA21")),
    "938": ("West Sussex", ("RH10", "RH11", "RH12", "RH13", "BN11", "BN12", "BN13", "PO19", "PO21", "PO22")),
    "845": ("East Sussex", ("BN20", "BN21", "BN22", "BN23", "BN27", "TN34", "TN35", "TN37", "TN38", "TN39")),
    "885": ("Worcestershire", ("WR1", "WR2", "WR3", "WR4", "WR5", "WR9", "WR11", "WR14", "DY10", "B97")),
    "860": ("Staffordshire", ("ST2", "ST5", "ST7", "ST10", "ST16", "ST17", "ST18", "WS11", "WS12", "DE14")),
    "873": ("Cambridgeshire", ("CB1", "CB2", "CB4", "CB5", "CB6", "CB7", "PE13", "PE15", "PE19", "PE27")),
}
#: Out-of-area placement postcodes (neighbouring towns and cities).
OUT_OF_AREA = ("RG1", "RG2", "RG30", "SN1", "SN2", "SN3", "MK1", "MK9", "NN1", "B12", "B23", "CV1", "GL1",
               "HP19", "SL1", "SL2", "LU1", "M14", "LS9", "BS5", "CF24", "NG7", "LE5", "S2")


def generate_county(out_dir: str | Path, seed: int = 0, local_authorities: int = 1, scale: float = 1.0,
                    go_live: dt.date = dt.date(2020, 11, 1), imperfection_rate: float = 0.03,
                    params: SyntheticParameters | None = None, progress: bool | None = None,
                    log: Callable[[str], None] | None = None, workers: int = 1,
                    councils: Mapping[str, dt.date | None] | None = None) -> Path:
    """Write a synthetic county to ``out_dir`` and return it.

    ``scale`` multiplies the referral rate (1.0 reproduces Oxfordshire's published
    scale); ``go_live`` and ``imperfection_rate`` override the defaults of
    :class:`SyntheticParameters` (``params`` gives full control). ``workers`` > 1
    generates local authorities in parallel processes (same bytes as one worker).
    ``councils`` (LA code -> go-live, None for a council that never adopts) writes those
    councils, in that order, instead of the first ``local_authorities``, each with its own
    go-live (staggered or no adoption; ground_truth.json ``adoption``).
    """
    if councils is not None:
        local_authorities = len(councils)
        unknown = [code for code in councils if code not in LOCAL_AUTHORITIES]
        if unknown:
            raise ValueError(f"councils: unknown LA code(s) {unknown}; known: {list(LOCAL_AUTHORITIES)}")
    if not 1 <= local_authorities <= len(LOCAL_AUTHORITIES):
        raise ValueError(f"local_authorities must be between 1 and {len(LOCAL_AUTHORITIES)}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    params = params or SyntheticParameters()
    params = replace(params, go_live=go_live, imperfection_rate=imperfection_rate,
                     transition_start=min(params.transition_start, go_live))
    out = Path(out_dir)
    refuse_foreign_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda message: None)
    if progress is None:
        progress = scale * local_authorities >= 3
    las: dict[str, dict] = {}
    codes = list(councils) if councils is not None else list(LOCAL_AUTHORITIES)[:local_authorities]
    adoption = {code: (councils[code] if councils is not None else go_live) for code in codes}
    la_params = {code: council_parameters(params, adoption[code]) for code in codes}
    if workers > 1 and local_authorities > 1:
        say(f"generating {local_authorities} local authorities in {workers} processes")
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(_generate_la_seeded, out / la_code, la_code, i, la_params[la_code], seed, scale)
                    for i, la_code in enumerate(codes)]
            bar = tqdm(total=len(jobs), desc="local authorities", file=sys.stderr, disable=not progress)
            for la_code, job in zip(codes, jobs):
                las[la_code] = job.result()
                bar.update()
                say(f"[{la_code}] done")
            bar.close()
    else:
        for i, la_code in enumerate(codes):
            las[la_code] = _generate_la_seeded(out / la_code, la_code, i, la_params[la_code], seed, scale, say,
                                               progress)
    say("writing ground_truth.json")
    write_ground_truth(out / "ground_truth.json", {**ground_truth(params, seed, scale, las),
                                                   **covid_and_adoption_truth(params, adoption)})
    return out


#: Go-live standing for "never adopts" inside the generator (after every simulated day).
NEVER = dt.date(9999, 12, 31)


def council_parameters(params: SyntheticParameters, go_live: dt.date | None) -> SyntheticParameters:
    """``params`` of one council: its go-live (``None``: never adopts, no programme hazards)."""
    if go_live is None:
        return replace(params, go_live=NEVER)
    return replace(params, go_live=go_live, transition_start=min(params.transition_start, go_live))


def covid_and_adoption_truth(params: SyntheticParameters, adoption: Mapping[str, dt.date | None]) -> dict:
    """ground_truth.json keys ``adoption`` (LA code -> go-live or null) and ``covid_hazards``."""
    return {
        "adoption": {code: (None if day is None else day.isoformat()) for code, day in adoption.items()},
        "covid_hazards": {
            "window": [d.isoformat() for d in params.covid_hazard_window],
            "multipliers": params.covid_hazard_multipliers,
            "definition": "every cause-specific hazard of a state is multiplied by its multiplier on the "
                          "calendar days of the window (inclusive), in every council and cohort; causes "
                          "not listed keep 1; empty: no shock",
        },
    }


def refuse_foreign_folder(out: Path) -> None:
    """Raise :class:`FileExistsError` if ``out`` holds anything but an earlier synthetic county.

    The generator overwrites the files it writes; pointed at a council's extract by mistake it
    would replace real returns. It writes only into a new or empty folder, or over a complete
    earlier synthetic county (one with its ``ground_truth.json``).
    """
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "ground_truth.json").is_file():
        raise FileExistsError(
            f"{out} holds files that are not a synthetic county (no ground_truth.json): the "
            "generator writes only into a new or empty folder. Choose another folder (the default "
            "is data/synthetic), or delete a half-written synthetic county there first")


def _generate_la_seeded(folder: Path, la_code: str, index: int, params: SyntheticParameters, seed: int,
                        scale: float, say=None, progress: bool = False) -> dict:
    """One local authority from its own stream SeedSequence([seed, index])."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    return _generate_la(folder, la_code, rng, params, seed, scale, say or (lambda message: None), progress)


def _generate_la(folder: Path, la_code: str, rng: np.random.Generator, params: SyntheticParameters,
                 seed: int, scale: float, say, progress: bool) -> dict:
    name, districts = LOCAL_AUTHORITIES[la_code]
    others = tuple(d for d in OUT_OF_AREA if d not in districts)
    say(f"[{la_code} {name}] simulating referrals and families")
    first_referrals = new_family_referrals(rng, params, scale)
    pop = make_population(rng, first_referrals, params, la_code, districts)
    say(f"[{la_code}] simulating journeys of {len(pop.families):,} families ({len(pop.children):,} children)")
    journeys = simulate_journeys(rng, params, pop.children, pop.families)
    say(f"[{la_code}] building CIN records and SSDA903 episodes")
    records = build_cin_records(rng, params, journeys, pop.children, pop.families)
    episodes = build_episodes(rng, params, records.states, records.episodes, pop.children,
                              records.permanence_type, districts, others)
    episodes["_order"] = np.arange(len(episodes))
    mothers = teenage_mothers(rng, episodes, pop.children)
    dates = DateText(day_number(dt.date(1980, 1, 1)), day_number(params.simulation_end) + 400)

    say(f"[{la_code}] planting imperfections at rate {params.imperfection_rate:g}")
    years = params.collection_years
    cin_overrides, cin_report = plan_cin_imperfections(
        rng, records, pop.children, years, params.imperfection_rate, dates)
    frames = {y: episodes_in_year(episodes, y) for y in years}
    frames, ssda_report = apply_ssda903_imperfections(rng, frames, pop.children, params.imperfection_rate, dates)

    folder.mkdir(parents=True, exist_ok=True)
    writer = CinWriter(records, pop.children, la_code, dates, cin_overrides)
    counts: dict[str, dict] = {"cin_census": {}, "ssda903": {}}
    bar = tqdm(years, desc=f"{la_code} files", file=sys.stderr, disable=not progress, leave=False)
    for year in bar:
        counts["cin_census"][str(year)] = writer.write(folder / "cin_census" / f"cin_census_{year}.xml", year)
        counts["ssda903"][str(year)] = write_year(folder / "ssda903" / str(year), year, frames[year],
                                                  pop.children, mothers, dates, rng)
    say(f"[{la_code}] wrote {len(years)} CIN census files and {len(years)} SSDA903 years")
    _write_families(folder, records, pop.children, pop.families, params)
    # Last: the marker carries a MAC of every file just written, so the public demo key is accepted
    # on this folder as written and on no other (evaluation.ingest.inventory).
    write_marker(folder, bytes.fromhex(DEMO_KEY), version=MARKER_VERSION, seed=seed, la_code=la_code)
    return la_truth(la_code, records, journeys, episodes, pop.children, pop.families, params,
                    {**cin_report, **ssda_report}, counts)


def _write_families(folder: Path, records, children: pd.DataFrame, families: pd.DataFrame,
                    params: SyntheticParameters) -> None:
    """families.csv: person_id,family_id for every child that appears in an emitted file.

    Every looked-after child also has an open CIN episode, so the CIN episodes
    open in any collection year cover the SSDA903 children too.
    """
    ep = records.episodes
    first = year_start(params.first_collection_year)
    last = reference_day(params.last_collection_year)
    seen = ep.loc[(ep["referral"] <= last) & (ep["closure"] >= first), "child"].to_numpy()
    kids = np.unique(seen)
    table = pd.DataFrame({
        "person_id": children["child_id"].to_numpy()[kids],
        "family_id": families["family_id"].to_numpy()[children["family"].to_numpy()[kids]],
    }).sort_values("person_id", kind="stable")
    table.to_csv(folder / "families.csv", index=False, lineterminator="\n")
