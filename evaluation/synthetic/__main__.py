"""Command line: ``python -m evaluation.synthetic OUT_DIR [--seed N] [--local-authorities N] [--scale F]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from evaluation.synthetic.county import LOCAL_AUTHORITIES, generate_county


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.synthetic",
        description="Write a synthetic county (CIN census XML, SSDA903 CSVs, families.csv per local "
                    "authority) with planted programme effects, and its ground_truth.json.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--local-authorities", type=int, default=1,
                        help=f"number of local authorities (1-{len(LOCAL_AUTHORITIES)}; 931 Oxfordshire first)")
    parser.add_argument("--scale", type=float, default=1.0, help="referral volume relative to Oxfordshire")
    parser.add_argument("--go-live", type=dt.date.fromisoformat, default=dt.date(2020, 11, 1))
    parser.add_argument("--imperfection-rate", type=float, default=0.03)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for generating several local authorities in parallel")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing if OUT_DIR already holds a ground_truth.json")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.if_missing and (args.out_dir / "ground_truth.json").exists():
        print(f"{args.out_dir}: synthetic county already present, nothing to do")
        return 0
    started = time.perf_counter()
    log = None if args.quiet else (lambda message: print(f"[{time.perf_counter() - started:6.1f}s] {message}",
                                                         flush=True))
    try:   # the generator refuses a folder that is not a synthetic county, before writing
        out = generate_county(args.out_dir, seed=args.seed, local_authorities=args.local_authorities,
                              scale=args.scale, go_live=args.go_live,
                              imperfection_rate=args.imperfection_rate, progress=None, log=log,
                              workers=args.workers)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"synthetic county written to {out} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
