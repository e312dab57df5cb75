"""The report's first screen, and each outcome's one-paragraph reading, written from released tables.

Every number in these sentences is *quoted*: read from one cell of a released
(disclosure-controlled) table, formatted, and wrapped in a ``<data>`` element
naming the table, row and column it came from (or, for a count of checks, the
rows it counts), so a test or a reader can trace it. A cell that disclosure
control blanked is said to be suppressed, never replaced by a number. Nothing
here types a result.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from evaluation.figures.style import readable

POST_VS_PRE = "post_fsp vs pre_fsp"
#: Outcomes of the headline, in the order a reader asks about them, with who they are about.
HEADLINE_OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("time_in_need", "Time in need", "Among all children referred"),
    ("time_on_cin_plan", "Time on a CIN plan†", "Among children who started a CIN plan"),
    ("time_in_protection", "Time on a child protection (CP) plan", "Among children who started a CP plan"),
    ("time_in_care", "Time in care", "Among children who entered care"),
)
#: Where a child is, per outcome, in words ("spent ... days in need").
STATE_WORDS: dict[str, tuple[str, str]] = {
    "time_in_need": ("in need", "need"), "time_on_cin_plan": ("on the CIN plan", "the CIN plan"),
    "time_in_protection": ("on the CP plan", "the CP plan"), "time_in_care": ("in care", "care"),
}
#: Proportions reaching a more intensive level, read as children per 1,000 referred.
REACHING: tuple[tuple[str, str], ...] = (
    ("reached_cp_plan", "a CP plan"), ("reached_care", "care"), ("reached_cp_plan_or_care", "a CP plan or care"),
)
SUPPRESSED_TEXT = "suppressed (too few children to show)"


# -------------------------------------------------------------------------- quoting

def _number(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out



def format_quote(value: float, kind: str) -> str:
    """The text of a quoted number of ``kind`` (days / per1000 carry direction words)."""
    if kind == "days":
        return f"{abs(value):,.0f} {'fewer' if value < 0 else 'more'}"
    if kind == "per1000":
        return f"{abs(value) * 1000:,.0f} {'fewer' if value < 0 else 'more'}"
    if kind == "rate":
        return f"{abs(value):,.1f} {'lower' if value < 0 else 'higher'}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"= {value:.2g}"
    if kind in ("count", "whole"):
        return f"{value:,.0f}"
    raise ValueError(f"unknown kind of quoted number {kind!r}")


def quote(tables: Mapping[str, pd.DataFrame], table: str, row: int, column: str, kind: str) -> Markup:
    """One released cell as text, wrapped with where it came from; a blanked cell is said to be suppressed."""
    value = _number(tables[table].iloc[row][column])
    if math.isnan(value):
        return Markup('<data class="suppressed" data-table="{}" data-row="{}" data-column="{}">{}</data>').format(
            table, row, column, SUPPRESSED_TEXT)
    return Markup('<data class="quoted" value="{}" data-table="{}" data-row="{}" data-column="{}" '
                  'data-kind="{}">{}</data>').format(repr(value), table, row, column, kind,
                                                     format_quote(value, kind))


def quote_count(tables: Mapping[str, pd.DataFrame], table: str, where: Mapping[str, Any]) -> Markup:
    """The number of rows of a released table matching ``where`` (column -> value), traceably."""
    frame = tables[table]
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).fillna(False).to_numpy(dtype=bool)
    count = int(mask.sum())
    return Markup('<data class="quoted" value="{}" data-table="{}" data-where="{}" data-kind="count">{}</data>'
                  ).format(count, table, json.dumps(dict(where)), format_quote(count, "count"))


def _matching(table: pd.DataFrame | None, where: dict) -> np.ndarray:
    """Positions of the rows matching ``where`` (none when the table or a column is absent)."""
    if table is None or table.empty or any(column not in table for column in where):
        return np.array([], dtype=np.int64)
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).fillna(False).to_numpy(dtype=bool)
    return np.flatnonzero(mask)


def non_proportional(tables) -> list[tuple[str, int, float]]:
    """Headline outcomes whose post-FSP hazard ratio fails cox.zph (p < 0.05): outcome, its row in
    ``ph_tests`` and the p-value."""
    ph = tables.get("ph_tests")
    out = []
    for outcome, _, _ in HEADLINE_OUTCOMES:
        row = _first(ph, outcome=outcome, analysis="cox_adjusted_zph", term="cohort")
        if row is None:
            continue
        p = _number(ph.iloc[row]["p_value"])
        if not math.isnan(p) and p < 0.05:
            out.append((outcome, row, p))
    return out


def _first(table: pd.DataFrame | None, **where) -> int | None:
    """Position of the first row matching ``where`` (None when the table or row is absent)."""
    hits = _matching(table, where)
    return int(hits[0]) if len(hits) else None


def _latest(table: pd.DataFrame | None, **where) -> int | None:
    """Position of the matching row at the longest horizon (``time``)."""
    hits = _matching(table, where)
    if not len(hits):
        return None
    times = pd.to_numeric(table["time"].iloc[hits], errors="coerce").to_numpy(dtype=float)
    if np.isnan(times).all():
        return int(hits[0])
    return int(hits[int(np.nanargmax(times))])


def _interval(tables, name: str, row: int, kind: str) -> Markup:
    lower, upper = (quote(tables, name, row, c, kind) for c in ("ci_lower", "ci_upper"))
    return Markup("95% CI {} to {}").format(lower, upper)


def _blanked(tables, name: str, row: int) -> bool:
    return math.isnan(_number(tables[name].iloc[row]["estimate"]))


# -------------------------------------------------------------------------- sentences

def _clear(tables, name: str, row: int, null: float) -> int:
    """-1 / +1 when the 95% interval lies wholly below / above ``null``; 0 when it includes it."""
    lower, upper = (_number(tables[name].iloc[row][c]) for c in ("ci_lower", "ci_upper"))
    if math.isnan(lower) or math.isnan(upper):
        return 0
    return -1 if upper < null else (1 if lower > null else 0)


def outcome_sentence(tables: Mapping[str, pd.DataFrame], outcome: str) -> Markup | None:
    """Post-FSP against pre-FSP for one outcome: restricted mean days, then the adjusted hazard ratio,
    each with its 95% interval and a plain reading of whether the interval rules out no difference."""
    title = next((t for o, t, _ in HEADLINE_OUTCOMES if o == outcome), readable(outcome))
    who = next((w for o, _, w in HEADLINE_OUTCOMES if o == outcome), "Among children")
    where, leaving = STATE_WORDS.get(outcome, ("in this state", "the state"))
    parts = []
    rmst = tables.get("rmst_differences")
    row = _latest(rmst, outcome=outcome, term="rmst_difference", contrast=POST_VS_PRE)
    if row is not None:
        horizon = quote(tables, "rmst_differences", row, "time", "whole")
        if _blanked(tables, "rmst_differences", row):
            parts.append(Markup("{}, the difference in mean days {} over the first {} days between children "
                                "referred after and before go-live is {}.").format(
                who, where, horizon, quote(tables, "rmst_differences", row, "estimate", "days")))
        else:
            clear = _clear(tables, "rmst_differences", row, 0.0)
            reading = ("the interval includes no difference" if clear == 0 else
                       "the interval excludes no difference")
            parts.append(Markup("{}, those referred after go-live spent on average <strong>{} days</strong> {} "
                                "over the first {} days than those referred before ({}; {}).").format(
                who, quote(tables, "rmst_differences", row, "estimate", "days"), where, horizon,
                _interval(tables, "rmst_differences", row, "days"), reading))
    hazard = tables.get("hazard_ratios")
    row = _first(hazard, outcome=outcome, analysis="cox_adjusted", contrast=POST_VS_PRE)
    if row is not None:
        if _blanked(tables, "hazard_ratios", row):
            parts.append(Markup("The adjusted hazard ratio is {}.").format(
                quote(tables, "hazard_ratios", row, "estimate", "ratio")))
        else:
            clear = _clear(tables, "hazard_ratios", row, 1.0)
            reading = {0: f"no clear difference in how soon children left {leaving}",
                       1: f"children left {leaving} sooner after go-live",
                       -1: f"children left {leaving} more slowly after go-live"}[clear]
            parts.append(Markup("Adjusted hazard ratio of leaving {} ({}): {}.").format(
                quote(tables, "hazard_ratios", row, "estimate", "ratio"),
                _interval(tables, "hazard_ratios", row, "ratio"), reading))
    if not parts:
        return None
    return Markup("<strong>{}.</strong> ").format(title) + Markup(" ").join(parts)


def headline_item(tables: Mapping[str, pd.DataFrame], outcome: str) -> Markup | None:
    """The summary's short form of :func:`outcome_sentence`: days, hazard ratio, one plain verdict."""
    title = next((t for o, t, _ in HEADLINE_OUTCOMES if o == outcome), readable(outcome))
    where, leaving = STATE_WORDS.get(outcome, ("in this state", "the state"))
    parts, verdicts, estimated = [], [], set()
    row = _latest(tables.get("rmst_differences"), outcome=outcome, term="rmst_difference", contrast=POST_VS_PRE)
    if row is not None:
        days = quote(tables, "rmst_differences", row, "estimate", "days")
        if _blanked(tables, "rmst_differences", row):
            parts.append(Markup("difference in days {}: {}").format(where, days))
        else:
            estimated.add("rmst_differences")
            parts.append(Markup("<strong>{} days</strong> {} ({})").format(
                days, where, _interval(tables, "rmst_differences", row, "days")))
            clear = _clear(tables, "rmst_differences", row, 0.0)
            if clear:
                verdicts.append(f"{'fewer' if clear < 0 else 'more'} days {where}")
    row = _first(tables.get("hazard_ratios"), outcome=outcome, analysis="cox_adjusted", contrast=POST_VS_PRE)
    if row is not None:
        ratio = quote(tables, "hazard_ratios", row, "estimate", "ratio")
        if _blanked(tables, "hazard_ratios", row):
            parts.append(Markup("hazard ratio {}").format(ratio))
        else:
            estimated.add("hazard_ratios")
            parts.append(Markup("hazard ratio of leaving {} ({})").format(
                ratio, _interval(tables, "hazard_ratios", row, "ratio")))
            clear = _clear(tables, "hazard_ratios", row, 1.0)
            if clear:
                verdicts.append(f"leaving {leaving} {'sooner' if clear > 0 else 'more slowly'}")
    if not parts:
        return None
    shown = [c for c in ("rmst_differences", "hazard_ratios") if c in estimated]
    verdict = ("Clear difference: " + " and ".join(verdicts) + "." if verdicts
               else "No clear difference: each interval includes no change." if shown
               else "Not estimable in this release.")
    return Markup("<strong>{}:</strong> ").format(title) + Markup("; ").join(parts) + Markup(". {}").format(verdict)


