"""The report's first screen: the answer, read from the released tables, and nothing typed.

The simulated county of :mod:`test_release_assembly` is estimated, released and written
once per session; the checks read the written report and the written tables (Parquet),
never the in-memory ones, so they test what leaves the secure environment.
"""

from __future__ import annotations

import json
import re
import sys
import types

import lxml.html
import numpy as np
import pandas as pd
import pytest

from evaluation.report.build import report_html
from test_release_assembly import county_release, written_tables

NUMBER = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
#: Fixed wording of the summary that contains digits (the interval level and the per-1,000 and per-10,000 scales).
ALLOWED_DIGITS = ("95%", "1,000", "10,000")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    data, tables, release = county_release(tmp_path_factory)
    return tables, release, written_tables(release)


def document_of(release):
    return lxml.html.fromstring(release.report.read_text(encoding="utf-8"))


def expected_text(value: float, kind: str) -> tuple[float, str | None]:
    """What the report should print for a released value: the number and, for differences, the direction."""
    if kind == "days":
        return abs(value), ("fewer" if value < 0 else "more")
    if kind == "per1000":
        return abs(value) * 1000, ("fewer" if value < 0 else "more")
    if kind == "rate":
        return abs(value), ("lower" if value < 0 else "higher")
    return value, None


def check_quote(element, written: dict[str, pd.DataFrame]) -> None:
    """A quoted number equals the written table's cell (or row count), to its printed precision."""
    table = written[element.get("data-table")]
    kind = element.get("data-kind")
    if element.get("data-where") is not None:
        where = json.loads(element.get("data-where"))
        mask = np.ones(len(table), dtype=bool)
        for column, value in where.items():
            mask &= (table[column] == value).fillna(False).to_numpy(dtype=bool)
        released = float(mask.sum())
    else:
        released = float(table.iloc[int(element.get("data-row"))][element.get("data-column")])
    assert float(element.get("value")) == pytest.approx(released, rel=1e-12, abs=1e-12)
    text = element.text_content()
    if kind == "p" and text.startswith("<"):            # a p-value below the printed bound
        assert released < float(text.lstrip("< ")), (text, released)
        return
    printed = NUMBER.search(text)
    assert printed, text
    number, direction = expected_text(released, kind)
    decimals = len(printed.group().split(".")[1]) if "." in printed.group() else 0
    shown = float(printed.group().replace(",", ""))
    if kind == "p":                     # two significant figures
        assert shown == pytest.approx(float(f"{number:.2g}")), (text, number)
    else:
        assert abs(shown - number) <= 0.5 * 10 ** -decimals + 1e-9, (text, number)
    if direction:
        assert text.endswith(direction), (text, released)


def test_the_summary_is_the_first_thing_in_the_report(county):
    _, release, _ = county
    document = document_of(release)
    main = document.xpath("//main")[0]
    first = main.xpath("./*")[0]
    assert first.get("id") == "summary"
    headline = first.xpath(".//ul[@class='headline']/li")
    assert len(headline) >= 3
    text = first.text_content()
    for words in ("Time in need", "Time on a child protection (CP) plan", "Time in care", "95% CI",
                  "per 1,000", "What each design can and cannot show", "Checks that bear on these results",
                  "Proportional hazards", "Data checks", "Balance"):
        assert words in text, words


def test_every_number_in_the_summary_and_readings_is_a_released_value(county):
    _, release, written = county
    document = document_of(release)
    places = document.xpath("//section[@id='summary'] | //p[@class='reading']")
    quoted = [e for place in places for e in place.xpath(".//data[@class='quoted']")]
    assert len(quoted) >= 20
    for element in quoted:
        check_quote(element, written)
    # the headline's hazard ratio of time on a CP plan is the adjusted post-vs-pre row of hazard_ratios
    hazard = written["hazard_ratios"]
    row = hazard.index[(hazard["outcome"] == "time_in_protection") & (hazard["analysis"] == "cox_adjusted")
                       & (hazard["contrast"] == "post_fsp vs pre_fsp")][0]
    cited = document.xpath(f"//section[@id='summary']//data[@data-table='hazard_ratios'][@data-row='{row}']"
                           "[@data-column='estimate']")
    assert cited and cited[0].text_content() == f"{hazard.loc[row, 'estimate']:.2f}"


def test_no_number_is_typed_into_the_summary(county):
    _, release, _ = county
    summary = document_of(release).get_element_by_id("summary")
    for element in summary.xpath(".//data"):
        element.drop_tree()
    text = summary.text_content()
    for allowed in ALLOWED_DIGITS:
        text = text.replace(allowed, "")
    assert not re.search(r"\d", text), re.findall(r".{30}\d.{30}", text)


