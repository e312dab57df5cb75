"""The target-trial protocol of the comparison, written from the study configuration.

Each cohort comparison emulates a target trial (Hernán & Robins 2016, Am J
Epidemiol 183:758-64): who would be eligible, when follow-up starts, which
strategies are compared, for how long and to what end, the causal contrast
and the analysis. :func:`protocol_table` writes these elements from a
:class:`~evaluation.study.StudyConfig`, so the released protocol is the one
that ran and cannot drift from it; a sensitivity analysis (another
``StudyConfig``) gets its own protocol, headed by its design label.
"""

from __future__ import annotations

import pandas as pd

from evaluation.study import StudyConfig

#: Columns of the protocol table.
PROTOCOL_COLUMNS: tuple[str, ...] = ("element", "specification")


def _date(value) -> str:
    return value.strftime("%-d %B %Y")


def _eligibility(c: StudyConfig) -> str:
    window = (f"from {_date(c.pre_fsp_start)} to "
              + ("each council's extract reference date" if c.study_end is None else _date(c.study_end)))
    common = (f"aged under {c.censor_at_age} and born by the referral month, linked to a family in the "
              "case-management extract" + (", with no record quarantined at ingest" if c.exclude_quarantined
                                          else ""))
    if c.entry_rule == "new_referral":
        return (f"A child referred to children's social care (a CIN referral) {window}, with no CIN episode "
                f"open at any time in the {c.lookback_months} months before the referral (the look-back "
                f"must lie inside the CIN data); {common}. The same rule before and after go-live; a child "
                "may enter once in each cohort period (at that period's first such referral).")
    return (f"Sensitivity (earlier definition): each child's first CIN referral {window}; {common}. "
            "The post-FSP cohort is then, by construction, families with no referral since "
            f"{_date(c.pre_fsp_start)}.")


def _time_zero(c: StudyConfig) -> str:
    if c.entry_rule == "new_referral":
        return ("The date of the eligible referral: eligibility is met and the strategy assigned on the same "
                "day, so no follow-up is immortal.")
    return ("The child's first referral in the study window; the family's earliest such date decides the "
            "cohort of all its children.")


def _strategies(c: StudyConfig) -> str:
    return (f"Practice as usual (referral before {_date(c.transition_start)}: pre-FSP cohort) versus Family "
            f"Solutions Plus (referral on or after go-live, {_date(c.go_live)}: post-FSP cohort). Referrals "
            f"from {_date(c.transition_start)} to the day before go-live form the transition cohort (Covid "
            "and preparation), reported separately and never pooled with either arm.")


def _assignment(c: StudyConfig) -> str:
    return ("Not randomised: the strategy follows the referral date (calendar time). Exchangeability is "
            "sought by the symmetric eligibility rule and by adjustment for baseline covariates known at "
            "time zero (age band, sex, ethnic group, family size, CIN episodes in the look-back window, "
            "referral source, Covid lockdown)" + (
                "; as a sensitivity, also the index assessment's parental risk flags and primary need."
                if c.adjust_for_index_assessment else
                ". The index assessment's risk flags and primary need are recorded after time zero by a "
                "service the programme changed: they define subgroups only."))


def _follow_up(c: StudyConfig) -> str:
    stop = ("the 18th birthday (from the first of the birth month), death, transfer to another council, "
            "the end of the data window of the data the outcome needs")
    if c.censor_earlier_cohorts_at_go_live:
        return (f"From time zero (or the outcome's own origin) to the first of: {stop}; and, for the pre-FSP "
                f"and transition cohorts, go-live ({_date(c.go_live)}), after which their work is under FSP. "
                "That censoring is planned at baseline; inverse-probability-of-censoring weights correct "
                "for its dependence on covariates.")
    return (f"Sensitivity: from time zero to the first of: {stop}. The earlier cohorts are followed into "
            "the FSP period.")


def _outcomes(c: StudyConfig) -> str:
    return ("Days in need (index CIN episode), on a CIN plan, on a child protection (CP) plan and in care "
            "(first spell from time zero, with competing exits: step-down, closure, escalation into care "
            f"within {c.escalation_window_days} days); time to a CP plan and to care from time zero; "
            f"re-referral within {c.re_referral_days} days of the index episode's closure; repeat "
            "involvement as DfE publishes it: a second CP plan within two years of the first ending, and "
            "re-entry to care within a year of leaving.")


def _contrast(c: StudyConfig) -> str:
    return ("Observational analogue of the per-protocol effect of referral under FSP rather than practice "
            "as usual, post-FSP vs pre-FSP: hazard ratios, differences in restricted mean days at 1 and 2 "
            "years, and differences in cumulative incidence.")


def _analysis(c: StudyConfig) -> str:
    factors = ("the index episode's assessments authorised up to "
               f"{c.factor_grace_days} days after time zero" if c.risk_factor_source == "index_assessment"
               else "assessments of earlier episodes dated before time zero (sensitivity)")
    return ("Kaplan-Meier and Cox models (Efron ties, family-clustered SEs, councils as strata), adjusted "
            "and inverse-probability-of-cohort weighted (stabilised, logistic propensity; balance reported, "
            "|SMD| > 0.1 named), with inverse-probability-of-censoring weights for the go-live censoring; "
            "RMST differences, also inverse-probability weighted and doubly robust (augmented); expected "
            "days in each state (multi-state Aalen-Johansen), also inverse-probability weighted and doubly "
            "robust, with family-bootstrap CIs; Aalen-Johansen, cause-specific Cox and Fine-Gray for "
            "competing exits. Differential impact within "
            f"the eight combinations of parental risk factors from {factors}. E-values for every hazard "
            "ratio (cohort and exit route), RMST difference and difference in days in a state "
            "(VanderWeele & Ding 2017), and a placebo contrast between the "
            "first two pre-FSP entry years (same practice: a non-null estimate flags confounding by "
            "calendar time).")


def protocol_table(config: StudyConfig) -> pd.DataFrame:
    """The target-trial protocol of ``config`` as ``element, specification`` rows (see module)."""
    rows = [
        ("design", config.design),
        ("eligibility", _eligibility(config)),
        ("time zero", _time_zero(config)),
        ("treatment strategies", _strategies(config)),
        ("assignment", _assignment(config)),
        ("follow-up", _follow_up(config)),
        ("outcomes", _outcomes(config)),
        ("causal contrast", _contrast(config)),
        ("analysis", _analysis(config)),
    ]
    table = pd.DataFrame(rows, columns=list(PROTOCOL_COLUMNS))
    # the release's output log reads this: the table holds settings, no data about anyone
    table.attrs["disclosure"] = {"content": "study settings as text; no records, counts or estimates"}
    return table


def protocol_markdown(config: StudyConfig) -> str:
    """The protocol as a Markdown table (docs/target_trial.md carries the default one)."""
    lines = ["| element | specification |", "|---|---|"]
    lines += [f"| {row.element} | {row.specification} |" for row in protocol_table(config).itertuples()]
    return "\n".join(lines)


__all__ = ["PROTOCOL_COLUMNS", "protocol_markdown", "protocol_table"]
