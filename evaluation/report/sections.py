"""What the report shows, in order: each results section names its figure and table.

A section whose figure and table are both missing from the run is still
listed, marked "not produced in this run", so a reader sees what is absent
rather than nothing. The keys are the names under which the pipeline
releases tables and figures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResultSection:
    """One results section: a heading, a plain-words reading guide, a figure and a table."""

    key: str
    title: str
    explanation: str
    figure: str | None = None
    table: str | None = None
    #: Alternative text of the figure: what it draws, for a reader who cannot see it.
    alt: str = ""
    #: The outcome whose reading (medians, days, hazard ratio) follows the figure, if any.
    outcome: str | None = None


RESULT_SECTIONS: tuple[ResultSection, ...] = (
    ResultSection(
        "time_in_need", "How long children stay in need",
        "Kaplan–Meier curves: the proportion of children whose Child in Need episode is still open a "
        "given number of days after referral, by cohort. Counts are rounded to 5 and curves stop before "
        "fewer than 10 children remain at risk.",
        figure="km_time_in_need", table="km_time_in_need"),
    ResultSection(
        "time_on_cin_plan", "How long children stay on a Child in Need plan",
        "Kaplan–Meier curves: the proportion of children still on a CIN plan a given number of days "
        "after it started, by cohort. CIN plans are recorded only from April 2021, so the earlier "
        "cohorts' curves rest on plans still open then.",
        figure="km_time_on_cin_plan", table="km_time_on_cin_plan"),
    ResultSection(
        "time_in_protection", "How long children stay on a protection plan",
        "Kaplan–Meier curves: the proportion of children still on a child protection plan a given "
        "number of days after it started, by cohort. A curve that falls faster means plans ending "
        "sooner. Counts are rounded to 5 and curves stop before fewer than 10 children remain.",
        figure="km_time_in_protection", table="km_time_in_protection"),
    ResultSection(
        "time_in_care", "How long children stay in care",
        "Kaplan–Meier curves: the proportion of children still looked after a given number of days "
        "after a period of care started, by cohort.",
        figure="km_time_in_care", table="km_time_in_care"),
    ResultSection(
        "time_to_protection", "How soon children need a protection plan",
        "Kaplan–Meier curves: the proportion of children referred who have not (yet) started a child "
        "protection plan a given number of days after referral, by cohort.",
        figure="km_time_to_protection", table="km_time_to_protection"),
    ResultSection(
        "time_to_care", "How soon children enter care",
        "Kaplan–Meier curves: the proportion of children referred who have not (yet) entered care a "
        "given number of days after referral, by cohort.",
        figure="km_time_to_care", table="km_time_to_care"),
    ResultSection(
        "re_referral", "How soon children are referred again",
        "Kaplan–Meier curves: the proportion of children not (yet) referred again a given number of "
        "days after their Child in Need episode closed, by cohort.",
        figure="km_re_referral", table="km_re_referral"),
    ResultSection(
        "km_estimates", "Survival at fixed days and median times",
        "The Kaplan–Meier estimates at fixed days and the median time in each state (rounded to whole "
        "weeks), by outcome and cohort.", table="km_estimates"),
    ResultSection(
        "logrank", "Log-rank tests",
        "Tests of equal time in the state between cohorts, unstratified and stratified.", table="logrank"),
    ResultSection(
        "exits_from_protection", "How protection plans end",
        "Cumulative incidence of each way of leaving a plan (step-down to a Child in Need plan, case "
        "closure, entry to care), accounting for the other ways as competing exits.",
        figure="cif_exit_from_protection", table="cif_exit_from_protection"),
    ResultSection(
        "exits_from_care", "How periods of care end",
        "Cumulative incidence of each way of leaving care (return home, permanence, other).",
        figure="cif_exit_from_care", table="cif_exit_from_care"),
    ResultSection(
        "cumulative_incidence", "Exits at fixed days",
        "Cumulative incidence of each exit route at fixed days, overall, by cohort and by combination "
        "of parental risk factors.", table="cumulative_incidence"),
    ResultSection(
        "gray_test", "Do the exit routes differ between cohorts?",
        "Gray's tests of equal cumulative incidence of each exit route.", table="gray_test"),
    ResultSection(
        "cause_specific_cox", "Cause-specific hazard ratios",
        "Cox models of each exit route with the other routes censored.", table="cause_specific_cox"),
    ResultSection(
        "fine_gray", "Subdistribution hazard ratios",
        "Fine–Gray models of each exit route.", table="fine_gray"),
    ResultSection(
        "hazard_ratios", "Hazard ratios between cohorts",
        "Hazard ratios of leaving the state from Cox regression, post-FSP (and transition) against "
        "pre-FSP, with standard errors allowing for siblings. Rows resting on too few children or "
        "events are shown as not estimable.",
        figure="hazard_ratios", table="hazard_ratios"),
    ResultSection(
        "estimates_by_extract", "The effect over successive extracts",
        "The adjusted post-FSP vs pre-FSP hazard ratio of each outcome as released at each extract "
        "analysed so far, dated by the extract's latest reference date. Later extracts add follow-up "
        "and post-FSP families; an effect that holds should stay on the same side of 1.",
        figure="estimates_by_extract", table="estimates_by_extract"),
    ResultSection(
        "differential_impact", "Differences by combination of parental risk factors",
        "Hazard ratios comparing post-FSP with pre-FSP families within each combination of domestic "
        "abuse (DA), parental mental health (MH) and substance misuse (SM). Combinations with too few "
        "children or events are shown as not estimable.",
        figure="differential_impact", table="differential_impact"),
    ResultSection(
        "ph_tests", "Proportional-hazards checks",
        "Tests of whether each hazard ratio is constant over time (cox.zph).", table="ph_tests"),
    ResultSection(
        "rmst_differences", "Difference in mean days in each state",
        "Restricted mean time in the state over the follow-up window: the average number of days, "
        "post-FSP minus pre-FSP. Negative values mean fewer days.",
        figure="rmst_differences", table="rmst_differences"),
    ResultSection(
        "weighted_estimates", "Weighted comparison",
        "Kaplan–Meier and Cox estimates with inverse-probability-of-cohort weights, and the effective "
        "sample sizes.", table="weighted_estimates"),
    ResultSection(
        "days_in_state", "Days in need, on a plan and in care",
        "Mean days in each state per cohort within the follow-up window, and post-FSP minus pre-FSP: as "
        "observed, weighted by the inverse probability of each child's cohort given what was known at "
        "referral (IPW), and doubly robust (augmented IPW, right if either the cohort model or the "
        "outcome model is).",
        figure="days_in_state", table="days_in_state"),
    ResultSection(
        "e_values", "How strong would an unmeasured confounder have to be?",
        "E-values: the strength of association, as a risk ratio, that a confounder not measured here "
        "would need with both the cohort and the outcome to explain away each hazard ratio and each "
        "difference in mean days (e_value), or to move its confidence limit to no effect (e_value_ci). "
        "Values near 1 mean little confounding could explain the estimate.",
        table="e_values"),
    ResultSection(
        "proportion_reaching", "How many children need protection or care",
        "The proportion of children reaching a protection plan, care, or either within each horizon.",
        table="proportion_reaching"),
    ResultSection(
        "monthly_referrals", "Monthly trends around go-live",
        "Monthly counts with the segmented-regression fit before and after go-live; grey bands are "
        "national Covid lockdowns. The table gives the level and slope changes at go-live and at a "
        "placebo go-live a year earlier; the other series follow as further figures.",
        figure="monthly_referrals", table="time_series_effects"),
    ResultSection(
        "covariate_balance", "Comparability of the cohorts",
        "Standardised mean differences between cohorts before and after adjustment; values within "
        "±0.1 are usually taken as balanced.",
        figure="covariate_balance", table="covariate_balance"),
)

#: Which part of the report each results section belongs to (others: "outcomes").
PART_OF: dict[str, str] = {
    "differential_impact": "differential",
    "weighted_estimates": "sensitivity", "cause_specific_cox": "sensitivity", "fine_gray": "sensitivity",
    "estimates_by_extract": "sensitivity", "monthly_referrals": "sensitivity", "e_values": "sensitivity",
    "km_estimates": "appendix", "logrank": "appendix", "cumulative_incidence": "appendix", "gray_test": "appendix",
    "ph_tests": "appendix", "covariate_balance": "appendix",
}
#: Order of the results by outcome: each state, then how it ends, then the summaries across outcomes.
OUTCOME_ORDER: tuple[str, ...] = (
    "time_in_need", "time_on_cin_plan", "time_in_protection", "exits_from_protection", "time_in_care",
    "exits_from_care", "time_to_protection", "time_to_care", "re_referral", "days_in_state",
    "proportion_reaching", "rmst_differences", "hazard_ratios")


def figure_title(figure: str) -> str:
    """A heading for a figure that has no section of its own (never the table name as it stands)."""
    from evaluation.figures.style import readable

    for prefix, words in (("comparison_synthetic_", "Against a synthetic control: "),
                          ("comparison_event_study_", "Staggered adoption, event study: ")):
        if figure.startswith(prefix):
            from evaluation.comparison.panel import RATES

            short = figure[len(prefix):]
            named = next((name for measure, name in RATES.items()
                          if measure.replace("_rate_per_10k_derived", "") == short), readable(short))
            return words + named
    for prefix, words in (("km_", "Kaplan–Meier curves: "), ("cif_", "Ways of leaving: "),
                          ("monthly_", "Monthly series: ")):
        if figure.startswith(prefix):
            return words + readable(figure[len(prefix):])
    return readable(figure)


#: The outcome each Kaplan–Meier section reads out (medians, days, hazard ratio).
OUTCOME_OF: dict[str, str] = {"time_in_need": "time_in_need", "time_on_cin_plan": "time_on_cin_plan",
                              "time_in_protection": "time_in_protection", "time_in_care": "time_in_care"}
#: What each figure draws, for a reader who cannot see it (the reading paragraph gives the numbers).
ALT_TEXT: dict[str, str] = {
    "cohort_flow": "Flow diagram: boxes from the children in the extract, through each exclusion that "
                   "removed anyone, to the families and children analysed in the pre-FSP, transition and "
                   "post-FSP cohorts, with the number of families and children in each box.",
    "km": "Step curves, one per cohort (pre-FSP solid, transition dashed, post-FSP dotted), of the "
          "proportion of children still in the state against days since it began, with shaded 95% "
          "confidence bands and the number still at risk under the axis.",
    "cif": "One panel per way of leaving; in each, step curves per cohort (pre-FSP solid, transition "
           "dashed, post-FSP dotted) of the cumulative proportion who left that way against days.",
    "hazard_ratios": "Forest plot: for each outcome, the adjusted post-FSP against pre-FSP hazard ratio "
                     "as a square with a horizontal 95% confidence interval on a log scale, a dashed line "
                     "at one, and the numbers written at the right.",
    "differential_impact": "Forest plot: for each combination of domestic abuse, parental mental health "
                           "and substance misuse, the post-FSP against pre-FSP hazard ratio with its 95% "
                           "interval on a log scale; combinations with too few children are written as "
                           "not estimable.",
    "rmst_differences": "Interval plot: for each outcome, the difference in restricted mean days "
                        "(post-FSP minus pre-FSP) with its 95% interval around a dashed line at zero, "
                        "and the numbers written at the right.",
    "days_in_state": "Grouped horizontal bars: for each state (referral, CIN plan, CP plan, care, "
                     "closed) the mean days per child in each cohort (pre-FSP plain, transition hatched, "
                     "post-FSP dotted) with 95% intervals; the earlier cohorts' CIN-plan bars are marked "
                     "with a dagger and a caveat under the chart explains that CIN plans are recorded only "
                     "from April 2021.",
    "covariate_balance": "Dot plot: for each characteristic, the absolute standardised difference "
                         "between the cohorts before weighting (open circle) and after (filled diamond), "
                         "with a dashed line at the usual balance limit.",
    "estimates_by_extract": "One panel per outcome: the adjusted hazard ratio, post-FSP against pre-FSP, "
                            "with its 95% interval at each extract date, on a log scale with a line at one.",
    "comparison_synthetic": "Line chart of a published yearly rate: the council's own rate as a solid line, "
                            "its synthetic control (a weighted mix of councils that never adopted the "
                            "programme) as a dashed line, and the placebo councils' gaps as a grey cloud, "
                            "with the go-live year marked.",
    "comparison_event_study": "Event study: the average effect of adopting Family Safeguarding on a published "
                              "yearly rate, by years before and after the go-live year, each with its 95% "
                              "interval, around a line at zero.",
    "monthly": "Monthly counts as points with the fitted segmented regression as dashed lines before "
               "and after go-live; the months after go-live lightly shaded, national lockdowns in grey, "
               "go-live marked by a vertical line.",
}


def alt_text(figure: str) -> str:
    """The alternative text of a released figure, by its name."""
    if figure in ALT_TEXT:
        return ALT_TEXT[figure]
    for prefix, key in (("km_", "km"), ("cif_", "cif"), ("monthly_", "monthly"),
                        ("comparison_synthetic_", "comparison_synthetic"),
                        ("comparison_event_study_", "comparison_event_study")):
        if figure.startswith(prefix):
            return ALT_TEXT[key]
    return f"Figure {figure.replace('_', ' ')}, drawn from the released table of the same name."


#: The section about the data: cohort flow and cohort counts.
DATA_FIGURE = "cohort_flow"
DATA_TABLES = ("cohort_flow", "cohort_characteristics", "cohort_counts")
NOT_PRODUCED = "Not produced in this run."

DEFAULT_QUESTION = (
    "Did Family Solutions Plus change how long children spend in need, on child protection plans "
    "and in care, and how often they need protection or care — and does the effect differ between "
    "families with different combinations of domestic abuse, parental mental health and substance "
    "misuse?"
)

DEFAULT_PROGRAMME = (
    "Family Solutions Plus (FSP) is Oxfordshire County Council's version of the Family Safeguarding "
    "model: social workers work in teams with practitioners for adults, who help parents with domestic "
    "abuse, mental health and substance misuse, using motivational interviewing, a family workbook and "
    "group supervision. The evaluation follows children from referral through Child in Need (CIN) plans, "
    "child protection (CP) plans and care, in the council's own statutory returns."
)

DEFAULT_METHODS = (
    "Cohorts are defined by the date a child's episode started (before, around and after go-live), "
    "never by the date it closed, so that long cases are not left out. Cases still open at the "
    "extract date are counted as still open (censored), not dropped.",
    "Time in each state is described with Kaplan–Meier curves; the different ways of leaving a plan "
    "with cumulative-incidence (Aalen–Johansen) curves, which treat each exit as competing with the "
    "others.",
    "Differences between cohorts are hazard ratios from Cox regression with standard errors that "
    "allow for brothers and sisters in the same family, and differences in restricted mean days.",
    "Every estimator is checked against R's survival package on fixed test data.",
    "Before release, every table and figure passes statistical disclosure control: no count below "
    "10, counts rounded to 5, extra cells hidden where a hidden number could be worked out from "
    "totals, curves drawn on a coarse time grid from rounded counts.",
)

DEFAULT_LIMITATIONS = (
    "This is an observational comparison of cohorts over time, not a randomised trial: other "
    "changes over the same period — above all the Covid pandemic — may explain part of any "
    "difference.",
    "Recording of assessment factors varies between workers and over time, so the risk-factor "
    "combinations are measured with error.",
    "The post-FSP cohort has the shortest follow-up; its later time points rest on fewer children.",
    "Suppression and rounding protect children's privacy but make small groups less precise or "
    "invisible.",
    "Each outcome is followed only while the data it needs were supplied: time in need from the "
    "Children in Need census years, time in care from the looked-after children (SSDA903) years, "
    "and plans, time to care and the monthly plan and care series only while both were supplied. "
    "Where one return ends earlier than the other, follow-up and the monthly series stop at its "
    "end; collection years missing inside a return's run of years are not filled in.",
)


def window_limitations(extracts) -> tuple[str, ...]:
    """Plain sentences on uneven or interrupted returns, per council, from the ``extracts`` table
    (collection years and reference dates only: nothing about any child)."""
    from evaluation.spells.censoring import window_gaps

    names = {"cin_census": "Children in Need census", "ssda903": "looked-after children (SSDA903) return"}
    out = []
    for row in window_gaps(extracts).itertuples():
        name = names.get(row.dataset, row.dataset)
        if row.years_present == 0:
            out.append(f"Council {row.la_code}: no {name} was supplied, so the outcomes that need "
                       "it are not followed there.")
            continue
        if row.missing_years:
            out.append(f"Council {row.la_code}: the {name} lacks collection year(s) "
                       f"{row.missing_list} inside its run {row.first_year}–{row.last_year}; "
                       "events in those years may be missing.")
        if row.months_short_of_latest_end and row.months_short_of_latest_end > 0:
            out.append(f"Council {row.la_code}: the {name} ends {row.end.date().isoformat()}, "
                       f"{row.months_short_of_latest_end} months before the council's other return; "
                       "outcomes that need it are followed only to then.")
    return tuple(out)


def limitations_for(extracts) -> tuple[str, ...]:
    """:data:`DEFAULT_LIMITATIONS` plus :func:`window_limitations` of ``extracts``."""
    return DEFAULT_LIMITATIONS + window_limitations(extracts)