def test_a_suppressed_estimate_is_said_to_be_suppressed(county):
    tables, _, _ = county
    tables = dict(tables)
    hazard = tables["hazard_ratios"].copy()
    row = int(np.flatnonzero((hazard["outcome"] == "time_in_care") & (hazard["analysis"] == "cox_adjusted")
                             & (hazard["contrast"] == "post_fsp vs pre_fsp"))[0])
    hazard.loc[row, ["estimate", "ci_lower", "ci_upper", "p_value"]] = np.nan
    hazard.loc[row, "release_note"] = "not estimable (small numbers)"
    tables["hazard_ratios"] = hazard
    summary = lxml.html.fromstring(report_html(tables, {}, {})).get_element_by_id("summary")
    blank = summary.xpath(f".//data[@class='suppressed'][@data-table='hazard_ratios'][@data-row='{row}']")
    assert blank and "suppressed" in blank[0].text_content()
    assert not summary.xpath(f".//data[@class='quoted'][@data-table='hazard_ratios'][@data-row='{row}']")


def test_every_figure_has_alternative_text(county):
    _, release, _ = county
    document = document_of(release)
    images = document.xpath("//img")
    assert len(images) == len(release.figures) > 10
    for image in images:
        alt = image.get("alt") or ""
        assert len(alt) >= 60, alt
    assert len({image.get("alt") for image in images}) >= 6       # described, not one label for all


def test_limitations_are_written_from_the_checks_and_the_design(county):
    _, release, written = county
    limitations = document_of(release).get_element_by_id("limitations").text_content()
    failed = written["validation_summary"]
    for record in failed[~failed["passed"].astype(bool)].to_dict("records"):
        assert f"{record['asset']}: {record['check']}" in limitations
    assert "no comparison areas in this release" in limitations


def test_protocol_table_opens_the_methods(county):
    tables, _, _ = county
    protocol = pd.DataFrame({"element": ["Eligibility", "Time zero"],
                             "specification": ["Referred in the study window", "The referral date"]})
    methods = lxml.html.fromstring(report_html({**tables, "protocol": protocol}, {}, {})).get_element_by_id("methods")
    first_table = methods.xpath(".//table")[0]
    assert [c.text_content() for c in first_table.xpath(".//td")][:2] == ["Eligibility", "Referred in the study window"]


def test_comparison_section_is_included_whenever_its_tables_are_released(county, monkeypatch):
    tables, _, _ = county
    released = {**tables, "synthetic_control_effects": pd.DataFrame({"year": [2021], "gap": [1.5]})}
    module = types.ModuleType("evaluation.report.comparison_section")
    module.comparison_section = lambda t: {"title": "Against comparison areas",
                                           "paragraphs": ["Oxfordshire against its synthetic control."],
                                           "figures": [], "tables": ["synthetic_control_effects"]}
    monkeypatch.setitem(sys.modules, "evaluation.report.comparison_section", module)
    document = lxml.html.fromstring(report_html(released, {}, {}))
    section = document.get_element_by_id("comparison")
    assert "Oxfordshire against its synthetic control." in section.text_content()
    assert "not in this release" not in document.get_element_by_id("summary").text_content()
    # without the comparison tables there is no such section, and the summary says so
    document = lxml.html.fromstring(report_html(tables, {}, {}))
    assert not document.xpath("//section[@id='comparison']")
    assert "not in this release" in document.get_element_by_id("summary").text_content()


def test_comparison_tables_without_their_section_stop_the_report(county, monkeypatch):
    tables, _, _ = county
    released = {**tables, "staggered_overall": pd.DataFrame({"att": [0.1]})}
    monkeypatch.setitem(sys.modules, "evaluation.report.comparison_section", None)    # module missing
    with pytest.raises(ImportError):
        report_html(released, {}, {})


def test_the_summary_quotes_the_comparison_areas_from_their_tables(county):
    """With the comparison tables released, the headline adds the council against its synthetic
    control and all adopters against never-adopters, each number a released cell."""
    tables, _, _ = county
    tests = pd.DataFrame({"measure": ["cla_31mar_rate_per_10k_derived", "cpp_31mar_rate_per_10k_derived"],
                          "council": "931", "council_name": "Oxfordshire", "mean_post_gap": [-4.26, 3.1],
                          "placebo_p_gap": [0.125, 0.6]})
    overall = pd.DataFrame({"measure": ["cla_31mar_rate_per_10k_derived"] * 2 + ["cpp_31mar_rate_per_10k_derived"],
                            "control_group": ["not_yet_treated", "never_treated", "never_treated"],
                            "aggregation": ["group", "group", "group"], "att": [9.9, -2.04, 1.5],
                            "se": [1.0, 1.2, 0.9], "ci_lower": [7.9, -4.4, -0.3], "ci_upper": [11.9, 0.3, 3.3]})
    released = {**tables, "comparison_placebo_tests": tests, "comparison_overall_effects": overall}
    summary = lxml.html.fromstring(report_html(released, {}, {})).get_element_by_id("summary")
    text = " ".join(summary.text_content().split())
    assert "Oxfordshire against its synthetic control" in text
    assert "4.3 lower per 10,000 children looked after at 31 March (permutation p = 0.12)" in text
    assert "2.0 lower per 10,000 children looked after at 31 March (95% CI 4.4 lower to 0.3 higher)" in text
    assert "9.9" not in text                                  # the not-yet-treated row is not the headline
    for element in summary.xpath(".//data[@class='quoted']"):
        check_quote(element, released)
