"""Releasing a cohort flow table, whose rows are differences of one another.

In a flow table (:func:`evaluation.cohorts.flow.cohort_flow`: ``step, stage,
reason, description, cohort, families, children``) the children remaining
before a step are those excluded at it plus those remaining after it, and a
step's "all" row is the sum of its cohort rows. A small number excluded is
therefore recoverable by subtraction unless those relations are protected:
:func:`release_flow` passes them to
:func:`~evaluation.disclosure.tables.suppress_counts` as ``sums``.

A flow is a chain of differences: a reader who knew every released count
exactly could only be kept from one small exclusion by hiding every count
after it, leaving a diagram of ``c``. Every released count is rounded, though,
so the flow is audited against a reader who knows them as rounded
(``rounding_protects``): no suppressed count can be narrowed to fewer values
than a released count spans, and large counts stay in the diagram. An
exclusion step that excluded nobody is released as 0 (``zeros_disclosive``):
it says something about the data (no child lacked a birth month), nothing
about a person.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from evaluation.disclosure.config import DEFAULT, DisclosureConfig
from evaluation.disclosure.tables import suppress_counts

ALL = "all"
COUNT_COLUMNS = ("families", "children")
#: Stages holding the people still in the study after a step.
KEPT = ("start", "remaining", "analysed")


def flow_sums(flow: pd.DataFrame) -> list[tuple[int, list[int]]]:
    """Additive relations between the rows of a flow table, as (row, rows adding up to it).

    * people kept at one step = those excluded on the way to the next kept
      step + those kept there, for "all" and each cohort (analysed = remaining
      after the last step is the case with nobody excluded in between);
    * "all" = sum of the cohort rows, for every step and stage that has cohort rows.

    Only relations that hold for every count column are returned, so a table of
    another layout yields fewer relations rather than wrong ones.
    """
    flow = flow.reset_index(drop=True)
    position = {(row.step, row.stage, row.cohort): k for k, row in enumerate(flow.itertuples())}
    candidates: list[tuple[int, list[int]]] = []
    for cohort in dict.fromkeys(flow["cohort"]):
        rows = flow[flow["cohort"] == cohort]
        kept = rows[rows["stage"].isin(KEPT)].sort_values("step", kind="stable")
        excluded = rows[rows["stage"] == "excluded"]
        for before, after in zip(kept.index, kept.index[1:]):
            lost = excluded[(excluded["step"] > flow.at[before, "step"])
                            & (excluded["step"] <= flow.at[after, "step"])].index
            candidates.append((int(before), [int(k) for k in lost] + [int(after)]))
    for (step, stage, cohort), k in position.items():
        if cohort != ALL:
            continue
        members = [j for (s, g, c), j in position.items() if s == step and g == stage and c != ALL]
        if members:
            candidates.append((k, members))
    counts = flow[[c for c in COUNT_COLUMNS if c in flow.columns]].apply(pd.to_numeric)
    return [(total, members) for total, members in candidates
            if all(counts[c].iat[total] == counts[c].iloc[members].sum() for c in counts.columns)]


def release_flow(flow: pd.DataFrame, config: DisclosureConfig = DEFAULT,
                 zeros_disclosive: bool = False) -> pd.DataFrame:
    """The flow table with families and children suppressed and rounded, protecting every relation."""
    flow = flow.reset_index(drop=True)
    config = replace(config, suppress_zeros=zeros_disclosive)
    columns = [c for c in COUNT_COLUMNS if c in flow.columns]
    released = suppress_counts(flow, columns, by=["step", "stage", "reason", "cohort"], margins=[],
                               sums=flow_sums(flow), config=config, rounding_protects=True)
    for column in flow.columns:
        if column not in released.columns:
            released[column] = flow[column].to_numpy()
    out = released[list(flow.columns)]
    out.attrs = released.attrs
    return out
