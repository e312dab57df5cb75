"""Speed and memory of spell building and the analysis dataset, and what comes back.

For the default synthetic county (one LA, scale 1) and a 20-LA county: time
and peak traced memory (tracemalloc, a separate run) of each spell builder,
``analysis_dataset`` and ``cohort_flow`` on the ingested tables; then cohort
sizes and risk-combination prevalence next to ``ground_truth.json``.

The generator's cohorts count *journeys* by referral date from the first
collection year, a family in every cohort where it has one; ours put a family
in one cohort by its first referral in the window. So the comparison is
printed twice: with the study's ``pre_fsp_start`` and with the window opened
at the first collection year (``window=data``), where our pre-FSP families
should match the planted ones (bar exclusions) and later cohorts be smaller.

Run: ``.venv/bin/python benchmarks/spells_and_cohorts.py [--scale 1] [--la-scale 1]
[--input DIR ...] [--skip-20] [--skip-default] [--workers N]``. Counties are generated in a temporary folder
unless ``--input`` names existing ones. Prints figures; asserts nothing.

Measured 2026-11-22 on 2 shared cores. Default county: need spells 0.5 s, analysis dataset 2.9 s;
pre-FSP families 9,021 vs 9,022 planted (data window). 20-LA county (784,256 children, 974,192
CIN episodes, 182,055 care episodes; ingest 261 s): need spells 15.4 s (663 MiB), CIN plan spells
12.5 s, protection spells 12.8 s, care periods 9.6 s, analysis dataset 87 s (2,051 MiB peak,
2,507,730 rows), cohort flow 20.8 s; pre-FSP families 181,629 vs 181,657 planted (data window),
children 348,095 vs 346,040; risk-combination shares within 0.001 of the planted ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd

from evaluation import tables as contract
from evaluation.cohorts.analysis_dataset import analysis_dataset
from evaluation.cohorts.cohorts import index_episodes
from evaluation.cohorts.flow import cohort_flow
from evaluation.cohorts.risk_factors import risk_factors
from evaluation.ingest import ingest_local_authority
from evaluation.pseudonymise import DEMO_KEY, load_key
from evaluation.spells import care_periods, cin_plan_spells, need_spells, protection_spells
from evaluation.study import COHORTS, StudyConfig
from evaluation.synthetic import generate_county

STEPS = {
    "need_spells": need_spells,
    "cin_plan_spells": cin_plan_spells,
    "protection_spells": protection_spells,
    "care_periods": care_periods,
    "analysis_dataset": analysis_dataset,
    "cohort_flow": cohort_flow,
}


def ingest_county(root: Path) -> dict[str, pd.DataFrame]:
    """Every LA folder of ``root`` ingested and stacked."""
    key = load_key(DEMO_KEY)
    parts = [ingest_local_authority(folder, key) for folder in sorted(root.iterdir())
             if folder.is_dir() and folder.name.isdigit()]
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in contract.TABLES}


def measure(tables: dict[str, pd.DataFrame], config: StudyConfig) -> None:
    print(f"  {'step':<20}{'seconds':>10}{'peak MiB':>12}{'rows':>12}")
    for name, step in STEPS.items():
        started = time.perf_counter()
        result = step(tables, config)
        seconds = time.perf_counter() - started
        tracemalloc.start()
        step(tables, config)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"  {name:<20}{seconds:>10.2f}{peak:>12.1f}{len(result):>12,}")


def compare_with_truth(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    first_year = min(truth["dates"]["collection_years"])
    configs = {"study": StudyConfig(),
               "data": StudyConfig(pre_fsp_start=dt.date(first_year - 1, 4, 1))}
    planted_families = {c: 0 for c in COHORTS}
    planted_children = {c: 0 for c in COHORTS}
    planted_mix: dict[str, int] = {}
    for la in truth["by_la"].values():
        for cohort in COHORTS:
            planted_families[cohort] += la["cohorts"][cohort]["families"]
            planted_children[cohort] += la["cohorts"][cohort]["children"]
            for label, n in la["cohorts"][cohort]["children_assessed_by_combination"].items():
                planted_mix[label] = planted_mix.get(label, 0) + n
    print(f"  {'cohort':<12}{'window':<8}{'families':>10}{'planted':>10}{'children':>10}{'planted':>10}")
    mixes = {}
    for window, config in configs.items():
        a = analysis_dataset(tables, config)
        children = a.drop_duplicates(["la_code", "child_id"])
        families = a.drop_duplicates(["la_code", "family_id"])
        for cohort in COHORTS:
            print(f"  {cohort:<12}{window:<8}{(families['cohort'] == cohort).sum():>10,}"
                  f"{planted_families[cohort]:>10,}{(children['cohort'] == cohort).sum():>10,}"
                  f"{planted_children[cohort]:>10,}")
        mixes[window] = children["combination"].value_counts(normalize=True)
        factors = risk_factors(tables, index_episodes(tables, config), config)
        assessed = factors[factors["assessments_used"] > 0]
        mixes[window + " assessed"] = assessed["combination"].value_counts(normalize=True)
    total = sum(planted_mix.values())
    population = truth["population"]["combination_probabilities"]
    print("\n  share of children by risk combination at the index referral: all children / children"
          "\n  with an assessment used; planted: children assessed (generator), family probability")
    print(f"  {'combination':<36}{'study':>7}{'assessed':>9}{'data':>7}{'assessed':>9}"
          f"{'planted':>9}{'family p':>10}")
    for label in population:
        print(f"  {label:<36}{mixes['study'].get(label, 0):>7.3f}{mixes['study assessed'].get(label, 0):>9.3f}"
              f"{mixes['data'].get(label, 0):>7.3f}{mixes['data assessed'].get(label, 0):>9.3f}"
              f"{planted_mix.get(label, 0) / total:>9.3f}{population[label]:>10.3f}")


def run(root: Path, title: str) -> None:
    truth = json.loads((root / "ground_truth.json").read_text())
    started = time.perf_counter()
    tables = ingest_county(root)
    print(f"\n== {title}: {len(truth['local_authorities'])} LA(s), scale {truth['scale']}, "
          f"{len(tables['children']):,} children, {len(tables['cin_episodes']):,} CIN episodes, "
          f"{len(tables['care_episodes']):,} care episodes (ingest {time.perf_counter() - started:.0f} s)")
    measure(tables, StudyConfig())
    print()
    compare_with_truth(tables, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, nargs="*", help="existing synthetic county folders")
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the default county")
    parser.add_argument("--la-scale", type=float, default=1.0, help="scale of each LA of the 20-LA county")
    parser.add_argument("--seed", type=int, default=20201101)
    parser.add_argument("--skip-20", action="store_true", help="only the default county")
    parser.add_argument("--skip-default", action="store_true", help="only the 20-LA county")
    parser.add_argument("--workers", type=int, default=1, help="generator processes for the 20-LA county")
    args = parser.parse_args()
    if args.input:
        for root in args.input:
            run(root, str(root))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_default:
            root = generate_county(Path(tmp) / "default", seed=args.seed, scale=args.scale)
            run(root, "default county")
        if not args.skip_20:
            root = generate_county(Path(tmp) / "twenty", seed=args.seed, local_authorities=20,
                                   scale=args.la_scale, workers=args.workers)
            run(root, "20-LA county")


if __name__ == "__main__":
    main()
