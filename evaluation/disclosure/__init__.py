"""Statistical disclosure control for everything the evaluation releases.

* :mod:`~evaluation.disclosure.config` — thresholds and DfE symbols (:class:`DisclosureConfig`);
* :mod:`~evaluation.disclosure.tables` — count tables: primary and secondary
  suppression, rounding; percentages and means on enough people;
* :mod:`~evaluation.disclosure.curves` — KM / cumulative-incidence curves on a
  coarse grid from rounded counts;
* :mod:`~evaluation.disclosure.models` — tidy model results with small-number rows blanked;
* :mod:`~evaluation.disclosure.flow` — cohort flow tables, whose rows are differences of one another;
* :mod:`~evaluation.disclosure.output_log` — the output checker's log (ACRO ``results.json``);
* :mod:`~evaluation.disclosure.acro_tables` — crosstabs with ACRO's checks as a second opinion.
"""

from evaluation.disclosure.config import DEFAULT, DisclosureConfig, DisclosureError, round_to_base
from evaluation.disclosure.curves import safe_curve
from evaluation.disclosure.flow import flow_sums, release_flow
from evaluation.disclosure.models import NOTE_COLUMN, safe_model_results
from evaluation.disclosure.output_log import OutputLog, OutputRecord, sha256_of
from evaluation.disclosure.tables import (
    feasible_ranges,
    recoverable,
    released_numbers,
    suppress_counts,
    suppress_rates,
    table_structure,
)

__all__ = [
    "DEFAULT", "DisclosureConfig", "DisclosureError", "round_to_base",
    "safe_curve", "safe_model_results", "NOTE_COLUMN", "release_flow", "flow_sums",
    "OutputLog", "OutputRecord", "sha256_of",
    "suppress_counts", "suppress_rates", "released_numbers",
    "feasible_ranges", "recoverable", "table_structure",
]