def headline_lead(tables: Mapping[str, pd.DataFrame]) -> Markup | None:
    """The sentence that says once what the headline numbers compare (horizon quoted from the table)."""
    rmst = tables.get("rmst_differences")
    for outcome, _, _ in HEADLINE_OUTCOMES:
        row = _latest(rmst, outcome=outcome, term="rmst_difference", contrast=POST_VS_PRE)
        if row is not None:
            return Markup(
                "Children referred after go-live (post-FSP) against those referred before (pre-FSP): the "
                "difference in mean days in each state over its first {} days, and the adjusted hazard ratio "
                "of leaving it (above one: sooner), each with its 95% confidence interval (CI).").format(
                quote(tables, "rmst_differences", row, "time", "whole"))
    return None


def reaching_sentence(tables: Mapping[str, pd.DataFrame]) -> Markup | None:
    """How many more or fewer children per 1,000 referred reached a CP plan or care."""
    table = tables.get("proportion_reaching")
    pieces = []
    for outcome, words in REACHING:
        row = _latest(table, outcome=outcome, contrast=POST_VS_PRE)
        if row is None:
            continue
        horizon = quote(tables, "proportion_reaching", row, "time", "whole")
        if _blanked(tables, "proportion_reaching", row):
            pieces.append(Markup("reaching {} within {} days: {}").format(
                words, horizon, quote(tables, "proportion_reaching", row, "estimate", "per1000")))
        else:
            pieces.append(Markup("{} per 1,000 referred reached {} within {} days ({})").format(
                quote(tables, "proportion_reaching", row, "estimate", "per1000"), words, horizon,
                _interval(tables, "proportion_reaching", row, "per1000")))
    if not pieces:
        return None
    return Markup("<strong>Children reaching protection or care</strong> after go-live, against before: ") + \
        Markup("; ").join(pieces) + Markup(".")


