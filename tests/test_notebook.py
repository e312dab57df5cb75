"""The analysts' notebook runs on a released folder and reproduces the headline figure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from test_release_assembly import county_release

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "headline_figure.py"


def test_headline_notebook_reproduces_the_figure_from_released_parquet(tmp_path, tmp_path_factory, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    _, _, release = county_release(tmp_path_factory)
    notebook = jupytext.read(NOTEBOOK)
    monkeypatch.setenv("FSP_OUTPUT_DIR", str(release.directory))
    monkeypatch.setenv("FSP_FIGURE_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH", "")]))
    assert Path(sys.prefix, "share", "jupyter", "kernels", "python3").is_dir()   # the venv's own kernel
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    figure = tmp_path / "figures" / "headline_km_time_in_protection.png"
    assert figure.is_file() and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 5000
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = " ".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "cox_adjusted" in html and "pre_fsp" in html
    assert not (release.directory / "notebook").exists()     # the release folder is left as logged
