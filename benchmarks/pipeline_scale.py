"""Whole pipeline at scale: wall time and peak memory of each stage on 1, 5 and 20 synthetic LAs.

Each county is generated at the given scale (default 1.0: Oxfordshire's size per LA), then run
stage by stage as ``make run`` does (every partition in turn, asset checks included unless
``--no-checks``), each stage in a fresh child process so its peak resident memory is its own.
With ``--workers N`` the per-LA stages run through ``assets.parallel`` instead (N LA runs at
once, DuckDB pool limit 1). ``--profile`` runs each stage of the first county under cProfile and
prints where the time goes.

Goals (2 cores, 24 GB): the default county end to end < 2 minutes; 20 LAs < 30 minutes with
peak memory < 12 GB.

Measured 2026-11-22 (2 cores): default county (1 LA) 98 s end to end (door 27 s, spells 9,
cohorts 16, analysis 36, release 11; peak 825 MB); OPENBLAS_NUM_THREADS=1 made no difference
(104 s). 20 LAs (784,256 children; 1.8 GB of XML/CSV generated in 37 s) with ``--workers 2``:
per-LA stages with their checks 756 s, pooled analysis 619 s (peak 6.1 GB), release 66 s
(3.6 GB): **1441 s end to end, peak 6.1 GB** (goals 1800 s and 12 GB met). The per-LA peak is
the parent's; each LA run's own process peaks near the 1-LA figure. Before the Fine–Gray
expansion was bounded the pooled analysis ran out of 24 GB.

Run: ``.venv/bin/python benchmarks/pipeline_scale.py [--las 1 5 20] [--scale 1] [--workers 1]
[--no-checks] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import resource
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
GOALS = {1: 120.0, 20: 1800.0}  # seconds end to end
MEMORY_GOAL_MB = 12 * 1024


def _stage_child(queue, home: str, input_dir: str, stage: str, partitioned: bool,
                 checks: bool, workers: int, profile: bool) -> None:
    """Run one stage over every partition; report seconds, peak RSS and (optionally) a profile."""
    import dagster as dg

    from assets.definitions import ALL_ASSETS, ALL_CHECKS, build_resources
    from assets.parallel import materialise_local_authorities
    from assets.partitions import discover_local_authorities

    resources = build_resources(database=f"{home}/evaluation.duckdb", input_dir=input_dir,
                                output_dir=f"{home}/outputs")
    codes = discover_local_authorities(input_dir)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    ok = True
    with dg.DagsterInstance.from_config(home) as instance:
        if profiler:
            profiler.enable()
        if partitioned and workers > 1:
            from assets.definitions import STAGES

            # assets.parallel runs every per-LA stage; time them together under the first one.
            if stage == next(s for s, p in STAGES if p):
                ok = materialise_local_authorities(instance, resources, codes, workers=workers,
                                                   include_checks=checks, echo=lambda _: None,
                                                   pooled_stages=False).success
        else:
            for partition in codes if partitioned else [None]:
                result = dg.materialize(
                    [*ALL_ASSETS, *(ALL_CHECKS if checks else [])],
                    selection=dg.AssetSelection.groups(stage), partition_key=partition,
                    instance=instance, resources=resources, raise_on_error=False,
                    run_config=QUIET)
                ok = ok and result.success
                if not ok:
                    break
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = None
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(
            r"(evaluation|assets|checks)/.*\.py|great_expectations/(checkpoint|validator)|"
            r"dagster_duckdb|db_io_manager|execute_step.py.*(_store_output|load_input)", 18)
        stats.sort_stats("tottime").print_stats(12)
        report = out.getvalue()
    queue.put((ok, seconds, peak_mb, report))


def _run_stage(home: Path, input_dir: Path, stage: str, partitioned: bool, checks: bool,
               workers: int, profile: bool) -> tuple[bool, float, float, str | None]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_stage_child, args=(queue, str(home), str(input_dir), stage,
                                                       partitioned, checks, workers, profile))
    child.start()
    outcome = queue.get()
    child.join()
    return outcome


def _trim_profile(report: str) -> str:
    keep = [line for line in report.splitlines()
            if line.strip() and not line.startswith(("   Ordered by", "   List reduced"))]
    return "\n".join("      " + line for line in keep)


def bench(n_las: int, scale: float, seed: int, checks: bool, workers: int, profile: bool,
          tmp: Path) -> list[tuple[str, float, float]]:
    import dagster as dg

    from assets.definitions import STAGES
    from assets.partitions import discover_local_authorities, register_local_authorities
    from evaluation.synthetic import generate_county

    started = time.perf_counter()
    input_dir = generate_county(tmp / "input", seed=seed, local_authorities=n_las, scale=scale,
                                progress=False, workers=2)
    generation = time.perf_counter() - started
    home = tmp / "home"
    home.mkdir()
    shutil.copy(ROOT / "assets" / "instance" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_local_authorities(instance, discover_local_authorities(input_dir))
    size_mb = sum(p.stat().st_size for p in input_dir.rglob("*") if p.is_file()) / 2**20
    print(f"\n== {n_las} LA(s), scale {scale}: input {size_mb:.0f} MB generated in {generation:.1f} s"
          f" ({'with' if checks else 'without'} asset checks, "
          f"{f'{workers} LA runs at once' if workers > 1 else 'sequential'})")
    print(f"   {'stage':<16}{'wall s':>10}{'peak RSS MB':>14}")
    rows = []
    for stage, partitioned in STAGES:
        ok, seconds, peak_mb, report = _run_stage(home, input_dir, stage, partitioned, checks,
                                                  workers, profile)
        rows.append((stage, seconds, peak_mb))
        print(f"   {stage:<16}{seconds:>10.1f}{peak_mb:>14.0f}" + ("" if ok else "   FAILED"),
              flush=True)
        if report:
            print(_trim_profile(report))
        if not ok:
            break
    total = sum(s for _, s, _ in rows)
    peak = max(m for _, _, m in rows)
    goal = GOALS.get(n_las)
    verdict = "" if goal is None else f" (goal < {goal:.0f} s: {'met' if total < goal else 'NOT met'})"
    print(f"   {'pipeline':<16}{total:>10.1f}{peak:>14.0f}{verdict}")
    if n_las == 20:
        print(f"   peak memory goal < {MEMORY_GOAL_MB} MB: {'met' if peak < MEMORY_GOAL_MB else 'NOT met'}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--las", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20201101)
    parser.add_argument("--workers", type=int, default=1, help="LA runs at once (assets.parallel)")
    parser.add_argument("--no-checks", action="store_true", help="skip the asset checks")
    parser.add_argument("--profile", action="store_true", help="cProfile each stage of the first county")
    args = parser.parse_args()
    os.environ.setdefault("FSP_PSEUDONYMISATION_KEY", secrets.token_hex(32))
    print(f"pipeline_scale: {os.cpu_count()} CPUs; LAs {args.las}; scale {args.scale}")
    for i, n_las in enumerate(args.las):
        with tempfile.TemporaryDirectory(prefix=f"pipeline_scale_{n_las}_") as tmp:
            bench(n_las, args.scale, args.seed, not args.no_checks, args.workers,
                  args.profile and i == 0, Path(tmp))


if __name__ == "__main__":
    main()
