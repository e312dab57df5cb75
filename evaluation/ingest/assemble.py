"""Assemble the collection years of one local authority into one set of tables.

Every returned row is accounted for: per input file and destination table,
rows read = rows kept + rows quarantined + rows merged (:func:`reconcile`).

CIN census (each year's file repeats every episode open during the year):

* ``later_submission_wins`` — a CIN episode (child + ``CINreferralDate``) in
  several years' files is kept once, from the LATEST collection year that has a
  usable copy (within one file, the last occurrence). Its assessments, CIN
  plans, section 47s and protection plans come from that submission only; the
  earlier submissions' ones are merged away (counted per table).
* ``exact_duplicate_dropped`` — identical rows of the same episode (a factor
  listed twice at one assessment, a plan repeated) are kept once.

SSDA903 episodes, repaired in this order (rule names as in ``repairs.rule`` and
``care_episodes.repair``; several rules on one row are joined with ``;``):

1. ``exact_duplicate_dropped`` — rows of one year's return identical in every
   field are kept once.
2. ``later_year_wins`` — the same episode (child + ``DECOM``) in several
   years' returns (each return repeats the episodes open at its start, often
   corrected): the latest collection year's row wins; within one year, the
   last line.
3. ``open_episode_closed`` — an open episode (no ``DEC``) followed by a later
   episode of the same child ends at the next ``DECOM``; ``REC`` becomes ``X1``
   (ends, and a new episode starts the same day) unless the next episode starts
   a new period of care (``RNE`` = ``S``), when ``REC`` stays missing.
4. ``overlap_truncated`` — an episode whose ``DEC`` is after the next
   episode's ``DECOM`` is truncated to that ``DECOM``; ``REC`` becomes ``X1``
   unless the next episode has ``RNE`` = ``S`` (then ``REC`` is kept).

Children: a child's records from the CIN census and SSDA903 header are merged
into one row. Within each dataset the latest collection year's record wins
(corrections); across the two datasets the sex and ethnicity of the most
recent record are used, and if the two datasets' dates of birth differ the
child is quarantined with all their rows (the ids may not be one child).
A child who is in no family is quarantined with all their rows. A person in
more than one family is quarantined (every row of that person in the family
table); exact duplicate family rows are kept once. The family table keeps
every person it lists (parents and siblings without records too), pseudonymised
in the child id space. Rows of a child with no usable child record are
quarantined.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation import tables as contract
from evaluation.ingest import quarantine as q
from evaluation.ingest.errors import ReconciliationError
from evaluation.pseudonymise import birth_month

LATER_SUBMISSION_WINS = "later_submission_wins"
EXACT_DUPLICATE = "exact_duplicate_dropped"
LATER_YEAR_WINS = "later_year_wins"
OPEN_EPISODE_CLOSED = "open_episode_closed"
OVERLAP_TRUNCATED = "overlap_truncated"

CIN_SUB_TABLES = ("assessments", "cin_plans", "section47s", "cp_plans")
_CHILD_RECORD = ("child_id", "birth_date", "sex", "ethnicity", "collection_year", "source_file",
                 "line", "element")
CHILD_TABLES = ("cin_episodes", "assessments", "assessment_factors", "cin_plans", "section47s",
                "cp_plans", "care_episodes")


@dataclass
class Ledger:
    """Rows merged per (table, file), repairs per (table, rule), and quarantined rows."""

    merged: Counter = field(default_factory=Counter)
    repairs: Counter = field(default_factory=Counter)
    quarantine: list[pd.DataFrame] = field(default_factory=list)

    def merge(self, table: str, rows: pd.DataFrame, rule: str | None = None) -> None:
        """Count ``rows`` of ``table`` as merged into other rows (optionally under a repair rule)."""
        for source_file, n in rows["source_file"].value_counts().items():
            self.merged[(table, source_file)] += int(n)
        if rule is not None and len(rows):
            self.repairs[(table, rule)] += len(rows)

    def quarantine_rows(self, table: str, rows: pd.DataFrame, field, reason) -> None:
        if len(rows):
            out = rows.assign(q_field=field, q_reason=reason)
            self.quarantine.append(q.to_quarantine(out, table))


def _latest_last(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Mask of the winning row per ``keys``: latest collection year, then the last file/line."""
    order = frame.sort_values(["collection_year", "source_file", "line"], kind="stable")
    winners = ~order.duplicated(keys, keep="last")
    return winners.reindex(frame.index)


