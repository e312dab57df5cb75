"""The "Against comparison areas" part of the release: tables, figures and the report section.

Built from the ``comparison`` asset group's tables (DfE's published local-authority statistics:
synthetic control of the treated council, staggered adoption across Family Safeguarding
councils). These are public aggregates, so they need no suppression; every released table
carries ``attrs["disclosure"]["public_source"]``, which the output checker's log records
(:meth:`evaluation.disclosure.OutputLog.add`).

* :func:`comparison_tables` — the released tables (names in :data:`COMPARISON_SCHEMAS`);
* :func:`comparison_figure_plan` / :func:`comparison_figures` — the council against its
  synthetic control with the placebo cloud, and the event study, one figure per rate;
* :func:`comparison_section` — the section's title, paragraphs, figure and table names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from evaluation.comparison.figures import event_study_figure, synthetic_control_figure
from evaluation.comparison.panel import RATES

TITLE = "Against comparison areas"

#: What the output log records as the tables' public source.
PUBLIC_SOURCE = ("DfE published local-authority statistics: 'Children looked after in England including "
                 "adoptions' and 'Characteristics of children in need' (explore-education-statistics and "
                 "earlier SFR tables), with ONS mid-year 0-17 population; Open Government Licence v3.0. "
                 "Bundled as evaluation/comparison/data/panel.csv.gz (provenance in its README.md); "
                 "adopters' go-live dates from the public documents named in comparison_adopters.")
DISCLOSURE = {"public_source": PUBLIC_SOURCE,
              "suppression": "none needed: published local-authority aggregates, no child-level data"}

#: Short names of the rates, for figure names and the report.
SHORT = {m: m.replace("_rate_per_10k_derived", "") for m in RATES}

#: Released table -> (description, column meanings).
COMPARISON_SCHEMAS: dict[str, tuple[str, dict[str, str]]] = {
    "comparison_adopters": (
        "Councils that adopted Family Safeguarding, go-live dates and the public source of each; undated "
        "rows are left out of the staggered analysis and kept out of every donor pool.",
        {"la_code_old": "DfE 3-digit LA code", "la_code_ons": "ONS code", "la_name": "council",
         "go_live": "go-live date (ISO)", "date_precision": "day, month, year or unknown",
         "sourced": "a public document gives the go-live month or day", "programme": "programme / route",
         "source": "the public document", "first_year": "DfE year (ending 31 March) containing go-live"}),
    "comparison_effects": (
        "The treated council against its synthetic control, by rate and DfE year (ending 31 March).",
        {"council": "DfE code of the treated council", "council_name": "treated council",
         "measure": "rate compared", "year": "year ending 31 March",
         "period": "pre, transition (contains go-live) or post", "council_value": "the council's published rate",
         "synthetic": "weighted mix of donor councils", "gap": "council minus synthetic"}),
    "comparison_donor_weights": (
        "Donor councils' weights in each synthetic control (weights above 0.0001; they sum to 1).",
        {"measure": "rate compared", "donor": "DfE code of the donor", "la_name": "donor council",
         "weight": "weight"}),
    "comparison_placebo_tests": (
        "Fit and inference of each synthetic control: pre-period fit, post/pre RMSPE ratio with its "
        "placebo-in-space permutation p-value, the mean post gap with its permutation p-value, the "
        "in-time placebo, leave-one-donor-out range and the augmented synthetic control.",
        {"measure": "rate compared", "council": "treated council code", "council_name": "treated council",
         "donor_pool": "never-adopters with a complete series", "n_donors": "donors used (nearest in the "
         "pre-period)", "holdout_years": "last pre-period years held out of the weights' fit",
         "pre_rmspe": "root mean squared gap before go-live (on the held-out years when holdout > 0)",
         "pre_rmspe_pct_of_mean": "pre_rmspe as % of the council's pre-period mean",
         "post_rmspe": "root mean squared gap after the transition year", "ratio": "post_rmspe / pre_rmspe",
         "mean_post_gap": "mean gap after the transition year", "mean_post_gap_pct": "as % of the synthetic",
         "placebo_rank": "rank of the council's ratio among council and placebos (1 = largest)",
         "placebo_units": "council plus placebo units", "placebo_p": "placebo_rank / placebo_units",
         "placebo_p_gap": "the same for the absolute mean post gap",
         "placebos_pre_rmspe_below_treated": "placebos fitted more closely than the council before go-live",
         "in_time_ratio": "post/pre ratio with go-live moved back", "in_time_mean_gap": "its mean fake-post gap",
         "loo_min_gap": "smallest mean post gap leaving one donor out", "loo_max_gap": "largest",
         "augsynth_pre_rmspe": "augmented (ridge) synthetic control: pre-period RMSPE",
         "augsynth_mean_post_gap": "augmented synthetic control: mean post gap",
         "augsynth_lambda": "its ridge penalty (cross-validated)",
         "augsynth_error": "why the augmented fit failed, if it did (a sensitivity analysis: the rest stands)"}),
    "comparison_placebo_gaps": (
        "Every placebo unit's gap by year (the grey cloud of the synthetic-control figure).",
        {"measure": "rate compared", "unit": "DfE code of the placebo council", "year": "year ending 31 March",
         "period": "pre, transition or post", "gap": "placebo council minus its synthetic control",
         "pre_rmspe": "the placebo's pre-period RMSPE"}),
    "comparison_leave_one_out": (
        "The synthetic control refitted with each donor of weight >= 0.001 left out.",
        {"measure": "rate compared", "dropped_donor": "donor left out", "dropped_weight": "its weight",
         "pre_rmspe": "pre-period RMSPE of the refit", "post_rmspe": "post-period RMSPE",
         "ratio": "post/pre ratio", "mean_post_gap": "mean post gap of the refit"}),
    "comparison_group_time": (
        "Callaway & Sant'Anna group-time average effects, ATT(g,t), of Family Safeguarding adoption.",
        {"measure": "rate", "control_group": "never_treated or not_yet_treated",
         "cohort": "adoption cohort (DfE year containing go-live)", "base_period": "comparison year",
         "year": "year ending 31 March", "att": "average effect on the adopters of the cohort",
         "se": "analytic standard error", "ci_lower": "lower 95% limit", "ci_upper": "upper 95% limit"}),
    "comparison_event_study": (
        "Event study: effects by years relative to the go-live year (0 = the year containing go-live).",
        {"measure": "rate", "control_group": "never_treated or not_yet_treated",
         "relative_period": "years relative to the go-live year", "att": "average effect", "se": "standard error",
         "ci_lower": "lower 95% limit", "ci_upper": "upper 95% limit"}),
    "comparison_overall_effects": (
        "Overall effect of adoption per rate: simple (cohort-size weighted), group (R did's default) "
        "and dynamic (mean over event times >= 0).",
        {"measure": "rate", "control_group": "never_treated or not_yet_treated",
         "aggregation": "simple, group or dynamic", "att": "overall effect", "se": "standard error",
         "ci_lower": "lower 95% limit", "ci_upper": "upper 95% limit"}),
}

#: Released table -> the comparison asset output it comes from.
SOURCES = {"comparison_adopters": "adopters", "comparison_effects": "synthetic_effects",
           "comparison_donor_weights": "synthetic_weights", "comparison_placebo_tests": "synthetic_inference",
           "comparison_placebo_gaps": "synthetic_placebo_gaps", "comparison_leave_one_out": "synthetic_leave_one_out",
           "comparison_group_time": "staggered_group_time", "comparison_event_study": "staggered_event_study",
           "comparison_overall_effects": "staggered_overall"}


def comparison_tables(results: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The released comparison tables from the comparison group's outputs (keys of
    :data:`SOURCES`' values; missing ones are skipped), each marked with its public source."""
    out: dict[str, pd.DataFrame] = {}
    for name, source in SOURCES.items():
        frame = results.get(source)
        if frame is None:
            continue
        table = frame.copy()
        if name == "comparison_effects":
            table = table.rename(columns={"treated": "council_value"})
        if name == "comparison_group_time":
            table = table.rename(columns={"time": "year"})
        if name == "comparison_adopters" and "go_live" in table:
            table["go_live"] = pd.to_datetime(table["go_live"]).dt.strftime("%Y-%m-%d")
        order = [c for c in COMPARISON_SCHEMAS[name][1] if c in table.columns]
        table = table[order + [c for c in table.columns if c not in order]].reset_index(drop=True)
        table.attrs = {"disclosure": dict(DISCLOSURE)}
        out[name] = table
    return out


