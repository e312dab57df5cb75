"""What the door's checks cost for one council: Great Expectations time per suite and in total.

Runs the asset checks of every pseudonymised table of one council (``checks.pseudonymised``,
27 GX suites: one row-level suite per table plus the separate ``schema``, ``observation_windows``
and ``children_present`` suites) through ``dagster.materialize``, as a pipeline run does, on the
door's tables of the default synthetic county. Twice in one process: the first run pays for the
GX context, the second is what every later council of the same process pays. Prints the seconds
spent in each suite (``run_suite``: validation, result store, page) and in total (wall clock of the
checks, docs index included), and the check outcomes, which must be the same before and after.
Times are CPU seconds of the measuring process (``process_time``: steadier than wall clock on a
shared machine), the whole materialize's wall clock beside them.

    .venv/bin/python benchmarks/validation_cost.py [--county DIR] [--baseline COMMIT]

``--baseline`` also measures the code of an earlier commit (exported with ``git archive`` to a
scratch folder) on the same tables, in its own process, and prints both side by side.

Measured 2026-12-06 on the shared two-core machine with other engineers' jobs running (so the
wall clock is 2-4x the CPU time and noisy; the CPU seconds are the figure to compare), default
county (council 931: 38,832 children, 48,025 CIN episodes, 44,453 assessments, 86,072 assessment
factors, 84,891 duplicates), ``--baseline 66b678e`` (checkpoint + validation definition + suite
``add_or_update`` per run, index rebuilt after every suite) vs this version:

    CPU s (wall s)                    baseline        this version
    whole materialize, first run      11.6 (25.3)     10.7 (42.1)    fresh GX folder: all validated
    whole materialize, second run     12.5 (50.2)      4.4 (19.6)    same frames: results reused
    in run_suite, first run            8.3             7.0
    in run_suite, second run           9.2             0.6
    a small suite (schema, 5-13 rows)  0.10-0.12       0.05-0.07     fixed cost per suite
    pseudonymised__assessment_factors  1.15            1.29 / 0.08   (first / second run)
    pseudonymised__cin_episodes        0.92            0.88 / 0.07
    pseudonymised__duplicates          0.83            0.86 / 0.07

Where the baseline's time went (cProfile of its second run, 86 s in run_suite under the profiler):
GX computing metrics 48 s (regex expectations 12 s, building the metric graph 12 s); saving the
suite, validation definition, checkpoint and data asset on every run 19 s; the checkpoint's own
freshness checks and result handling 7 s; our pages 3 s and the index, rebuilt after every suite
from every page's summary, 4 s. Check outcomes (passed, expectations failed) identical, 54 pages
written by both. What is left in
a first run is GX computing its metrics (the regex and value-set expectations on the large tables:
about 6 of the 7 CPU s); the per-suite fixed cost (suite, definition and checkpoint saved and
re-read, index rebuilt from every page's summary) is gone, and a rerun on unchanged tables costs
a fingerprint, a stored-result copy and a page per suite. The 22 s for 30 suites quoted in issue
#20 were wall seconds of a profiled run; on this machine the baseline's door checks use 8.3 CPU s.

Since 2026-12-07 Great Expectations is imported only where a suite is built or run
(``evaluation/validation/lazy_gx.py``), each frame is fetched as a batch and hashed once (GX's
``Batch.validate`` fetched and hashed it again), and each suite's data asset is attached to the
data source in the process only (saving it rewrote the project's configuration file twice per new
suite). Measured then on a loaded shared machine, medians of interleaved runs, before = 3bc0d62:
the check steps' code on a default-county council run in process, fresh GX project, 8.7 -> 6.6
CPU s (again on unchanged data 3.6 -> 2.6); ``run_suite`` over a council's 34 suites 7.9 -> 6.5;
a small suite's fixed cost 0.089 -> 0.070; importing the pipeline's definitions 4.5-5.5 -> 3.1-3.3
CPU s (no GX). Check results, their metadata, pages and stored GX results identical.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def door_tables(county: Path) -> dict:
    """The door's tables of the county's first council (generated and ingested if not cached)."""
    cache = county / "door_tables.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import DEMO_KEY, load_key
    from evaluation.synthetic import generate_county

    if not (county / "ground_truth.json").exists():
        generate_county(county, seed=20201101, local_authorities=1, scale=1.0)
    folder = sorted(p for p in county.iterdir() if p.is_dir())[0]
    tables = ingest_local_authority(folder, load_key(DEMO_KEY))
    cache.write_bytes(pickle.dumps(tables))
    return tables


def measure(county: Path, scratch: Path) -> dict:
    """Run the door checks twice in this process; seconds per suite and in total, outcomes."""
    os.environ["DAGSTER_HOME"] = str(scratch / "dagster_home")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    import dagster as dg

    import checks.factory as factory
    from assets.partitions import local_authorities
    from checks.pseudonymised import PSEUDONYMISED_CHECKS
    from checks.resources import ValidationResource

    tables = door_tables(county)
    checked = {k.asset_key.path[-1] for c in PSEUDONYMISED_CHECKS for k in c.check_keys}

    def asset(name, frame):
        @dg.asset(key_prefix=["pseudonymised"], name=name, group_name="pseudonymised",
                  partitions_def=local_authorities)
        def _table():
            return frame
        return _table

    assets = [asset(name, frame) for name, frame in tables.items() if name in checked]
    suites: list[tuple[str, float]] = []
    run_suite = factory.run_suite

    def timed(*args, **kwargs):
        started = time.process_time()
        outcome = run_suite(*args, **kwargs)
        suites.append((args[1], time.process_time() - started))
        return outcome

    factory.run_suite = timed
    validation = ValidationResource(project_dir=str(scratch / "gx"), docs_dir=str(scratch / "docs"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(local_authorities.name, ["931"])
    runs = []
    for _ in range(2):
        suites.clear()
        started, cpu = time.perf_counter(), time.process_time()
        result = dg.materialize([*assets, *PSEUDONYMISED_CHECKS], partition_key="931", instance=instance,
                                resources={"validation": validation}, raise_on_error=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        outcomes = sorted((("/".join(e.asset_key.path), e.check_name, e.passed,
                            e.metadata["expectations_failed"].value if "expectations_failed" in e.metadata else None)
                           for e in result.get_asset_check_evaluations()))
        runs.append({"wall": wall, "cpu": cpu, "suites": list(suites), "outcomes": outcomes})
    pages = sorted(p.name.split("--")[0] for p in (scratch / "docs" / "runs").glob("*/*.html"))
    return {"runs": runs, "pages": pages}


def measure_in_process(source: Path, county: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="validation_cost_") as scratch:
        out = subprocess.run([sys.executable, __file__, "--measure", str(county), "--scratch", scratch],
                             cwd=source, env={**os.environ, "PYTHONPATH": str(source)},
                             check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(label: str, result: dict) -> None:
    first, second = result["runs"]
    print(f"\n{label}: {len(first['suites'])} suites; CPU s (wall s) of the whole materialize: "
          f"first run {first['cpu']:.1f} ({first['wall']:.1f}), second run {second['cpu']:.1f} "
          f"({second['wall']:.1f}); CPU s in run_suite: {sum(t for _, t in first['suites']):.1f} and "
          f"{sum(t for _, t in second['suites']):.1f}; per suite (CPU s, first and second run):")
    for (name, a), (_, b) in zip(first["suites"], second["suites"]):
        print(f"  {name:<52}{a:>7.2f}{b:>7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--county", type=Path, default=Path(tempfile.gettempdir()) / "fsp_validation_cost_county")
    parser.add_argument("--baseline", help="also measure this commit's code on the same tables")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        sys.stdout.flush()
        result = measure(args.measure, args.scratch)
        print(json.dumps(result))
        return 0
    args.county.mkdir(parents=True, exist_ok=True)
    door_tables(args.county)
    results = {}
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="validation_baseline_") as old:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            results[f"baseline {args.baseline}"] = measure_in_process(Path(old), args.county)
    results["this version"] = measure_in_process(ROOT, args.county)
    for label, result in results.items():
        report(label, result)
    if len(results) == 2:
        before, after = results.values()
        same = [b["outcomes"] == a["outcomes"] for b, a in zip(before["runs"], after["runs"])]
        print(f"\ncheck outcomes (passed, expectations failed) identical: {all(same)}; "
              f"pages written: {len(before['pages'])} before, {len(after['pages'])} after, "
              f"same suites: {before['pages'] == after['pages']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