def check_sentences(tables: Mapping[str, pd.DataFrame]) -> list[Markup]:
    """The checks that bear on the headline: data validation, balance, proportional hazards."""
    out = []
    validation = tables.get("validation_summary")
    if validation is not None and len(validation):
        failed = quote_count(tables, "validation_summary", {"passed": False})
        total = Markup('<data class="quoted" value="{}" data-table="validation_summary" data-where="{{}}" '
                       'data-kind="count">{}</data>').format(len(validation), format_quote(len(validation), "count"))
        warnings = quote_count(tables, "validation_summary", {"passed": False, "severity": "WARN"})
        out.append(Markup("<strong>Data checks:</strong> {} of {} did not pass ({} of them warnings; see "
                          "Limitations).").format(failed, total, warnings))
    balance = tables.get("covariate_balance")
    if balance is not None and len(balance) and {"imbalanced_after", "imbalanced_before", "outcome"} <= set(balance):
        for outcome in dict.fromkeys(balance["outcome"].astype(str)):
            if outcome != "time_in_protection" and "time_in_protection" in set(balance["outcome"].astype(str)):
                continue
            before = quote_count(tables, "covariate_balance", {"outcome": outcome, "imbalanced_before": True})
            after = quote_count(tables, "covariate_balance", {"outcome": outcome, "imbalanced_after": True})
            rows = quote_count(tables, "covariate_balance", {"outcome": outcome})
            out.append(Markup("<strong>Balance ({}):</strong> {} of {} characteristics differed between the "
                              "cohorts before weighting, {} after.").format(readable(outcome), before, rows, after))
            break
    ph = tables.get("ph_tests")
    if ph is not None and len(ph):
        flagged = [Markup("{} (p {})").format(readable(outcome), quote(tables, "ph_tests", row, "p_value", "p"))
                   for outcome, row, _ in non_proportional(tables)]
        if flagged:
            out.append(Markup("<strong>Proportional hazards:</strong> the hazard ratio changes over follow-up "
                              "for ") + Markup(", ").join(flagged) +
                       Markup(": read it as an average; the days are the better summary."))
        else:
            out.append(Markup("<strong>Proportional hazards:</strong> no headline hazard ratio shows evidence "
                              "of changing over follow-up."))
    return out


