"""Time of the ``comparison`` asset group (issue #17 asks for under a minute of extra ``make run``
time): the group materialised with its checks on the bundled DfE panel (in-process executor,
DuckDB storage, Great Expectations checks), each step's time, then the release's comparison tables
and the 14 comparison figures drawn.

Usage: .venv/bin/python benchmarks/comparison_group.py [WORKDIR]   (default: a temporary folder)

Measured 2026-12-06 07:23 UTC on the shared 2-core machine under load (load average 9-11, other
engineers' test runs): synthetic_control 31.2 s, staggered_adoption 15.3 s, la_panel 0.8 s and its
checks 1.3 s, adopters 0.3 s and its checks 0.7 s; the group with checks 52.2 s; release tables and
14 figures 11.1 s.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from assets.comparison import COMPARISON_ASSETS
from assets.storage import io_manager_from_env
from checks.comparison import COMPARISON_CHECKS
from checks.resources import ValidationResource
from evaluation.report.comparison_section import comparison_figures, comparison_tables

if __name__ == "__main__":
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="comparison-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = dg.materialize([*COMPARISON_ASSETS, *COMPARISON_CHECKS], instance=dg.DagsterInstance.ephemeral(),
                            resources={"io_manager": io_manager_from_env(database=str(work / "db.duckdb")),
                                       "validation": ValidationResource(project_dir=str(work / "gx"),
                                                                        docs_dir=str(work / "docs"))})
    group = time.perf_counter() - started
    steps = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
    outputs = {}
    for node, names in (("synthetic_control", None), ("staggered_adoption", None)):
        for asset in COMPARISON_ASSETS:
            if asset.node_def.name == node:
                for key in asset.keys:
                    outputs[key.path[-1]] = result.output_for_node(node, key.path[-1])
    from evaluation.comparison.adopters import adopters
    outputs["adopters"] = adopters()
    started = time.perf_counter()
    tables = comparison_tables(outputs)
    figures = comparison_figures(tables, work / "figures")
    drawing = time.perf_counter() - started
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"{step:40s} {seconds:6.1f} s")
    print(f"group with checks: {group:.1f} s; release tables + {len(figures)} figures: {drawing:.1f} s; "
          f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}")
