"""The HTML report: one self-contained file, every section present, nothing fetched."""

from __future__ import annotations

import base64
import importlib.metadata

import lxml.html
import pandas as pd
import pytest

from evaluation.report import NOT_PRODUCED, RESULT_SECTIONS, build_report, draw_release_figures
from evaluation.report.demo import demo_release

SECTION_IDS = ("question", "data", "methods", "results", "validation", "disclosure", "limitations", "provenance")
CONTEXT = {
    "local_authority": "Synthetic county",
    "key_fingerprint": "hmac-sha256:5d41402abc4b2a76",
    "extract_dates": {"CIN census": "2023-03-31", "SSDA903": "2023-03-31"},
    "validation": [{"check": "cin_episodes schema", "status": "pass"},
                   {"check": "overlapping episodes", "status": "warning", "detail": "12 repaired"}],
    "disclosure": {"threshold": 10, "rounding base": 5},
    "output_log": {"pass": 12, "review": 1, "fail": 0},
    "cohorts": {"Pre-FSP": "protection plan started 2018-04-01 to 2019-10-31"},
    "software": {"R": "4.2.2 (survival 3.5)"},
}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    tables = demo_release(seed=5)
    figures = draw_release_figures(tables, tmp_path_factory.mktemp("figures"))
    return tables, figures


def parse(path):
    return lxml.html.fromstring(path.read_text(encoding="utf-8"))


def test_report_is_one_self_contained_file(release, tmp_path):
    tables, figures = release
    path = build_report(tables, figures, CONTEXT, tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == [path]
    document = parse(path)
    assert not document.xpath("//link") and not document.xpath("//script[@src]")
    assert not document.xpath("//iframe|//object|//embed")
    for element in document.xpath("//*[@src or @href]"):
        for attribute in ("src", "href"):
            value = element.get(attribute)
            if value is not None:
                assert value.startswith(("data:image/png;base64,", "#")), value
    style = " ".join(document.xpath("//style/text()"))
    assert "@import" not in style and "url(" not in style
    images = document.xpath("//img")
    assert len(images) == len(figures)
    for image in images:
        payload = base64.b64decode(image.get("src").split(",", 1)[1])
        assert payload[:8] == b"\x89PNG\r\n\x1a\n" and len(payload) > 5000
        assert image.get("alt")


def test_every_section_and_the_provenance(release, tmp_path):
    tables, figures = release
    document = parse(build_report(tables, figures, CONTEXT, tmp_path / "report.html"))
    for section in SECTION_IDS:
        assert document.get_element_by_id(section) is not None
    text = document.text_content()
    assert "hmac-sha256:5d41402abc4b2a76" in text
    assert "2023-03-31" in text and "Synthetic county" in text
    assert importlib.metadata.version("pandas") in text and "4.2.2 (survival 3.5)" in text
    assert "overlapping episodes" in text and "12 repaired" in text
    assert "not estimable (small numbers)" in text            # the blanked hazard-ratio row
    for key in ("hazard_ratios", "time_in_protection", "days_in_state"):
        assert NOT_PRODUCED not in document.get_element_by_id(f"result-{key}").text_content()
    counts = document.get_element_by_id("appendix-cohort_counts").xpath(".//table")[0]
    assert "c" in [cell.text_content() for cell in counts.xpath(".//td")]


def test_missing_results_are_marked_not_produced(release, tmp_path):
    tables, figures = release
    tables = {k: v for k, v in tables.items() if k not in ("rmst_differences", "covariate_balance")}
    figures = {k: v for k, v in figures.items() if k not in ("rmst_differences", "covariate_balance")}
    document = parse(build_report(tables, figures, CONTEXT, tmp_path / "report.html"))
    for key in ("rmst_differences", "covariate_balance"):
        assert NOT_PRODUCED in document.get_element_by_id(f"result-{key}").text_content()
    assert NOT_PRODUCED not in document.get_element_by_id("result-hazard_ratios").text_content()


def test_empty_run_still_gives_a_report(tmp_path):
    document = parse(build_report({}, {}, {}, tmp_path / "report.html"))
    for section in RESULT_SECTIONS:
        assert NOT_PRODUCED in document.get_element_by_id(f"result-{section.key}").text_content()
    assert NOT_PRODUCED in document.get_element_by_id("validation").text_content()
    assert "not recorded" in document.get_element_by_id("provenance").text_content()


def test_text_is_escaped(tmp_path):
    hostile = {"question": "<script>alert(1)</script>", "cohorts": {"<b>x</b>": "<img src=x>"}}
    table = pd.DataFrame({"label": ["<i>a</i>"], "children": ["15"]})
    path = build_report({"cohort_counts": table}, {}, hostile, tmp_path / "report.html")
    document = parse(path)
    assert not document.xpath("//script") and not document.xpath("//img") and not document.xpath("//i")
    assert "<script>alert(1)</script>" in document.text_content()


def test_only_png_figures_are_embedded(tmp_path):
    fake = tmp_path / "km.png"
    fake.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ValueError):
        build_report({}, {"km_time_in_protection": fake}, {}, tmp_path / "report.html")


