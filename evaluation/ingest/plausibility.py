"""Plausibility at the door: rows whose dates cannot be true go to the quarantine.

Each rule looks at one file only (its own reference date, the dates of birth
given in the same return), so whether a row is kept never depends on which
other files the council supplied.

Rules, in order (the first that fails names the field and the reason):

* :data:`~evaluation.ingest.quarantine.DATE_AFTER_REFERENCE` — a date later
  than its own file's reference date (the collection year's 31 March): a
  return cannot report what had not happened when it was taken. Planned dates
  (``InitialCPCtarget``) are not events and are not checked.
* :data:`~evaluation.ingest.quarantine.EVENT_BEFORE_BIRTH` — an event before
  the child's date of birth stated in the same return: any SSDA903 date
  (nobody is looked after before birth); a CIN census date more than
  :data:`PRE_BIRTH_DAYS` days before birth (referrals, assessments and
  protection plans for unborn children are legitimate; longer than a
  pregnancy is not).
* :data:`~evaluation.ingest.quarantine.AGE_OVER_LIMIT` — an event after the
  child's :data:`MAX_AGE_YEARS`\\ th birthday.
* :data:`~evaluation.ingest.quarantine.CLOSED_BEFORE_YEAR` — a CIN episode
  closed before its file's collection year began (1 April): a return lists the
  episodes open during its year, so such an episode is not part of it (its
  record from the years it was open is kept from those returns).
* A child record whose date of birth or death is after the file's reference
  date is quarantined itself (date after reference date); its other rows
  follow it only if it has no usable child record anywhere (the assembly's
  rule).

Dependent rows follow their parent as everywhere at the door
(:data:`~evaluation.ingest.quarantine.PARENT_QUARANTINED`): a quarantined CIN
episode takes its assessments, plans, section 47s and protection plans, a
quarantined assessment its factors. Rows move from the extract's usable
tables to its quarantine, so each file still reconciles: rows read = kept +
quarantined + merged.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from evaluation.ingest import quarantine as q
from evaluation.ingest.extract import Extract
from evaluation.tables import as_dates

#: Oldest age at any event, in years.
MAX_AGE_YEARS = 25
#: How long before birth a CIN census event may be (a pregnancy): unborn children are referred.
PRE_BIRTH_DAYS = 280

#: dataset -> table -> {column: DfE field name} of event dates checked against the reference date.
EVENT_DATES: dict[str, dict[str, dict[str, str]]] = {
    "cin_census": {
        "cin_episodes": {"referral_date": "CINreferralDate", "closure_date": "CINclosureDate",
                         "initial_cpc_date": "DateOfInitialCPC"},
        "assessments": {"start_date": "AssessmentActualStartDate",
                        "authorisation_date": "AssessmentAuthorisationDate"},
        "cin_plans": {"start_date": "CINPlanStartDate", "end_date": "CINPlanEndDate"},
        "section47s": {"start_date": "S47ActualStartDate", "icpc_date": "DateOfInitialCPC"},
        "cp_plans": {"start_date": "CPPstartDate", "end_date": "CPPendDate"},
    },
    "ssda903": {"care_episodes": {"decom": "DECOM", "dec": "DEC"}},
}
#: Dates of a child record checked against the reference date.
CHILD_DATES: dict[str, dict[str, str]] = {
    "cin_census": {"birth_date": "PersonBirthDate", "death_date": "PersonDeathDate"},
    "ssda903": {"birth_date": "DOB"},
}


def _birth_dates(extracts: list[Extract]) -> dict[tuple[str, int], pd.Series]:
    """(dataset, collection year) -> child pseudonym -> date of birth stated in that return.

    A child given two different dates of birth in one return, or one after the
    return's reference date, gets none here (the assembly, or the rule on child
    records below, quarantines such a record anyway)."""
    out: dict[tuple[str, int], pd.Series] = {}
    for extract in extracts:
        children = extract.tables.get("children")
        if children is None or "birth_date" not in children or extract.collection_year is None:
            continue
        key = (extract.dataset, int(extract.collection_year))
        stated = children[["child_id", "birth_date"]].dropna()
        if extract.reference_date is not None:  # a birth after the file's date is itself implausible
            stated = stated[as_dates(stated["birth_date"]) <= pd.Timestamp(extract.reference_date)]
        if key in out:
            stated = pd.concat([out[key].rename("birth_date").rename_axis("child_id").reset_index(),
                                stated], ignore_index=True)
        stated = stated.drop_duplicates()
        single = stated.drop_duplicates("child_id", keep=False)
        out[key] = as_dates(single.set_index("child_id")["birth_date"])
    return out


def _first_failure(frame: pd.DataFrame, checks: list[tuple[pd.Series, str, str]]
                   ) -> tuple[pd.Series, pd.Series]:
    """(field, reason) per row: the first failing check in ``checks`` (NA where none fails)."""
    field = pd.Series(pd.NA, index=frame.index, dtype="string")
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    first = np.full(len(frame), -1)   # position in ``checks`` of each row's first failure
    for position, (failed, _, _) in enumerate(checks):
        first[(first < 0) & np.asarray(failed.fillna(False), dtype=bool)] = position
    for position in np.unique(first[first >= 0]).tolist():
        _, name, why = checks[position]
        field[first == position] = name
        reason[first == position] = why
    return field, reason


def _event_checks(frame: pd.DataFrame, columns: dict[str, str], reference: pd.Timestamp,
                  births: pd.Series | None, before_birth_days: int) -> list[tuple[pd.Series, str, str]]:
    """Checks in rule order: every date against the reference date, then against birth, then
    against the age limit (each date parsed once)."""
    dates = {name: as_dates(frame[column]) for column, name in columns.items() if column in frame}
    checks = [(when > reference, name, q.DATE_AFTER_REFERENCE) for name, when in dates.items()]
    if births is not None and len(births):
        born = as_dates(frame["child_id"].map(births))
        earliest = born - pd.Timedelta(days=before_birth_days)
        oldest = born + pd.DateOffset(years=MAX_AGE_YEARS)
        checks += [(when < earliest, name, q.EVENT_BEFORE_BIRTH) for name, when in dates.items()]
        checks += [(when > oldest, name, q.AGE_OVER_LIMIT) for name, when in dates.items()]
    return checks


def _move(extract: Extract, table: str, bad: pd.Series, field, reason) -> pd.DataFrame:
    """Move the rows of ``table`` in ``bad`` to the extract's quarantine; return them."""
    frame = extract.tables[table]
    bad = bad.fillna(False).astype(bool)
    if not bad.any():
        return frame.iloc[:0]
    rows = frame.loc[bad]
    marked = rows.assign(q_field=field[bad] if isinstance(field, pd.Series) else field,
                         q_reason=reason[bad] if isinstance(reason, pd.Series) else reason)
    extract.quarantine.append(q.to_quarantine(marked, table))
    extract.tables[table] = frame.loc[~bad].reset_index(drop=True)
    return rows


