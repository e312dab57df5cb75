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


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    """Generate a small county (with a canary child), run every stage with a fresh random key."""
    import dagster as dg

    from evaluation.synthetic import generate_county

    root = tmp_path_factory.mktemp("pipeline")
    input_dir = generate_county(root / "input", seed=7, scale=0.05, progress=False)
    la_folder = next(p for p in input_dir.iterdir() if p.is_dir())
    _plant_canary(la_folder)
    upns, ids, posts, dobs = _raw_values(la_folder)
    home, output_dir = root / "dagster_home", root / "outputs"
    home.mkdir()
    shutil.copy(TESTS.parent / "assets" / "instance" / "dagster.yaml", home / "dagster.yaml")

    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "FSP_PSEUDONYMISATION_KEY",
                                           "FSP_INPUT_DIR", "FSP_OUTPUT_DIR")}
    os.environ.update(DAGSTER_HOME=str(home), FSP_PSEUDONYMISATION_KEY=secrets.token_hex(32),
                      FSP_INPUT_DIR=str(input_dir), FSP_OUTPUT_DIR=str(output_dir))
    messages: list[str] = []
    try:
        from assets.definitions import build_resources
        from assets.run import run_pipeline

        with dg.DagsterInstance.get() as instance:
            code = run_pipeline(instance, build_resources(
                database=str(home / "evaluation.duckdb"), input_dir=str(input_dir),
                output_dir=str(output_dir)), echo=messages.append)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return PipelineRun(input_dir, home, output_dir, home / "evaluation.duckdb", code, messages,
                       upns, ids | {CANARY_CHILD}, posts, dobs)
