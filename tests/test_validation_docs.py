"""The validation docs as an analyst in the secure environment sees them: offline, silent, findable.

Two councils' tables are checked through the project's own asset-check factory in Dagster (one
council with a planted raw value that fails a blocking check and a failing warning, one clean), so
the docs folder holds what a pipeline run writes. Then:

* the files: an index plus one page per validation, runs named by council, extract date and
  Dagster run id (never GX's ``__none__``), no script, no absolute URL, no planted value;
* the Dagster check metadata links to the matching page;
* headless Debian Chromium with the network refused (host resolution mapped to nothing, a proxy on
  a dead port) and a net log: ``--dump-dom`` of the index and of the failing page shows every
  validation, the status markers and the failed expectations; a screenshot shows the styles
  applied (the red and green status badges); the net log shows no request made for a page. A page
  that does load a CDN file is opened the same way to prove the net-log detector sees it.
"""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.partitions import local_authorities
from checks.factory import WARN, Concern, make_table_checks
from checks.resources import ValidationResource
from evaluation.validation import build_data_docs, run_name, suites
from evaluation.validation.docs import RunLabel
from test_report_browser import CHROMIUM, FLAGS

ARTIFACTS = Path(__file__).parent / "artifacts"
CANARIES = ("CANARY0001ZZ", "OX4 2AB", "2011-07-23")
EXTRACT_DATE = "2024-03-31"
#: The network refused: every host resolves to nothing, and any proxy use goes to a dead port.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9")
PASS_GREEN, FAIL_RED = (0x1a, 0x7f, 0x37), (0xb4, 0x23, 0x18)


def _children(council: str, canary: bool) -> pd.DataFrame:
    frame = pd.DataFrame({"la_code": [council] * 4, "child_id": [f"{n:016x}" for n in range(1, 5)],
                          "sex": ["F", "M", "F", "M"], "ethnicity": ["WBRI", "AIND", "WBRI", "MWBA"]})
    if canary:
        frame.loc[0, "child_id"] = CANARIES[0]
        frame.loc[1, "ethnicity"] = CANARIES[1]
        frame.loc[2, "sex"] = CANARIES[2]
    return frame


def _sexes(frame: pd.DataFrame):
    return frame[["sex"]], [suites.E.ExpectColumnValuesToBeInSet(column="sex", value_set=["F", "M"])]


