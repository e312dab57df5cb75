"""``make run``: materialise every stage on the configured input, printing progress stage by stage.

Runs go through the Dagster instance in ``DAGSTER_HOME``, so they appear in the UI (``make ui``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dagster as dg

from assets.resources import KEY_ENV_VAR


def _preflight_key(use_demo_key: bool) -> None:
    from evaluation.pseudonymise import DEMO_KEY, PseudonymisationKeyError, load_key

    if not os.environ.get(KEY_ENV_VAR):
        if use_demo_key:
            os.environ[KEY_ENV_VAR] = DEMO_KEY
            print(f"==> {KEY_ENV_VAR} not set: using the public DEMO key (synthetic county only; "
                  "the pipeline refuses it on any other input)")
        else:
            sys.exit(f"error: {KEY_ENV_VAR} is not set. Make a key once, keep it apart from the data:\n"
                     "    python -c \"import secrets; print(secrets.token_hex(32))\"\n"
                     f"and export {KEY_ENV_VAR}=<that key> before running.")
    try:
        key = load_key(os.environ[KEY_ENV_VAR])
    except PseudonymisationKeyError as err:
        sys.exit(f"error: {err}")
    print(f"==> pseudonymisation key fingerprint {key.fingerprint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo-key", action="store_true",
                        help=f"use the public demo key when {KEY_ENV_VAR} is unset (synthetic data only)")
    parser.add_argument("--workers", type=int, default=1,
                        help="local authorities processed in parallel (one run per LA; DuckDB "
                        "writes are serialised through the 'duckdb' pool)")
    args = parser.parse_args(argv)
    _preflight_key(args.demo_key)

    instance = dg.DagsterInstance.get()
    if args.workers > 1:
        from assets.parallel import materialise_local_authorities

        return 0 if materialise_local_authorities(instance, workers=args.workers).success else 1
    return run_pipeline(instance)


def run_pipeline(instance: dg.DagsterInstance, resources: dict | None = None,
                 echo=print) -> int:
    """Materialise every stage, partition by partition; 0 on success, 1 on the first failure."""
    from assets.definitions import ALL_ASSETS, ALL_CHECKS, STAGES, build_resources
    from assets.partitions import discover_local_authorities, register_local_authorities

    resources = resources or build_resources()
    input_dir = resources["input_folder"].path
    codes = discover_local_authorities(input_dir)
    if not codes:
        echo(f"error: no local-authority folders (three-digit LA codes) in {input_dir}")
        return 1
    register_local_authorities(instance, codes)
    echo(f"==> input {input_dir}: local authorities {', '.join(codes)}")
    started = time.perf_counter()
    for stage, per_local_authority in STAGES:
        t0 = time.perf_counter()
        for partition in codes if per_local_authority else [None]:
            label = f"{stage} [{partition}]" if partition else stage
            echo(f"==> {label} ...")
            result = dg.materialize(
                [*ALL_ASSETS, *ALL_CHECKS],
                selection=dg.AssetSelection.groups(stage),
                partition_key=partition,
                instance=instance,
                resources=resources,
                raise_on_error=False,
                tags={"fsp/stage": stage},
                # The console shows warnings and errors; every event is in the run's log (make ui).
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            if not result.success:
                failed = [f"{'/'.join(e.asset_key.path)}:{e.check_name}"
                          for e in result.get_asset_check_evaluations() if not e.passed
                          and e.severity == dg.AssetCheckSeverity.ERROR]
                echo(f"error: {label} failed (run {result.run_id})"
                     + (f"; blocking checks failed: {', '.join(failed)}" if failed else "")
                     + ". Open the run in the Dagster UI (make ui) for details.")
                return 1
        echo(f"    {stage} done in {time.perf_counter() - t0:.1f} s")
    from evaluation.validation.engine import docs_index

    out = resources["output_folder"].path
    echo(f"==> all stages done in {time.perf_counter() - started:.1f} s")
    echo(f"==> report: {out}/report.html  (tables: {out}/tables/, figures: {out}/figures/, "
         f"output checker's log: {out}/results.json)")
    docs = docs_index(resources["validation"].context())
    if docs is not None:
        echo(f"==> validation Data Docs (for analysts inside the environment; not for release): {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
