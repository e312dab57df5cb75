"""The bad-input corpus (tests/bad_inputs): every malformed input is rejected with a clear
message (file, position, field; no raw value) or ingested with the bad rows quarantined and every
file reconciled. No other exception may escape, and nothing is lost silently."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

import bad_inputs.safety  # noqa: F401 - registers the cases of issue #13 in CASES
from bad_inputs.cases import CASES, RAW_VALUES, Accepted, Quarantined, Rejected, build_case
from evaluation.ingest import InputError, ingest_local_authority
from evaluation.ingest import quarantine as q
from evaluation.pseudonymise import load_key

KEY = load_key(secrets.token_hex(32))


def _params():
    for c in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        yield pytest.param(c, id=c.name, marks=marks)


def _ingest(folder: Path):
    """The ingest's result, or the InputError it raised; any other exception fails the test."""
    try:
        return ingest_local_authority(folder, KEY), None
    except InputError as err:
        return None, err
    except Exception as err:  # noqa: BLE001 - the point of the corpus
        pytest.fail(f"{type(err).__module__}.{type(err).__name__} escaped the ingest: {err}")


def _secrets(c) -> tuple[str, ...]:
    return RAW_VALUES + c.planted


def _data_rows(path: Path) -> int:
    """Non-blank data rows of a CSV, counted independently of the readers."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    return sum(1 for row in rows[1:] if any(cell.strip() for cell in row))


def _assert_reconciled(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """read = kept + quarantined + merged per file and table, and every input row was read."""
    rec = tables["reconciliation"]
    balance = rec["rows_read"] - rec["rows_kept"] - rec["rows_quarantined"] - rec["rows_merged"]
    assert (balance == 0).all(), rec.loc[balance != 0]
    read = rec.groupby("source_file")["rows_read"].sum()
    ignored = set(tables["ignored_files"]["source_file"])
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in ignored:
            continue
        if path.suffix == ".csv":
            assert int(read.get(rel, 0)) == _data_rows(path), rel
        elif path.suffix == ".xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            rows = list(book.worksheets[0].iter_rows(min_row=2, values_only=True))
            book.close()
            assert int(read.get(rel, 0)) == sum(any(v is not None for v in r) for r in rows), rel
        elif path.suffix == ".xml":
            children = rec.loc[(rec["source_file"] == rel) & (rec["dataset"] == "children"),
                               "rows_read"].sum()
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            tree = etree.parse(str(path), parser)
            assert int(children) == len(tree.findall("Children/Child")), rel


def _assert_no_secret(tables: dict[str, pd.DataFrame], secret_values: tuple[str, ...]) -> None:
    for name, frame in tables.items():
        text = frame.astype(str).to_csv(index=False)
        leaked = [s for s in secret_values if s in text]
        assert not leaked, f"{name} holds raw values {leaked}"


@pytest.mark.parametrize("c", list(_params()))
def test_bad_input(c, tmp_path):
    folder = build_case(c, tmp_path)
    tables, error = _ingest(folder)
    expect = c.expect

    if isinstance(expect, Rejected):
        assert error is not None, f"accepted, expected an InputError naming {expect.file}"
        message = str(error)
        assert expect.file in message, message
        if expect.position:
            assert re.search(expect.position, message), f"no position in: {message}"
        if expect.field:
            assert re.search(rf"\b{expect.field}\b", message), f"no field in: {message}"
        for name in expect.also:
            assert name in message, message
        leaked = [s for s in _secrets(c) if s in message]
        assert not leaked, f"message quotes raw values {leaked}: {message}"
        assert str(tmp_path) not in message, "message holds an absolute path"
        # No library traceback rides along: the error is raised `from None` (or has no context).
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__, repr(error.__context__)
        return

    assert error is None, f"rejected, expected a clean ingest: {error}"
    _assert_reconciled(folder, tables)
    _assert_no_secret(tables, _secrets(c))
    quarantine = tables["quarantine"]
    assert quarantine["reason"].isin(q.REASONS).all()
    assert quarantine["field"].notna().all()
    assert (quarantine["line"].notna() | quarantine["element"].notna()).all()

    if isinstance(expect, Accepted):
        assert quarantine.empty, quarantine.drop(columns="child_id").to_string()
        expect.check(tables, KEY)
        return

    assert isinstance(expect, Quarantined)
    found = set()
    for r in quarantine.itertuples():  # an XML row has both a line and an element path
        for where in (r.line, r.element):
            if not pd.isna(where):
                found.add((r.dataset, r.source_file, where, r.field, r.reason))
    missing = [row for row in expect.rows if row not in found]
    assert not missing, f"not quarantined: {missing}; quarantine holds {sorted(found, key=str)}"


def test_corpus_is_large_and_named_uniquely():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 30
    assert all(c.doc for c in CASES)


def test_empty_input_root_has_no_local_authority(tmp_path):
    """An empty input root: nothing to discover, and asking for 931 names the missing folder."""
    from assets.partitions import discover_local_authorities

    assert discover_local_authorities(tmp_path) == []
    (tmp_path / "notes").mkdir()  # a non-LA folder is not taken for one
    assert discover_local_authorities(tmp_path) == []
    with pytest.raises(InputError, match=r"local-authority folder 931 does not exist"):
        ingest_local_authority(tmp_path / "931", KEY)


#: (case, expected outcome, position the message must give, peak memory bound in MB above imports)
LARGE = (
    ("xml_50mb_text_node", "InputError", r"cin_2020\.xml.*line 22\b", 100),
    ("csv_50mb_field", "ingested", None, 500),
    ("csv_many_rows", "ingested", None, 150),
)


@pytest.mark.parametrize("name, outcome, position, peak_mb", LARGE, ids=[c[0] for c in LARGE])
def test_large_input_is_bounded(name, outcome, position, peak_mb, tmp_path):
    """Oversized files (50 MB field or text node, 10,000 children) in a fresh process: the ingest
    rejects or quarantines them within a memory bound and a generous time limit (a hang guard)."""
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
    run = subprocess.run([sys.executable, "-m", "bad_inputs.large", name, str(tmp_path / "931")],
                         cwd=tests, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["outcome"] == outcome, result
    if position:
        assert re.search(position, result["message"]), result["message"]
    else:
        assert result["reconciled"]
    assert result["peak_above_baseline_mb"] < peak_mb, result
    if name == "csv_50mb_field":  # the giant value is quarantined as a code, not kept
        assert result["quarantine"] == [["care_episodes", "ssda903/2021/episodes.csv", 3,
                                         "REASON_PLACE_CHANGE", q.UNKNOWN_CODE]]
