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


def test_every_image_loads_and_nothing_is_fetched(report, tmp_path):
    path, figures = report
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"probe did not run; chromium said: {result.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["images"] == len(figures) > 0
    assert all(width > 0 for width in probe["widths"]), probe["widths"]
    assert probe["requested"] == []


def test_screenshot_shows_the_figures(report, tmp_path):
    path, _ = report
    shot = tmp_path / "shot.png"
    result = chromium("--window-size=1200,9000", f"--screenshot={shot}", path.as_uri(), profile=tmp_path / "profile")
    assert shot.is_file(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    ink = (pixels < 245).any(axis=2).mean()
    assert ink > 0.05, f"screenshot nearly blank ({ink:.2%} ink)"
    # the transition cohort's orange appears only inside figures, never in the page's CSS
    orange = np.array([int(OKABE_ITO["orange"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - orange).max(axis=2) <= 12).sum() > 300
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report.png")
