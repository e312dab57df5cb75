"""The comparison-area figures drawn beside the councils' runs (``comparison/comparison_figures``,
:mod:`evaluation.report.predrawn`): the release writes them only when they were drawn from its own
comparison tables, and a release written with them is byte for byte the release that draws them."""

import json

import pandas as pd
import pytest

from evaluation.report.comparison_section import comparison_figure_plan, comparison_tables
from evaluation.report.predrawn import COLUMNS, draw_comparison, tables_digest, usable
from test_comparison_release import inputs  # noqa: F401  (the comparison group's outputs, two rates)


@pytest.fixture(scope="module")
def drawn(inputs):  # noqa: F811
    return draw_comparison(comparison_tables(inputs))


def test_drawn_beforehand_are_the_planned_figures_with_their_tables_digest(inputs, drawn):  # noqa: F811
    tables = comparison_tables(inputs)
    assert tuple(drawn.columns) == COLUMNS
    assert list(drawn["figure"]) == [name for name, _, _ in comparison_figure_plan(tables)]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in drawn["png"])
    assert set(drawn["drawn_from"]) == {tables_digest(tables)}
    assert usable(drawn, tables) == dict(zip(drawn["figure"], drawn["png"]))


@pytest.mark.parametrize("change", ["value", "dtype", "table_dropped", "figure_missing", "nothing_drawn"])
def test_not_used_unless_drawn_from_exactly_these_tables(inputs, drawn, change):  # noqa: F811
    tables = comparison_tables(inputs)
    predrawn = drawn
    if change == "value":
        effects = tables["comparison_effects"].copy()
        effects.loc[effects.index[0], "synthetic"] += 1e-9
        tables["comparison_effects"] = effects
    elif change == "dtype":
        tables["comparison_adopters"] = tables["comparison_adopters"].astype({"la_name": "category"})
    elif change == "table_dropped":
        del tables["comparison_leave_one_out"]
    elif change == "figure_missing":
        predrawn = drawn.iloc[1:]
    else:
        predrawn = pd.DataFrame(columns=list(COLUMNS))
    assert usable(predrawn, tables) == {}
    assert usable(None, tables) == {}


def test_a_release_with_the_figures_drawn_beforehand_is_the_release_that_draws_them(
        inputs, drawn, tmp_path, tmp_path_factory, monkeypatch):  # noqa: F811
    from test_release_assembly import CONFIG, STUDY, simulated_estimates

    from evaluation.report import write_release
    from evaluation.report.assemble import release_tables

    data, results = simulated_estimates(tmp_path_factory, 14, 3)   # the tiny county's estimates
    tables = release_tables(results, data["flow"], data["analysis"], data["monthly"], CONFIG,
                            study=STUDY, comparison=inputs)
    predrawn = usable(drawn, tables)   # the release's own comparison tables: the same digest
    assert len(predrawn) == len(drawn) == 4
    context = {"key_fingerprint": "hmac-sha256:test"}
    itself = write_release(tables, tmp_path / "itself", context, pdf_report=False)
    from evaluation.report import comparison_section

    def not_again(*args, **kwargs):
        raise AssertionError("a comparison figure drawn again")

    for name in ("synthetic_control_figure", "event_study_figure"):
        monkeypatch.setattr(comparison_section, name, not_again)
    given = write_release(tables, tmp_path / "given", context, pdf_report=False, predrawn=predrawn)
    assert list(given.figures) == list(itself.figures)   # the same figures in the report's order
    for name, path in itself.figures.items():
        assert given.figures[name].read_bytes() == path.read_bytes(), name

    def log(release):
        """The output log's records, the report's hash aside (the report states when it was made)."""
        records = json.loads(release.results_json.read_text())["results"]
        return [{k: v for k, v in record.items() if k != "timestamp"
                 and not (record["uid"].startswith("report.") and k in ("properties", "files"))}
                for record in records.values()]

    assert log(given) == log(itself)
