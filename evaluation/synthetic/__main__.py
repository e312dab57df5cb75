"""Command line: ``python -m evaluation.synthetic OUT_DIR [--seed N] [--local-authorities N] [--scale F]
[--councils 931:2020-11-01,825:never] [--covid-hazards]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from evaluation.synthetic.county import LOCAL_AUTHORITIES, generate_county
from evaluation.synthetic.covid import COVID_HAZARD_SHOCK
from evaluation.synthetic.parameters import SyntheticParameters


def _councils(text: str) -> dict[str, dt.date | None]:
    """``931:2020-11-01,825:never`` as {LA code: go-live or None}."""
    out: dict[str, dt.date | None] = {}
    for item in text.split(","):
        code, _, day = item.strip().partition(":")
        if not code or not day:
            raise argparse.ArgumentTypeError(f"{item!r} is not LA:YYYY-MM-DD or LA:never")
        try:
            out[code] = None if day == "never" else dt.date.fromisoformat(day)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: no ISO date (YYYY-MM-DD) or 'never'") from None
    return out


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
    parser.add_argument("--councils", type=_councils, default=None,
                        help="councils and their go-lives instead of --local-authorities, e.g. "
                             "931:2020-11-01,825:never,919:2019-04-01 (never: no adoption)")
    parser.add_argument("--covid-hazards", action="store_true",
                        help="add the Covid shock to transition hazards (evaluation.synthetic.covid)")
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
                              workers=args.workers, councils=args.councils,
                              params=SyntheticParameters(covid_hazard_multipliers=COVID_HAZARD_SHOCK)
                              if args.covid_hazards else None)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"synthetic county written to {out} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