def _definitions():
    @dg.asset(key_prefix=["pseudonymised"], name="children", group_name="pseudonymised",
              partitions_def=local_authorities)
    def children(context):
        return _children(context.partition_key, canary=context.partition_key == "931")

    @dg.asset(key_prefix=["pseudonymised"], name="extracts", group_name="pseudonymised",
              partitions_def=local_authorities)
    def extracts(context):
        return pd.DataFrame({"la_code": [context.partition_key] * 2, "dataset": ["cin", "903"],
                             "reference_date": pd.to_datetime(["2023-03-31", EXTRACT_DATE])})

    checks = make_table_checks(["pseudonymised", "children"], [
        Concern("pseudonyms", "Pseudonym format; no raw identifier shapes.", suites.pseudonym_suite),
        Concern("sex_codes", "Sex is F or M.", _sexes, WARN),
    ], {})
    return [children, extracts, checks]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """Checks run in Dagster for council 931 (failing) and twice for 932 (passing), as a pipeline
    runs them: three validations of ``pseudonymised/children``, in three runs of two councils."""
    root = tmp_path_factory.mktemp("validation_docs")
    validation = ValidationResource(project_dir=str(root / "gx"), docs_dir=str(root / "docs"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(local_authorities.name, ["931", "932"])
    def run(council):
        return dg.materialize(_definitions(), partition_key=council, instance=instance,
                              resources={"validation": validation}, raise_on_error=False)

    earlier = run("932")
    return root, {"931": run("931"), "932": run("932"), "932 earlier": earlier}


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _pages(docs: Path) -> list[Path]:
    return sorted((docs / "runs").glob("*/*.html"))


def test_run_names_round_trip():
    name = run_name("931", pd.Timestamp(EXTRACT_DATE), "0b1c2d3e-aaaa-bbbb-cccc-0123456789ab")
    assert name == f"931_{EXTRACT_DATE}_0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"
    assert RunLabel.parse(name) == RunLabel("931", EXTRACT_DATE, "0b1c2d3e-aaaa-bbbb-cccc-0123456789ab")
    assert RunLabel.parse(run_name(None, None, None)) == RunLabel("all", "unknown", "adhoc")


def test_summary_keeps_counts_only_as_plain_numbers():
    """NumPy counts become plain numbers, NaN none; observed values and partial lists are dropped."""
    from types import SimpleNamespace

    from evaluation.validation.docs import page_summary

    config = SimpleNamespace(type="expect_column_max_to_be_between", meta={"check": "dates", "severity": "WARN"},
                             kwargs={"column": "birth_month", "batch_id": "x", "max_value": "2025-03-31"})
    item = SimpleNamespace(expectation_config=config, success=False, exception_info={},
                           result={"observed_value": CANARIES[2], "partial_unexpected_list": [CANARIES[0]],
                                   "element_count": np.int64(7), "unexpected_count": np.int64(2),
                                   "unexpected_percent": float("nan")})
    summary, rows = page_summary(SimpleNamespace(suite_name="pseudonymised__children", results=[item]),
                                 RunLabel("931", EXTRACT_DATE, "r1"), "2025-04-01T00:00:00+00:00", "p.html")
    assert rows[0]["unexpected_count"] == 2 and type(rows[0]["unexpected_count"]) is int
    assert rows[0]["unexpected_percent"] is None and rows[0]["parameters"] == {"max_value": "2025-03-31"}
    assert summary["severity"] == "WARN" and summary["unexpected"] == 2 and summary["rows"] == 7
    text = json.dumps([summary, rows])
    assert not any(canary in text for canary in CANARIES)


def _write_council(docs: str, council: str) -> None:
    from types import SimpleNamespace

    from evaluation.validation.docs import write_index, write_page

    config = SimpleNamespace(type="expect_column_values_to_not_be_null", meta={"check": "keys"},
                             kwargs={"column": "child_id"})
    item = SimpleNamespace(expectation_config=config, success=True, exception_info={},
                           result={"element_count": 3, "unexpected_count": 0})
    for n in range(8):
        result = SimpleNamespace(suite_name=f"pseudonymised__t{n}", results=[item], meta={
            "run_id": {"run_name": run_name(council, EXTRACT_DATE, f"run-{council}"),
                       "run_time": f"2026-01-01T00:00:0{n}+00:00"}})
        write_page(docs, result)
        write_index(docs)


def test_councils_checked_in_parallel_processes_all_reach_the_index(tmp_path):
    """``make run --workers`` checks councils in separate processes sharing one docs folder."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_council, args=(str(tmp_path), str(900 + i))) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert index.count('<tr class="validation pass">') == 4 * 8
    assert not list(tmp_path.rglob(".*.tmp")), "no half-written file left"


def test_runs_are_named_by_council_extract_and_dagster_run(checked):
    root, results = checked
    assert not results["931"].success and results["932"].success
    names = {p.parent.name for p in _pages(root / "docs")}
    assert names == {f"{c[:3]}_{EXTRACT_DATE}_{results[c].run_id}" for c in results}
    stored = [p for p in (root / "gx").rglob("*") if "validations" in p.parts]
    assert stored and not any("__none__" in p.parts for p in stored), "GX runs are named"


def test_check_metadata_links_to_its_page(checked):
    root, results = checked
    for council, result in results.items():
        for name, evaluation in _evaluations(result).items():
            link = evaluation.metadata["data_docs"]
            assert isinstance(link, dg.PathMetadataValue), name
            page = Path(link.value)
            assert page.is_file() and page.parent.name == f"{council[:3]}_{EXTRACT_DATE}_{result.run_id}"
            assert Path(evaluation.metadata["data_docs_index"].value) == root / "docs" / "index.html"
            index = (root / "docs" / "index.html").read_text(encoding="utf-8")
            assert f'href="{page.relative_to(root / "docs").as_posix()}"' in index
    failed = _evaluations(results["931"])
    assert not failed["pseudonyms"].passed and not failed["sex_codes"].passed


def test_pages_are_self_contained_and_counts_only(checked):
    root, _ = checked
    build_data_docs(ValidationResource(project_dir=str(root / "gx"), docs_dir=str(root / "docs")).context())
    files = [p for p in (root / "docs").rglob("*") if p.is_file()]
    pages = [p for p in files if p.suffix == ".html"]
    assert len(pages) == 1 + 3, [p.name for p in pages]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
        assert not re.search(r"https?://|//cdn|<script|<img|<link|<iframe|@import|url\(", text, re.I), page
        assert "__none__" not in text and "newsletter" not in text.lower()
    blobs = [p.read_bytes() for p in [*files, *(root / "gx").rglob("*")] if p.is_file()]
    for canary in CANARIES:
        assert not any(canary.encode() in blob for blob in blobs), canary


def test_docs_rebuilt_from_stored_results_replace_a_gx_site(checked):
    """An emptied docs folder is refilled from GX's stored results, and what GX's own Data Docs
    site left there (pages loading CDN scripts) is removed."""
    root, _ = checked
    rebuilt = root / "rebuilt"
    (rebuilt / "static" / "styles").mkdir(parents=True)
    (rebuilt / "static" / "styles" / "data_docs.html").write_text('<script src="https://cdn.example.org/x.js">')
    index = build_data_docs(ValidationResource(project_dir=str(root / "gx"), docs_dir=str(rebuilt)).context())
    assert index == rebuilt / "index.html" and not (rebuilt / "static").exists()
    assert sorted(p.relative_to(rebuilt) for p in _pages(rebuilt)) == sorted(
        p.relative_to(root / "docs") for p in _pages(root / "docs"))


# -- in the browser, offline -------------------------------------------------------------------


class _Dom(HTMLParser):
    """Element classes and link targets of a dumped DOM."""

    def __init__(self, text: str):
        super().__init__()
        self.classes: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.append((tag, attrs.get("class") or ""))
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def count(self, tag: str, *classes: str) -> int:
        return sum(t == tag and set(classes) <= set(c.split()) for t, c in self.classes)


def _browse(url: str, profile: Path, *arguments: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Open ``url`` offline; return Chromium's result and every network request in its net log."""
    netlog = profile.with_suffix(".netlog.json")
    result = subprocess.run([CHROMIUM, *FLAGS, *OFFLINE, f"--user-data-dir={profile}",
                             f"--log-net-log={netlog}", "--virtual-time-budget=5000", *arguments, url],
                            capture_output=True, text=True, timeout=180, check=False)
    assert netlog.is_file(), f"no net log; chromium said: {result.stderr[-2000:]}"
    log = json.loads(netlog.read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    requests = [e["params"] for e in log["events"]
                if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})]
    return result, requests


def _page_requests(requests: list[dict]) -> list[str]:
    """Requests made for a page opened from disk (Chromium's own update/sign-in calls excluded:
    those carry no document origin). Any scheme but file: or data: would leave the machine."""
    return [r["url"] for r in requests
            if not r["url"].startswith(("file:", "data:"))
            and ("file://" in r.get("network_isolation_key", "") or r.get("initiator") in ("null", "file://"))]


def _colour_pixels(png: Path, colour: tuple[int, int, int]) -> int:
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array(colour)).max(axis=2) <= 6).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_net_log_sees_a_page_that_calls_out(tmp_path):
    """The detector works: a page like GX's Data Docs (CDN stylesheet and logo) is caught."""
    page = tmp_path / "cdn.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" '
                    'href="https://cdn.example.org/bootstrap.min.css"></head><body>'
                    '<img src="https://greatexpectations.example.org/logo.png?id=1">x</body></html>')
    _, requests = _browse(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert len(_page_requests(requests)) == 2, requests


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_index_lists_every_validation_offline(checked, tmp_path):
    root, results = checked
    docs = root / "docs"
    result, requests = _browse((docs / "index.html").as_uri(), tmp_path / "profile", "--dump-dom")
    assert _page_requests(requests) == []
    dom = _Dom(result.stdout)
    validations = list((docs / "runs").glob("*/*.json"))
    # every run's validations, newest run first, under each council...
    assert dom.count("tr", "validation") == len(validations) == 3
    assert dom.count("tr", "validation", "fail") == 1 and dom.count("tr", "validation", "pass") == 2
    assert dom.count("details", "run") == 3 and dom.count("section", "council") == 2
    # ...after the latest validation of each table: 931's failing one, 932's second run
    assert dom.count("tr", "latest", "fail") == 1 and dom.count("tr", "latest", "pass") == 1
    assert f'href="#run-{results["932"].run_id}"' in result.stdout
    assert f'href="#run-{results["932 earlier"].run_id}"' not in result.stdout
    assert dom.count("span", "status", "fail") == 2 + 1 + 1 and dom.count("span", "status", "pass") == 1 + 2
    pages = {p.relative_to(docs).as_posix() for p in _pages(docs)}
    assert pages <= set(dom.links), "every validation's page is linked"
    for council, run in results.items():
        assert run.run_id in result.stdout and f"Local authority {council[:3]}" in result.stdout

    shot = tmp_path / "index.png"
    subprocess.run([CHROMIUM, *FLAGS, *OFFLINE, f"--user-data-dir={tmp_path / 'shot'}",
                    "--window-size=1300,900", f"--screenshot={shot}", (docs / "index.html").as_uri()],
                   capture_output=True, timeout=180, check=False)
    assert _colour_pixels(shot, FAIL_RED) > 200, "the red fail badge is drawn: styles applied"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "validation_index.png").write_bytes(shot.read_bytes())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_failing_page_shows_its_failed_expectations_offline(checked, tmp_path):
    root, results = checked
    page = next(p for p in _pages(root / "docs") if p.parent.name.endswith(results["931"].run_id))
    result, requests = _browse(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert _page_requests(requests) == []
    dom = _Dom(result.stdout)
    # child_id off the pseudonym pattern, a postcode and a full date seen; sex off its code list
    assert dom.count("tr", "expectation", "fail") == 4, result.stdout[-3000:]
    assert dom.count("tr", "expectation", "fail", "warn") == 1
    assert dom.count("tr", "check-row", "fail") == 2
    assert "../../index.html" in dom.links
    assert "sex_codes" in result.stdout and "WARN" in result.stdout and "ERROR" in result.stdout

    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, *FLAGS, *OFFLINE, f"--user-data-dir={tmp_path / 'shot'}",
                    "--window-size=1300,1000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=180, check=False)
    assert _colour_pixels(shot, FAIL_RED) > 200 and _colour_pixels(shot, PASS_GREEN) > 100
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "validation_failing_page.png").write_bytes(shot.read_bytes())