#: Published rates the summary reads against comparison areas (the rest are in their section).
COMPARISON_HEADLINE: tuple[tuple[str, str], ...] = (
    ("cla_31mar_rate_per_10k_derived", "children looked after at 31 March"),
    ("cpp_31mar_rate_per_10k_derived", "children on a CP plan at 31 March"),
)


def comparison_sentences(tables: Mapping[str, pd.DataFrame]) -> list[Markup]:
    """The comparison-areas headline: the council against its synthetic control (mean gap after the
    transition year, permutation p-value) and all adopters against never-adopters (staggered
    adoption, overall effect with its 95% CI), per 10,000 children, for the rates of
    :data:`COMPARISON_HEADLINE`."""
    out = []
    tests = tables.get("comparison_placebo_tests")
    pieces = []
    for measure, words in COMPARISON_HEADLINE:
        row = _first(tests, measure=measure)
        if row is None:
            continue
        gap = quote(tables, "comparison_placebo_tests", row, "mean_post_gap", "rate")
        if "placebo_p_gap" in tests and not math.isnan(_number(tests.iloc[row]["placebo_p_gap"])):
            pieces.append(Markup("{} per 10,000 {} (permutation p {})").format(
                gap, words, quote(tables, "comparison_placebo_tests", row, "placebo_p_gap", "p")))
        else:
            pieces.append(Markup("{} per 10,000 {}").format(gap, words))
    if pieces:
        council = "The council"
        if "council_name" in tests and len(tests):
            council = str(tests["council_name"].iloc[0])
        out.append(Markup("<strong>{} against its synthetic control</strong> (similar councils that never "
                          "adopted), mean gap after go-live: ").format(council) + Markup("; ").join(pieces) +
                   Markup("."))
    overall = tables.get("comparison_overall_effects")
    pieces = []
    for measure, words in COMPARISON_HEADLINE:
        row = _first(overall, measure=measure, aggregation="group", control_group="never_treated")
        if row is None:
            continue
        pieces.append(Markup("{} per 10,000 {} ({})").format(
            quote(tables, "comparison_overall_effects", row, "att", "rate"), words,
            _interval(tables, "comparison_overall_effects", row, "rate")))
    if pieces:
        out.append(Markup("<strong>All Family Safeguarding councils against never-adopters</strong> "
                          "(staggered adoption): ") + Markup("; ").join(pieces) + Markup("."))
    return out


