"""When follow-up stops: data windows, 18th birthdays, deaths, transfers out.

Rules (every spell and every outcome):

* Each outcome is followed only while the data it needs is observed, per
  local authority and per dataset (:data:`DATASETS`): the CIN census window
  (``cin_observation_start`` .. ``cin_end``) runs from 1 April opening its
  earliest collection year to the latest CIN reference date; the SSDA903
  window (``care_observation_start`` .. ``care_end``) likewise from the
  SSDA903 years present. Both are cut at ``StudyConfig.study_end`` if that is
  earlier. Need spells (CIN episodes) use the CIN window; periods of care use
  the SSDA903 window, so a county whose SSDA903 return ends a year before its
  CIN census has its periods of care censored at the last SSDA903 reference
  date, not a year later. An outcome that needs both uses the joint window
  (``observation_start`` = the later start, ``admin_end`` = the earlier end,
  over the datasets the LA supplied): CIN and CP plans (an exit is an
  escalation into care only if the care data can show it), time to care from
  a referral, journeys through every state. A spell that began before its window
  enters late: ``entry_days`` = days from its start to the window start.
  Collection years missing inside a window, and uneven ends, are counted by
  :func:`window_gaps` (a warning check and a limitation of the report).
* CIN plan dates are in the CIN census only from the first schema that
  carries ``CINPlanStartDate`` (collection year 2022, i.e. from 1 April 2021,
  in the bundled schemas): CIN plans are observed from
  ``cin_plan_observation_start`` = 1 April opening the later of that year and
  the LA's first CIN census year. A plan that ended before then is not in the
  data at all; one open then enters late.
* The 18th birthday (``censor_at_age``) is dated from ``birth_month``, which is
  the first of the birth month after pseudonymisation: the earliest possible
  birthday, so no time after the real birthday is ever counted (at most 30
  days of follow-up are lost).
* Death (``children.death_date``, closure RC2, care exit E2) and transfer out
  (closure RC5, care exit E3) stop follow-up from that date: a spell is
  censored at the first such date on or after its start. A spell that ends on
  the day of a death, transfer or 18th birthday is censored, not an exit; one
  that ends on the extract's reference date is an exit.
* A spell starting after the date its child's follow-up stops is dropped.
* A censored spell has no ``end_date`` and no ``end_reason``: ``censor_date``
  and ``censor_reason`` (``extract_end``, ``age``, ``death``,
  ``transfer_out``, ``unknown_exit``) say when and why follow-up stopped.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from evaluation.codes.cin import CIN_YEARS, cin_schema_path
from evaluation.codes.groupings import CIN_CENSORING_CLOSURES
from evaluation.study import StudyConfig
from evaluation.tables import content_digest

#: Columns of every spell table, in order.
SPELL_COLUMNS: tuple[str, ...] = (
    "la_code", "child_id", "family_id", "spell_id", "episode_id", "start_date", "end_date",
    "end_reason", "exit_type", "censored", "censor_date", "censor_reason", "observation_start",
    "entry_days", "duration_days",
)

#: Codes whose date stops follow-up, and why.
STOP_REASONS: dict[str, str] = {"RC2": "death", "E2": "death", "RC5": "transfer_out", "E3": "transfer_out"}
FAR_FUTURE = pd.Timestamp("2262-01-01")


@lru_cache(maxsize=1)
def first_year_with_cin_plan_dates() -> int:
    """First CIN census collection year whose bundled schema carries CIN plan dates."""
    carrying = [y for y in CIN_YEARS if "CINPlanStartDate" in cin_schema_path(y).read_text()]
    return min(carrying) if carrying else max(CIN_YEARS) + 1


#: Datasets with their own observation window: dataset -> window column prefix.
DATASETS: dict[str, str] = {"cin_census": "cin", "ssda903": "care"}
#: Which window each kind of spell is followed in (``None``: the joint window). CIN and CP
#: plans need both datasets: whether a plan ended in an escalation into care is seen only
#: while the SSDA903 returns run.
SPELL_DATASET: dict[str, str | None] = {"need": "cin_census", "cin_plan": None,
                                        "protection": None, "care": "ssda903"}


def _first_of_april(years: pd.Series) -> pd.Series:
    """1 April opening each collection year (NaT where the year is missing)."""
    out = pd.Series(pd.NaT, index=years.index, dtype="datetime64[ns]")
    known = years.notna()
    if known.any():
        out[known] = pd.to_datetime({"year": years[known].astype(int).to_numpy() - 1,
                                     "month": 4, "day": 1}).to_numpy()
    return out


#: Windows already worked out in this process, by the extracts table's content and the study end
#: (:func:`_windows_key`), newest last. Every spell, cohort, journey and monthly builder asks for
#: them, several times per build, and pandas took 15-30 ms each time on a table of a few dozen
#: files (about 4% of the test suite's CPU).
_WINDOWS: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
_WINDOWS_KEPT = 16


def _windows_key(extracts: pd.DataFrame, config: StudyConfig) -> tuple | None:
    """What the windows depend on: the extracts' content (:func:`~evaluation.tables.content_digest`)
    and the study end (None when a value cannot be hashed: then nothing is kept)."""
    try:
        return content_digest(extracts), config.study_end
    except TypeError:
        return None


def observation_windows(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """One row per LA: the data window of each dataset and the joint window.

    Columns: ``cin_observation_start``, ``cin_end`` (CIN census),
    ``care_observation_start``, ``care_end`` (SSDA903; NaT when the LA has no
    return of that dataset), ``cin_plan_observation_start``, the joint
    ``observation_start`` / ``admin_end`` (later start, earlier end over the
    datasets present), and ``reference_date`` (the latest reference date of
    any file: when the extract was taken, not how far follow-up goes).
    Every end is cut at ``config.study_end`` if that is earlier.

    Worked out once per extracts table and study end in a process; each call returns its own copy.
    """
    extracts = tables["extracts"]
    if extracts.empty:
        raise ValueError("extracts is empty: the data window of each LA is unknown")
    key = _windows_key(extracts, config)
    windows = _WINDOWS.get(key) if key is not None else None
    if windows is None:
        windows = _observation_windows(extracts, config)
        if key is not None:
            _WINDOWS[key] = windows
            while len(_WINDOWS) > _WINDOWS_KEPT:
                _WINDOWS.popitem(last=False)
    else:
        _WINDOWS.move_to_end(key)
    return windows.copy()


def _observation_windows(extracts: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    grouped = extracts.groupby("la_code", observed=True).agg(
        first_year=("collection_year", "min"), reference_date=("reference_date", "max"))
    index = grouped.index
    windows = pd.DataFrame({"la_code": index.astype("string"),
                            "reference_date": grouped["reference_date"].to_numpy()})
    study_end = pd.Timestamp(config.study_end) if config.study_end is not None else None
    starts, ends = [], []
    for dataset, prefix in DATASETS.items():
        own = extracts[extracts["dataset"] == dataset].groupby("la_code", observed=True).agg(
            first_year=("collection_year", "min"), end=("reference_date", "max")).reindex(index)
        start = _first_of_april(own["first_year"])
        end = pd.to_datetime(own["end"]).astype("datetime64[ns]")
        if study_end is not None:
            end = end.clip(upper=study_end)
        windows[f"{prefix}_observation_start"] = start.to_numpy()
        windows[f"{prefix}_end"] = end.to_numpy()
        starts.append(f"{prefix}_observation_start")
        ends.append(f"{prefix}_end")
    # an LA with neither dataset (only other collections) keeps the window of all its files
    fallback_start = _first_of_april(grouped["first_year"]).to_numpy()
    fallback_end = pd.Series(grouped["reference_date"].to_numpy(), dtype="datetime64[ns]")
    if study_end is not None:
        fallback_end = fallback_end.clip(upper=study_end)
    windows["observation_start"] = windows[starts].max(axis=1).fillna(
        pd.Series(fallback_start)).astype("datetime64[ns]")
    windows["admin_end"] = windows[ends].min(axis=1).fillna(fallback_end).astype("datetime64[ns]")
    for prefix in DATASETS.values():  # a dataset the LA did not supply: the joint window
        windows[f"{prefix}_observation_start"] = windows[f"{prefix}_observation_start"].fillna(
            windows["observation_start"])
        windows[f"{prefix}_end"] = windows[f"{prefix}_end"].fillna(windows["admin_end"])
    cin = extracts[extracts["dataset"] == "cin_census"].groupby("la_code", observed=True)[
        "collection_year"].min()
    plan_year = cin.reindex(index).fillna(grouped["first_year"]).astype(int).clip(
        lower=first_year_with_cin_plan_dates())
    windows["cin_plan_observation_start"] = pd.to_datetime(
        {"year": plan_year.to_numpy() - 1, "month": 4, "day": 1})
    return windows.reset_index(drop=True)


def window_columns(dataset: str | None) -> tuple[str, str]:
    """(start, end) window columns of ``dataset`` (``None``: the joint window)."""
    if dataset is None:
        return "observation_start", "admin_end"
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {sorted(DATASETS)}")
    prefix = DATASETS[dataset]
    return f"{prefix}_observation_start", f"{prefix}_end"


def window_gaps(extracts: pd.DataFrame) -> pd.DataFrame:
    """Per LA and dataset: the collection years supplied, those missing inside the window, and
    how far the dataset's end falls short of the LA's latest end.

    Columns ``la_code, dataset, first_year, last_year, years_present,
    missing_years`` (count), ``missing_list`` (e.g. ``"2019, 2020"``),
    ``end``, ``months_short_of_latest_end``. A dataset the LA did not supply
    at all has one row with ``years_present`` 0.
    """
    rows = []
    for la, part in extracts.groupby("la_code", observed=True):
        latest = pd.Timestamp(part.loc[part["dataset"].isin(list(DATASETS)), "reference_date"].max()) \
            if part["dataset"].isin(list(DATASETS)).any() else pd.NaT
        for dataset in DATASETS:
            years = sorted({int(y) for y in part.loc[part["dataset"] == dataset, "collection_year"]
                            .dropna()})
            if not years:
                rows.append({"la_code": la, "dataset": dataset, "first_year": pd.NA,
                             "last_year": pd.NA, "years_present": 0, "missing_years": 0,
                             "missing_list": "", "end": pd.NaT,
                             "months_short_of_latest_end": pd.NA})
                continue
            missing = [y for y in range(years[0], years[-1] + 1) if y not in years]
            end = pd.Timestamp(part.loc[part["dataset"] == dataset, "reference_date"].max())
            short = ((latest.year - end.year) * 12 + latest.month - end.month) \
                if pd.notna(latest) else 0
            rows.append({"la_code": la, "dataset": dataset, "first_year": years[0],
                         "last_year": years[-1], "years_present": len(years),
                         "missing_years": len(missing),
                         "missing_list": ", ".join(str(y) for y in missing), "end": end,
                         "months_short_of_latest_end": int(short)})
    out = pd.DataFrame(rows, columns=["la_code", "dataset", "first_year", "last_year",
                                      "years_present", "missing_years", "missing_list", "end",
                                      "months_short_of_latest_end"])
    for column in ("first_year", "last_year", "months_short_of_latest_end"):
        out[column] = out[column].astype("Int64")
    for column in ("years_present", "missing_years"):
        out[column] = out[column].astype("int64")
    for column in ("la_code", "dataset", "missing_list"):
        out[column] = out[column].astype("string")
    out["end"] = pd.to_datetime(out["end"]).astype("datetime64[ns]")
    return out


def family_links(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``la_code, child_id, family_id``, one row per child (the lowest family id if several)."""
    families = tables["families"].dropna(subset=["child_id", "family_id"])
    return (families.sort_values(["la_code", "child_id", "family_id"])
            .drop_duplicates(["la_code", "child_id"])[["la_code", "child_id", "family_id"]])