def test_long_tables_are_cut_with_a_note(tmp_path):
    table = pd.DataFrame({"month": pd.date_range("2015-01-01", periods=100, freq="MS"), "count": "20"})
    document = parse(build_report({"time_series_effects": table}, {}, {}, tmp_path / "report.html"))
    section = document.get_element_by_id("result-monthly_referrals")
    assert len(section.xpath(".//tbody/tr")) == 40
    assert "First 40 of 100 rows" in section.text_content()


def test_write_release_logs_every_file_for_the_output_checker(tmp_path):
    import json

    from evaluation.disclosure import sha256_of
    from evaluation.report import write_release

    tables = demo_release(seed=6)
    tables["monthly_referrals"] = tables["monthly_referrals"].copy()   # attrs survive a copy ...
    tables["monthly_referrals"].attrs = {}                            # ... but not Parquet: review
    release = write_release(tables, tmp_path, {"key_fingerprint": "hmac-sha256:abc"})
    session = json.loads(release.results_json.read_text())
    names = {r["files"][0]["name"]: r for r in session["results"].values()}
    printed = {"report.pdf"} if release.pdf else set()
    assert set(names) == ({f"tables/{k}.{ext}" for k in tables for ext in ("csv", "parquet")}
                          | {f"figures/{k}.png" for k in release.figures}
                          | {"report.html", "schema.json"} | printed)
    assert names["tables/monthly_referrals.csv"]["status"] == "review"
    assert names["figures/monthly_referrals.png"]["status"] == "review"
    assert names["tables/hazard_ratios.csv"]["status"] == "pass"
    assert names["report.html"]["status"] == "review"
    for name, record in names.items():
        assert record["files"][0]["sha256"] == sha256_of(tmp_path / name)
    report = parse(release.report).get_element_by_id("disclosure").text_content()
    assert "review" in report and "counts rounded to" in report


def test_pdf_printed_by_the_headless_shell_when_installed(monkeypatch):
    """Debian's chromium-headless-shell (the print engine without the browser) is preferred to
    chromium; FSP_CHROMIUM still names the one to use."""
    from evaluation.report import pdf

    installed = {"chromium": "/usr/bin/chromium"}
    monkeypatch.delenv("FSP_CHROMIUM", raising=False)
    monkeypatch.setattr(pdf.shutil, "which", lambda name: installed.get(name))
    assert pdf.find_chromium() == "/usr/bin/chromium"
    installed["chromium-headless-shell"] = "/usr/bin/chromium-headless-shell"
    assert pdf.find_chromium() == "/usr/bin/chromium-headless-shell"
    monkeypatch.setenv("FSP_CHROMIUM", "chromium")
    assert pdf.find_chromium() == "/usr/bin/chromium"
    installed.clear()
    monkeypatch.delenv("FSP_CHROMIUM")
    assert pdf.find_chromium() is None