#: What each design can and cannot show (design, not results: no numbers).
PRIMARY_DESIGN = Markup(
    "<strong>Before and after go-live, in this council</strong> (primary design): can show whether time "
    "in need, on plans and in care changed once FSP began; cannot tell FSP apart from anything else that "
    "changed then, above all Covid (go-live fell days before the second national lockdown).")
COMPARISON_DESIGN = Markup(
    "<strong>Against comparison areas</strong> (<a href=\"#comparison\">section</a>): can show whether the "
    "council's published rates left the path of councils that did not adopt, through the same Covid years; "
    "cannot follow children, and rests on yearly council totals and few adopters.")
NO_COMPARISON = Markup(
    "<strong>Against comparison areas:</strong> not in this release, so national trends and Covid are not "
    "separated from FSP.")


def summary(tables: Mapping[str, pd.DataFrame], comparison: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The first screen: headline sentences, designs, checks (each a list of Markup)."""
    headline = [s for s in (headline_item(tables, o) for o, _, _ in HEADLINE_OUTCOMES) if s is not None]
    reaching = reaching_sentence(tables)
    if reaching is not None:
        headline.append(reaching)
    designs = [PRIMARY_DESIGN]
    if comparison:
        headline += comparison_sentences(tables)
        designs.append(COMPARISON_DESIGN)
    else:
        designs.append(NO_COMPARISON)
    caveats = []
    if any(o == "time_on_cin_plan" for o in _outcomes(tables)):
        from evaluation.report.drawing import cin_plan_caveat

        caveats.append(Markup("† ") + escape(cin_plan_caveat()[0]))
    return {"lead": headline_lead(tables), "headline": headline, "designs": designs,
            "checks": check_sentences(tables), "caveats": caveats}


def _outcomes(tables: Mapping[str, pd.DataFrame]) -> set[str]:
    hazard = tables.get("hazard_ratios")
    rmst = tables.get("rmst_differences")
    return {str(o) for t in (hazard, rmst) if t is not None and "outcome" in t for o in t["outcome"].dropna()}


def outcome_reading(tables: Mapping[str, pd.DataFrame], outcome: str) -> Markup | None:
    """One paragraph under an outcome's figure: medians by cohort, then the headline sentence."""
    parts = []
    km = tables.get("km_estimates")
    medians = []
    for cohort, label in (("pre_fsp", "pre-FSP"), ("post_fsp", "post-FSP")):
        row = _first(km, outcome=outcome, cohort=cohort, term="median")
        if row is not None:
            medians.append(Markup("{} children by day {}").format(label, quote(tables, "km_estimates", row,
                                                                              "estimate", "whole")))
    if medians:
        parts.append(Markup("Half of the ") + Markup(" and half of the ").join(medians) +
                     Markup(" had left (medians rounded to whole weeks)."))
    sentence = outcome_sentence(tables, outcome)
    if sentence is not None:
        parts.append(sentence)
    return Markup(" ").join(parts) if parts else None
