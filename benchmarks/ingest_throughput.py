"""Ingest throughput and peak memory: the default synthetic county and a 20-LA county.

Prints, per county: input rows read (every record of every file, as counted by
the reconciliation), wall-clock seconds, rows per second, input megabytes, and
the peak resident memory of a fresh process that did nothing but ingest
(``ru_maxrss``), next to the size of the largest CIN census file — the XML is
streamed, so peak memory should track the tables, not the file.

    .venv/bin/python benchmarks/ingest_throughput.py [--scale 1.0] [--las 20] [--large-scale 1.0]
                                                     [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ingest_only(root: Path) -> dict:
    """Ingest every LA folder under ``root`` (in this process) and measure."""
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import DEMO_KEY, load_key

    key = load_key(DEMO_KEY)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    started = time.perf_counter()
    rows_read = rows_out = 0
    for folder in folders:
        tables = ingest_local_authority(folder, key)
        rows_read += int(tables["reconciliation"]["rows_read"].sum())
        rows_out += sum(len(tables[name]) for name in ("children", "cin_episodes", "assessments",
                                                         "assessment_factors", "cin_plans",
                                                         "section47s", "cp_plans", "care_episodes"))
        del tables
    seconds = time.perf_counter() - started
    return {"las": len(folders), "rows_read": rows_read, "rows_out": rows_out, "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(root: Path) -> dict:
    """Run :func:`ingest_only` in a fresh interpreter so its peak memory is the ingest's own."""
    out = subprocess.run([sys.executable, __file__, "--ingest-only", str(root)], check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".csv", ".xlsx")]
    result["input_mb"] = sum(p.stat().st_size for p in files) / 1e6
    result["largest_xml_mb"] = max((p.stat().st_size for p in files if p.suffix == ".xml"),
                                   default=0) / 1e6
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="referral-rate scale (1.0 = Oxfordshire)")
    parser.add_argument("--las", type=int, default=20, help="local authorities in the large county")
    parser.add_argument("--large-scale", type=float, default=None,
                        help="scale of each LA of the large county (default: --scale)")
    parser.add_argument("--seed", type=int, default=20201101)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--ingest-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest_only:
        print(json.dumps(ingest_only(args.ingest_only)))
        return 0

    from evaluation.synthetic import generate_county

    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        print(f"{'county':<22}{'LAs':>4}{'rows read':>12}{'rows/s':>10}{'seconds':>9}"
              f"{'input MB':>10}{'largest XML MB':>16}{'peak RSS MB':>13}")
        large_scale = args.scale if args.large_scale is None else args.large_scale
        for name, las, scale in (("default", 1, args.scale), (f"{args.las}-LA", args.las, large_scale)):
            name = f"{name} x{scale:g}"
            root = base / name.replace(" ", "_")
            if not (root / "ground_truth.json").exists():
                t0 = time.perf_counter()
                generate_county(root, seed=args.seed, local_authorities=las, scale=scale)
                print(f"  (generated {name} county in {time.perf_counter() - t0:.0f} s)", flush=True)
            r = measure(root)
            print(f"{name:<22}{r['las']:>4}{r['rows_read']:>12,}{r['rows_read'] / r['seconds']:>10,.0f}"
                  f"{r['seconds']:>9.1f}{r['input_mb']:>10.1f}{r['largest_xml_mb']:>16.1f}"
                  f"{r['peak_rss_mb']:>13.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