# ------------------------------------------------------------------------------- figures

def _council_name(tables: Mapping[str, pd.DataFrame]) -> str:
    effects = tables.get("comparison_effects")
    if effects is not None and "council_name" in effects and len(effects):
        return str(effects["council_name"].iloc[0])
    return "Council"


def _synthetic(measure: str, tables: Mapping[str, pd.DataFrame]):
    def draw(table: pd.DataFrame, path: Path) -> Path:
        effects = table.rename(columns={"council_value": "treated"})
        gaps = tables.get("comparison_placebo_gaps")
        gaps = gaps[gaps["measure"] == measure] if gaps is not None and len(gaps) else None
        tests = tables.get("comparison_placebo_tests")
        pre = None
        if tests is not None and len(tests):
            row = tests[tests["measure"] == measure]
            pre = float(row["pre_rmspe"].iloc[0]) if len(row) else None
        return synthetic_control_figure(effects, measure, path, gaps, treated_name=_council_name(tables),
                                        pre_rmspe=pre)
    return draw


def _event(measure: str):
    def draw(table: pd.DataFrame, path: Path) -> Path:
        return event_study_figure(table, measure, path, control_group="never_treated")
    return draw


def comparison_figure_plan(tables: Mapping[str, pd.DataFrame]) -> list[tuple[str, str, Callable]]:
    """``(figure name, released table it is drawn from, draw(table, path))`` for every figure the
    released comparison tables support: one synthetic-control figure and one event study per rate."""
    plan = []
    effects = tables.get("comparison_effects")
    if effects is not None and len(effects):
        for measure in [m for m in RATES if (effects["measure"] == m).any()]:
            plan.append((f"comparison_synthetic_{SHORT[measure]}", "comparison_effects", _synthetic(measure, tables)))
    event = tables.get("comparison_event_study")
    if event is not None and len(event):
        never = event[event["control_group"] == "never_treated"]
        for measure in [m for m in RATES if (never["measure"] == m).any()]:
            plan.append((f"comparison_event_study_{SHORT[measure]}", "comparison_event_study", _event(measure)))
    return plan


