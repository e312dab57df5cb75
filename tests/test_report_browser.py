"""The report in a real browser: headless Chromium renders every figure, fetches nothing.

Two runs of Debian's ``chromium``: ``--dump-dom`` on a copy of the report with
a probe script appended that, once the page has loaded, records each image's
``naturalWidth`` and every non-``data:`` resource the page requested; and
``--screenshot`` of the report itself, which must show the figures' colours.
Name resolution is disabled, so a report that needed the network would fail.
The screenshot is kept in tests/artifacts/report.png for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.figures.style import OKABE_ITO
from evaluation.report import build_report, draw_release_figures
from evaluation.report.demo import demo_release

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (apt-get install -y chromium)")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND")

PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var requested = performance.getEntriesByType("resource")
      .map(function (entry) { return entry.name; })
      .filter(function (name) { return name.indexOf("data:") !== 0; });
  var probe = document.createElement("pre");
  probe.id = "probe";
  probe.style.display = "none";   // in the DOM dump, not on the screen: the screenshot is the report
  probe.textContent = JSON.stringify({
    images: images.length,
    widths: images.map(function (image) { return image.complete ? image.naturalWidth : 0; }),
    requested: requested
  });
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    tables = demo_release(seed=7)
    figures = draw_release_figures(tables, directory / "figures")
    path = build_report(tables, figures, {"key_fingerprint": "hmac-sha256:test"}, directory / "report.html")
    return path, figures


def chromium(*arguments, profile, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def demo_page(report, tmp_path_factory):
    """One Chromium run on the demo report with the probe appended (hidden, so the page looks as
    the report alone does): its DOM once loaded, and a 1200 x 9000 screenshot."""
    path, _ = report
    folder = tmp_path_factory.mktemp("demo_page")
    probed = folder / "probed.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    shot = folder / "shot.png"
    result = chromium("--window-size=1200,9000", "--virtual-time-budget=10000", f"--screenshot={shot}",
                      "--dump-dom", probed.as_uri(), profile=folder / "profile")
    return result, shot


def test_every_image_loads_and_nothing_is_fetched(report, demo_page):
    _, figures = report
    result, _ = demo_page
    match = re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', result.stdout, re.S)
    assert match, f"probe did not run; chromium said: {result.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["images"] == len(figures) > 0
    assert all(width > 0 for width in probe["widths"]), probe["widths"]
    assert probe["requested"] == []


def test_screenshot_shows_the_figures(demo_page):
    result, shot = demo_page
    assert shot.is_file(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)   # 0-255 and their differences
    ink = (pixels < 245).any(axis=2).mean()
    assert ink > 0.05, f"screenshot nearly blank ({ink:.2%} ink)"
    # the transition cohort's orange appears only inside figures, never in the page's CSS
    orange = np.array([int(OKABE_ITO["orange"][i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    assert (np.abs(pixels - orange).max(axis=2) <= 12).sum() > 300
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report.png")


# ---------------------------------------------------------------- the released report, as a reader sees it

#: The report's width on screen (its main column is 60rem) and one screen's height.
SCREEN = (1200, 1000)

LAYOUT_PROBE = """<script>
window.addEventListener("load", function () {
  function box(element) {
    var r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY,
            width: r.width, height: r.height};
  }
  var probe = document.createElement("pre");
  probe.id = "layout";
  probe.style.display = "none";   // in the DOM dump, not on the screen: the screenshot is the report
  probe.textContent = JSON.stringify({
    height: window.innerHeight, width: window.innerWidth,
    pageHeight: document.documentElement.scrollHeight, pageWidth: document.documentElement.scrollWidth,
    summary: box(document.getElementById("summary")),
    main: box(document.querySelector("main")),
    images: Array.from(document.images).map(function (image) {
      var b = box(image);
      b.natural = image.naturalWidth;
      b.section = image.closest("section").id;
      return b;
    })
  });
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """The simulated county's release (tables, figures, report.html, report.pdf), built once."""
    from test_release_assembly import county_release

    _, tables, release = county_release(tmp_path_factory)
    return tables, release


@pytest.fixture(scope="module")
def first_screen(county, tmp_path_factory):
    """Where the summary and every figure fall on a screen of the report's width, and a screenshot
    of that first screen: one Chromium run on the report with the layout probe appended (hidden)."""
    _, release = county
    folder = tmp_path_factory.mktemp("layout")
    probed = folder / "probed.html"
    probed.write_text(release.report.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"),
                      encoding="utf-8")
    shot = folder / "summary.png"
    result = chromium(f"--window-size={SCREEN[0]},{SCREEN[1]}", "--virtual-time-budget=10000",
                      f"--screenshot={shot}", "--dump-dom", probed.as_uri(), profile=folder / "profile")
    match = re.search(r'<pre id="layout"[^>]*>(.*?)</pre>', result.stdout, re.S)
    assert match, f"probe did not run; chromium said: {result.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")), shot


@pytest.fixture(scope="module")
def layout(first_screen):
    return first_screen[0]


