"""Shared fixtures: a small synthetic county run through the whole pipeline once per session."""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in os.sys.path:
    os.sys.path.insert(0, str(TESTS))

from _shared_once import once_across_workers  # noqa: E402

#: A distinctive raw child id planted into the small county's files.
CANARY_CHILD = "CANARY0000042"


@dataclass
class PipelineRun:
    input_dir: Path
    home: Path
    output_dir: Path
    database: Path
    exit_code: int
    messages: list[str]
    raw_upns: set[str]
    raw_child_ids: set[str]
    raw_postcodes: set[str]
    raw_birth_dates: set[str]
    inputs_before: dict | None = None
    inputs_after: dict | None = None
    key: str | None = None       # the run's key (a later extract of the same study uses it too)


def _plant_canary(la_folder: Path) -> str:
    """Rename one child's raw id everywhere it appears (CIN XML, SSDA903 CSVs, family table)."""
    import re

    xml = sorted((la_folder / "cin_census").glob("*.xml"))[-1].read_text()
    victim = re.search(r"<LAchildID>([^<]+)</LAchildID>", xml).group(1)
    for path in la_folder.rglob("*"):
        if path.suffix in (".xml", ".csv"):
            text = path.read_text()
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(victim)}(?![0-9A-Za-z])", CANARY_CHILD, text)
            path.write_text(text)
    return victim


def _raw_values(la_folder: Path) -> tuple[set[str], set[str], set[str], set[str]]:
    import re

    upns, ids, posts, dobs = set(), set(), set(), set()
    for path in (la_folder / "cin_census").glob("*.xml"):
        text = path.read_text()
        upns |= set(re.findall(r"<(?:Former)?UPN>([^<]+)<", text))
        ids |= set(re.findall(r"<LAchildID>([^<]+)<", text))
        dobs |= {d for d in re.findall(r"<PersonBirthDate>([^<]+)<", text) if not d.endswith("-01")}
    import pandas as pd

    for path in (la_folder / "ssda903").rglob("*.csv"):
        frame = pd.read_csv(path, dtype=str)
        if "UPN" in frame:
            upns |= set(frame["UPN"].dropna())
        for column in ("HOME_POST", "PL_POST"):
            if column in frame:
                posts |= set(frame[column].dropna())
    # SSDA903's UPN column may hold the "UPN unknown" codes UN1–UN10: codes, not identifiers.
    upns = {u for u in upns if not re.fullmatch(r"UN\d{1,2}", u)}
    return upns, ids, posts, dobs