def comparison_figures(tables: Mapping[str, pd.DataFrame], directory: str | Path) -> dict[str, Path]:
    """Draw :func:`comparison_figure_plan` into ``directory``; returns ``{figure name: PNG path}``."""
    directory = Path(directory)
    return {name: draw(tables[table], directory / f"{name}.png")
            for name, table, draw in comparison_figure_plan(tables)}


# ------------------------------------------------------------------------------- section

CAN_AND_CANNOT = (
    "These comparisons use DfE's published figures for every council in England, not the children's "
    "records analysed above. Go-live (1 November 2020 for Oxfordshire) fell days before the second "
    "national lockdown; a before/after comparison inside one council cannot tell the programme from "
    "Covid, court backlogs or national trends. Comparing with councils that went through the same years "
    "without the programme can.",
    "Synthetic control: the council's published rates are set against a weighted mix of councils that "
    "never adopted Family Safeguarding and tracked it before go-live (weights fitted on the earlier "
    "pre-period years; the last pre-period years are held out to measure the fit honestly). The year "
    "containing go-live is a transition year. It can show whether the council's rates left the path of "
    "similar councils after go-live. It cannot separate the programme from anything else that changed in "
    "that council alone, it gives a permutation rank rather than a confidence interval (with about 40 "
    "placebo councils the smallest possible p-value is about 0.025), and a gap means little where the "
    "pre-period fit is poor or where the in-time placebo (go-live moved back two years) finds a gap as "
    "large.",
    "Staggered adoption (Callaway & Sant'Anna): every council with a sourced go-live date is compared "
    "with councils that had not (yet) adopted, year by year. It says something about Family Safeguarding "
    "in general rather than about one council. It cannot rule out that adopters were chosen for high or "
    "rising demand (regression to the mean), its intervals rest on a handful of adopters and are "
    "descriptive, pre-go-live estimates test parallel trends only roughly, and councils that adopted "
    "without a documented date sit among the controls.",
    "Neither design says anything about individual children's time in need, on a plan or in care: the "
    "outcomes are annual rates per 10,000 children or percentages, for whole councils.",
)