def quarantine_implausible(extracts: list[Extract]) -> Counter:
    """Move implausible rows of every extract to its quarantine (module doc); count them.

    Returns a Counter of (table, reason) -> rows moved (parents' dependants included).
    """
    births = _birth_dates(extracts)
    moved: Counter = Counter()
    for extract in extracts:
        if extract.dataset not in EVENT_DATES or extract.reference_date is None:
            continue
        reference = pd.Timestamp(extract.reference_date)
        year = int(extract.collection_year) if extract.collection_year is not None else None
        same_return = births.get((extract.dataset, year))
        pre_birth = PRE_BIRTH_DAYS if extract.dataset == "cin_census" else 0

        children = extract.tables.get("children")
        if children is not None and len(children):
            checks = [(as_dates(children[c]) > reference, name, q.DATE_AFTER_REFERENCE)
                      for c, name in CHILD_DATES[extract.dataset].items() if c in children]
            field, reason = _first_failure(children, checks)
            if reason.notna().any():
                for r, n in reason.dropna().value_counts().items():
                    moved[("children", r)] += int(n)
            _move(extract, "children", reason.notna(), field, reason)

        lost_episodes: pd.DataFrame | None = None
        lost_assessments: pd.DataFrame | None = None
        for table, columns in EVENT_DATES[extract.dataset].items():
            frame = extract.tables.get(table)
            if frame is None or not len(frame):
                continue
            checks = _event_checks(frame, columns, reference, same_return, pre_birth)
            if table == "cin_episodes" and "closure_date" in frame:
                # a return lists the episodes open during its collection year (1 April to the
                # reference date): one closed before that year is not part of it
                year_start = reference - pd.DateOffset(years=1) + pd.Timedelta(days=1)
                checks.append((as_dates(frame["closure_date"]) < year_start,
                               "CINclosureDate", q.CLOSED_BEFORE_YEAR))
            field, reason = _first_failure(frame, checks)
            # a CIN record whose parent has gone follows it
            if table != "cin_episodes" and lost_episodes is not None and len(lost_episodes):
                parent = frame["episode_element"].map(
                    pd.Series(lost_episodes["_field"].to_numpy(),
                              index=lost_episodes["element"].to_numpy()))
                follow = parent.notna() & reason.isna()
                field[follow] = parent[follow]
                reason[follow] = q.PARENT_QUARANTINED
            bad = reason.notna()
            if bad.any():
                for r, n in reason[bad].value_counts().items():
                    moved[(table, r)] += int(n)
            rows = _move(extract, table, bad, field, reason)
            if table == "cin_episodes":
                lost_episodes = rows.assign(_field=field[bad])
            elif table == "assessments":
                lost_assessments = rows.assign(_field=field[bad])
        factors = extract.tables.get("assessment_factors")
        if extract.dataset == "cin_census" and factors is not None and len(factors):
            field = pd.Series(pd.NA, index=factors.index, dtype="string")
            if lost_episodes is not None and len(lost_episodes):
                field = field.fillna(factors["episode_element"].map(pd.Series(
                    lost_episodes["_field"].to_numpy(), index=lost_episodes["element"].to_numpy())))
            if lost_assessments is not None and len(lost_assessments):
                field = field.fillna(factors["assessment_id"].map(pd.Series(
                    lost_assessments["_field"].to_numpy(),
                    index=lost_assessments["assessment_id"].to_numpy())))
            bad = field.notna()
            moved[("assessment_factors", q.PARENT_QUARANTINED)] += int(bad.sum())
            _move(extract, "assessment_factors", bad, field.astype("string"), q.PARENT_QUARANTINED)
    return Counter({k: n for k, n in moved.items() if n})


__all__ = ["CHILD_DATES", "EVENT_DATES", "MAX_AGE_YEARS", "PRE_BIRTH_DAYS",
           "quarantine_implausible"]
