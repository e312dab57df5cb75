"""What the door (ingest_and_pseudonymise) and the release (release__released_outputs) cost.

Both steps run alone on the critical path of ``make run``. Each is measured in a fresh process of
its own, so its peak resident memory (``ru_maxrss``) is its own: CPU seconds (``getrusage``: the process and the children it waited for, such as Chromium;
steadier than wall clock on a shared machine) and wall seconds beside them.

* door: :func:`evaluation.ingest.ingest_local_authority` on the default synthetic county
  (``data/synthetic/931``, or ``--county``), then every table through the contract as the asset
  does (``evaluation.tables.conform``); storing into DuckDB is the IO manager's and not counted.
* release: the body of ``assets.release.released_outputs`` on the analysis tables of a finished
  run, read from its DuckDB (``--tables``, default ``$DAGSTER_HOME/evaluation.duckdb``): the
  pooled cohort flow, :func:`~evaluation.report.assemble.release_tables`, the disclosure log and
  :func:`~evaluation.report.release.write_release` (tables, figures, report, the PDF by headless
  Chromium when there is one), written into a scratch folder. The validation summary is read from
  the Dagster instance of ``--home`` when given (else empty); it, the history read from the
  instance and ``build_data_docs`` belong to the run layer and are timed apart (``run layer``).

    .venv/bin/python benchmarks/door_and_release_cost.py [--county DIR] [--tables DUCKDB]
                                                         [--home DAGSTER_HOME] [--keep DIR]

``--keep DIR`` leaves the door's tables (``door.pkl``) and the release folder in ``DIR``, to
compare two versions' outputs.

Measured 2026-12-06 on the shared two-core machine, default county (council 931: 38,832 children,
48,025 CIN episodes, 80,065 assessment factors, 84,721 duplicates; 73 MB of CIN census XML), two
runs of each version alternating, load average 1.3-3.2 from other people's jobs; before = ad6ac8d
(``evaluation`` exported with ``git archive``, run with ``PYTHONPATH``), after = this version.
"own" is the CPU of the step's process, which is its critical path when its helper process has a
core of its own; "with helpers" adds the second process (door: every other CIN file; release:
3 of every 8 figures) and Chromium printing the PDF:

    step       CPU own (s)      CPU with helpers (s)   wall (s)          peak MB (step process)
    door       11.8 / 11.2  ->  6.2 / 6.3    11.8 / 11.2 -> 9.3 / 9.6   12.0 / 11.9 -> 6.6 / 9.6    497 -> 514
    release    10.1 / 9.0   ->  7.0 / 6.9    11.2 / 9.9  -> 11.9 / 11.6 12.8 / 12.7 -> 13.9 / 12.8  1007 -> 966

Where it went. Door (one process, CPU): pandas' ``isin`` of Arrow strings converted every id of
the set to an Arrow scalar (1.5 s: now one Arrow array); plausibility re-parsed datetime columns
(0.5 s); HMACs with key and prefix absorbed once and each id hashed once per ingest (the same
child or episode in the next year's return; 0.6 s); UPNs not hashed without the national link
(0.2 s); a crosstab of child x dataset (0.55 s: now id sets); the leak guard over distinct values
and Arrow's RE2 for pseudonyms (0.5 s). 11.8 -> ~8.6 s. Release: the 38 figures are 7.6 s of
CPU (matplotlib: constrained layout drawn twice per savefig, text layout, PNG encoding); PNG at
zlib level 1 (same pixels) saves ~0.9 s. release_tables is 1.5-1.7 s (of which ~1.1 s is SciPy's
linprog overhead around 450 small disclosure LPs), Chromium 3.5 s wall for ~1 s of CPU (1.1 s
for an empty page).

The "after" figures above were measured with a second process inside each step (door: 5 of the
9 CIN files; release: 14 of the figures). Both were removed afterwards (ae32897 and the commit
after it): parallelism comes from Dagster's executor (councils side by side, the comparison
areas beside the council runs), and on the measured machine neither shortened the wall clock.
In one process the door's CPU is ~8.6 s and the release's ~9 s.

Outputs compared before/after on the default county: every door table (15, ``assert_frame_equal``,
exact, with and without the national link) against ad6ac8d; every released table (46 Parquet files
byte-identical, 46 CSV byte-identical), 38 figures pixel-identical (the PNG bytes differ: the
compression level) and the report's HTML (identical apart from the embedded PNG bytes and the
generation time) against this tree with the release's own changes undone (report/__init__,
drawing, release, figures/style from ad6ac8d) -- ad6ac8d itself writes another protocol text
since 655cbcf.

Release, later the same day (#20), on the small test county (2 councils, scale 0.03: 46 tables,
44 figures, a 5.7 MB report.html, 43 PDF pages), ``--only release`` on a run's DuckDB, before =
4d03e80 (``evaluation`` from ``git archive``, ``PYTHONPATH``), five rounds alternating, load 3-8
from other people's jobs. CPU now counts every Chromium process (the benchmark is their
subreaper): printing the report takes ~4.1 s of CPU, not the ~1 s counted before, of which
~1.3 s is starting the browser (an empty page) and ~1.2 s the print compositor re-encoding the
44 figures into the PDF. Where the step's CPU went (py-spy, in-process ``dg.materialize`` of the
release group): figures ~60 %, Chromium ~20-25 %, ``release_tables`` ~10 % (SciPy's linprog in
the flow's disclosure control), tables, report, output log and validation pages ~5 %; loading the
~40 inputs from DuckDB (a connection per input) sits outside the step body.

    version                      CPU with Chromium (s)     own CPU (s)       wall (s)
                                 min / median              min / median      min / median
    before                       14.5 / 15.5               10.8 / 11.8       20.5 / 25.8
    after, chromium              14.6 / 16.6               10.8 / 12.7       24.8 / 29.7
    after, chromium-headless-shell 12.1 / 13.4             10.1 / 11.3       16.2 / 26.9

* Figures saved in one drawing pass (``evaluation.figures.style.save_png``): savefig with a layout
  engine draws every artist twice, once with rendering off to lay the figure out; the layout now
  runs alone and savefig draws once. 44 figures 8.2-8.7 -> 7.3-8.0 s CPU (three alternating runs
  each, figures alone); every PNG byte-identical. Within the whole step's noise above. What is
  left is matplotlib's own: constrained layout (two passes of every axes' tight box), drawing
  text and ticks, PNG encoding (zlib level 1; RGB instead of RGBA, other zlib strategies: no faster).
* ``report.pdf`` printed by ``chromium-headless-shell`` when installed (Debian package; same
  Chromium version, same 43 pages and page text by pypdf, only the PDF's Creator differs): ~2.7 s
  CPU instead of ~4.1 s, ~1.5 s less wall (an empty page: 0.6 s instead of 2 s). Not installed by
  ``make`` yet. Chromium's other flags (extensions, background features off) saved nothing
  measurable; the figures' share of printing is Skia deflating every image again.
* Checked and left: the figures are drawn once (the report embeds the written PNG files), the
  validation pages only write missing pages and the index (~0.1 s), tables and checksums ~0.5 s.

Outputs (``dg.materialize`` of the release group, before vs after, chromium): 46 Parquet and 46
CSV byte-identical, 44 PNG byte-identical, schema.json and config.json byte-identical, report.html
identical but for its two "generated" times, results.json identical but for the SHA-256 of
report.html and report.pdf (which carry those times).

Release, evening of 2026-12-06, TRIED AND REMOVED: ``report.pdf`` printed by a Chromium started
when the release begins (a ``Chromium`` class driving the DevTools pipe, ``Page.printToPDF`` with
``--print-to-pdf``'s settings) instead of one started after ``report.html`` is written; the
validation pages and the report's log entry are made while it loads and prints. Before = 92d10e6,
after = 735ad1a (both from ``git archive``, ``PYTHONPATH``), this script's ``--only release``
alternating, load 2.4-3.1 from other people's jobs (one core of two busy), so the wall clock
mostly measures them:

    county    version  CPU with Chromium (s)   own CPU (s)     Chromium (s)   wall (s)
    small     before   15.4 / 16.1             11.3 / 11.7     4.2 / 4.4      14.4 / 22.8
    small     after    15.8 / 15.0             12.1 / 11.2     3.7 / 3.8      19.7 / 16.9
    default   before   14.3 / 12.4             10.3 / 8.9      4.0 / 3.5      18.2 / 11.5
    default   after    12.6 / 12.7             9.2 / 9.0       3.4 / 3.7      12.4 / 12.3

The step's own CPU does not change (the figures are the same ~8 s of matplotlib); Chromium's is
~0.3-0.5 s less (no ``--print-to-pdf`` command handler). What moves is the critical path after
``report.html``: printing alone took 3.5-3.9 s wall (``render_pdf``, ``dg.materialize`` of the
release group) and now 1.5-2.2 s (``finish_pdf``: the page's load and print; Chromium's start-up,
~1 s wall and ~1.4 s CPU, runs beside the tables and figures, on the other core when one is free).
The PDF is byte for byte Chromium's own ``--print-to-pdf`` of the same ``report.html`` apart from
its creation and modification dates (small and default county; ``tests/test_report_browser.py``).
Checked and left: a ``LineCollection`` for the synthetic-control figures' placebo lines draws the
same lines but moves the bottom legend (``loc="best"`` does not see a collection's paths); one
``plot`` call of every placebo's column gives the same bytes but saves only ~0.1 s of the 7 figures.
Outputs compared the same way: 46 Parquet, 46 CSV, 44 PNG (38 on the default county), schema.json,
config.json byte-identical; report.html and results.json identical apart from the times.
Removed again (reverts cb0d87b, aa4926d): in whole ``make run`` runs of the default county on the
idle machine the release step took the same time with it (12.4-12.7 s against 12.5 s for
92d10e6; the step is the figures' matplotlib), so ~230 lines of a hand-written DevTools client
and its tests did not pay for themselves. ``render_pdf`` (``chromium --print-to-pdf``) stays.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COUNTY = ROOT / "data" / "synthetic" / "931"
#: A fixed, random-looking key (not the demo key): the door's cost does not depend on which key.
BENCH_KEY = "3f1a9c0e5b7d2a4c6e8f0b1d3a5c7e9f2b4d6f8a0c2e4a6b8d0f1e3c5a7b9d2f"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _own_cpu() -> float:
    """CPU seconds of this process alone (the step's own, without Chromium printing the PDF)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _cpu() -> float:
    """CPU seconds of this process and of the children it waited for (Chromium printing the PDF;
    until the second processes were removed, also the door's and the figures' second process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _own_cpu() + children.ru_utime + children.ru_stime


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _adopt_orphans() -> None:
    """Become the subreaper of every process started from here (Linux), so that Chromium's own
    processes (renderer, print compositor, GPU...), which outlive their parents' waits, are reaped
    by this process and their CPU counted in ``RUSAGE_CHILDREN``: without it, about 1 s of the
    ~4 s that printing the small county's report takes was counted."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    """Wait for every adopted process (see :func:`_adopt_orphans`) that is still running or a zombie."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def door(county: Path, keep: Path | None) -> dict:
    """The door on one council's folder, in this process."""
    from evaluation import tables as contract
    from evaluation.ingest import TABLE_NAMES, ingest_local_authority
    from evaluation.pseudonymise import load_key

    key = load_key(BENCH_KEY)
    wall, cpu, own = time.perf_counter(), _cpu(), _own_cpu()
    tables = ingest_local_authority(county, key, input_root=county.parent)
    for name in TABLE_NAMES:
        contract.conform(tables[name], name)
    result = {"step": "door", "cpu_s": _cpu() - cpu, "own_cpu_s": _own_cpu() - own,
              "wall_s": time.perf_counter() - wall, "peak_mb": _peak_mb(),
              "helper_peak_mb": _children_peak_mb(), "rows": {name: len(tables[name]) for name in TABLE_NAMES}}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        with open(keep / "door.pkl", "wb") as handle:
            pickle.dump(tables, handle)
    return result


def _load(database: Path) -> dict:
    """Every stored table of a run, by schema and name (as the DuckDB IO manager loads them)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        names = connection.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        return {(schema, name): connection.execute(f'select * from "{schema}"."{name}"').fetchdf()
                for schema, name in names}


def release(database: Path, home: Path | None, keep: Path | None) -> dict:
    """The release step's body on the stored tables of ``database``, in this process."""
    import pandas as pd

    from assets.analysis import POOLED_ASSETS, pooled
    from assets.comparison import COMPARISON_INPUTS
    from assets.release import _extract_dates, software_versions
    from checks.summary import SUMMARY_COLUMNS
    from evaluation.disclosure.provenance import DISCLOSURE_LOG, disclosure_log
    from evaluation.report import write_release
    from evaluation.report.assemble import release_tables
    from evaluation.report.sections import limitations_for
    from evaluation.study import StudyConfig

    stored = _load(database)
    results = {key.path[-1]: stored[tuple(key.path)] for asset in POOLED_ASSETS for key in asset.keys}
    comparison = {name: stored[("comparison", name)] for name in COMPARISON_INPUTS}
    cohort_flow = stored[("cohorts", "cohort_flow")]
    analysis_dataset = stored[("cohorts", "analysis_dataset")]
    monthly_counts = stored[("cohorts", "monthly_counts")]
    extracts = stored[("pseudonymised", "extracts")]

    run_layer = time.process_time()
    if home is not None:
        import dagster as dg

        from checks import ALL_CHECKS
        from checks.summary import validation_summary

        os.environ["DAGSTER_HOME"] = str(home)
        summary = validation_summary(dg.DagsterInstance.get(), ALL_CHECKS)
    else:
        summary = pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    run_layer = time.process_time() - run_layer

    out = keep / "release" if keep is not None else Path(tempfile.mkdtemp(prefix="fsp-release-"))
    out.mkdir(parents=True, exist_ok=True)
    _adopt_orphans()
    wall, cpu, own = time.perf_counter(), _cpu(), _own_cpu()
    config = StudyConfig()
    cohort_flow = cohort_flow.sort_values(["la_code", "step"], kind="mergesort", ignore_index=True)
    keys = [c for c in cohort_flow.columns if c not in ("la_code", "families", "children")]
    cohort_flow = (cohort_flow.groupby(keys, sort=False, dropna=False)[["families", "children"]]
                   .sum().reset_index().sort_values("step", kind="stable").reset_index(drop=True))
    extract_date = pd.Timestamp(extracts["reference_date"].max()).date()
    tables = release_tables(results, cohort_flow, pooled("analysis_dataset", analysis_dataset),
                            pooled("monthly_counts", monthly_counts), validation=summary, study=config,
                            extract_date=extract_date, earlier_headlines=[], comparison=comparison)
    tables[DISCLOSURE_LOG] = disclosure_log(tables)
    assembled = _cpu() - cpu
    written = write_release(tables, out, {
        "title": "Family Solutions Plus: time in need, in protection and in care",
        "local_authority": ", ".join(sorted(extracts["la_code"].astype(str).unique())),
        "go_live": config.go_live.isoformat(),
        "key_fingerprint": "0000000000000000",
        "demo_key": False,
        "software": software_versions(),
        "extract_dates": _extract_dates(extracts),
        "limitations": list(limitations_for(extracts)),
    })
    _reap_orphans()
    return {"step": "release", "cpu_s": _cpu() - cpu, "own_cpu_s": _own_cpu() - own,
            "wall_s": time.perf_counter() - wall, "assemble_cpu_s": assembled, "peak_mb": _peak_mb(),
            "helper_peak_mb": _children_peak_mb(), "run_layer_cpu_s": run_layer,
            "tables": len(written.tables), "figures": len(written.figures),
            "pdf": written.pdf is not None, "folder": str(out)}


def _in_fresh_process(args: list[str]) -> dict:
    """Run one step in a new interpreter (its own peak memory) and return what it printed."""
    run = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--county", type=Path, default=DEFAULT_COUNTY, help="one council's input folder")
    parser.add_argument("--tables", type=Path, default=None,
                        help="DuckDB of a finished run (default $DAGSTER_HOME/evaluation.duckdb)")
    parser.add_argument("--home", type=Path, default=None, help="DAGSTER_HOME of that run (validation summary)")
    parser.add_argument("--keep", type=Path, default=None, help="leave door.pkl and the release here")
    parser.add_argument("--only", choices=("door", "release"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only == "door":
        print(json.dumps(door(args.county.resolve(), args.keep)))
        return 0
    if args.only == "release":
        print(json.dumps(release(args.tables, args.home, args.keep)))
        return 0
    database = args.tables or Path(os.environ.get("DAGSTER_HOME", ROOT / ".dagster_home")) / "evaluation.duckdb"
    common = [*(["--keep", str(args.keep.resolve())] if args.keep else [])]
    rows = [_in_fresh_process(["--only", "door", "--county", str(args.county), *common])]
    if database.is_file():
        rows.append(_in_fresh_process(["--only", "release", "--tables", str(database.resolve()),
                                       *(["--home", str(args.home.resolve())] if args.home else []),
                                       *common]))
    else:
        print(f"(no release: {database} not found; give --tables, the DuckDB of a finished run)")
    for row in rows:
        extra = (f"  (release_tables {row['assemble_cpu_s']:.1f} s; {row['tables']} tables, "
                 f"{row['figures']} figures, pdf {'yes' if row['pdf'] else 'no'}; run layer's "
                 f"validation summary {row['run_layer_cpu_s']:.1f} s apart)") if row["step"] == "release" else ""
        print(f"{row['step']:8s} {row.get('own_cpu_s', row['cpu_s']):6.1f} s CPU own, {row['cpu_s']:6.1f} s "
              f"with its children {row['wall_s']:6.1f} s wall {row['peak_mb']:6.0f} MB peak "
              f"({row.get('helper_peak_mb', 0):.0f} MB largest child){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
