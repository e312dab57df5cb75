"""Synthetic control: pysyncon proven on Abadie & Gardeazabal's Basque table, and the LA-panel
wrapper (donor pool, placebo in space / in time, leave-one-out) on a constructed panel."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pysyncon import Dataprep, Synth

from evaluation.comparison.synthetic import (donor_pool, excluded_codes, fit_synthetic, leave_one_out,
                                             placebo_in_space, placebo_in_time, run_synthetic_control)

BASQUE = Path(__file__).parent / "fixtures" / "basque" / "basque.csv"
TREATED = "Basque Country (Pais Vasco)"
SECTORS = ["sec.agriculture", "sec.energy", "sec.industry", "sec.construction", "sec.services.venta",
           "sec.services.nonventa"]
# The V (predictor importance) that pysyncon's nested Nelder-Mead search finds for this
# specification (benchmarks/comparison_basque.py runs the full search: 36 s on an idle machine;
# measured: W Cataluna 0.850816, Madrid 0.149184, V-loss 0.0088645, as pysyncon's own test); order: the six
# predictors, then the eight special predictors as listed in basque_dataprep.
BASQUE_V = [0.07265591131118936, 0.11977735797096481, 0.00348611111236121, 0.10218924724904274,
            0.010826785726535592, 5.321113161095386e-05, 0.11726096894436983, 0.06339260585731563,
            0.1553507718989243, 0.09586879967522352, 0.05308110700725482, 0.001634751878551123,
            0.023709712923440443, 0.1807126573132156]


def basque_dataprep():
    df = pd.read_csv(BASQUE)
    return Dataprep(
        foo=df,
        predictors=["school.illit", "school.prim", "school.med", "school.high", "school.post.high", "invest"],
        predictors_op="mean", time_predictors_prior=range(1964, 1970),
        special_predictors=[("gdpcap", range(1960, 1970), "mean")]
        + [(s, range(1961, 1970, 2), "mean") for s in SECTORS] + [("popdens", [1969], "mean")],
        dependent="gdpcap", unit_variable="regionname", time_variable="year", treatment_identifier=TREATED,
        controls_identifier=[r for r in df["regionname"].unique() if r != TREATED],  # Spain included: weight 0
        time_optimize_ssr=range(1960, 1970),
    )


def test_basque_weights_reproduce_abadie_gardeazabal():
    synth = Synth()
    synth.fit(dataprep=basque_dataprep(), custom_V=np.array(BASQUE_V))
    w = pd.Series(synth.W, index=basque_dataprep().controls_identifier)
    assert w["Cataluna"] == pytest.approx(0.8508, abs=1e-3)
    assert w["Madrid (Comunidad De)"] == pytest.approx(0.1492, abs=1e-3)
    assert w.drop(["Cataluna", "Madrid (Comunidad De)"]).max() < 1e-3


def _constructed_panel(effect=10.0, seed=3):
    rng = np.random.default_rng(seed)
    years = list(range(2013, 2026))
    codes = [f"D{i:02d}" for i in range(12)]
    series = {c: 40 + np.cumsum(rng.normal(0, 2, len(years))) + rng.normal(0, 5) for c in codes}
    treated = 0.7 * series["D00"] + 0.3 * series["D01"]
    treated = treated + np.where(np.array(years) > 2021, effect, 0.0)
    series["T00"] = treated
    rows = [(c, c, f"LA {c}", y, "rate", v, "test", "") for c, vals in series.items() for y, v in zip(years, vals)]
    frame = pd.DataFrame(rows, columns=["la_code_old", "la_code_ons", "la_name", "year", "measure", "value",
                                        "source", "flag"])
    frame["year"] = frame["year"].astype("Int64")
    return frame


def test_fit_recovers_weights_and_effect():
    panel = _constructed_panel()
    fit = fit_synthetic(panel, "rate", treated="T00")
    assert fit.weights["D00"] == pytest.approx(0.7, abs=0.03)
    assert fit.weights["D01"] == pytest.approx(0.3, abs=0.03)
    assert fit.pre_rmspe < 0.5
    assert fit.mean_post_gap == pytest.approx(10, abs=1)
    assert list(fit.series.loc[fit.series.period == "transition", "year"]) == [2021]


def test_placebos_and_leave_one_out():
    panel = _constructed_panel()
    pl = placebo_in_space(panel, "rate", treated="T00")
    t = pl[pl.is_treated].iloc[0]
    assert len(pl) == 13 and t["rank"] == 1 and t["p_value"] == pytest.approx(1 / 13)
    assert t["p_value_gap"] == pytest.approx(1 / 13)
    loo = leave_one_out(panel, "rate", treated="T00")
    assert set(loo["dropped_donor"]) >= {"D00", "D01"}
    it = placebo_in_time(panel, "rate", treated="T00")
    assert it.transition_year == 2019 and list(it.series.loc[it.series.period == "post", "year"]) == [2020]
    assert abs(it.mean_post_gap) < 2  # no effect before the real go-live


def test_no_effect_gives_a_large_p_value():
    panel = _constructed_panel(effect=0.0)
    pl = placebo_in_space(panel, "rate", treated="T00")
    assert pl.loc[pl.is_treated, "p_value"].iloc[0] > 0.1


def test_donor_pool_excludes_adopters_and_boundary_changes():
    from evaluation.comparison.panel import read_panel, wide
    table = wide(read_panel(), "cla_31mar_rate_per_10k_derived")
    pool = donor_pool(table, range(2013, 2026))
    assert not set(pool) & excluded_codes()
    assert {"931", "335", "919", "928", "838", "201"} & set(pool) == set()
    assert 120 < len(pool) < 140


def test_run_tables_shape():
    panel = _constructed_panel()
    res = run_synthetic_control(panel, treated="T00", measures=["rate"])
    inf = res["inference"].iloc[0]
    assert inf["placebo_rank"] == 1 and inf["placebo_units"] == 13
    assert set(res["effects"]["period"]) == {"pre", "transition", "post"}
    assert res["weights"]["weight"].sum() == pytest.approx(1, abs=1e-6)


def test_holdout_measures_pre_fit_on_unfitted_years():
    from evaluation.comparison.panel import wide
    table = wide(_constructed_panel(), "rate")
    donors = [c for c in table.index if c != "T00"]
    from evaluation.comparison.synthetic import fit_table
    f = fit_table(table, "T00", donors, 2021, "rate", holdout=2)
    assert f.extra["fit_years"] == list(range(2013, 2019))
    assert f.pre_rmspe < 1 and f.mean_post_gap == pytest.approx(10, abs=2)
    with pytest.raises(ValueError):
        fit_table(table, "T00", donors, 2021, "rate", holdout=7)


def test_augmented_synthetic_control_sensitivity():
    from evaluation.comparison.synthetic import fit_augmented
    fit = fit_augmented(_constructed_panel(), "rate", treated="T00")
    assert fit.weights.sum() == pytest.approx(1, abs=1e-6)
    assert fit.mean_post_gap == pytest.approx(10, abs=1.5)
    assert fit.extra["method"] == "augsynth" and fit.extra["lambda"] > 0
    res = run_synthetic_control(_constructed_panel(), treated="T00", measures=["rate"], placebos=False)
    assert res["inference"]["augsynth_mean_post_gap"].iloc[0] == pytest.approx(10, abs=1.5)


def test_placebo_units_are_the_fitted_donors_or_the_whole_pool():
    from evaluation.comparison.synthetic import placebo_fits
    panel = _constructed_panel()
    fits = placebo_fits(panel, "rate", treated="T00", max_donors=5)
    donors = set(fits[0].weights.index)
    assert len(fits) == 6 and {f.treated for f in fits[1:]} == donors
    for f in fits[1:]:  # each placebo is fitted from the other selected donors only
        assert set(f.weights.index) == donors - {f.treated}
    assert len(placebo_fits(panel, "rate", treated="T00", max_donors=5, units="pool")) == 13
    with pytest.raises(ValueError, match="units"):
        placebo_fits(panel, "rate", treated="T00", units="all")


def test_run_passes_the_holdout_to_every_fit():
    from evaluation.comparison.panel import wide
    from evaluation.comparison.synthetic import fit_table
    panel = _constructed_panel()
    res = run_synthetic_control(panel, treated="T00", measures=["rate"], holdout=2, augmented=False)
    inf = res["inference"].iloc[0]
    table = wide(panel, "rate")
    alone = fit_table(table, "T00", [c for c in table.index if c != "T00"], 2021, "rate", holdout=2)
    assert inf["holdout_years"] == 2 and inf["pre_rmspe"] == pytest.approx(alone.pre_rmspe, rel=1e-3)
    assert res["inference"]["augsynth_mean_post_gap"].isna().all()  # not asked for
    # (rel 1e-3: the run limits BLAS to one thread, which changes SLSQP's path in the last digits)
    # placebo rows measured the same way: on the held-out years
    assert res["placebos"].loc[0, "pre_rmspe"] == pytest.approx(alone.pre_rmspe, rel=1e-3)
    assert inf["in_time_mean_gap"] == pytest.approx(
        placebo_in_time(panel, "rate", treated="T00", holdout=2).mean_post_gap, abs=0.01)


def test_tables_keep_their_columns_whatever_the_options():
    """A stored table keeps its layout: placebos or the augmented fit switched off change no column."""
    from evaluation.comparison.synthetic import TABLE_COLUMNS
    panel = _constructed_panel()
    full = run_synthetic_control(panel, treated="T00", measures=["rate"])
    bare = run_synthetic_control(panel, treated="T00", measures=["rate"], placebos=False, augmented=False)
    for name, columns in TABLE_COLUMNS.items():
        assert list(full[name].columns) == columns == list(bare[name].columns), name
    assert bare["placebos"].empty and bare["inference"]["placebo_p"].isna().all()
    assert bare["placebos"]["p_value"].dtype == "float64" and bare["placebo_gaps"]["year"].dtype == "int64"
    assert full["inference"]["augsynth_error"].isna().all() and full["inference"]["placebo_rank"].notna().all()
