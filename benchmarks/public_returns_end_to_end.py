"""The whole pipeline on returns nobody here wrote: the public fake returns in
tests/fixtures/public_returns/ (data-to-insight's csc-validator-be-903 / -cin, liia-tools-pipeline;
MIT), each run as a council's input folder with a fresh random key, exactly as ``make run`` runs.

Prints, per folder, whether the run released or stopped, its time, and its last lines (a stop
must end with the file, position or field, and what to do). The door-level accounting of every
row is pinned in tests/test_public_returns.py; this shows the rest of the chain copes with real
layouts (a council with SSDA903 only, a handful of children, one year).

Measured 2026-12-06 on the 2-core machine while other work ran (times are upper bounds):

| folder | outcome | seconds |
|---|---|---|
| liia (1 CIN child, 5 SSDA903 rows) | released | 184 |
| d2i_903 (150 looked-after children, SSDA903 only) | released | 152 |
| d2i_cin_2023 (8 CIN rows) | released | 197 |
| d2i_cin | stop at the door, last lines: ``cin_census/fake_CIN_data.xml: Header/CollectionDetails/ReferenceDate 2022-07-21 is not 2022-03-31, the reference date of Header/CollectionDetails/Year 2022`` then what to do | 10 |
| d2i_cin_2024 | stop at the door: ``cin_census/CIN_Census_2024.xml: ... ReferenceDate 2024-03-31 is not 2023-03-31 ...`` | 9 |

Run: ``.venv/bin/python benchmarks/public_returns_end_to_end.py [FOLDER ...]``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "tests" / "fixtures" / "public_returns"


def run_one(name: str) -> tuple[int, float, list[str]]:
    """Run the pipeline on one public folder in a fresh instance; (exit code, seconds, lines)."""
    import dagster as dg

    from assets.definitions import build_resources
    from assets.run import run_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(PUBLIC / name, tmp / "input")
        os.environ["DAGSTER_HOME"] = str(tmp / "home")
        (tmp / "home").mkdir()
        lines: list[str] = []
        started = time.perf_counter()
        with dg.instance_for_test() as instance:
            code = run_pipeline(instance, build_resources(
                database=str(tmp / "db.duckdb"), input_dir=str(tmp / "input"),
                output_dir=str(tmp / "out")), echo=lines.append)
        return code, time.perf_counter() - started, lines


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ["FSP_PSEUDONYMISATION_KEY"] = secrets.token_hex(32)
    names = argv or sorted(p.name for p in PUBLIC.iterdir() if p.is_dir())
    for name in names:
        code, seconds, lines = run_one(name)
        outcome = "released" if code == 0 else "stopped"
        print(f"{name}: {outcome} in {seconds:.0f} s")
        for line in lines[-3:]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
