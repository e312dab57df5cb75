"""Disclosure control: suppression, rounding, safe curves, model rows, the output log.

The central check is an attacker (:func:`recovered_cells`) written here
independently of the library: knowing every released number exactly (before
rounding, the worst case) and every total released elsewhere, it subtracts
along totals, uses zero residuals, and finally solves the linear system by
rank; no suppressed cell may be recovered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from evaluation.disclosure import (
    DisclosureConfig,
    OutputLog,
    released_numbers,
    safe_curve,
    safe_model_results,
    suppress_counts,
    suppress_rates,
)
from evaluation.disclosure.acro_tables import acro_agrees, release_crosstab
from evaluation.results import tidy

CONFIG = DisclosureConfig()
TOTAL = CONFIG.total_label


# --------------------------------------------------------------------------- the attacker

def equations(true: pd.DataFrame, released: pd.DataFrame, by, count, elsewhere=()):
    """Linear equations a reader can write: every released total, every total released elsewhere.

    Variables are the interior cells (rows of ``true``). Returns a list of
    (member row positions, total value, total is known) with the total's
    released-row position for totals in the table.
    """
    values = true[count].to_numpy(dtype=float)
    rows = []
    interior = released.iloc[: len(true)]
    for _, row in released.iloc[len(true):].iterrows():
        mask = np.ones(len(true), dtype=bool)
        for column in by:
            if row[column] != TOTAL:
                mask &= interior[column].astype(str).to_numpy() == str(row[column])
        known = row[count] != CONFIG.suppressed
        rows.append((np.flatnonzero(mask), values[mask].sum(), known))
    for spec in elsewhere:
        keys = true[list(spec)].astype(str).agg("|".join, axis=1) if spec else pd.Series("", index=true.index)
        for key in keys.unique():
            mask = (keys == key).to_numpy()
            rows.append((np.flatnonzero(mask), values[mask].sum(), True))
    return rows


def recovered_cells(true: pd.DataFrame, released: pd.DataFrame, by, count, elsewhere=()) -> set[int]:
    """Interior cells (positions) or totals ('T', k) a reader can pin down though suppressed."""
    n = len(true)
    values = true[count].to_numpy(dtype=float)
    eqs = equations(true, released, by, count, elsewhere)
    # unknowns: suppressed interior cells and suppressed totals (as extra variables)
    known = {i: values[i] for i in range(n) if released[count].iat[i] != CONFIG.suppressed}
    total_known = {k: total for k, (_, total, is_known) in enumerate(eqs) if is_known}
    recovered: set = set()
    # 1. peeling: a total with one unknown member, or with nothing left to share (all zero)
    changed = True
    while changed:
        changed = False
        for k, (members, total, _) in enumerate(eqs):
            unknown = [m for m in members if m not in known]
            if k in total_known:
                residual = total_known[k] - sum(known[m] for m in members if m in known)
                if len(unknown) == 1 or (unknown and abs(residual) < 1e-9):
                    for m in unknown:
                        known[m] = residual if len(unknown) == 1 else 0.0
                        recovered.add(m)
                    changed = True
            elif not unknown:
                total_known[k] = sum(known[m] for m in members)
                recovered.add(("T", k))
                changed = True
    # 2. linear algebra: a cell is determined when its unit vector is in the row space
    unknown_cells = [i for i in range(n) if i not in known]
    unknown_totals = [k for k in range(len(eqs)) if k not in total_known]
    columns = unknown_cells + [("T", k) for k in unknown_totals]
    if columns:
        matrix = np.zeros((len(eqs), len(columns)))
        for k, (members, _, _) in enumerate(eqs):
            for m in members:
                if m in unknown_cells:
                    matrix[k, columns.index(m)] = 1.0
            if k in unknown_totals:
                matrix[k, columns.index(("T", k))] = -1.0
        rank = np.linalg.matrix_rank(matrix)
        for j, column in enumerate(columns):
            unit = np.zeros((1, len(columns)))
            unit[0, j] = 1.0
            if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
                recovered.add(column)
    # totals recovered count only when they were suppressed in this table
    suppressed_totals = {k for k, (_, _, is_known) in enumerate(eqs[: len(released) - n]) if not is_known}
    return {c for c in recovered if not isinstance(c, tuple) or c[1] in suppressed_totals} - set(
        i for i in range(n) if released[count].iat[i] != CONFIG.suppressed
    )


def everything_suppressed(released, count):
    """The same table with every count suppressed: what a reader learns from other outputs alone."""
    return released.assign(**{count: CONFIG.suppressed})


def assert_safe(true, released, by, count, elsewhere=(), config=CONFIG):
    numbers = released_numbers(released[count]).dropna()
    assert not ((numbers >= 1) & (numbers < config.threshold)).any(), "a small count was released"
    assert (numbers % config.rounding_base == 0).all(), "a count is not rounded"
    symbols = set(released[count][released_numbers(released[count]).isna()])
    assert symbols <= {config.suppressed}
    small = true[count] < config.threshold
    if not config.suppress_zeros:
        small &= true[count] > 0
    assert (released[count].iloc[: len(true)][small.to_numpy()] == config.suppressed).all()
    # no suppressed cell can be recovered beyond what published totals reveal on their own
    recovered = recovered_cells(true, released, by, count, elsewhere)
    if not elsewhere:
        assert recovered == set()
    assert recovered <= recovered_cells(true, everything_suppressed(released, count), by, count, elsewhere)


# --------------------------------------------------------------------------- count tables

def two_way(counts, rows=("pre_fsp", "post_fsp"), cols=("none", "DA", "MH", "SM")):
    return pd.DataFrame(
        [{"cohort": r, "combination": c, "children": counts[i * len(cols) + j]}
         for i, r in enumerate(rows) for j, c in enumerate(cols)]
    )


def test_single_small_cell_gets_a_complement_in_its_row_and_column():
    table = two_way([120, 35, 7, 40, 90, 28, 22, 31])
    released = suppress_counts(table, ["children"], ["cohort", "combination"])
    suppressed = released.index[released["children"] == "c"].tolist()
    assert 2 in suppressed                  # the 7
    assert len(suppressed) >= 4             # a rectangle: 7, its row and column partners
    assert_safe(table, released, ["cohort", "combination"], "children")
    assert released.attrs["disclosure"]["primary"]["children"] == 1
    assert released.attrs["disclosure"]["secondary"]["children"] >= 3


def test_rounding_to_base_five_and_totals_rounded_independently():
    table = two_way([12, 13, 17, 22, 10, 11, 14, 15])
    released = suppress_counts(table, ["children"], ["cohort", "combination"])
    assert released["children"].iloc[:8].tolist() == ["10", "15", "15", "20", "10", "10", "15", "15"]
    grand = released[(released.cohort == TOTAL) & (released.combination == TOTAL)]["children"].item()
    assert grand == "115"                   # 114 rounded, not the sum of rounded cells (110)


def test_no_margins_means_primary_suppression_only():
    table = two_way([120, 35, 7, 40, 90, 28, 22, 31])
    released = suppress_counts(table, ["children"], ["cohort", "combination"], margins=[])
    assert (released["children"] == "c").sum() == 1
    assert len(released) == 8


def test_zeros_are_suppressed_by_default_and_released_when_configured():
    table = two_way([120, 35, 0, 40, 90, 28, 22, 31])
    by = ["cohort", "combination"]
    assert suppress_counts(table, ["children"], by)["children"].iat[2] == "c"
    keep_zeros = DisclosureConfig(suppress_zeros=False)
    released = suppress_counts(table, ["children"], by, config=keep_zeros)
    assert released["children"].iat[2] == "0"
    assert_safe(table, released, by, "children", config=keep_zeros)


def test_totals_released_elsewhere_are_protected_against():
    # No totals in this table, but cohort totals are published in another one.
    table = two_way([120, 35, 7, 40, 90, 28, 22, 31])
    by = ["cohort", "combination"]
    naive = suppress_counts(table, ["children"], by, margins=[])
    assert (naive["children"] == "c").sum() == 1
    assert recovered_cells(table, naive, by, "children", elsewhere=[("cohort",)]) == {2}
    safe = suppress_counts(table, ["children"], by, margins=[], released_elsewhere=[("cohort",)])
    assert (safe["children"] == "c").sum() == 2
    assert_safe(table, safe, by, "children", elsewhere=[("cohort",)])


def test_cell_disclosed_by_another_table_is_reported():
    # combination "SM" has a single cohort, and its total is published elsewhere: 4 = 4.
    table = pd.DataFrame({"cohort": ["pre", "pre", "post"], "combination": ["none", "SM", "none"],
                          "children": [50, 4, 60]})
    by = ["cohort", "combination"]
    released = suppress_counts(table, ["children"], by, released_elsewhere=[("combination",)])
    assert released.attrs["disclosure"]["disclosed_elsewhere"]["children"] == [1]
    assert released["children"].iat[1] == "c"
    assert_safe(table, released, by, "children", elsewhere=[("combination",)])


def test_several_count_columns_each_protected():
    table = two_way([120, 35, 7, 40, 90, 28, 22, 31]).assign(
        families=[80, 9, 5, 25, 60, 20, 15, 3])
    by = ["cohort", "combination"]
    released = suppress_counts(table, ["children", "families"], by)
    assert_safe(table, released, by, "children")
    assert_safe(table, released, by, "families")


def test_tiny_county_three_cohorts_eight_combinations():
    rng = np.random.default_rng(20201101)
    cohorts = ["pre_fsp", "transition", "post_fsp"]
    combos = ["none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "all three"]
    weights = np.array([0.5, 0.15, 0.1, 0.08, 0.07, 0.04, 0.03, 0.03])
    children = rng.multinomial(70, np.outer([0.3, 0.4, 0.3], weights).ravel())
    table = pd.DataFrame([{"cohort": c, "combination": k} for c in cohorts for k in combos])
    table["children"] = children
    assert (table["children"] < 10).mean() > 0.8          # most cells are small
    by = ["cohort", "combination"]
    released = suppress_counts(table, ["children"], by)
    assert_safe(table, released, by, "children")
    grand = released[(released.cohort == TOTAL) & (released.combination == TOTAL)]["children"].item()
    assert grand == "70"


def test_three_way_table_with_all_margins():
    rng = np.random.default_rng(7)
    table = pd.DataFrame(
        [{"cohort": c, "sex": s, "combination": k} for c in "ABC" for s in "FM" for k in "wxyz"]
    )
    table["children"] = rng.poisson(rng.choice([3, 15, 40], len(table)))
    by = ["cohort", "sex", "combination"]
    released = suppress_counts(table, ["children"], by)
    assert_safe(table, released, by, "children")


@st.composite
def count_tables(draw):
    n_rows = draw(st.integers(2, 4))
    n_cols = draw(st.integers(2, 5))
    cells = draw(st.lists(
        st.one_of(st.integers(0, 9), st.integers(10, 60)), min_size=n_rows * n_cols, max_size=n_rows * n_cols))
    table = pd.DataFrame([{"r": f"r{i}", "k": f"k{j}"} for i in range(n_rows) for j in range(n_cols)])
    table["children"] = cells
    margin_sets = [[("r",), ("k",), ()], [("r",), ()], [("k",)], [()], []]
    margins = draw(st.sampled_from(margin_sets))
    elsewhere = draw(st.sampled_from([[], [("r",)], [("k",)], [("r",), ("k",)]]))
    zeros = draw(st.booleans())
    return table, margins, elsewhere, zeros


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_tables())
def test_property_released_tables_are_safe(case):
    table, margins, elsewhere, zeros = case
    config = DisclosureConfig(suppress_zeros=zeros)
    by = ["r", "k"]
    released = suppress_counts(table, ["children"], by, margins=margins,
                               released_elsewhere=elsewhere, config=config)
    assert_safe(table, released, by, "children", elsewhere, config=config)


def test_rates_need_enough_people():
    table = pd.DataFrame({
        "group": ["a", "b", "c", "d", "e"],
        "children": [200, 9, 40, 5000, 30],
        "escalated": [50, 3, 4, 1, 0],
        "percent": [25.0, 33.3, 10.0, 0.02, 0.0],
        "mean_days": [120.4, 88.0, 65.26, 10.0, 3.0],
    })
    out = suppress_rates(table, ["percent"], denominator="children", numerator="escalated")
    assert out["percent"].tolist() == ["25.0", "c", "c", "c", "c"]
    means = suppress_rates(table, ["mean_days", "percent"], denominator="children")
    assert means["mean_days"].tolist() == ["120.4", "c", "65.3", "10.0", "3.0"]
    assert means["percent"].tolist()[3:] == ["low", "0.0"]


# --------------------------------------------------------------------------- curves

def km_steps(duration, event, entry=None):
    """Exact KM step table (time, n_risk, n_event, n_censor) computed directly."""
    entry = np.full(len(duration), -np.inf) if entry is None else np.asarray(entry, float)
    times = np.unique(duration)
    rows = []
    for t in times:
        at = (entry < t) & (duration >= t)
        rows.append({"time": t, "n_risk": at.sum(),
                     "n_event": ((duration == t) & (event == 1)).sum(),
                     "n_censor": ((duration == t) & (event == 0)).sum()})
    return pd.DataFrame(rows)


def km_at(duration, event, times, entry=None):
    """Product-limit survival at ``times`` (reference, by a plain loop)."""
    steps = km_steps(duration, event, entry)
    out = []
    for t in times:
        part = steps[steps.time <= t]
        out.append(float(np.prod(1 - part.n_event / part.n_risk)))
    return np.array(out)


def simulate(n, seed, delayed=False):
    rng = np.random.default_rng(seed)
    event_time = np.ceil(rng.exponential(300, n))
    censor_time = np.ceil(rng.uniform(30, 1000, n))
    duration = np.minimum(event_time, censor_time)
    event = (event_time <= censor_time).astype(int)
    entry = None
    if delayed:
        entry = np.floor(rng.uniform(0, 0.5, n) * duration) * rng.integers(0, 2, n)
    return duration, event, entry


@pytest.mark.parametrize("delayed", [False, True])
def test_fine_grid_without_rounding_is_the_exact_kaplan_meier(delayed):
    duration, event, entry = simulate(250, 1, delayed)
    steps = km_steps(duration, event, entry)
    exact = DisclosureConfig(rounding_base=1, min_at_risk=1)
    curve = safe_curve(steps, grid=np.r_[0, steps.time], config=exact, censor_adjustment="none")
    expected = km_at(duration, event, curve.time.to_numpy(), entry)
    np.testing.assert_allclose(curve.survival, expected, rtol=0, atol=1e-12)


def test_matches_lifelines_on_fine_grid():
    lifelines = pytest.importorskip("lifelines")
    duration, event, _ = simulate(400, 2)
    fit = lifelines.KaplanMeierFitter().fit(duration, event)
    steps = fit.event_table.reset_index().rename(columns={
        "event_at": "time", "observed": "n_event", "censored": "n_censor", "at_risk": "n_risk"})
    steps = steps[steps.time > 0]
    curve = safe_curve(steps, grid=np.r_[0, steps.time], censor_adjustment="none",
                       config=DisclosureConfig(rounding_base=1, min_at_risk=1))
    np.testing.assert_allclose(curve.survival, fit.survival_function_at_times(curve.time).to_numpy(),
                               atol=1e-12)


def test_coarse_grid_curve_is_safe_and_recomputed_from_rounded_counts():
    duration, event, _ = simulate(300, 3)
    steps = km_steps(duration, event).assign(cohort="pre_fsp")
    steps2 = km_steps(*simulate(120, 4)[:2]).assign(cohort="post_fsp")
    curve = safe_curve(pd.concat([steps, steps2]), grid=91, by="cohort")
    assert set(curve.cohort) == {"pre_fsp", "post_fsp"}
    for _, part in curve.groupby("cohort"):
        assert (part.n_risk >= 10).all()
        assert set(part.time) <= set(np.arange(0, 2000, 91.0))
        for column in ("n_risk", "n_event", "n_censor"):
            assert (part[column] % 5 == 0).all()
        # survival follows from the released counts alone (life-table risk set)
        risk = part.n_risk.to_numpy()[:-1] - part.n_censor.to_numpy()[1:] / 2
        implied = np.r_[1.0, np.cumprod(1 - part.n_event.to_numpy()[1:] / risk)]
        np.testing.assert_allclose(part.survival, implied, atol=1e-12)
        assert (np.diff(part.survival) <= 0).all()
        assert ((part.lower <= part.survival) & (part.survival <= part.upper)).all()
    # the curve stops only when the risk set (exact, or recomputed from counts rounded by
    # at most 2.5 each for entries, events and censorings) falls below 10
    last = curve[curve.cohort == "pre_fsp"].time.max()
    assert (duration > last).sum() >= 10
    assert (duration > last + 91).sum() < 10 + 7.5


def test_no_exact_event_times_survive():
    duration, event, _ = simulate(200, 5)
    curve = safe_curve(km_steps(duration, event), grid=30)
    assert set(curve.time) <= set(np.arange(0, 3000, 30.0))
    assert not set(curve.time) & (set(duration) - set(np.arange(0, 3000, 30.0)))


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 400), st.integers(0, 10_000), st.sampled_from([30, 91, 182]), st.booleans())
def test_property_safe_curves_never_show_small_risk_sets(n, seed, step, delayed):
    duration, event, entry = simulate(n, seed, delayed)
    curve = safe_curve(km_steps(duration, event, entry), grid=step)
    assert (curve.n_risk >= 10).all()
    assert (curve[["n_risk", "n_event", "n_censor"]] % 5 == 0).all().all()
    assert ((curve.survival >= 0) & (curve.survival <= 1)).all()
    assert (curve.time % step == 0).all()
    if n < 8:
        assert curve.empty


def aalen_johansen(duration, cause, times):
    """Reference AJ cumulative incidence per cause at ``times`` (plain loop)."""
    causes = sorted(set(cause) - {0})
    surv, cif, out = 1.0, dict.fromkeys(causes, 0.0), []
    event_times = np.unique(duration)
    history = {}
    for t in event_times:
        at_risk = (duration >= t).sum()
        d = {c: ((duration == t) & (cause == c)).sum() for c in causes}
        for c in causes:
            cif[c] += surv * d[c] / at_risk
        surv *= 1 - sum(d.values()) / at_risk
        history[t] = dict(cif)
    for t in times:
        past = [s for s in event_times if s <= t]
        out.append(history[past[-1]] if past else dict.fromkeys(causes, 0.0))
    return pd.DataFrame(out, index=times)


def cif_steps(duration, cause):
    rows = []
    for t in np.unique(duration):
        row = {"time": t, "n_risk": (duration >= t).sum(), "n_censor": ((duration == t) & (cause == 0)).sum()}
        for c in (1, 2):
            row[f"n_event_{c}"] = ((duration == t) & (cause == c)).sum()
        rows.append(row)
    return pd.DataFrame(rows)


def test_cumulative_incidence_fine_grid_is_exact_and_coarse_grid_safe():
    rng = np.random.default_rng(11)
    n = 300
    duration = np.ceil(rng.exponential(250, n))
    cause = rng.choice([0, 1, 2], n, p=[0.3, 0.45, 0.25])
    steps = cif_steps(duration, cause)
    exact = DisclosureConfig(rounding_base=1, min_at_risk=1)
    fine = safe_curve(steps, grid=np.r_[0, steps.time], config=exact, censor_adjustment="none")
    reference = aalen_johansen(duration, cause, np.r_[0, steps.time])
    for c in ("1", "2"):
        got = fine[fine.cause == c].set_index("time")["cif"]
        assert len(got) >= len(steps)           # only the final grid time, nobody at risk, is cut
        np.testing.assert_allclose(got.to_numpy(), reference.loc[got.index, int(c)].to_numpy(), atol=1e-12)
    coarse = safe_curve(steps, grid=91)
    assert (coarse.n_risk >= 10).all() and (coarse.n_event % 5 == 0).all()
    total = coarse.pivot_table(index="time", columns="cause", values="cif").sum(axis=1)
    assert (total <= 1 + 1e-12).all() and (np.diff(total.to_numpy()) >= -1e-12).all()


def test_accepts_the_competing_risks_step_table_of_the_survival_package():
    competing = pytest.importorskip("evaluation.survival.competing")
    rng = np.random.default_rng(12)
    df = pd.DataFrame({"days": np.ceil(rng.exponential(200, 200)),
                       "route": rng.choice([0, "care", "step_down"], 200)})
    fit = competing.cumulative_incidence(df, "days", "route")
    curve = safe_curve(fit.steps, grid=91)
    assert set(curve.cause) == {"care", "step_down"}
    assert (curve.n_risk >= 10).all()


# --------------------------------------------------------------------------- model results

def test_model_rows_on_small_numbers_become_not_estimable():
    results = tidy([
        {"outcome": "cp", "analysis": "cox", "contrast": "post vs pre", "combination": "all",
         "term": "post", "estimate": 0.8, "ci_lower": 0.7, "ci_upper": 0.95, "n": 1234, "events": 602},
        {"outcome": "cp", "analysis": "cox", "contrast": "post vs pre", "combination": "DA+SM",
         "term": "post", "estimate": 0.4, "ci_lower": 0.1, "ci_upper": 1.9, "n": 23, "events": 6},
        {"outcome": "cp", "analysis": "cox", "contrast": "post vs pre", "combination": "MH",
         "term": "post", "estimate": 0.9, "ci_lower": 0.2, "ci_upper": 2.1, "n": 8, "events": 12},
        {"outcome": "cp", "analysis": "rmst", "contrast": "post vs pre", "combination": "all",
         "term": "difference", "estimate": -30.0},
    ])
    released = safe_model_results(results)
    assert released["n"].tolist()[0] == 1235 and released["events"].tolist()[0] == 600
    assert released["release_note"].tolist() == [
        "", CONFIG.not_estimable, CONFIG.not_estimable, "counts not supplied: output checker to review"]
    assert released.loc[1:2, ["estimate", "ci_lower", "ci_upper", "n", "events"]].isna().all().all()
    assert released.loc[3, "estimate"] == -30.0
    assert released.attrs["disclosure"]["not_estimable_rows"] == 2


# --------------------------------------------------------------------------- output log

def test_output_log_writes_an_acro_session_with_checksums(tmp_path):
    table = two_way([120, 35, 7, 40, 90, 28, 22, 31])
    released = suppress_counts(table, ["children"], ["cohort", "combination"])
    log = OutputLog(tmp_path)
    record = log.add_table("tables/children.csv", released)
    figure = tmp_path / "figures" / "km.png"
    figure.parent.mkdir()
    figure.write_bytes(b"\x89PNG\r\n\x1a\n fake")
    log.add(figure, {"SafeCurve": "pass"}, output_type="figure")
    (tmp_path / "notes.svg").write_text("<svg/>")
    log.add("notes.svg", {})
    log.add(tmp_path / "figures" / "km.png", {}, output_type="figure")
    path = log.write()

    session = json.loads(path.read_text())
    assert session["version"].count(".") == 2
    statuses = {uid: r["status"] for uid, r in session["results"].items()}
    assert statuses == {"tables_children.csv": "pass", "figures_km.png": "pass",
                        "notes.svg": "fail", "figures_km.png_2": "review"}
    assert log.statuses() == {"pass": 2, "review": 1, "fail": 1}
    for result in session["results"].values():
        assert {"uid", "status", "type", "properties", "files", "outcome", "command",
                "summary", "timestamp", "comments", "exception"} <= set(result)
        for file in result["files"]:
            checksum = (tmp_path / "checksums" / f"{file['name']}.txt").read_text()
            assert checksum == file["sha256"] == hashlib.sha256(
                (tmp_path / file["name"]).read_bytes()).hexdigest()
    cells = session["results"][record.uid]["files"][0]["sdc"]["cells"]["Suppressed"]
    assert [2, 2] in cells                     # row 2 (the 7), column 2 (children)
    assert json.loads((tmp_path / "config.json").read_text())["safe_threshold"] == 10


def test_output_log_is_readable_by_acro(tmp_path):
    record_module = pytest.importorskip("acro.record")
    version = pytest.importorskip("acro.version").__version__
    from evaluation.disclosure.output_log import ACRO_FORMAT_VERSION
    if version != ACRO_FORMAT_VERSION:
        pytest.skip(f"installed acro {version} checks for its own version {ACRO_FORMAT_VERSION}")
    log = OutputLog(tmp_path)
    log.add_table("children.csv", suppress_counts(two_way([120, 35, 7, 40, 90, 28, 22, 31]),
                                                  ["children"], ["cohort", "combination"]))
    log.write()
    records = record_module.load_records(str(tmp_path))
    assert records.get("children.csv").status == "pass"


def test_output_log_refuses_files_outside_and_files_changed_after_logging(tmp_path):
    inside = tmp_path / "release"
    inside.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("x")
    log = OutputLog(inside)
    with pytest.raises(ValueError):
        log.add(outside, {"Check": "pass"})
    target = inside / "t.csv"
    target.write_text("a,b\n1,2\n")
    log.add(target, {"Check": "pass"})
    target.write_text("a,b\n1,3\n")
    with pytest.raises(RuntimeError):
        log.write()


def test_acro_flags_are_all_suppressed_in_the_release():
    pytest.importorskip("acro")
    rng = np.random.default_rng(1)
    people = pd.DataFrame({
        "cohort": rng.choice(["pre", "post"], 200),
        "combination": rng.choice(["none", "DA", "MH", "SM"], 200, p=[0.6, 0.3, 0.07, 0.03]),
    })
    released, check = release_crosstab(people, "cohort", "combination")
    assert check is not None and check.status == "fail"      # ACRO sees small cells in the raw table
    assert acro_agrees(released, check, "cohort", "combination")
    released.loc[released.index[released.people == "c"][0], "people"] = "5"
    assert not acro_agrees(released, check, "cohort", "combination")


# --------------------------------------------------------------------------- against R

REFERENCE = Path(__file__).parent / "reference" / "disclosure"


def test_safe_curves_match_r_survfit_on_the_released_counts():
    """R's survfit, given only the released rounded counts, reproduces the released estimates."""
    reference = json.loads((REFERENCE / "reference.json").read_text())
    steps = pd.read_csv(REFERENCE / "steps.csv")
    km = safe_curve(steps[["time", "n_risk", "n_event", "n_censor"]], grid=91, censor_adjustment="none")
    released = pd.read_csv(REFERENCE / "released_km_counts.csv")
    pd.testing.assert_frame_equal(km[released.columns].reset_index(drop=True), released, check_dtype=False)
    r_km = reference["kaplan_meier"]
    np.testing.assert_allclose(km.time, r_km["time"])
    for column in ("survival", "lower", "upper"):
        np.testing.assert_allclose(km[column], r_km[column], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(km.n_risk.to_numpy()[:-1], r_km["n_risk"][1:])   # R: at risk just before

    cif = safe_curve(steps.drop(columns="n_event"), grid=91, censor_adjustment="none")
    released = pd.read_csv(REFERENCE / "released_cif_counts.csv")
    pd.testing.assert_frame_equal(cif[released.columns].reset_index(drop=True), released, check_dtype=False)
    r_cif = reference["cumulative_incidence"]
    for cause in ("step_down", "care"):
        part = cif[cif.cause == cause]
        np.testing.assert_allclose(part.time, r_cif["time"])
        np.testing.assert_allclose(part.cif, r_cif[cause], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(part.cif, r_cif[f"{cause}_cuminc"], rtol=1e-10, atol=1e-12)
        # limits from Gray's variance, as cmprsk::cuminc computes it on the same rows; log scale
        variance = np.asarray(reference["cumulative_incidence_gray_variance"][cause])
        se = np.sqrt(variance)
        p = part.cif.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            width = np.where(p > 0, 1.959963984540054 * se / p, 0.0)
        np.testing.assert_allclose(part.lower, p * np.exp(-width), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(part.upper, np.minimum(p * np.exp(width), 1.0), rtol=1e-9, atol=1e-12)
        assert ((part.lower <= part.cif) & (part.cif <= part.upper)).all()


def test_gray_variance_matches_cmprsk_and_uses_the_curves_own_risk_sets():
    from evaluation.disclosure.curves import gray_variance

    reference = json.loads((REFERENCE / "reference.json").read_text())
    released = pd.read_csv(REFERENCE / "released_cif_counts.csv")
    causes = ["step_down", "care"]
    first = released[released.cause == causes[0]]
    events = np.column_stack([released[released.cause == c].n_event.to_numpy(float)[1:] for c in causes])
    variance = gray_variance(first.n_risk.to_numpy(float)[:-1], events)
    for k, cause in enumerate(causes):
        np.testing.assert_allclose(variance[:, k], reference["cumulative_incidence_gray_variance"][cause],
                                   rtol=1e-10, atol=1e-15)
    # the life-table curve's limits use its own risk sets: half of each interval's censorings out
    steps = pd.read_csv(REFERENCE / "steps.csv").drop(columns="n_event")
    half = safe_curve(steps, grid=91, censor_adjustment="half")
    first = half[half.cause == causes[0]]
    effective = first.n_risk.to_numpy(float)[:-1] - 0.5 * first.n_censor.to_numpy(float)[1:]
    events = np.column_stack([half[half.cause == c].n_event.to_numpy(float)[1:] for c in causes])
    se = np.sqrt(gray_variance(effective, events))
    for k, cause in enumerate(causes):
        p = half[half.cause == cause].cif.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            width = np.where(p > 0, 1.959963984540054 * se[:, k] / p, 0.0)
        np.testing.assert_allclose(half[half.cause == cause].upper, np.minimum(p * np.exp(width), 1.0),
                                   rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- flow tables

FLOW_ROWS = [   # step, stage, cohort, families, children  (the layout of evaluation.cohorts.flow)
    (0, "start", "all", 400, 700),
    (1, "excluded", "all", 3, 3),
    (1, "remaining", "all", 397, 697),
    (2, "excluded", "all", 100, 180),
    (2, "remaining", "all", 297, 517),
    (2, "remaining", "pre_fsp", 100, 170),
    (2, "remaining", "transition", 120, 210),
    (2, "remaining", "post_fsp", 77, 137),
    (3, "excluded", "all", 6, 8),
    (3, "excluded", "pre_fsp", 2, 3),
    (3, "excluded", "transition", 4, 5),
    (3, "excluded", "post_fsp", 0, 0),
    (3, "remaining", "all", 291, 509),
    (3, "remaining", "pre_fsp", 98, 167),
    (3, "remaining", "transition", 116, 205),
    (3, "remaining", "post_fsp", 77, 137),
    (4, "analysed", "all", 291, 509),
    (4, "analysed", "pre_fsp", 98, 167),
    (4, "analysed", "transition", 116, 205),
    (4, "analysed", "post_fsp", 77, 137),
]
#: The relations a reader knows, written out by hand: (row, rows that add up to it).
FLOW_RELATIONS = [
    (0, [1, 2]), (2, [3, 4]), (4, [8, 12]), (5, [9, 13]), (6, [10, 14]), (7, [11, 15]),
    (12, [16]), (13, [17]), (14, [18]), (15, [19]),
    (4, [5, 6, 7]), (8, [9, 10, 11]), (12, [13, 14, 15]), (16, [17, 18, 19]),
]


def flow_table():
    flow = pd.DataFrame(FLOW_ROWS, columns=["step", "stage", "cohort", "families", "children"])
    flow.insert(2, "reason", "r" + flow["step"].astype(str))
    flow.insert(3, "description", "d" + flow["step"].astype(str))
    return flow


def test_flow_relations_are_found():
    from evaluation.disclosure.flow import flow_sums
    assert sorted(flow_sums(flow_table())) == sorted(FLOW_RELATIONS)


def attacker_ranges(released: pd.Series, relations, base: int) -> dict[int, tuple[float, float]]:
    """Smallest and largest value of each suppressed row that a reader of ``released`` alone can
    infer: released counts lie within their rounding (halves up), counts are non-negative, and
    ``relations`` hold. An independent linear programme per bound."""
    n = len(released)
    numbers = released_numbers(released).to_numpy(float)
    bounds = [(0.0, 1e7) if np.isnan(v) else (max(0.0, np.ceil(v - base / 2)), np.ceil(v + base / 2) - 1)
              for v in numbers]
    a = np.zeros((len(relations), n))
    for r, (total, members) in enumerate(relations):
        a[r, members] = 1.0
        a[r, total] -= 1.0
    out = {}
    for row in np.flatnonzero(np.isnan(numbers)):
        cost = np.zeros(n)
        cost[row] = 1.0
        low = linprog(cost, A_eq=a, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
        high = linprog(-cost, A_eq=a, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
        out[int(row)] = (low.fun, -high.fun)
    return out


@pytest.mark.parametrize("base", [5, 1])
def test_released_flow_hides_small_exclusions_from_subtraction(base):
    """A reader who knows released counts as rounded (base 1: exactly) cannot narrow a suppressed
    count below what rounding leaves of a released one."""
    from evaluation.disclosure.flow import release_flow
    flow = flow_table()
    config = replace(CONFIG, rounding_base=base)
    released = release_flow(flow, config=config)
    assert list(released.columns) == list(flow.columns)
    for column in ("families", "children"):
        numbers = released_numbers(released[column]).dropna()
        assert not ((numbers > 0) & (numbers < 10)).any() and (numbers % base == 0).all()
        ranges = attacker_ranges(released[column], FLOW_RELATIONS, base)
        assert ranges, column
        for row, (low, high) in ranges.items():
            assert low - 1e-6 <= flow[column].iat[row] <= high + 1e-6
            assert high - low >= max(base - 1, 1) - 1e-6, (column, row, low, high)
    # without the relations, and read exactly, the three children without a family link come out
    naive = suppress_counts(flow, ["children"], ["step", "stage", "reason", "cohort"], margins=[],
                            config=replace(CONFIG, rounding_base=1))
    low, high = attacker_ranges(naive["children"], FLOW_RELATIONS, 1)[1]
    assert low == high == 3


def test_released_flow_keeps_large_counts_and_shows_zero_exclusions():
    """Rounding protects a chain of differences, so only small exclusions are hidden (read
    exactly, hiding one hides the counts after it); an exclusion of nobody is shown as 0."""
    from evaluation.disclosure.flow import release_flow
    flow = flow_table()
    released = release_flow(flow)
    for column in ("families", "children"):
        hidden = released[column] == CONFIG.suppressed
        assert (flow.loc[hidden, column] < CONFIG.threshold).all(), column
        zero = flow[column] == 0
        assert (released.loc[zero, column] == "0").all()
    assert released.attrs["disclosure"]["audit"] == "reader knows released counts as rounded"
    exact = release_flow(flow, config=replace(CONFIG, rounding_base=1))
    assert (exact["children"] == CONFIG.suppressed).sum() > (released["children"] == CONFIG.suppressed).sum()
    hidden_zeros = release_flow(flow, zeros_disclosive=True)
    assert (hidden_zeros.loc[flow["children"] == 0, "children"] == CONFIG.suppressed).all()


def test_sum_relations_must_hold():
    flow = flow_table()
    with pytest.raises(ValueError):
        suppress_counts(flow, ["children"], ["step", "stage", "reason", "cohort"], margins=[], sums=[(0, [1, 3])])


def test_life_table_curve_matches_kmsurv_lifetab():
    """The default (half the censorings at risk) is the actuarial life table of KMsurv::lifetab."""
    reference = json.loads((REFERENCE / "reference.json").read_text())["life_table"]
    steps = pd.read_csv(REFERENCE / "steps.csv")
    curve = safe_curve(steps[["time", "n_risk", "n_event", "n_censor"]], grid=91)
    np.testing.assert_allclose(curve.survival, reference["survival"], rtol=1e-10, atol=1e-12)
    z = 1.959963984540054
    se = curve.survival * -np.log(curve.lower / curve.survival) / z      # Greenwood SE of S
    np.testing.assert_allclose(se.to_numpy()[:-1], reference["se_first"], rtol=1e-8, atol=1e-12)
