"""Synthetic county: the project's default data and test bed, in the real DfE file formats.

``generate_county(out_dir, seed=0, local_authorities=1, scale=1.0, go_live=..., imperfection_rate=...)``
(or ``python -m evaluation.synthetic OUT_DIR``) writes::

    OUT_DIR/ground_truth.json
    OUT_DIR/<la_code>/SYNTHETIC_COUNTY.json
    OUT_DIR/<la_code>/cin_census/cin_census_YYYY.xml   (2017-2025, each valid against cin_YYYY.xsd)
    OUT_DIR/<la_code>/ssda903/YYYY/header.csv, episodes.csv (+ reviews.csv / missing.csv some years)
    OUT_DIR/<la_code>/families.csv                      (person_id,family_id)

Families (1-6 children) are referred from 2005 (burn-in) and move, siblings
together, between CIN plan, child protection plan and care by competing
Weibull hazards with planted programme hazard ratios that differ by the
combination of parental risk factors (see ``parameters.py``); only the
collection years 2017-2025 are written.

ground_truth.json (schema_version 1), keys:

* ``seed``, ``scale``, ``local_authorities`` (LA codes), ``imperfection_rate``
* ``dates``: simulation_start, transition_start, go_live, simulation_end, collection_years
* ``exposure``: how a journey is assigned to pre_fsp / transition / post_fsp (by CINreferralDate)
* ``model``: ``hazard`` (formula), ``clustering``, ``censoring``, ``covariates`` (risk flag codes;
  age band of the youngest child at referral, bands and reference), and ``states`` ->
  state (cin_plan / cp_plan / care) -> ``observed_as`` and ``causes`` -> cause ->
  {shape, scale_days, risk_flag_log_hr{flag}, age_band_log_hr{band}, programme_hr{combination label},
  observed_as}. ``programme_hr`` is the planted post-vs-pre cause-specific hazard ratio.
* ``journey``: NFA, re-referral, section 47 and permanence-type probabilities
* ``population``: new families per year, family size and risk-combination probabilities
* ``referrals``: weekday rates and Covid multipliers by month ("YYYY-MM")
* ``published_targets_oxfordshire``: the published figures the default county is calibrated to
* ``adoption``: LA code -> programme go-live (null: never adopts; ``generate_county(councils=...)``
  gives each council its own, staggered or none)
* ``covid_hazards``: ``window`` and ``multipliers`` (state -> cause -> hazard multiplier on the
  calendar days of the window, every council and cohort; empty by default: ``covid.py``)
* ``by_la`` -> LA code -> {families, children, family_journeys, families_by_combination,
  ``cohorts`` (pre_fsp / transition / post_fsp: children, child_episodes, family_journeys, families,
  children_assessed_by_combination; referrals from the first collection year),
  ``true_figures_by_collection_year`` (year -> looked_after_at_31_march, cp_plans_at_31_march,
  open_cin_episodes_at_31_march, entries_to_care, cp_plan_starts, referrals, assessments,
  assessments_with_parental_factor, assessments_with_trio_factor; from the clean records),
  ``imperfections`` (kind -> {count, eligible, rate, where, cases}), ``files`` (rows/children written)}
"""

from evaluation.synthetic.county import LOCAL_AUTHORITIES, generate_county
from evaluation.synthetic.parameters import SyntheticParameters

__all__ = ["LOCAL_AUTHORITIES", "SyntheticParameters", "generate_county"]
