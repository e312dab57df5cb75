"""Assemble the collection years of one local authority into one set of tables.

Every returned row is accounted for: per input file and destination table,
rows read = rows kept + rows quarantined + rows merged (:func:`reconcile`),
and every merged row is a DUPLICATE OF A KEPT ROW, recorded as such in the
``duplicates`` table: its position (dataset, file, line / element path) →
the position of the kept row it duplicates, and the rule. A row that is
neither kept, quarantined nor a duplicate of a kept row cannot exist:
:func:`check_reconciliation` fails if one does (or if a recorded duplicate
points at a row that was not kept). A duplicate whose kept row is later
quarantined (e.g. the child's dates of birth conflict) is quarantined with it,
with the same field and reason. Positions are file-relative paths, line
numbers and element paths: never ids or values.

CIN census, as DfE defines the return: each year's file holds every episode
open during the collection year (1 April – 31 March), and within it only the
assessments, CIN plans, section 47s and protection plans open during that
year (DfE validation rules 8696, 4013, 8715 and 8930 reject earlier ones: an
assessment authorised, a CIN plan or protection plan ended, a section 47's initial
conference held before the collection year began). So:

* ``later_submission_wins`` — a CIN episode (child + ``CINreferralDate``) in
  several years' files is kept once, from the LATEST collection year that has
  a usable copy (within one file, the last occurrence): its own fields
  (closure, reason, need, ...) come from that copy.
* Its assessments, CIN plans, section 47s and protection plans are the UNION
  over every return, de-duplicated within the episode by their natural keys:
  assessment ``AssessmentActualStartDate``, CIN plan ``CINPlanStartDate``,
  section 47 ``S47ActualStartDate``, protection plan ``CPPstartDate``. Copies
  of the same record in several returns: the latest collection year wins,
  then the last line of a file (``later_submission_wins``); an identical copy
  in the same file is ``exact_duplicate_dropped``. A sub-record without its
  natural key never gets here (it is quarantined on reading, ``missing key
  field``); were one to arrive it is kept per return, only exact copies
  within one return being dropped.
* Assessment factors follow their assessment: the factors kept are those of
  the winning copy of the assessment. A factor of a losing copy is recorded
  as a duplicate of the same factor of the winning copy; a factor the winning
  copy no longer lists (corrected away) is recorded against the kept
  assessment itself (``factor_superseded_with_assessment``). A factor listed
  twice at one assessment is kept once (``exact_duplicate_dropped``).

SSDA903 episodes, repaired in this order (rule names as in ``repairs.rule`` and
``care_episodes.repair``; several rules on one row are joined with ``;``):

1. ``exact_duplicate_dropped`` — rows of one year's return identical in every
   field are kept once (each dropped row points at the kept copy).
2. ``later_year_wins`` — the same episode (child + ``DECOM``) in several
   years' returns (each return repeats the episodes open at its start, often
   corrected): the latest collection year's row wins; within one year, the
   last line. Each dropped row points at the winning row.
3. ``open_episode_closed`` — an open episode (no ``DEC``) followed by a later
   episode of the same child ends at the next ``DECOM``; ``REC`` becomes ``X1``
   (ends, and a new episode starts the same day) unless the next episode starts
   a new period of care (``RNE`` = ``S``), when ``REC`` stays missing.
4. ``overlap_truncated`` — an episode whose ``DEC`` is after the next
   episode's ``DECOM`` is truncated to that ``DECOM``; ``REC`` becomes ``X1``
   unless the next episode has ``RNE`` = ``S`` (then ``REC`` is kept).

Children: a child's records from the CIN census and SSDA903 header are merged
into one row (``one_row_per_child``: each merged record points at the record
kept). Within each dataset the latest collection year's record wins
(corrections); across the two datasets the sex and ethnicity of the most
recent record are used, and if the two datasets' dates of birth differ the
child is quarantined with all their rows (the ids may not be one child).
A child who is in no family is quarantined with all their rows. A person in
more than one family is quarantined (every row of that person in the family
table); exact duplicate family rows are kept once (``exact_duplicate_dropped``,
pointing at the first). The family table keeps every person it lists (parents
and siblings without records too), pseudonymised in the child id space. Rows
of a child with no usable child record are quarantined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation import tables as contract
from evaluation.ingest import quarantine as q
from evaluation.ingest.errors import ReconciliationError
from evaluation.ingest.values import isin
from evaluation.pseudonymise import birth_month

LATER_SUBMISSION_WINS = "later_submission_wins"
EXACT_DUPLICATE = "exact_duplicate_dropped"
LATER_YEAR_WINS = "later_year_wins"
OPEN_EPISODE_CLOSED = "open_episode_closed"
OVERLAP_TRUNCATED = "overlap_truncated"
FACTOR_SUPERSEDED = "factor_superseded_with_assessment"
ONE_ROW_PER_CHILD = "one_row_per_child"

CIN_SUB_TABLES = ("assessments", "cin_plans", "section47s", "cp_plans")
#: Natural key of each CIN sub-record within its episode (the DfE element named in brackets).
CIN_NATURAL_KEYS = {"assessments": "start_date",   # AssessmentActualStartDate
                    "cin_plans": "start_date",     # CINPlanStartDate
                    "section47s": "start_date",    # S47ActualStartDate
                    "cp_plans": "start_date"}      # CPPstartDate
_CHILD_RECORD = ("child_id", "national_id", "birth_date", "sex", "ethnicity", "collection_year",
                 "source_file", "line", "element")
CHILD_TABLES = ("cin_episodes", "assessments", "assessment_factors", "cin_plans", "section47s",
                "cp_plans", "care_episodes")
#: Where a row is: file-relative path, CSV line or XML source line, XML element path.
POSITION = ("source_file", "line", "element")
_FACTOR_SUFFIX = r"/FactorsIdentifiedAtAssessment/AssessmentFactors\[\d+\]$"
#: A duplicate points at a kept row of its own table; a factor of a superseded assessment copy
#: may point at the kept assessment.
_CROSS_TABLE = {("assessment_factors", "assessments")}
_MAX_CHAIN = 16


@contract.copies_of_one
def _empty_duplicates() -> pd.DataFrame:
    """No duplicates, typed as :meth:`Ledger.point` records them (one made per process, copies handed out)."""
    return contract.empty("duplicates").drop(columns=["la_code"]).assign(
        child_id=pd.Series(dtype="string"), _counted=pd.Series(dtype=bool))


@dataclass
class Ledger:
    """Duplicates (dropped row → kept row), repairs per (table, rule), and quarantined rows."""

    repairs: Counter = field(default_factory=Counter)
    quarantine: list[pd.DataFrame] = field(default_factory=list)
    duplicates: list[pd.DataFrame] = field(default_factory=list)

    def duplicate(self, table: str, frame: pd.DataFrame, wins: pd.Series, keys: list[str],
                  rule: str | pd.Series | Callable[[], pd.Series], count_repair: bool = True) -> None:
        """Record the rows of ``frame`` not in ``wins`` as duplicates of the winner with their ``keys``.

        ``rule`` is one rule for all, or a Series aligned to ``frame``, or a function giving that
        Series, called only when some row is a duplicate (a rule that compares every row costs
        more than the rest, and most tables have no duplicate). With ``count_repair`` the rows
        are counted in the repairs table under their rule.
        """
        wins = wins.reindex(frame.index).fillna(False).astype(bool)
        if wins.all():
            return
        if callable(rule):
            rule = rule()
        group = frame.groupby(keys, dropna=False, sort=False).ngroup()
        winners = frame.loc[wins, list(POSITION)].set_index(group[wins])
        dropped = frame.loc[~wins]
        target = winners.reindex(group[~wins].to_numpy())
        rules = rule.loc[dropped.index] if isinstance(rule, pd.Series) else rule
        self.point(table, dropped, table, target, rules, count_repair)

    def point(self, table: str, dropped: pd.DataFrame, kept_table: str, kept: pd.DataFrame,
              rule: str | pd.Series, count_repair: bool = True) -> None:
        """Record ``dropped`` rows of ``table`` as duplicates of the aligned ``kept`` positions."""
        if not len(dropped):
            return
        n = len(dropped)
        rules = pd.Series(np.asarray(rule, dtype=object) if isinstance(rule, pd.Series)
                          else [rule] * n, dtype="string")
        frame = pd.DataFrame({
            "dataset": pd.Series([table] * n, dtype="string"),
            "source_file": dropped["source_file"].astype("string").to_numpy(),
            "line": dropped["line"].astype("Int64").to_numpy(),
            "element": dropped["element"].astype("string").to_numpy(),
            "kept_dataset": pd.Series([kept_table] * n, dtype="string"),
            "kept_source_file": kept["source_file"].astype("string").to_numpy(),
            "kept_line": kept["line"].astype("Int64").to_numpy(),
            "kept_element": kept["element"].astype("string").to_numpy(),
            "rule": rules.to_numpy(),
            "child_id": dropped["child_id"].astype("string").to_numpy() if "child_id" in dropped
            else pd.array([pd.NA] * n, dtype="string"),
            "_counted": count_repair,
        })
        self.duplicates.append(frame)
        if count_repair:
            for name, k in rules.value_counts().items():
                self.repairs[(table, str(name))] += int(k)

    @property
    def merged(self) -> Counter:
        """Rows merged per (table, file): the recorded duplicates."""
        parts = [d for d in self.duplicates if len(d)]
        return _merged(pd.concat(parts, ignore_index=True)) if parts else Counter()

    def duplicates_table(self) -> pd.DataFrame:
        """The duplicates without ``child_id`` (positions and rule only; ``la_code`` added at the door)."""
        parts = [d for d in self.duplicates if len(d)]
        frame = pd.concat(parts, ignore_index=True) if parts else _empty_duplicates()
        return frame.drop(columns=["child_id", "_counted"])

    def quarantine_rows(self, table: str, rows: pd.DataFrame, field, reason) -> None:
        if len(rows):
            out = rows.assign(q_field=field, q_reason=reason)
            self.quarantine.append(q.to_quarantine(out, table))


def _latest_last(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Mask of the winning row per ``keys``: latest collection year, then the last file/line."""
    order = frame.sort_values(["collection_year", "source_file", "line"], kind="stable")
    winners = ~order.duplicated(keys, keep="last")
    return winners.reindex(frame.index)