def assemble_cin(tables: dict[str, pd.DataFrame], ledger: Ledger) -> dict[str, pd.DataFrame]:
    """De-duplicate CIN episodes across years (later submission wins) with their sub-records."""
    episodes = tables["cin_episodes"]
    wins = _latest_last(episodes, ["episode_id"])
    ledger.merge("cin_episodes", episodes.loc[~wins], LATER_SUBMISSION_WINS)
    episodes = episodes.loc[wins]
    winning = pd.MultiIndex.from_frame(episodes[["source_file", "element"]])
    out = {"cin_episodes": episodes}
    for name in (*CIN_SUB_TABLES, "assessment_factors"):
        rows = tables[name]
        from_winner = pd.MultiIndex.from_frame(rows[["source_file", "episode_element"]]).isin(winning)
        ledger.merge(name, rows.loc[~from_winner], LATER_SUBMISSION_WINS)
        rows = rows.loc[from_winner]
        content = [c for c in contract.TABLES[name] if c not in ("la_code", "collection_year")]
        duplicate = rows.duplicated(content, keep="first")
        ledger.merge(name, rows.loc[duplicate], EXACT_DUPLICATE)
        out[name] = rows.loc[~duplicate].drop(columns=["episode_element"])
    return out


def assemble_care_episodes(episodes: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Apply the four SSDA903 repair rules (module docstring) in order."""
    table = "care_episodes"
    episodes = episodes.copy()
    episodes["repair"] = pd.Series(pd.NA, index=episodes.index, dtype="string")
    content = [c for c in contract.TABLES[table] if c not in ("la_code", "collection_year", "repair")]

    # (1) exact duplicates within one return.
    wins = _latest_last(episodes, content + ["collection_year"])
    had_copies = episodes.duplicated(content + ["collection_year"], keep=False) & wins
    ledger.merge(table, episodes.loc[~wins], EXACT_DUPLICATE)
    episodes = episodes.loc[wins]
    _note(episodes, had_copies.loc[episodes.index], EXACT_DUPLICATE)

    # (2) the same episode (child + DECOM) with differing fields: latest year wins.
    keys = ["child_id", "decom"]
    wins = _latest_last(episodes, keys)
    had_versions = episodes.duplicated(keys, keep=False) & wins
    ledger.merge(table, episodes.loc[~wins], LATER_YEAR_WINS)
    episodes = episodes.loc[wins]
    _note(episodes, had_versions.loc[episodes.index], LATER_YEAR_WINS)

    # (3) and (4): close open episodes and truncate overlaps at the next DECOM.
    episodes = episodes.sort_values(keys, kind="stable")
    following = episodes.groupby("child_id", sort=False)
    next_decom = following["decom"].shift(-1)
    next_starts_care = following["rne"].shift(-1) == "S"
    opened = episodes["dec"].isna() & next_decom.notna()
    overlapping = episodes["dec"].notna() & next_decom.notna() & (episodes["dec"] > next_decom)
    for mask, rule in ((opened, OPEN_EPISODE_CLOSED), (overlapping, OVERLAP_TRUNCATED)):
        episodes.loc[mask, "dec"] = next_decom[mask]
        episodes.loc[mask & ~next_starts_care.fillna(False).astype(bool), "rec"] = "X1"
        _note(episodes, mask, rule)
        ledger.repairs[(table, rule)] += int(mask.sum())
    return episodes


def _note(frame: pd.DataFrame, mask: pd.Series, rule: str) -> None:
    """Record ``rule`` in the ``repair`` column of the rows in ``mask``."""
    mask = mask.fillna(False).astype(bool)
    previous = frame.loc[mask, "repair"]
    frame.loc[mask, "repair"] = previous.where(previous.isna(), previous + ";").fillna("") + rule


def assemble_families(families: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Drop exact duplicates; quarantine a person found in more than one family."""
    duplicate = families.duplicated(["child_id", "family_id"], keep="first")
    ledger.merge("families", families.loc[duplicate], EXACT_DUPLICATE)
    families = families.loc[~duplicate]
    several = families.groupby("child_id")["family_id"].transform("nunique") > 1
    ledger.quarantine_rows("families", families.loc[several], "family_id", q.MULTIPLE_FAMILIES)
    return families.loc[~several]


def assemble_children(cin: pd.DataFrame, ssda903: pd.DataFrame, families: pd.DataFrame,
                      ledger: Ledger) -> tuple[pd.DataFrame, pd.Series]:
    """One row per child from the CIN and SSDA903 child records.

    Returns the children and, for children who were quarantined, the reason
    (indexed by pseudonym) so that their other rows can follow them.
    """
    table = "children"
    # Two dates of birth for one child within one return are a conflict, not a correction (a
    # later year's date corrects an earlier one): every record of that child is quarantined.
    returns = ["child_id", "source_file", "collection_year"]
    stated = pd.concat([cin[returns + ["birth_date"]], ssda903[returns + ["birth_date"]]]).dropna(
        subset=["birth_date"])
    per_return = stated.groupby(returns, dropna=False)["birth_date"].nunique()
    torn = per_return.index[per_return > 1].get_level_values("child_id").unique()
    within = pd.Series(q.CONFLICTING_BIRTH_DATES, index=torn, dtype="string")
    for records in (cin, ssda903):
        ledger.quarantine_rows(table, records.loc[records["child_id"].isin(torn)], "birth_date",
                               q.CONFLICTING_BIRTH_DATES)
    cin, ssda903 = cin.loc[~cin["child_id"].isin(torn)], ssda903.loc[~ssda903["child_id"].isin(torn)]
    # Attributes only the CIN census has: the latest record that states them.
    by_year = cin.sort_values(["collection_year", "source_file", "line"], kind="stable") \
        .groupby("child_id", sort=False)
    stated_disabled, stated_death = by_year["disabled"].last(), by_year["death_date"].last()
    winners = []
    for records, flag in ((cin, "in_cin_census"), (ssda903, "in_ssda903")):
        wins = _latest_last(records, ["child_id"])
        ledger.merge(table, records.loc[~wins])
        if len(records):
            winners.append(records.loc[wins, list(_CHILD_RECORD)].assign(dataset_flag=flag))
    both = pd.concat(winners, ignore_index=True) if winners else \
        cin[list(_CHILD_RECORD)].assign(dataset_flag=pd.Series(dtype="string"))

    dobs = both.dropna(subset=["birth_date"]).groupby("child_id")["birth_date"].nunique()
    conflicting = both["child_id"].isin(dobs.index[dobs > 1])
    ledger.quarantine_rows(table, both.loc[conflicting], "birth_date", q.CONFLICTING_BIRTH_DATES)
    reasons = pd.concat([within, pd.Series(q.CONFLICTING_BIRTH_DATES, dtype="string",
                                           index=both.loc[conflicting, "child_id"].unique())])
    both = both.loc[~conflicting]

    no_family = ~both["child_id"].isin(families["child_id"])
    ledger.quarantine_rows(table, both.loc[no_family], "family_id", q.NOT_IN_FAMILY)
    reasons = pd.concat([reasons, pd.Series(q.NOT_IN_FAMILY, dtype="string",
                                            index=both.loc[no_family, "child_id"].unique())])
    both = both.loc[~no_family]

    # The row kept: the CIN record when there is one (sorted first), the other is merged.
    both["cin_first"] = both["dataset_flag"] == "in_cin_census"
    both = both.sort_values(["child_id", "cin_first"], ascending=[True, False], kind="stable")
    grouped = both.groupby("child_id", sort=False)
    latest = both.sort_values(["child_id", "collection_year", "cin_first"], kind="stable") \
        .groupby("child_id", sort=False)
    kept = grouped.head(1).set_index("child_id")
    ledger.merge(table, both.loc[grouped.cumcount() > 0])
    flags = pd.crosstab(both["child_id"], both["dataset_flag"]).reindex(
        columns=["in_cin_census", "in_ssda903"], fill_value=0) > 0
    recent_sex = latest["sex"].last()
    recent_ethnicity = latest["ethnicity"].last()
    birth = grouped["birth_date"].first()
    children = pd.DataFrame({
        "child_id": kept.index,
        "birth_month": birth_month(birth.reindex(kept.index)).to_numpy(),
        "sex": recent_sex.reindex(kept.index).to_numpy(),
        "ethnicity": recent_ethnicity.reindex(kept.index).to_numpy(),
        "death_date": stated_death.reindex(kept.index).to_numpy(),
        "disabled": stated_disabled.reindex(kept.index).to_numpy(),
        "in_cin_census": flags["in_cin_census"].reindex(kept.index).to_numpy(),
        "in_ssda903": flags["in_ssda903"].reindex(kept.index).to_numpy(),
        "source_file": kept["source_file"].to_numpy(),
        "collection_year": kept["collection_year"].to_numpy(),
    })
    return children, reasons


def follow_children(tables: dict[str, pd.DataFrame], children: pd.DataFrame, reasons: pd.Series,
                    ledger: Ledger) -> dict[str, pd.DataFrame]:
    """Quarantine rows of children who have no row in ``children`` (with the child's reason)."""
    known = set(children["child_id"])
    out = {}
    for name, rows in tables.items():
        orphan = ~rows["child_id"].isin(known)
        lost = rows.loc[orphan]
        reason = lost["child_id"].map(reasons).fillna(q.NO_CHILD_RECORD)
        ledger.quarantine_rows(name, lost, "child_id", reason.to_numpy())
        out[name] = rows.loc[~orphan]
    return out


def reconcile(rows_read: Counter, kept: dict[str, pd.DataFrame], quarantine: pd.DataFrame,
              merged: Counter) -> pd.DataFrame:
    """Per (table, file): rows read, kept, quarantined, merged (without ``la_code``)."""
    kept_counts: Counter = Counter()
    for name, frame in kept.items():
        if "source_file" in frame:
            for source_file, n in frame["source_file"].value_counts().items():
                kept_counts[(name, source_file)] += int(n)
    quarantined = Counter({k: int(n) for k, n in
                           quarantine.groupby(["dataset", "source_file"]).size().items()})
    keys = sorted(set(rows_read) | set(kept_counts) | set(quarantined) | set(merged))
    return pd.DataFrame({
        "dataset": [k[0] for k in keys],
        "source_file": [k[1] for k in keys],
        "rows_read": [rows_read.get(k, 0) for k in keys],
        "rows_kept": [kept_counts.get(k, 0) for k in keys],
        "rows_quarantined": [quarantined.get(k, 0) for k in keys],
        "rows_merged": [merged.get(k, 0) for k in keys],
    })


def check_reconciliation(reconciliation: pd.DataFrame) -> None:
    """Raise :class:`ReconciliationError` unless read = kept + quarantined + merged for every file."""
    balance = reconciliation["rows_read"] - (reconciliation["rows_kept"]
                                             + reconciliation["rows_quarantined"]
                                             + reconciliation["rows_merged"])
    off = reconciliation.loc[np.asarray(balance != 0)]
    if len(off):
        where = "; ".join(f"{r.dataset} from {r.source_file}: read {r.rows_read}, kept {r.rows_kept}, "
                          f"quarantined {r.rows_quarantined}, merged {r.rows_merged}"
                          for r in off.itertuples())
        raise ReconciliationError(f"rows do not reconcile: {where}")


def repairs_table(repairs: Counter) -> pd.DataFrame:
    keys = sorted(repairs)
    return pd.DataFrame({"dataset": [k[0] for k in keys], "rule": [k[1] for k in keys],
                         "rows": [int(repairs[k]) for k in keys]})