def input_snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry below ``root`` (files, folders, links) with its mode and content hash."""
    import hashlib

    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = (0, "link:" + os.readlink(path))
        elif path.is_dir():
            out[rel] = (path.stat().st_mode, "folder")
        else:
            out[rel] = (path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


#: The one small county the pipeline tests share: two local authorities (825 and 931), generated
#: once per test session. Tests that change files work on a copy (``copy_county``).
SMALL_COUNTY = dict(seed=7, local_authorities=2, scale=0.03)
#: The local authority of the canary child.
CANARY_LA = "931"


def _plant_unparseable_date(la_folder: Path) -> None:
    """Append one SSDA903 episode with an impossible date, so every LA has a quarantine row."""
    episodes = sorted(la_folder.glob("ssda903/*/episodes.csv"))[-1]
    lines = episodes.read_text().splitlines()
    fields = lines[-1].split(",")
    fields[1] = "31/02/2024"
    episodes.write_text("\n".join([*lines, ",".join(fields)]) + "\n")


def _generate_small_county(folder: Path) -> Path:
    from evaluation.synthetic import generate_county

    return generate_county(folder, progress=False, **SMALL_COUNTY)


@pytest.fixture(scope="session")
def small_county(tmp_path_factory) -> Path:
    """The shared small county as the generator wrote it (with its marker): read it, never write
    it; ``copy_county`` gives a copy to change."""
    return once_across_workers(tmp_path_factory, "small_county", _generate_small_county)


def copy_county(county: Path, to: Path) -> Path:
    shutil.copytree(county, to)
    return to


def _run_make(root: Path, county: Path) -> PipelineRun:
    """``make run`` on a council-like copy of the small county (see ``pipeline_run``)."""
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    input_dir = copy_county(county, root / "input")
    la_folders = sorted(p for p in input_dir.iterdir() if p.is_dir())
    _plant_canary(input_dir / CANARY_LA)
    for la_folder in la_folders:
        _plant_unparseable_date(la_folder)
    upns, ids, posts, dobs = set(), set(), set(), set()
    for la_folder in la_folders:
        found = _raw_values(la_folder)
        upns, ids, posts, dobs = upns | found[0], ids | found[1], posts | found[2], dobs | found[3]
    home, output_dir = root / "dagster_home", root / "outputs"
    before = input_snapshot(input_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "FSP_"))}
    key = secrets.token_hex(32)
    env.update(DAGSTER_HOME=str(home), FSP_PSEUDONYMISATION_KEY=key,
               FSP_INPUT_DIR=str(input_dir), FSP_OUTPUT_DIR=str(output_dir))
    run = subprocess.run(["make", "--no-print-directory", "run"], cwd=TESTS.parent, env=env,
                         capture_output=True, text=True, timeout=1200)
    messages = (run.stdout + run.stderr).splitlines()
    result = PipelineRun(input_dir, home, output_dir, home / "evaluation.duckdb", run.returncode,
                         messages, upns, ids | {CANARY_CHILD}, posts, dobs)
    result.inputs_before, result.inputs_after = before, input_snapshot(input_dir)
    result.key = key
    return result


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, small_county) -> PipelineRun:
    """The shared small county made a council's folders (a canary child planted in 931 and an
    unparseable date in each council's care episodes: no longer the generator's files, so a
    council's files as far as the pipeline can tell), then ``make run`` on it with a fresh random
    key, exactly as the README tells a researcher to: FSP_INPUT_DIR, FSP_OUTPUT_DIR and the key in
    the environment (its councils side by side, by default). Every input entry is hashed before
    and after. Run once per test session; tests that run the pipeline again do so on a copy of its
    instance."""
    return once_across_workers(tmp_path_factory, "pipeline_run",
                               lambda root: _run_make(root, small_county))


#: ``dg.instance_for_test(overrides=LOCAL_STORAGE)``: a test instance whose run and event storage
#: are the project's own (assets/instance/dagster.yaml's ``instance_class``), as ``make run``'s
#: instance stores them, not stock Dagster's SQLite storage, which makes an engine and a synced
#: commit per event (a council run in process stores some 400 events: ~3 CPU-s and ~20 s of disk
#: waits more on a busy machine).
LOCAL_STORAGE = {"instance_class": {"module": "assets.instance_storage", "class": "LocalInstance"}}


def run_pipeline_process(input_dir: Path, home: Path, output_dir: Path, key: str | None,
                         env: dict | None = None, demo_key: bool = False,
                         timeout: int = 1200) -> tuple[int, list[str]]:
    """``python -m assets.run`` in its own process, configured as a researcher would (environment
    variables only): the path ``make run`` takes, with Dagster's multiprocess executor. Its
    step processes take their settings from that process's environment, so each configuration
    runs in a process of its own. Returns the exit code and every line printed."""
    import subprocess
    import sys

    home.mkdir(parents=True, exist_ok=True)
    variables = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MAKE", "MFLAGS", "FSP_", "DAGSTER_HOME"))}
    variables.update(DAGSTER_HOME=str(home), FSP_INPUT_DIR=str(input_dir),
                     FSP_OUTPUT_DIR=str(output_dir))
    if key is not None:
        variables["FSP_PSEUDONYMISATION_KEY"] = key
    variables.update(env or {})
    # One stream, in the order it was written (Dagster's own lines go to stderr).
    done = subprocess.run([sys.executable, "-m", "assets.run", *(["--demo-key"] if demo_key else [])],
                          cwd=TESTS.parent, env=variables, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return done.returncode, done.stdout.splitlines()


#: Markers of whole test files (see pyproject.toml's ``markers``).
MARKED_FILES = {
    "slow": ("test_pipeline_end_to_end.py", "test_operations.py", "test_operations_failures.py",
             "test_estimates_by_extract.py",
             "test_planted_recovery.py", "test_synthetic_recovery.py", "test_public_returns.py",
             "test_safe_operation.py", "test_notebook.py"),
    "browser": ("test_report_browser.py", "test_ui_browser.py"),
    "cluster": ("test_deploy_postgres.py", "test_deploy_parquet.py", "test_deploy_config.py"),
}


#: Run first, in this order (``make test`` passes ``--no-loadscope-reorder``: pytest-xdist would
#: otherwise hand out files by their number of tests): the file that starts the session's pipeline
#: run, then long files that do not need it, so the other test process is busy while it runs;
#: then the files that need it (they would wait for it if they came earlier), then the other long
#: files; the short files fill the gaps at the end.
LONG_FILES_FIRST = ("test_pipeline_end_to_end.py", "test_planted_recovery.py", "test_safe_operation.py",
                    "test_bad_inputs.py", "test_figures.py",
                    "test_ui_browser.py",
                    "test_operations.py", "test_operations_failures.py", "test_comparison_assets.py",
                    "test_estimates_by_extract.py",
                    "test_report_browser.py",
                    "test_synthetic.py", "test_observation_windows.py", "test_report_summary.py",
                    "test_ingest_folder.py", "test_deploy_postgres.py", "test_comparison_release.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = Path(str(item.fspath)).name
        for marker, files in MARKED_FILES.items():
            if name in files:
                item.add_marker(getattr(pytest.mark, marker))
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, len(rank)))