def _content(name: str) -> list[str]:
    return [c for c in contract.TABLES[name] if c not in ("la_code", "collection_year")]


def _copy_rule(frame: pd.DataFrame, wins: pd.Series, keys: list[str], content: list[str]) -> pd.Series:
    """Per row: ``exact_duplicate_dropped`` if identical to its group's winner in the same file,
    else ``later_submission_wins`` (only the rows not in ``wins`` use it)."""
    columns = content + ["source_file"]
    group = frame.groupby(keys, dropna=False, sort=False).ngroup()
    theirs = frame.loc[wins, columns].set_index(group[wins]).reindex(group.to_numpy())
    theirs.index = frame.index
    mine = frame[columns]
    same = pd.DataFrame({c: (mine[c] == theirs[c]).fillna(False).astype(bool)
                         | (mine[c].isna() & theirs[c].isna()) for c in columns}).all(axis=1)
    return pd.Series(np.where(same, EXACT_DUPLICATE, LATER_SUBMISSION_WINS), index=frame.index,
                     dtype="string")


def assemble_cin(tables: dict[str, pd.DataFrame], ledger: Ledger) -> dict[str, pd.DataFrame]:
    """CIN episodes once (latest submission wins); sub-records the union over every return."""
    episodes = tables["cin_episodes"]
    keys = ["episode_id"]
    wins = _latest_last(episodes, keys)
    ledger.duplicate("cin_episodes", episodes, wins, keys,
                     lambda: _copy_rule(episodes, wins, keys, _content("cin_episodes")))
    out = {"cin_episodes": episodes.loc[wins]}
    for name in CIN_SUB_TABLES:
        out[name] = _union(name, tables[name], ledger)
    out["assessment_factors"] = _factors(tables["assessment_factors"], tables["assessments"],
                                         out["assessments"], ledger)
    return out