def test_the_summary_fills_the_first_screen_and_no_more(first_screen):
    layout, shot = first_screen
    assert layout["width"] == SCREEN[0]
    assert 0 <= layout["summary"]["top"] < layout["summary"]["bottom"] <= layout["height"], layout["summary"]
    with Image.open(shot) as image:
        assert image.size == SCREEN
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    summary = pixels[int(layout["summary"]["top"]):int(layout["summary"]["bottom"])]
    assert (summary < 200).any(axis=2).mean() > 0.03          # text, not an empty box
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report_summary.png")


def test_every_figure_fits_the_report_width_unclipped(county, layout, tmp_path):
    _, release = county
    assert layout["pageWidth"] <= layout["width"]             # nothing runs off to the side
    images = layout["images"]
    assert len(images) == len(release.figures)
    main = layout["main"]
    for image in images:
        assert main["left"] - 1 <= image["left"] and image["right"] <= main["right"] + 1, image
        assert image["width"] >= 0.6 * image["natural"], image   # not shrunk past reading
    shot = tmp_path / "page.png"
    chromium(f"--window-size={SCREEN[0]},{int(layout['pageHeight']) + 10}", f"--screenshot={shot}",
             release.report.as_uri(), profile=tmp_path / "profile", timeout=300)
    with Image.open(shot) as page:
        pixels = np.asarray(page.convert("RGB")).astype(np.int16)
    for image in images:
        # inside the 1px CSS border: a ring of background all round (no text cut at the edge) and ink within
        top, bottom = int(round(image["top"])) + 3, int(round(image["bottom"])) - 3
        left, right = int(round(image["left"])) + 3, int(round(image["right"])) - 3
        crop = pixels[top:bottom, left:right]
        ring = np.concatenate([crop[:2].reshape(-1, 3), crop[-2:].reshape(-1, 3),
                               crop[:, :2].reshape(-1, 3), crop[:, -2:].reshape(-1, 3)])
        assert (ring >= 235).all(axis=1).mean() > 0.99, image["section"]
        assert (crop < 200).any(axis=2).mean() > 0.01, image["section"]


def test_the_pdf_has_pages_a_running_header_and_the_summary_first(county):
    from pypdf import PdfReader

    _, release = county
    assert release.pdf is not None and release.pdf.name == "report.pdf"
    pages = [page.extract_text() for page in PdfReader(release.pdf).pages]
    assert 8 <= len(pages) <= 80, len(pages)
    for number, text in enumerate(pages, start=1):
        header = " ".join(text.split("\n")[:3])
        assert "extract 2025-03-31" in header and "hmac-sha256:test" in header, (number, header)
        assert f"Page {number} of {len(pages)}" in text
    first = " ".join(pages[0].split())
    assert "Summary: did FSP change how long children spend in need" in first
    assert "Time in need" in first and "95% CI" in first
    # each part of the report starts a page
    for title in ("Question and programme", "Data and cohorts", "Methods", "Results by outcome",
                  "Limitations", "Provenance", "Appendix"):
        assert any(text.split("\n")[2:4] and title in " ".join(text.split("\n")[2:4]) for text in pages), title


def test_the_pdf_quotes_the_same_numbers_as_the_html_summary(county):
    import lxml.html
    from pypdf import PdfReader

    _, release = county
    summary = lxml.html.fromstring(release.report.read_text(encoding="utf-8")).get_element_by_id("summary")
    quoted = [e.text_content() for e in summary.xpath(".//data[@class='quoted']")]
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(release.pdf).pages[:2]).split())
    assert quoted and all(number in text for number in quoted), [n for n in quoted if n not in text]


def test_the_pdf_is_logged_for_the_output_checker(county):
    _, release = county
    session = json.loads(release.results_json.read_text())
    record = next(r for r in session["results"].values() if r["files"][0]["name"] == "report.pdf")
    assert record["status"] == "pass"
    assert record["properties"]["checks"]["RasterFiguresOnly"] == "pass"


def test_the_pipeline_publishes_report_pdf(pipeline_run):
    """``make run`` on a council-like folder leaves outputs/report.pdf, logged with its checksum,
    its running header carrying the run's key fingerprint on every page."""
    import lxml.html
    from pypdf import PdfReader

    from evaluation.disclosure import sha256_of

    assert pipeline_run.exit_code == 0, "\n".join(pipeline_run.messages[-30:])
    out = pipeline_run.output_dir
    pdf = out / "report.pdf"
    session = json.loads((out / "results.json").read_text(encoding="utf-8"))
    record = next(r for r in session["results"].values() if r["files"][0]["name"] == "report.pdf")
    assert record["status"] == "pass" and record["files"][0]["sha256"] == sha256_of(pdf)
    report = lxml.html.fromstring((out / "report.html").read_text(encoding="utf-8"))
    fingerprint = report.get_element_by_id("provenance").xpath(".//code")[0].text_content()
    pages = [page.extract_text() for page in PdfReader(pdf).pages]
    assert len(pages) >= 8
    assert all(fingerprint in " ".join(text.split("\n")[:3]) for text in pages)
    assert "Summary: did FSP change" in " ".join(pages[0].split())