def _rate(measure: str) -> str:
    """A rate's name for a sentence: 'children looked after at 31 March'."""
    name = RATES.get(measure, measure).split(",")[0]
    return name[:1].lower() + name[1:]


def _fmt(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x:+.1f}"


def _findings(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    out = []
    tests = tables.get("comparison_placebo_tests")
    if tests is not None and len(tests):
        name = _council_name(tables)
        parts = []
        for row in tests.itertuples(index=False):
            p = getattr(row, "placebo_p_gap", np.nan)
            parts.append(f"{_rate(row.measure)} {_fmt(row.mean_post_gap)} (permutation p {p:.2f})"
                         if pd.notna(p) else f"{_rate(row.measure)} {_fmt(row.mean_post_gap)}")
        out.append(f"{name} minus its synthetic control, mean over the years after the transition year: "
                   + "; ".join(parts) + ". The p-value ranks the size of the council's mean gap among the "
                   "placebo councils'.")
    overall = tables.get("comparison_overall_effects")
    if overall is not None and len(overall):
        rows = overall[(overall["aggregation"] == "group") & (overall["control_group"] == "never_treated")]
        if len(rows):
            parts = [f"{_rate(r.measure)} {_fmt(r.att)} "
                     f"(95% CI {r.ci_lower:.1f} to {r.ci_upper:.1f})" for r in rows.itertuples(index=False)]
            n = tables.get("comparison_adopters")
            dated = int(n["sourced"].astype(bool).sum()) if n is not None and "sourced" in n else None
            who = f"the {dated} councils with a sourced go-live" if dated else "the adopting councils"
            out.append(f"Staggered adoption, overall effect on {who} against never-adopters: "
                       + "; ".join(parts) + ".")
    return out


def comparison_section(tables: Mapping[str, pd.DataFrame]) -> dict:
    """The report section "Against comparison areas", from the released tables.

    Returns ``{"key": "comparison_areas", "title": TITLE, "paragraphs": [HTML paragraphs (text
    already escaped, as :class:`markupsafe.Markup`, so safe to insert as they are)], "figures":
    [figure names, as drawn by :func:`comparison_figures`], "tables": [released table names],
    "produced": bool}``. ``produced`` is False (and the figures and tables lists empty) when the run
    released no comparison tables. What each design can and cannot show comes first, then the
    findings read from the released tables.
    """
    names = [n for n in COMPARISON_SCHEMAS if tables.get(n) is not None]
    figures = [name for name, _, _ in comparison_figure_plan(tables)]
    produced = bool(names)
    paragraphs: list[Markup] = [escape(p) for p in list(CAN_AND_CANNOT) + (_findings(tables) if produced else [])]
    return {"key": "comparison_areas", "title": TITLE, "paragraphs": paragraphs, "figures": figures,
            "tables": names, "produced": produced}


__all__ = ["COMPARISON_SCHEMAS", "PUBLIC_SOURCE", "TITLE", "comparison_figure_plan", "comparison_figures",
           "comparison_section", "comparison_tables"]