def _union(name: str, rows: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """One row per (episode, natural key) over every return; the latest return's copy wins."""
    rows = rows.copy()
    natural = CIN_NATURAL_KEYS[name]
    content = _content(name)
    keyless = rows[natural].isna()
    # a record without its natural key is kept per return; only exact copies in one return go
    by_key = rows.groupby(["episode_id", natural], dropna=False, sort=False).ngroup()
    by_copy = rows.groupby(content + ["collection_year", "source_file"], dropna=False,
                           sort=False).ngroup()
    rows["_record"] = np.where(keyless, by_copy + int(by_key.max() + 1 if len(rows) else 0), by_key)
    wins = _latest_last(rows, ["_record"])
    ledger.duplicate(name, rows, wins, ["_record"], lambda: _copy_rule(rows, wins, ["_record"], content))
    return rows.loc[wins].drop(columns=["_record", "episode_element"])


def _factors(factors: pd.DataFrame, assessments: pd.DataFrame, kept_assessments: pd.DataFrame,
             ledger: Ledger) -> pd.DataFrame:
    """The factors of the winning copy of each assessment; the others point at what was kept."""
    name = "assessment_factors"
    factors = factors.copy()
    factors["_assessment"] = factors["element"].str.replace(_FACTOR_SUFFIX, "", regex=True)
    at = pd.MultiIndex.from_frame(factors[["source_file", "_assessment"]])
    kept_at = pd.MultiIndex.from_frame(kept_assessments[["source_file", "element"]])
    of_kept = pd.Series(at.isin(kept_at), index=factors.index)

    # factors of a kept assessment copy: a code listed twice is kept once
    kept = factors.loc[of_kept]
    first = ~kept.duplicated(["source_file", "_assessment", "factor"], keep="first")
    ledger.duplicate(name, kept, first, ["source_file", "_assessment", "factor"], EXACT_DUPLICATE)
    kept = kept.loc[first]

    # factors of a losing copy: the same code at the winning copy, else the winning assessment
    lost = factors.loc[~of_kept]
    if len(lost):
        copies = assessments[["source_file", "element", "episode_id", "start_date"]]
        winner = kept_assessments[["episode_id", "start_date", "source_file", "element"]].rename(
            columns={"source_file": "w_file", "element": "w_element"})
        winner_of = copies.merge(winner, on=["episode_id", "start_date"], how="left") \
            .drop_duplicates(["source_file", "element"])
        lost = lost.reset_index().merge(
            winner_of[["source_file", "element", "w_file", "w_element"]].rename(
                columns={"element": "_assessment"}), on=["source_file", "_assessment"], how="left")
        same_code = kept[["source_file", "_assessment", "factor", "line", "element"]].rename(
            columns={"source_file": "w_file", "_assessment": "w_element", "line": "k_line",
                     "element": "k_element"})
        lost = lost.merge(same_code, on=["w_file", "w_element", "factor"], how="left")
        has_code = lost["k_element"].notna()
        winner_line = kept_assessments.set_index(["source_file", "element"])["line"]
        w_index = pd.MultiIndex.from_frame(lost[["w_file", "w_element"]])
        for mask, table in ((has_code, name), (~has_code, "assessments")):
            part = lost.loc[mask]
            if not len(part):
                continue
            if table == name:
                target = pd.DataFrame({"source_file": part["w_file"], "line": part["k_line"],
                                       "element": part["k_element"]})
                rule = np.where(part["w_file"] == part["source_file"], EXACT_DUPLICATE,
                                LATER_SUBMISSION_WINS)
            else:
                target = pd.DataFrame({"source_file": part["w_file"],
                                       "line": winner_line.reindex(w_index[mask.to_numpy()]).to_numpy(),
                                       "element": part["w_element"]})
                rule = FACTOR_SUPERSEDED
            ledger.point(name, part, table, target,
                         pd.Series(rule, index=part.index) if isinstance(rule, np.ndarray) else rule)
    return kept.drop(columns=["_assessment", "episode_element"])


def assemble_care_episodes(episodes: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Apply the four SSDA903 repair rules (module docstring) in order."""
    table = "care_episodes"
    episodes = episodes.copy()
    episodes["repair"] = pd.Series(pd.NA, index=episodes.index, dtype="string")
    content = [c for c in contract.TABLES[table] if c not in ("la_code", "collection_year", "repair")]

    # (1) exact duplicates within one return.
    wins = _latest_last(episodes, content + ["collection_year"])
    had_copies = episodes.duplicated(content + ["collection_year"], keep=False) & wins
    ledger.duplicate(table, episodes, wins, content + ["collection_year"], EXACT_DUPLICATE)
    episodes = episodes.loc[wins]
    _note(episodes, had_copies.loc[episodes.index], EXACT_DUPLICATE)

    # (2) the same episode (child + DECOM) with differing fields: latest year wins.
    keys = ["child_id", "decom"]
    wins = _latest_last(episodes, keys)
    had_versions = episodes.duplicated(keys, keep=False) & wins
    ledger.duplicate(table, episodes, wins, keys, LATER_YEAR_WINS)
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
    ledger.duplicate("families", families, ~duplicate, ["child_id", "family_id"], EXACT_DUPLICATE)
    families = families.loc[~duplicate]
    several = families.groupby("child_id")["family_id"].transform("nunique") > 1
    ledger.quarantine_rows("families", families.loc[several], "family_id", q.MULTIPLE_FAMILIES)
    return families.loc[~several]


def assemble_children(cin: pd.DataFrame, ssda903: pd.DataFrame, families: pd.DataFrame,
                      ledger: Ledger, quarantined_births: pd.DataFrame | None = None
                      ) -> tuple[pd.DataFrame, pd.Series]:
    """One row per child from the CIN and SSDA903 child records.

    ``quarantined_births`` are the dates of birth stated by child records quarantined for
    another reason (an unknown ethnicity code, say): they still count as evidence of a
    conflict, within a return and between the two datasets' latest statements.

    Returns the children and, for children who were quarantined, the reason
    (indexed by pseudonym) so that their other rows can follow them.
    """
    table = "children"
    if quarantined_births is None:
        quarantined_births = pd.DataFrame(columns=["child_id", "birth_date", "line", "dataset",
                                                   "source_file", "collection_year"])
    # Two dates of birth for one child within one return are a conflict, not a correction (a
    # later year's date corrects an earlier one): every record of that child is quarantined.
    returns = ["child_id", "source_file", "collection_year"]
    stated = pd.concat([cin[returns + ["birth_date"]], ssda903[returns + ["birth_date"]],
                        quarantined_births[returns + ["birth_date"]]]).dropna(subset=["birth_date"])
    per_return = stated.groupby(returns, dropna=False)["birth_date"].nunique()
    torn = per_return.index[per_return > 1].get_level_values("child_id").unique()
    within = pd.Series(q.CONFLICTING_BIRTH_DATES, index=torn, dtype="string")
    for records in (cin, ssda903):
        ledger.quarantine_rows(table, records.loc[isin(records["child_id"], torn)], "birth_date",
                               q.CONFLICTING_BIRTH_DATES)
    cin, ssda903 = cin.loc[~isin(cin["child_id"], torn)], ssda903.loc[~isin(ssda903["child_id"], torn)]
    # Attributes only the CIN census has: the latest record that states them.
    by_year = cin.sort_values(["collection_year", "source_file", "line"], kind="stable") \
        .groupby("child_id", sort=False)
    stated_disabled, stated_death = by_year["disabled"].last(), by_year["death_date"].last()
    winners = []
    for records, flag in ((cin, "in_cin_census"), (ssda903, "in_ssda903")):
        wins = _latest_last(records, ["child_id"])
        ledger.duplicate(table, records, wins, ["child_id"], ONE_ROW_PER_CHILD, count_repair=False)
        if len(records):
            winners.append(records.loc[wins, list(_CHILD_RECORD)].assign(dataset_flag=flag))
    both = pd.concat(winners, ignore_index=True) if winners else \
        cin[list(_CHILD_RECORD)].assign(dataset_flag=pd.Series(dtype="string"))

    dobs = both.dropna(subset=["birth_date"]).groupby("child_id")["birth_date"].nunique()
    # Each dataset's latest statement of the date of birth, quarantined records included.
    latest_stated = []
    for records, dataset in ((cin, "cin_census"), (ssda903, "ssda903")):
        rows = pd.concat([records[returns + ["birth_date", "line"]], quarantined_births.loc[
            quarantined_births["dataset"] == dataset, returns + ["birth_date", "line"]]])
        rows = rows.dropna(subset=["birth_date"]).sort_values(
            ["collection_year", "source_file", "line"], kind="stable")
        latest_stated.append(rows.groupby("child_id")["birth_date"].last())
    disagree = pd.concat(latest_stated, axis=1, join="inner")
    disagree = disagree.index[disagree.iloc[:, 0] != disagree.iloc[:, 1]]
    conflicting = isin(both["child_id"], dobs.index[dobs > 1]) | isin(both["child_id"], disagree)
    ledger.quarantine_rows(table, both.loc[conflicting], "birth_date", q.CONFLICTING_BIRTH_DATES)
    reasons = pd.concat([within, pd.Series(q.CONFLICTING_BIRTH_DATES, dtype="string",
                                           index=both.loc[conflicting, "child_id"].unique())])
    both = both.loc[~conflicting]

    no_family = ~isin(both["child_id"], families["child_id"])
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
    ledger.duplicate(table, both, grouped.cumcount() == 0, ["child_id"], ONE_ROW_PER_CHILD,
                     count_repair=False)
    flags = _dataset_flags(both, kept.index)
    recent_sex = latest["sex"].last()
    recent_ethnicity = latest["ethnicity"].last()
    recent_national = latest["national_id"].last()   # the latest record that states a UPN
    birth = grouped["birth_date"].first()
    children = pd.DataFrame({
        "child_id": kept.index,
        "birth_month": birth_month(birth.reindex(kept.index)).to_numpy(),
        "sex": recent_sex.reindex(kept.index).to_numpy(),
        "ethnicity": recent_ethnicity.reindex(kept.index).to_numpy(),
        "national_id": recent_national.reindex(kept.index).to_numpy(),
        "death_date": stated_death.reindex(kept.index).to_numpy(),
        "disabled": stated_disabled.reindex(kept.index).to_numpy(),
        "in_cin_census": flags["in_cin_census"].reindex(kept.index).to_numpy(),
        "in_ssda903": flags["in_ssda903"].reindex(kept.index).to_numpy(),
        "source_file": kept["source_file"].to_numpy(),
        "collection_year": kept["collection_year"].to_numpy(),
        "line": kept["line"].to_numpy(),        # the position of the record kept
        "element": kept["element"].to_numpy(),
    })
    return children, reasons


def _dataset_flags(both: pd.DataFrame, kept: pd.Index) -> pd.DataFrame:
    """Per child kept: whether any record came from the CIN census / the SSDA903 header (the
    crosstab of child and dataset, > 0; looked up as id sets, which is what takes no time)."""
    if not len(both):
        return pd.crosstab(both["child_id"], both["dataset_flag"]).reindex(
            columns=["in_cin_census", "in_ssda903"], fill_value=0) > 0
    ids = pd.Series(kept, index=kept)
    return pd.DataFrame({flag: isin(ids, both.loc[both["dataset_flag"] == flag, "child_id"])
                         for flag in ("in_cin_census", "in_ssda903")})


def follow_children(tables: dict[str, pd.DataFrame], children: pd.DataFrame, reasons: pd.Series,
                    ledger: Ledger) -> dict[str, pd.DataFrame]:
    """Quarantine rows of children who have no row in ``children`` (with the child's reason).

    The last step of the assembly: it then resolves the ledger's duplicates
    (:func:`resolve_duplicates`), so that a duplicate of a row quarantined here
    or earlier is quarantined too.
    """
    known = children["child_id"]
    out = {}
    for name, rows in tables.items():
        orphan = ~isin(rows["child_id"], known)
        lost = rows.loc[orphan]
        reason = lost["child_id"].map(reasons).fillna(q.NO_CHILD_RECORD)
        ledger.quarantine_rows(name, lost, "child_id", reason.to_numpy())
        out[name] = rows.loc[~orphan]
    resolve_duplicates(ledger)
    return out


_WHERE = ["dataset", "source_file", "line", "element"]


def _where(dataset, source_file, line, element) -> pd.DataFrame:
    """Positions as a frame of uniform dtypes: dataset, file, line, element path."""
    n = len(source_file)
    dataset = [dataset] * n if isinstance(dataset, str) else np.asarray(dataset, dtype=object)
    return pd.DataFrame({
        "dataset": pd.array(dataset, dtype="string"),
        "source_file": pd.array(np.asarray(source_file, dtype=object), dtype="string"),
        "line": pd.array(pd.Series(line).astype("Int64").to_numpy(), dtype="Int64"),
        "element": pd.array(np.asarray(element, dtype=object), dtype="string"),
    })


def _ids(*frames: pd.DataFrame) -> list[np.ndarray]:
    """One integer per position, the same for the same position in any of ``frames``."""
    lengths = [len(f) for f in frames]
    every = pd.concat(frames, ignore_index=True)
    ids = every.groupby(_WHERE, dropna=False, sort=False).ngroup().to_numpy() if len(every) \
        else np.zeros(0, dtype=np.int64)
    return np.split(ids, np.cumsum(lengths)[:-1])


def kept_positions(kept: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Positions of every kept row (tables without positions contribute none)."""
    parts = [_where(name, frame["source_file"], frame["line"], frame["element"])
             for name, frame in kept.items() if all(c in frame for c in POSITION)]
    return pd.concat(parts, ignore_index=True) if parts else _where("", [], [], [])


def _dropped_and_kept(duplicates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (_where(duplicates["dataset"], duplicates["source_file"], duplicates["line"],
                   duplicates["element"]),
            _where(duplicates["kept_dataset"], duplicates["kept_source_file"],
                   duplicates["kept_line"], duplicates["kept_element"]))


def resolve_duplicates(ledger: Ledger) -> pd.DataFrame:
    """The ledger's duplicates, each pointing at the row finally kept.

    A duplicate of a row that was itself dropped as a duplicate points through
    it to the row kept. A duplicate whose row was quarantined afterwards (its
    child's rows quarantined, a person in two families) is quarantined too,
    with that row's field and reason. Anything else is left as it is, for
    :func:`check_reconciliation` to refuse. The ledger keeps the result.
    """
    parts = [d for d in ledger.duplicates if len(d)]
    if not parts:
        ledger.duplicates = []
        return _empty_duplicates()
    dup = pd.concat(parts, ignore_index=True)
    q_parts = [part for part in ledger.quarantine if len(part)]
    quarantine = pd.concat(q_parts, ignore_index=True) if q_parts else q.empty_quarantine()
    dropped, target = _dropped_and_kept(dup)
    quarantined = _where(quarantine["dataset"], quarantine["source_file"], quarantine["line"],
                         quarantine["element"])
    me, target_ids, q_ids = _ids(dropped, target, quarantined)
    final = target_ids.copy()
    following = pd.Series(target_ids, index=me)
    following = following.loc[~following.index.duplicated()]
    for _ in range(_MAX_CHAIN):  # chains are short (two steps in the 903 repairs); no cycles
        nxt = pd.Series(final).map(following)
        moved = (nxt.notna() & (nxt != final)).to_numpy()
        if not moved.any():
            break
        final = np.where(moved, nxt.fillna(-1).to_numpy(dtype=np.int64), final)
    # where each final target is: the first row of ``target`` with that id
    located = target.set_axis(target_ids).groupby(level=0).first()
    located = located.reindex(final)
    for c in _WHERE:
        dup["kept_" + c] = located[c].to_numpy()
    dup["kept_line"] = dup["kept_line"].astype("Int64")

    lost = np.isin(final, q_ids)
    if lost.any():
        marks = quarantine[["field", "reason"]].set_axis(q_ids)
        marks = marks.loc[~marks.index.duplicated()].reindex(final[lost])
        for table, rows in dup.loc[lost].assign(
                q_field=marks["field"].to_numpy(), q_reason=marks["reason"].to_numpy()
                ).groupby("dataset", sort=False):
            ledger.quarantine.append(q.to_quarantine(rows, str(table)))
        # a repair undone: the row is quarantined, not merged
        gone = dup.loc[lost & dup["_counted"].to_numpy(dtype=bool)]
        for (table, rule), k in gone.groupby(["dataset", "rule"]).size().items():
            ledger.repairs[(str(table), str(rule))] -= int(k)
            if ledger.repairs[(str(table), str(rule))] <= 0:
                del ledger.repairs[(str(table), str(rule))]
        dup = dup.loc[~lost]
    dup = dup.reset_index(drop=True)
    ledger.duplicates = [dup]
    return dup


def _merged(duplicates: pd.DataFrame | Counter) -> Counter:
    if isinstance(duplicates, Counter):
        return duplicates
    return Counter({(str(k[0]), str(k[1])): int(n) for k, n in
                    duplicates.groupby(["dataset", "source_file"]).size().items()})


def reconcile(rows_read: Counter, kept: dict[str, pd.DataFrame], quarantine: pd.DataFrame,
              duplicates: pd.DataFrame | Counter) -> pd.DataFrame:
    """Per (table, file): rows read, kept, quarantined, merged (without ``la_code``).

    Rows merged are the recorded duplicates of kept rows from that file.
    """
    merged = _merged(duplicates)
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


def check_reconciliation(reconciliation: pd.DataFrame, duplicates: pd.DataFrame | None = None,
                         kept: dict[str, pd.DataFrame] | None = None) -> None:
    """Raise :class:`ReconciliationError` unless nothing was lost.

    Always: read = kept + quarantined + merged for every file. With
    ``duplicates``: every merged row of a file is a recorded duplicate (no row
    is neither kept, quarantined nor a duplicate). With ``kept`` (the kept rows
    with their positions, as the door has them): every duplicate points at a
    row that was kept, and no kept row is also recorded as a duplicate.
    """
    balance = reconciliation["rows_read"] - (reconciliation["rows_kept"]
                                             + reconciliation["rows_quarantined"]
                                             + reconciliation["rows_merged"])
    off = reconciliation.loc[np.asarray(balance != 0)]
    if len(off):
        where = "; ".join(f"{r.dataset} from {r.source_file}: read {r.rows_read}, kept {r.rows_kept}, "
                          f"quarantined {r.rows_quarantined}, merged {r.rows_merged}"
                          for r in off.itertuples())
        raise ReconciliationError(f"rows do not reconcile: {where}")
    if duplicates is None:
        return
    recorded = _merged(duplicates)
    stated = {(str(r.dataset), str(r.source_file)): int(r.rows_merged)
              for r in reconciliation.itertuples()}
    unrecorded = sorted(k for k in set(stated) | set(recorded)
                        if stated.get(k, 0) != recorded.get(k, 0))
    if unrecorded:
        where = "; ".join(f"{d} from {f}: merged {stated.get((d, f), 0)}, recorded as duplicates of "
                          f"kept rows {recorded.get((d, f), 0)}" for d, f in unrecorded)
        raise ReconciliationError(f"rows merged are not all duplicates of kept rows: {where}")
    if kept is None or not len(duplicates):
        return
    dropped, target = _dropped_and_kept(duplicates)
    kept_ids, me, at = _ids(kept_positions(kept), dropped, target)
    dangling = ~np.isin(at, kept_ids)
    both = np.isin(me, kept_ids)
    pairs = list(zip(duplicates["dataset"].astype(str), duplicates["kept_dataset"].astype(str)))
    elsewhere = np.array([a != b and (a, b) not in _CROSS_TABLE for a, b in pairs], dtype=bool)
    wrong = dangling | both | elsewhere
    bad = duplicates.loc[wrong]
    if len(bad):
        why = np.where(dangling, "is not kept", np.where(both, "is itself kept",
                                                         "is a row of another table"))[wrong]
        where = "; ".join(
            f"{r.dataset} from {r.source_file} (line {r.line}, {r.element}) recorded as a duplicate "
            f"of {r.kept_dataset} from {r.kept_source_file} (line {r.kept_line}, {r.kept_element})"
            f", which {w}" for r, w in zip(bad.head(5).itertuples(), why[:5]))
        raise ReconciliationError(f"{len(bad)} rows are neither kept, quarantined nor duplicates "
                                  f"of a kept row: {where}")


def repairs_table(repairs: Counter) -> pd.DataFrame:
    keys = sorted(repairs)
    return pd.DataFrame({"dataset": [k[0] for k in keys], "rule": [k[1] for k in keys],
                         "rows": [int(repairs[k]) for k in keys]})