def follow_up(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """Per child: ``adult_date`` (the censoring birthday), ``death_date``, and the LA window."""
    children = (tables["children"].sort_values(["la_code", "child_id"])
                .drop_duplicates(["la_code", "child_id"]))
    out = children[["la_code", "child_id", "birth_month", "death_date"]].copy()
    out["adult_date"] = out["birth_month"] + pd.DateOffset(years=config.censor_at_age)
    return out.merge(observation_windows(tables, config), on="la_code", how="left")


def observation_stops(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Dates that stop follow-up: ``la_code, child_id, stop_date, stop_reason``."""
    episodes = tables["cin_episodes"]
    closures = episodes[episodes["reason_for_closure"].isin(list(CIN_CENSORING_CLOSURES))
                        & episodes["closure_date"].notna()]
    care = tables["care_episodes"]
    care = care[care["rec"].isin(["E2", "E3"]) & care["dec"].notna()]
    children = tables["children"][tables["children"]["death_date"].notna()]
    parts = [
        pd.DataFrame({"la_code": closures["la_code"], "child_id": closures["child_id"],
                      "stop_date": closures["closure_date"],
                      "stop_reason": closures["reason_for_closure"].map(STOP_REASONS)}),
        pd.DataFrame({"la_code": care["la_code"], "child_id": care["child_id"],
                      "stop_date": care["dec"], "stop_reason": care["rec"].map(STOP_REASONS)}),
        pd.DataFrame({"la_code": children["la_code"], "child_id": children["child_id"],
                      "stop_date": children["death_date"], "stop_reason": "death"}),
    ]
    stops = pd.concat(parts, ignore_index=True)
    stops["stop_date"] = pd.to_datetime(stops["stop_date"]).astype("datetime64[ns]")
    for column in ("la_code", "child_id", "stop_reason"):
        stops[column] = stops[column].astype("string")
    return stops.sort_values(["stop_date", "stop_reason"]).reset_index(drop=True)


@dataclass(frozen=True)
class FollowUp:
    """What censoring needs, computed once per run: windows, children, stops, family links."""

    windows: pd.DataFrame
    children: pd.DataFrame
    stops: pd.DataFrame
    families: pd.DataFrame


def prepare_follow_up(tables: dict[str, pd.DataFrame], config: StudyConfig) -> FollowUp:
    """Compute :class:`FollowUp` for ``tables`` under ``config``."""
    return FollowUp(windows=observation_windows(tables, config), children=follow_up(tables, config),
                    stops=observation_stops(tables), families=family_links(tables))


def first_stop_on_or_after(frame: pd.DataFrame, origin: str, stops: pd.DataFrame) -> pd.DataFrame:
    """``stop_date`` and ``stop_reason`` of the first stop on or after ``frame[origin]``, per row."""
    left = frame[["la_code", "child_id", origin]].astype({"la_code": "string", "child_id": "string"})
    left["_row"] = np.arange(len(left))
    left = left.dropna(subset=[origin]).sort_values(origin)
    right = stops.rename(columns={"stop_date": "_stop"}).dropna(subset=["_stop"])
    if left.empty:
        matched = left.assign(_stop=pd.Series(dtype="datetime64[ns]"), stop_reason=pd.Series(dtype="string"))
    else:
        matched = pd.merge_asof(left, right.sort_values("_stop"), left_on=origin, right_on="_stop",
                                by=["la_code", "child_id"], direction="forward")
    out = pd.DataFrame({"stop_date": pd.Series(pd.NaT, index=range(len(frame)), dtype="datetime64[ns]"),
                        "stop_reason": pd.Series(pd.NA, index=range(len(frame)), dtype="string")})
    rows = matched["_row"].to_numpy()
    out.loc[rows, "stop_date"] = matched["_stop"].to_numpy()
    out.loc[rows, "stop_reason"] = matched["stop_reason"].astype("string").to_numpy()
    out.index = frame.index
    return out


def censoring_limits(frame: pd.DataFrame, origin: str, tables: dict[str, pd.DataFrame],
                     config: StudyConfig, follow: FollowUp | None = None,
                     dataset: str | None = None) -> pd.DataFrame:
    """Per row of ``frame``: the date follow-up from ``origin`` stops and why.

    Returns ``limit`` (the earliest of death / transfer out on or after the
    origin and the 18th birthday: an exit on that day is censored),
    ``admin_end`` (the data window end: an exit on that day is observed),
    ``limit_reason`` and ``observation_start``. The window is that of
    ``dataset`` (``"cin_census"`` or ``"ssda903"``), or by default the joint
    window of the datasets the LA supplied (the conservative choice for an
    outcome that needs both).
    """
    start_column, end_column = window_columns(dataset)
    follow = prepare_follow_up(tables, config) if follow is None else follow
    stops = follow.stops
    keyed = frame[["la_code", "child_id"]].merge(
        follow.children, on=["la_code", "child_id"], how="left")
    keyed.index = frame.index
    missing_window = keyed["admin_end"].isna()
    if missing_window.any():
        windows = follow.windows.set_index("la_code")
        for column in [c for c in windows.columns if c not in ("la_code", "reference_date")]:
            keyed.loc[missing_window, column] = frame.loc[missing_window, "la_code"].map(windows[column])
    stop = first_stop_on_or_after(frame, origin, stops)
    candidates = pd.DataFrame({
        "death": keyed["death_date"],
        "stop": stop["stop_date"],
        "age": keyed["adult_date"],
    }, index=frame.index).fillna(FAR_FUTURE).astype("datetime64[ns]")
    limit = candidates.min(axis=1)
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    reason[candidates["age"] == limit] = "age"
    reason[candidates["stop"] == limit] = stop["stop_reason"][candidates["stop"] == limit]
    reason[candidates["death"] == limit] = "death"
    reason[limit >= FAR_FUTURE] = pd.NA
    return pd.DataFrame({
        "limit": limit.where(limit < FAR_FUTURE),
        "limit_reason": reason,
        "admin_end": keyed[end_column].astype("datetime64[ns]"),
        "observation_start": keyed[start_column].astype("datetime64[ns]"),
        "cin_plan_observation_start": keyed["cin_plan_observation_start"].astype("datetime64[ns]"),
    }, index=frame.index)


def spell_ids(kind: str, frame: pd.DataFrame) -> pd.Series:
    """Deterministic 16-hex spell ids: SHA-256 of LA, child, spell kind, start date and episode."""
    keys = (frame["la_code"].astype(str) + "|" + frame["child_id"].astype(str) + "|" + kind + "|"
            + frame["start_date"].dt.strftime("%Y-%m-%d") + "|"
            + frame["episode_id"].astype("string").fillna("").astype(str))
    return pd.Series([hashlib.sha256(k.encode()).hexdigest()[:16] for k in keys],
                     index=frame.index, dtype="string")


def finish_spells(kind: str, spells: pd.DataFrame, tables: dict[str, pd.DataFrame],
                  config: StudyConfig, extra: tuple[str, ...] = (),
                  follow: FollowUp | None = None,
                  observation: str = "observation_start",
                  dataset: str | None = None) -> pd.DataFrame:
    """Censor classified spells, attach family and ids, return :data:`SPELL_COLUMNS`.

    ``spells`` has ``la_code, child_id, episode_id, start_date, end_date,
    end_reason, exit_type`` where ``exit_type`` is ``"censored"`` for a spell
    whose own end is a censoring (RC2/RC5 closure, E2/E3 exit, unknown exit).
    ``observation`` names the window column giving ``observation_start``
    (``"observation_start"``: the start of the spell's dataset window).
    ``dataset`` is the window the spells are followed in (default
    :data:`SPELL_DATASET` of ``kind``). Counts of dropped spells are in ``.attrs``.
    """
    dataset = SPELL_DATASET.get(kind) if dataset is None else dataset
    spells = spells.dropna(subset=["start_date"]).reset_index(drop=True)
    invalid = spells["end_date"].notna() & (spells["end_date"] < spells["start_date"])
    spells = spells[~invalid].reset_index(drop=True)
    follow = prepare_follow_up(tables, config) if follow is None else follow
    limits = censoring_limits(spells, "start_date", tables, config, follow, dataset)
    if limits["admin_end"].isna().any():
        unknown = sorted(spells.loc[limits["admin_end"].isna(), "la_code"].astype(str).unique())
        raise ValueError(f"no extracts for local authority {unknown}: its data window is unknown")
    cut = limits["limit"].fillna(FAR_FUTURE).clip(upper=limits["admin_end"].fillna(FAR_FUTURE))
    late = spells["start_date"] > cut
    spells, limits, cut = spells[~late], limits[~late], cut[~late]

    end = spells["end_date"]
    own = (spells["exit_type"] == "censored") & end.notna()
    open_ = end.isna()
    past_limit = end.notna() & limits["limit"].notna() & (end >= limits["limit"])
    past_admin = end.notna() & (end > limits["admin_end"])
    censored = open_ | past_limit | past_admin | own
    outside = open_ | past_limit | past_admin
    censor_date = end.where(own & ~outside, cut).where(censored)
    censor_reason = pd.Series(pd.NA, index=spells.index, dtype="string")
    from_limit = censored & limits["limit"].notna() & (cut == limits["limit"]) & outside
    censor_reason[censored & outside] = "extract_end"
    censor_reason[from_limit] = limits["limit_reason"][from_limit]
    own_only = own & ~outside
    censor_reason[own_only] = (spells.loc[own_only, "end_reason"].map(STOP_REASONS)
                               .fillna("unknown_exit"))

    out = spells.copy()
    out["censored"] = censored.astype(bool)
    out["censor_date"] = censor_date.astype("datetime64[ns]")
    out["censor_reason"] = censor_reason
    out["end_date"] = end.where(~censored).astype("datetime64[ns]")
    out.loc[censored, "exit_type"] = "censored"
    out["end_reason"] = out["end_reason"].astype("string").where(~censored)
    out["observation_start"] = limits[observation]
    stop_at = out["end_date"].fillna(out["censor_date"])
    out["entry_days"] = ((out["observation_start"] - out["start_date"]).dt.days.clip(lower=0)
                         .astype("float64"))
    out["duration_days"] = (stop_at - out["start_date"]).dt.days.astype("float64")
    out = out.merge(follow.families, on=["la_code", "child_id"], how="left")
    out["spell_id"] = spell_ids(kind, out)
    for column in ("la_code", "child_id", "family_id", "episode_id", "end_reason", "exit_type"):
        out[column] = out[column].astype("string")
    out = out[list(SPELL_COLUMNS) + list(extra)].sort_values(["la_code", "child_id", "start_date"]).reset_index(drop=True)
    out.attrs = {**spells.attrs, "dropped_invalid_dates": int(invalid.sum()),
                 "dropped_after_follow_up": int(late.sum())}
    return out


def merge_overlapping(frame: pd.DataFrame) -> pd.DataFrame:
    """Merge a child's intervals that overlap or continue the same day into one.

    ``frame`` has ``la_code, child_id, start_date, end_date`` (NaT = open) and
    any other columns; a merged interval keeps the other columns of the part
    that ends last (an open part ends last).
    """
    if frame.empty:
        return frame.copy()
    keys = ["la_code", "child_id"]
    ordered = frame.sort_values(keys + ["start_date", "end_date"]).reset_index(drop=True)
    by_child = [ordered[k] for k in keys]
    end_filled = ordered["end_date"].fillna(FAR_FUTURE)
    previous_end = end_filled.groupby(by_child, sort=False).cummax().groupby(by_child, sort=False).shift()
    group = (previous_end.isna() | (ordered["start_date"] > previous_end)).cumsum()
    merged = ordered.loc[end_filled.groupby(group).idxmax().to_numpy()].copy()
    merged["start_date"] = ordered.groupby(group)["start_date"].min().to_numpy()
    merged.attrs = {"merged_overlaps": int(len(ordered) - len(merged))}
    return merged.reset_index(drop=True)


def any_within(left: pd.DataFrame, right: pd.DataFrame, on: list[str], lower: pd.Series,
               upper: pd.Series, date: str) -> pd.Series:
    """For each row of ``left``: the earliest ``right[date]`` in [lower, upper] sharing ``on`` (NaT if none)."""
    if left.empty or right.empty:
        return pd.Series(pd.NaT, index=left.index, dtype="datetime64[ns]")
    probe = left[on].copy()
    probe["_lower"], probe["_upper"], probe["_row"] = lower.to_numpy(), upper.to_numpy(), left.index
    pairs = probe.merge(right[on + [date]].dropna(subset=[date]), on=on, how="inner")
    hit = pairs[(pairs[date] >= pairs["_lower"]) & (pairs[date] <= pairs["_upper"])]
    first = hit.groupby("_row")[date].min()
    return first.reindex(left.index).astype("datetime64[ns]")
