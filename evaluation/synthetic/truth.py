"""The ground truth of a synthetic county: planted parameters and true (clean) figures.

Written as ``ground_truth.json`` at the input root; the schema is documented in
the package docstring (``evaluation/synthetic/__init__.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.codes.groupings import COMBINATIONS, RISK_FACTOR_CODES
from evaluation.synthetic.care import PLACE_WEIGHTS_CHILD, PLACE_WEIGHTS_TEEN
from evaluation.synthetic.cin_records import (
    CHILD_FACTORS, NEED_CODES, OTHER_PARENT_FACTORS, OTHER_PARENT_PROBABILITY, REFERRAL_SOURCES, TRIO_CODES)
from evaluation.synthetic.dates import OPEN, reference_day, year_start
from evaluation.synthetic.parameters import (
    AGE_BANDS, REFERENCE_AGE_BAND, RISK_FLAGS, STATE_CAUSES, SyntheticParameters)

SCHEMA_VERSION = 1

#: How each planted transition shows in the files.
OBSERVED_AS: dict[str, dict[str, str]] = {
    "cin_plan": {
        "_state": "CIN plan: from CINPlanStartDate (= assessment authorisation, a step-down from a CP plan, "
                  "or a return home from care) to CINPlanEndDate",
        "closure": "CINPlanEndDate = CINclosureDate, ReasonForClosure RC7",
        "escalation_cp": "CINPlanEndDate = CPPstartDate (a Section47 precedes it)",
        "escalation_care": "CINPlanEndDate = DECOM of an SSDA903 episode with RNE S",
    },
    "cp_plan": {
        "_state": "CP plan: CPPstartDate to CPPendDate",
        "step_down": "CPPendDate = CINPlanStartDate of the same episode",
        "closure": "CPPendDate = CINclosureDate, ReasonForClosure RC7",
        "escalation_care": "CPPendDate = DECOM of an SSDA903 episode with RNE S",
        "other": "CPPendDate = CINclosureDate, ReasonForClosure RC3 or RC4 (order made outside care)",
    },
    "care": {
        "_state": "period of care: SSDA903 RNE S episode to the first exit code (not X1)",
        "return_home": "REC E4A/E4B; a CIN plan starts the same day",
        "permanence": "REC E11/E12 (adoption; CIN RC1), E43-E48 (special guardianship; RC4), "
                      "E41 (child arrangements; RC3); the CIN episode closes the same day",
        "other": "REC E13/E8; the CIN episode closes the same day with RC7",
    },
}


def _labels() -> list[str]:
    return [label for _, label in COMBINATIONS]


def planted_hazards(params: SyntheticParameters) -> dict:
    out: dict = {}
    for state, causes in STATE_CAUSES.items():
        out[state] = {"observed_as": OBSERVED_AS[state]["_state"], "causes": {}}
        for cause in causes:
            tr = params.transitions[state][cause]
            out[state]["causes"][cause] = {
                "shape": tr.shape,
                "scale_days": tr.scale_days,
                "risk_flag_log_hr": dict(zip(RISK_FLAGS, tr.risk_flag_log_hr)),
                "age_band_log_hr": dict(zip(AGE_BANDS, tr.age_band_log_hr)),
                "programme_hr": {label: round(tr.programme_hr(flags), 10) for flags, label in COMBINATIONS},
                "observed_as": OBSERVED_AS[state][cause],
            }
    return out


def true_figures(records, journeys, episodes_903: pd.DataFrame, children: pd.DataFrame,
                 params: SyntheticParameters) -> dict:
    """Figures of the clean (pre-imperfection) records, per local authority."""
    ep = records.episodes
    st = records.states
    fig: dict = {}
    parental = ep["factors"].str.contains(r"\b(?:1B|2B|3B|4B|5B|6B|18B|19B)\b", regex=True).to_numpy()
    trio = ep["factors"].str.contains(r"\b(?:1B|2B|3B|4B)\b", regex=True).to_numpy()
    for year in params.collection_years:
        ref, start = reference_day(year), year_start(year)
        care = st[(st["state"] == "care") & (st["start"] <= ref) & (st["end"] > ref)]
        cp = st[(st["state"] == "cp_plan") & (st["start"] <= ref) & (st["end"] > ref)]
        a = ep["assessment_start"].to_numpy()
        assessed = (a >= start) & (a <= ref)
        fig[str(year)] = {
            "looked_after_at_31_march": int(care["child"].nunique()),
            "cp_plans_at_31_march": int(cp["child"].nunique()),
            "open_cin_episodes_at_31_march": int(((ep["referral"] <= ref) & (ep["closure"] > ref)).sum()),
            "entries_to_care": int(((st["state"] == "care") & (st["start"] >= start) & (st["start"] <= ref)).sum()),
            "cp_plan_starts": int(((st["state"] == "cp_plan") & (st["start"] >= start) & (st["start"] <= ref)).sum()),
            "referrals": int(((ep["referral"] >= start) & (ep["referral"] <= ref)).sum()),
            "assessments": int(assessed.sum()),
            "assessments_with_parental_factor": int((assessed & parental).sum()),
            "assessments_with_trio_factor": int((assessed & trio).sum()),
        }
    return fig


def cohort_sizes(records, params: SyntheticParameters) -> dict:
    """True cohorts by referral date, within the emitted collection years."""
    ep = records.episodes
    first = year_start(params.first_collection_year)
    seen = ep[ep["referral"] >= first]
    out = {}
    for cohort, g in seen.groupby("cohort"):
        assessed = g[g["assessment_start"] != OPEN]
        comb = assessed["combination"].value_counts().reindex(range(len(COMBINATIONS)), fill_value=0)
        out[cohort] = {
            "children": int(g["child"].nunique()),
            "child_episodes": int(len(g)),
            "family_journeys": int(g["journey"].nunique()),
            "families": int(g["family"].nunique()),
            "children_assessed_by_combination": dict(zip(_labels(), map(int, comb.to_numpy()))),
        }
    return out


def la_truth(la_code: str, records, journeys, episodes_903, children, families, params, imperfection_report,
             file_counts) -> dict:
    comb = families["combination"].value_counts().reindex(range(len(COMBINATIONS)), fill_value=0)
    return {
        "la_code": la_code,
        "families": int(len(families)),
        "children": int(len(children)),
        "family_journeys": int(len(journeys.journeys)),
        "families_by_combination": dict(zip(_labels(), map(int, comb.to_numpy()))),
        "cohorts": cohort_sizes(records, params),
        "true_figures_by_collection_year": true_figures(records, journeys, episodes_903, children, params),
        "imperfections": imperfection_report,
        "files": file_counts,
    }


def ground_truth(params: SyntheticParameters, seed: int, scale: float, las: dict[str, dict]) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "evaluation.synthetic",
        "seed": seed,
        "scale": scale,
        "local_authorities": list(las),
        "dates": {
            "simulation_start": params.simulation_start.isoformat(),
            "transition_start": params.transition_start.isoformat(),
            "go_live": params.go_live.isoformat(),
            "simulation_end": params.simulation_end.isoformat(),
            "collection_years": list(params.collection_years),
        },
        "exposure": {
            "definition": "a journey is post_fsp if its CINreferralDate >= go_live, transition if >= "
                          "transition_start, else pre_fsp; the programme hazards apply to every state of "
                          "a post_fsp journey (exposure fixed at entry); transition keeps pre-FSP hazards",
            "cohorts": ["pre_fsp", "transition", "post_fsp"],
        },
        "model": {
            "hazard": "h_k(t|x) = (shape/scale) (t/scale)^(shape-1) exp(sum_f risk_flag_log_hr[f] flag_f + "
                      "age_band_log_hr[band] + post * log programme_hr[combination]); t = days since entry "
                      "into the state; competing causes by independent latent times; durations rounded up "
                      "to whole days (>= 1)",
            "clustering": "siblings in a journey share every family-level date; no frailty",
            "censoring": "each child's records end at the 18th birthday (CIN RC7/RC6, care REC E17/E5/E6); "
                         "the journey ends when its youngest child turns 18; open at simulation_end",
            "covariates": {
                "risk_flags": {flag: sorted(RISK_FACTOR_CODES[flag]) for flag in RISK_FLAGS},
                "age_band": {"definition": "age in whole years of the youngest child of the journey at "
                                           "its referral date", "bands": list(AGE_BANDS),
                             "reference": REFERENCE_AGE_BAND},
            },
            "states": planted_hazards(params),
        },
        "journey": {
            "referral_nfa_probability": params.referral_nfa_probability,
            "assessment_nfa_probability": params.assessment_nfa_probability,
            "re_referral_probability": params.re_referral_probability,
            "history": {"hazard_multipliers_after_a_re_referral": params.history_hazard_multipliers,
                        "re_referral_multiplier_after_a_re_referral": params.history_re_referral_multiplier},
            "re_referral_gap_days": {"minimum": params.re_referral_min_gap_days,
                                     "exponential_mean": params.re_referral_mean_gap_days},
            "s47_without_plan_probability": params.s47_without_plan_probability,
            "members": "children born by the referral date and at least 60 days short of their 18th birthday",
            "permanence_types": {"youngest_under_6": params.permanence_types_young,
                                 "youngest_6_or_over": params.permanence_types_older},
        },
        "codes": {
            "referral_source_weights": REFERRAL_SOURCES,
            "primary_need_weights": NEED_CODES,
            "trio_factor_codes": TRIO_CODES,
            "substance_misuse_codes": "1B only 40%, 2B only 40%, both 20%",
            "other_parental_factor": {"probability_without_trio": OTHER_PARENT_PROBABILITY[0],
                                      "probability_with_trio": OTHER_PARENT_PROBABILITY[1],
                                      "code_weights": OTHER_PARENT_FACTORS},
            "child_factors": {code: {"probability": p, "aged_11_or_over_only": teen}
                              for code, (p, teen) in CHILD_FACTORS.items()},
            "no_factor": "21 (no factors identified) only on an assessment after which the case "
                         "closes RC8/RC9; any other assessment with no factor drawn gets one child "
                         "or household factor (weighted as child_factors); codes not valid in the "
                         "assessment's collection year (or any later one) are not drawn",
        },
        "care": {
            "placement_changes_per_year": params.placement_change_rate_per_year,
            "placement_weights_under_11": PLACE_WEIGHTS_CHILD,
            "placement_weights_11_or_over": PLACE_WEIGHTS_TEEN,
            "first_legal_status": "C1 for a period ending in adoption, else V2 55%, C1 35%, L1 5%, L2 5%",
            "dfe_rules": "the clean episodes obey DfE's SSDA903 validation rules (benchmarks/dfe_validators.py): "
                         "police protection L1 lasts 1-3 days, EPO L2 1-8 days; P1 only under C1/C2; no "
                         "temporary placements (T0-T4); RNE L keeps placement, postcode, provider and URN; "
                         "RNE T/U keeps the carer and moves the placement (new postcode, or foster carer "
                         "to adopter A5); own provision (PR1) outside the LA only for fostering/adoption; "
                         "URN only for K1/K2/S1; E45/E46 only from foster placements (else E47/E48); "
                         "MOTHER 0/1 for every girl, blank for boys; review PN0 only under 4; "
                         "18th birthday of a 29 February birth is 28 February (pandas DateOffset, as the "
                         "validators); the only rules firing are those the planted imperfections cause",
            "postcodes": "HOME_POST and PL_POST are full, real postcode units (three per district, ONS "
                         "Postcode Directory, OGL v3); 70% of placements in the LA's own districts",
        },
        "population": {
            "new_families_per_year_at_scale_1": params.new_families_per_year,
            "eldest_age_weights_0_to_17": list(params.eldest_age_weights),
            "sibling_gap_years": f"0.9 + gamma(shape={params.sibling_gap_gamma[0]}, "
                                 f"scale={params.sibling_gap_gamma[1]})",
            "family_size_probabilities": dict(zip(range(1, 7), params.family_size_probabilities)),
            "combination_probabilities": dict(zip(_labels(), params.combination_probabilities)),
        },
        "referrals": {
            "weekday_rate": list(params.weekday_rate),
            "covid_multipliers": {f"{y}-{m:02d}": v for (y, m), v in sorted(params.covid_multipliers.items())},
            "covid_note": "multipliers apply to new-family referrals and thin re-referrals; March 2020 "
                          "only from transition_start",
        },
        "imperfection_rate": params.imperfection_rate,
        "published_targets_oxfordshire": {
            "looked_after_2021-03-31": 784, "cp_plans_2020-03-31": 541, "cp_plans_2021-03-31": 451,
            "entries_to_care_2020_21": 288, "assessments_per_year": 4700,
            "share_assessments_parental_factor": round(1271 / 2366, 4),
            "share_assessments_trio_factor": round(775 / 2366, 4),
        },
        "by_la": las,
    }


def write_ground_truth(path: Path, truth: dict) -> None:
    path.write_text(json.dumps(truth, indent=1, sort_keys=True, default=_default) + "\n")


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (dt.date,)):
        return o.isoformat()
    raise TypeError(type(o))
