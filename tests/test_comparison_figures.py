"""The two comparison figures are written as PNGs."""
import sys
from pathlib import Path

from evaluation.comparison.figures import event_study_figure, synthetic_control_figure
from evaluation.comparison.staggered import run_staggered
from evaluation.comparison.synthetic import run_synthetic_control

sys.path.insert(0, str(Path(__file__).parent))
from test_comparison_synthetic import _constructed_panel  # noqa: E402


def _is_png(path):
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_synthetic_control_figure(tmp_path):
    res = run_synthetic_control(_constructed_panel(), treated="T00", measures=["rate"])
    pre = res["inference"]["pre_rmspe"].iloc[0]
    out = synthetic_control_figure(res["effects"], "rate", tmp_path / "sc.png", res["placebo_gaps"],
                                   treated_name="T00", pre_rmspe=pre)
    assert _is_png(out) and out.stat().st_size > 10_000


def test_event_study_figure(tmp_path):
    t = run_staggered(measures=["cla_31mar_rate_per_10k_derived"], control_groups=("never_treated",))
    out = event_study_figure(t["event"], "cla_31mar_rate_per_10k_derived", tmp_path / "es.png")
    assert _is_png(out) and out.stat().st_size > 10_000
