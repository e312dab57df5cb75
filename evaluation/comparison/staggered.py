"""Staggered adoption: Callaway & Sant'Anna (2021) group-time effects across adopting councils.

Estimation is the ``differences`` package's :class:`differences.ATTgt` (checked in the tests
against R ``did``'s published ``mpdta`` example). Cohort = the DfE year (ending 31 March) that
contains go-live, so event time 0 is the transition year (Oxfordshire: 2021 = 2020/21). Only
adopters with a sourced go-live date are treated units; adopters without one are dropped (they
are neither treated nor clean controls). Boundary-changed and tiny councils are dropped.
Councils are kept only with a complete series of the outcome (a balanced panel).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from differences import ATTgt
from differences.models.attgt.attgt_cal import get_standard_errors
from differences.models.attgt.results import ATTgtResult
from differences.models.attgt.utility_ntl import (ATTgtElements, extract_dict_ntl, get_sparse_array,
                                                  output_dict_to_dataframe, preprocess_est_method,
                                                  preprocess_fit_cluster_arg)
from differences.models.did.did_cal import did_cal_funcs, get_method_tuple
from scipy.sparse import csr_array, lil_array

from .adopters import adopters
from .panel import BOUNDARY_CHANGED, RATES, TOO_SMALL, read_panel, wide

CONTROL_GROUPS = ("never_treated", "not_yet_treated")


def did_frame(panel: pd.DataFrame, measure: str, years=None, adopters_table: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """Long frame ``la_code_old, year, y, cohort`` (cohort NaN = never treated), balanced."""
    table = wide(panel, measure)
    years = sorted(int(y) for y in table.columns) if years is None else list(years)
    table = table.reindex(columns=years)
    ad = adopters() if adopters_table is None else adopters_table
    dated = ad[ad["sourced"] & ad["first_year"].notna()]
    cohorts = dict(zip(dated["la_code_old"], dated["first_year"].astype(int)))
    drop = (set(ad["la_code_old"]) - set(cohorts)) | set(BOUNDARY_CHANGED) | set(TOO_SMALL)
    table = table[table.notna().all(axis=1) & ~table.index.isin(list(drop))]
    long = table.stack().rename("y").reset_index()
    long.columns = ["la_code_old", "year", "y"]
    long["year"] = long["year"].astype(int)
    long["cohort"] = long["la_code_old"].map(cohorts).astype(float)
    long["unit"] = pd.factorize(long["la_code_old"])[0]
    return long


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "att": frame.xs("ATT", axis=1, level=-1).iloc[:, 0],
        "se": frame.xs("std_error", axis=1, level=-1).iloc[:, 0],
        "ci_lower": frame.xs("lower", axis=1, level=-1).iloc[:, 0],
        "ci_upper": frame.xs("upper", axis=1, level=-1).iloc[:, 0],
    })
    return out.reset_index()


class GroupTimeATT(ATTgt):
    """:class:`differences.ATTgt` whose group-time step works on arrays.

    For a balanced panel without covariates (``formula`` the outcome alone), no weights, sample
    split, clusters or bootstrap, :meth:`fit` runs the statements of ``ATTgt.fit`` (differences
    0.3.0) itself, except that each group-time's 2x2 comparison is taken from numpy arrays made once
    (:meth:`_group_time_elements`) instead of ``did_single_gt``'s pandas masks, copies and
    ``panel_2_cross_section_diff`` per group-time (nine tenths of the staggered step's time): the
    same rows in the same order, handed to the same estimator function (``reg_did_panel``) with
    the same dtypes, the influence function scaled and stored the same way. The standard errors,
    results and aggregations are the library's own. tests/test_comparison_staggered.py holds every
    table to the stock ``ATTgt`` bit for bit (LA panel, both control groups; R did's mpdta).
    Anything else goes to ``ATTgt.fit`` unchanged.
    """

    def _arrays_apply(self, formula: str, est_method) -> bool:
        return ("~" not in formula and formula in self.data.columns and est_method == "reg" and self.is_panel
                and getattr(self, "is_balanced_panel", False) and self.dosage_column is None
                and bool(self.data[formula].notna().all()))

    def fit(self, formula: str, est_method="reg", control_group: str = "never_treated",
            progress_bar: bool = True):
        if not self._arrays_apply(formula, est_method):
            return super().fit(formula, est_method=est_method, control_group=control_group,
                               progress_bar=progress_bar)
        # ATTgt.fit's statements for these settings (weights_column, sample_split_column, cluster_var,
        # files_path None; alpha 0.05; boot_iterations 0; n_jobs 1; base_delta "base")
        self._y = self._y_name = formula
        self._x_formula = "1"
        self._control_group = control_group
        if self._no_never_treated_flag and self._control_group == "never_treated":
            raise ValueError("there is no never treated entity. use not_yet_treated as control cohort")
        self._as_rcs = False
        self._cluster_var_fit, self._cluster_by_entity = preprocess_fit_cluster_arg(
            cluster_var=None, entity_name=self._entity_name, true_rc=False)
        y_matrix = self._create_data_matrix(is_panel=True)
        if self._dropped_nas_flag:  # not expected: the outcome has no missing value (_arrays_apply)
            return super().fit(formula, est_method=est_method, control_group=control_group,
                               progress_bar=progress_bar)
        self._preprocess_covariates(is_panel=True, base_delta="base", y_matrix=y_matrix)
        add_cols = [self.cohort_column]
        self._data_matrix[add_cols] = self.data[add_cols].loc[lambda x: x.index.isin(self._data_matrix.index)]
        self._weights_column = "_w"
        self._data_matrix["_w"] = 1
        self._create_result_dict(sample_split_column=None)
        self.est_method = est_method
        method, method_pscore = preprocess_est_method(est_method=est_method)
        self._method_tuple = get_method_tuple(method, method_pscore, "panel")
        att_function = did_cal_funcs[self._method_tuple]
        self._aggregate_cflag = None
        res = self._group_time_elements(att_function)
        res = get_standard_errors(ntl=res, cluster_groups=None, alpha=0.05, boot_iterations=0,
                                  random_state=None, n_jobs_boot=1, backend_boot="loky",
                                  progress_bar=progress_bar, sample_name=None, release_workers=False)
        self._result_dict["full_sample"]["ATTgt_ntl"] = res
        self._fit_res = output_dict_to_dataframe(extract_dict_ntl(self._result_dict), stratum=bool(self._dosages),
                                                 date_map=self._map_datetime)
        return ATTgtResult(att_gt=self._result_dict, data_matrix=self._data_matrix, dosages=self._dosages,
                           weights_column=self._weights_column, cluster_by_entity=self._cluster_by_entity)

    def _group_time_elements(self, att_function) -> list[ATTgtElements]:
        """``get_att_gt``'s list for a balanced panel: ``did_single_gt`` of every group-time, on arrays.

        The data matrix is sorted by entity and time with every entity in every period, so a
        group-time's sample is the treated and control entities' rows at its two periods; the
        library's 2x2 cross-section keeps, in entity order, the rows of the earlier period with the
        outcome replaced by (outcome at ``time``) - (outcome at ``base_period``)."""
        data = self._data_matrix
        entity_codes, entities = pd.factorize(data.index.get_level_values(0))  # positions in entities
        n_total = len(entities)  # factorize's uniques
        times = data.index.get_level_values(1).to_numpy()
        cohorts = data[self.cohort_column].to_numpy()
        y = data[self._y].to_numpy()
        exog = data[self._x_covariates].to_numpy()
        weights = data[self._weights_column].to_numpy()
        never = data[self.cohort_column].isnull().to_numpy()
        anticipation, control_group = self.anticipation, self._control_group
        # the reference period's dummy: entities in sorted order (groupby), each one's first cohort
        first_rows = np.unique(entity_codes, return_index=True)[1]
        order = np.argsort(entities.to_numpy(), kind="stable")
        entity_cohort = cohorts[first_rows][order]
        out = []
        for gt in self.group_time:
            cohort, base_period, time = gt["cohort"], gt["base_period"], gt["time"]
            common = dict(cohort=cohort, base_period=base_period, time=time, stratum=None,
                          anticipation=anticipation, control_group=control_group)
            if base_period == time:
                out.append(ATTgtElements(
                    **common, n_sample=np.nan, n_total=n_total,
                    cohort_dummy=csr_array((entity_cohort == cohort).astype(int)[:, None]),
                    cohort_stratum_dummy=None, stratum_dummy=None, exception=None, ATT=0,
                    influence_func=csr_array((n_total, 1))))
                continue
            treated = cohorts == cohort
            control = never.copy()
            if control_group == "not_yet_treated":
                control = control | (~treated & (cohorts > max(time, base_period) + anticipation))
            at_time = times == time
            rows = (treated | control) & (at_time | (times == base_period))
            treated_entities = np.zeros(len(entities), dtype=bool)
            treated_entities[entity_codes[rows & treated]] = True
            control_entities = np.zeros(len(entities), dtype=bool)
            control_entities[entity_codes[rows & control]] = True
            cohort_dummy = csr_array(treated_entities.astype(int)[:, None])
            tc_bool = treated_entities | control_entities
            sample_idx = np.argwhere(tc_bool).flatten()
            n_sample = np.sum(tc_bool)
            kept = rows & (at_time if time < base_period else ~at_time)
            endog = y[rows & at_time] - y[rows & ~at_time]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=RuntimeWarning)
                    result = att_function(endog=endog, exog=exog[kept], treated=treated[kept].astype(int),
                                          weights=weights[kept], post=None)
            except Exception as ex:  # as did_single_gt: the group-time is reported as failed
                out.append(ATTgtElements(**common, n_sample=n_sample, n_total=n_total, cohort_dummy=None,
                                         cohort_stratum_dummy=None, stratum_dummy=None, exception=ex,
                                         ATT=np.nan, influence_func=None))
                continue
            influence_func = result["influence_func"].flatten()
            influence_func *= n_total / n_sample
            influence_func = get_sparse_array(nrows=n_total, ary=influence_func, fill_idx=sample_idx,
                                              sparse_func=lil_array)
            out.append(ATTgtElements(**common, n_sample=n_sample, n_total=n_total, cohort_dummy=cohort_dummy,
                                     cohort_stratum_dummy=None, stratum_dummy=None, exception=None,
                                     ATT=result["att"], influence_func=influence_func))
        return out


def fit_attgt(data: pd.DataFrame, outcome: str = "y", unit: str = "unit", time: str = "year",
              cohort: str = "cohort", control_group: str = "never_treated", est_method: str = "reg",
              formula: str | None = None):
    """Fit :class:`differences.ATTgt` (as :class:`GroupTimeATT`) on a long frame; returns the fitted object."""
    d = data.set_index([unit, time])
    att = GroupTimeATT(data=d, cohort_column=cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att.fit(formula=formula or outcome, est_method=est_method, control_group=control_group,
                progress_bar=False)
    return att


def summarise_attgt(att) -> dict[str, pd.DataFrame]:
    """Tidy tables from a fitted ATTgt: group-time, event study, and the overall effects
    (``simple``: cohort-size weighted mean of post ATT(g,t); ``group``: mean over cohorts of each
    cohort's mean effect, R did's default; ``dynamic``: mean over post event times)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = _tidy(att.results())
        event = _tidy(att.aggregate("event"))
        overall = pd.concat([
            _tidy(att.aggregate("simple")).assign(aggregation="simple"),
            _tidy(att.aggregate("cohort", overall=True)).assign(aggregation="group"),
            _tidy(att.aggregate("event", overall=True)).assign(aggregation="dynamic"),
        ], ignore_index=True).drop(columns="index")
    return {"group_time": gt, "event": event, "overall": overall[["aggregation", "att", "se", "ci_lower", "ci_upper"]]}


def run_staggered(panel: pd.DataFrame | None = None, measures=None, control_groups=CONTROL_GROUPS,
                  years=None, adopters_table: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Group-time ATTs, event study and overall effects for each rate and control group
    (``adopters_table`` default: :func:`~evaluation.comparison.adopters.adopters`).

    Returns tidy tables ``group_time`` (measure, control_group, cohort, base_period, year, att,
    se, ci), ``event`` (measure, control_group, relative_period, ...), ``overall`` (measure,
    control_group, aggregation, ...) and ``cohorts`` (the treated councils used).
    """
    panel = read_panel() if panel is None else panel
    measures = list(RATES) if measures is None else list(measures)
    out = {"group_time": [], "event": [], "overall": [], "cohorts": []}
    for m in measures:
        data = did_frame(panel, m, years, adopters_table)
        treated = data.dropna(subset=["cohort"]).drop_duplicates("la_code_old")
        out["cohorts"].append(treated[["la_code_old", "cohort"]].assign(measure=m, n_units=data["unit"].nunique()))
        for cg in control_groups:
            res = summarise_attgt(fit_attgt(data, control_group=cg))
            for k, v in res.items():
                out[k].append(v.assign(measure=m, control_group=cg))
    tables = {k: pd.concat(v, ignore_index=True) for k, v in out.items()}
    for k in ("group_time", "event", "overall"):
        cols = ["measure", "control_group"] + [c for c in tables[k].columns if c not in ("measure", "control_group")]
        tables[k] = tables[k][cols]
    tables["cohorts"]["cohort"] = tables["cohorts"]["cohort"].astype(int)
    return tables


__all__ = ["GroupTimeATT", "did_frame", "fit_attgt", "summarise_attgt", "run_staggered", "CONTROL_GROUPS"]
