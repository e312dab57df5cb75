"""The validation suites: what each check expects of each table.

Each builder returns ``(frame, expectations)`` — the frame GX validates and
the GX expectations on it. Cross-table rules (a plan's episode exists, an
event is not after its own file's reference date) are first reduced to one
boolean per row with pandas, so GX only ever counts ``True``/``False`` and
no identifier is needed in what it sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation import tables as contract
from evaluation.codes import cin_code_list, ssda903_code_list
from evaluation.codes.ssda903 import ETHNIC, YEAR_BOUNDED, ssda903_disputed_codes
from evaluation.validation.lazy_gx import E  # great_expectations.expectations, imported on first use

#: Shapes of raw identifiers that must never appear after the door.
RAW_SHAPES: dict[str, str] = {
    "upn": r"^[A-Za-z]\d{11}[0-9A-Za-z]$",
    "postcode": r"^[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}$",
    "full_date": r"^(?:\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4})",
}
#: The shapes as one pattern: a value matches it exactly when it matches one of them. GX's pandas
#: engine runs Python's regular expressions over every row once per pattern of a list: once here,
#: not three times (about 2 CPU-s of an Oxfordshire-size council's door checks).
RAW_SHAPE = "|".join(f"(?:{pattern})" for pattern in RAW_SHAPES.values())

#: Key columns that must be present, and the column sets that must be unique.
KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "children": (("la_code", "child_id"), ("la_code", "child_id")),
    "cin_episodes": (("la_code", "child_id", "episode_id", "referral_date"), ("episode_id",)),
    "assessments": (("la_code", "child_id", "episode_id", "assessment_id", "start_date"), ("assessment_id",)),
    "assessment_factors": (("assessment_id", "factor"), ("assessment_id", "factor")),
    "cin_plans": (("la_code", "child_id", "episode_id", "start_date"), None),
    "section47s": (("la_code", "child_id", "episode_id", "start_date"), None),
    "cp_plans": (("la_code", "child_id", "episode_id", "start_date"), None),
    "care_episodes": (("la_code", "child_id", "decom"), ("la_code", "child_id", "decom")),
    "families": (("la_code", "child_id", "family_id"), ("la_code", "child_id")),
    "extracts": (("la_code", "dataset", "collection_year"), None),
    "reconciliation": (("la_code", "dataset", "source_file"), None),
}

#: Coded columns: table -> column -> (code family, field) resolved per collection year.
CODED: dict[str, dict[str, tuple[str, str]]] = {
    "cin_episodes": {
        "referral_source": ("cin", "ReferralSource"),
        "primary_need": ("cin", "PrimaryNeedCode"),
        "reason_for_closure": ("cin", "ReasonForClosure"),
    },
    "cp_plans": {
        "initial_category": ("cin", "InitialCategoryOfAbuse"),
        "latest_category": ("cin", "LatestCategoryOfAbuse"),
    },
    "assessment_factors": {"factor": ("cin", "AssessmentFactors")},
    "care_episodes": {
        "rne": ("903", "RNE"), "ls": ("903", "LS"), "cin": ("903", "CIN"),
        "place": ("903", "PLACE"), "place_provider": ("903", "PLACE_PROVIDER"),
        "rec": ("903", "REC"), "reason_place_change": ("903", "REASON_PLACE_CHANGE"),
    },
}

#: Start/end date pairs per table.
DATE_PAIRS: dict[str, tuple[str, str]] = {
    "cin_episodes": ("referral_date", "closure_date"),
    "assessments": ("start_date", "authorisation_date"),
    "cin_plans": ("start_date", "end_date"),
    "cp_plans": ("start_date", "end_date"),
    "care_episodes": ("decom", "dec"),
}

EVENT_DATES: dict[str, tuple[str, ...]] = {
    "cin_episodes": ("referral_date", "closure_date"),
    "assessments": ("start_date", "authorisation_date"),
    "cin_plans": ("start_date", "end_date"),
    "section47s": ("start_date", "icpc_date"),
    "cp_plans": ("start_date", "end_date"),
    "care_episodes": ("decom", "dec"),
}

MAX_AGE_YEARS = 25


def _all_true(column: str) -> object:
    return E.ExpectColumnValuesToBeInSet(column=column, value_set=[True])


def _flags(**columns: pd.Series | np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({k: np.asarray(v, dtype=bool) for k, v in columns.items()})


# --- schema -------------------------------------------------------------------------------

def dtype_matches(series: pd.Series, dtype: str) -> bool:
    """Whether a column stored and loaded back has the contract's kind of values."""
    if dtype == contract.DATE:
        return pd.api.types.is_datetime64_any_dtype(series) or series.isna().all()
    if dtype == contract.STR:
        if isinstance(series.dtype, pd.StringDtype):
            return True
        return series.dtype == object and bool(series.dropna().map(type).eq(str).all())
    if dtype == contract.INT:
        if pd.api.types.is_integer_dtype(series):
            return True
        if pd.api.types.is_float_dtype(series):
            values = series.dropna()
            return bool((values == values.round()).all())
        return series.isna().all()
    if dtype == contract.BOOL:
        if pd.api.types.is_bool_dtype(series):
            return True
        return bool(series.dropna().isin([True, False, 0, 1]).all())
    raise ValueError(f"unknown contract dtype {dtype}")


def schema_suite(frame: pd.DataFrame, table: str):
    spec = contract.TABLES[table]
    per_column = pd.DataFrame({
        "column": list(spec),
        "present": [c in frame.columns for c in spec],
        "dtype_ok": [c in frame.columns and dtype_matches(frame[c], d) for c, d in spec.items()],
    })
    return per_column, [
        _all_true("present"),
        _all_true("dtype_ok"),
        E.ExpectColumnValuesToBeInSet(column="column", value_set=list(frame.columns)),
        E.ExpectTableRowCountToEqual(value=len(frame.columns)),
    ]


# --- keys ---------------------------------------------------------------------------------

def keys_suite(frame: pd.DataFrame, table: str):
    required, unique = KEYS[table]
    expectations = [E.ExpectColumnValuesToNotBeNull(column=c) for c in required if c in frame.columns]
    if unique:
        expectations.append(E.ExpectCompoundColumnsToBeUnique(column_list=list(unique))
                            if len(unique) > 1 else E.ExpectColumnValuesToBeUnique(column=unique[0]))
    return frame, expectations


# --- pseudonyms and raw shapes ------------------------------------------------------------

def id_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.endswith("_id")]


def pseudonym_suite(frame: pd.DataFrame):
    text = [c for c in frame.columns
            if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
    ids = id_columns(frame)
    expectations = [E.ExpectColumnValuesToMatchRegex(column=c, regex=contract.PSEUDONYM_PATTERN)
                    for c in ids]
    # An id column is checked against the pseudonym pattern above: a value of 16 hex digits cannot
    # take a raw shape, and any other value fails that expectation already.
    expectations += [E.ExpectColumnValuesToNotMatchRegexList(column=c, regex_list=[RAW_SHAPE],
                                                             meta={"shapes": dict(RAW_SHAPES)})
                     for c in text if c not in ids]
    checked = frame[text].astype("string") if text else frame.iloc[:, :0]
    births = [c for c in frame.columns if "birth" in c and pd.api.types.is_datetime64_any_dtype(frame[c])]
    flags = {f"{c}_is_first_of_month": frame[c].isna() | (frame[c].dt.day == 1) for c in births}
    for column in flags:
        expectations.append(_all_true(column))
    return pd.concat([checked, pd.DataFrame(flags, index=frame.index)], axis=1), expectations


# --- codes --------------------------------------------------------------------------------

def _valid_for_year(values: pd.Series, years: pd.Series, family: str, field: str) -> np.ndarray:
    lookup = cin_code_list if family == "cin" else ssda903_code_list
    ok = values.isna().to_numpy().copy()
    for year in pd.unique(years.dropna()):
        rows = (years == year).fillna(False).to_numpy() & ~ok
        try:
            allowed = lookup(field, int(year))
        except (KeyError, ValueError):
            continue  # an unknown year leaves its rows flagged invalid
        ok[rows] = values[rows].astype(str).isin(allowed).to_numpy()
    return ok


def _undisputed_for_year(values: pd.Series, years: pd.Series, field: str) -> np.ndarray:
    """False where the code is accepted in its year although a published source refuses it."""
    ok = np.ones(len(values), dtype=bool)
    for year in pd.unique(years.dropna()):
        rows = (years == year).fillna(False).to_numpy()
        try:
            disputed = ssda903_disputed_codes(field, int(year))
        except (KeyError, ValueError):
            continue
        ok[rows] = ~values[rows].astype("string").isin(list(disputed)).fillna(False).to_numpy(bool)
    return ok


def codes_suite(frame: pd.DataFrame, table: str, years: pd.Series | None = None):
    """Each coded column within its collection year's code list (``years`` overrides the year);
    and, counted apart, codes whose year published sources disagree on
    (:func:`evaluation.codes.ssda903.ssda903_disputed_codes`: accepted, never quarantined)."""
    if years is None and "collection_year" in frame.columns:
        years = frame["collection_year"]
    flags = {f"{col}_valid_for_year": _valid_for_year(frame[col], years, fam, fld)
             for col, (fam, fld) in CODED.get(table, {}).items() if col in frame.columns}
    for col, (fam, fld) in CODED.get(table, {}).items():
        if fam == "903" and fld in YEAR_BOUNDED and col in frame.columns and years is not None:
            flags[f"{col}_undisputed_for_year"] = _undisputed_for_year(frame[col], years, fld)
    if table == "children":
        flags["sex_valid"] = frame["sex"].isna() | frame["sex"].isin(["M", "F", "U"])
        flags["ethnicity_valid"] = frame["ethnicity"].isna() | frame["ethnicity"].isin(ETHNIC)
    derived = _flags(**flags) if flags else pd.DataFrame(index=frame.index)
    return derived, [_all_true(c) for c in derived.columns]


# --- dates --------------------------------------------------------------------------------

#: The dataset each dated table comes from (its rows' own file is that dataset's return of
#: their ``collection_year``).
TABLE_DATASET: dict[str, str] = {"care_episodes": "ssda903", **{
    t: "cin_census" for t in ("cin_episodes", "assessments", "cin_plans", "section47s", "cp_plans")}}
#: How long before birth a CIN census event may be (unborn children are referred; as at the door).
PRE_BIRTH_DAYS = 280
#: Repairs that may legitimately move a date past its own return's reference date (an open
#: episode closed at the next episode's start, which a later return reported).
REPAIRS_MOVING_DATES = ("open_episode_closed",)


def reference_dates(extracts: pd.DataFrame) -> pd.Series:
    """Latest reference date per local authority (the extract date)."""
    return extracts.groupby("la_code")["reference_date"].max()


def own_reference_dates(frame: pd.DataFrame, table: str, extracts: pd.DataFrame) -> pd.Series:
    """Per row: the reference date of its own file (its dataset's return of its collection year;
    31 March of that year when the return is not listed)."""
    if "collection_year" not in frame.columns or table not in TABLE_DATASET:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    dataset = TABLE_DATASET[table]
    listed = (extracts[extracts["dataset"] == dataset]
              .groupby(["la_code", "collection_year"])["reference_date"].max())
    keys = pd.DataFrame({"la_code": frame["la_code"].astype(str).to_numpy(),
                         "collection_year": frame["collection_year"].astype("Int64").to_numpy()})
    listed = pd.DataFrame({"la_code": listed.index.get_level_values(0).astype(str),
                           "collection_year": listed.index.get_level_values(1).astype("Int64"),
                           "reference_date": listed.to_numpy()})
    # a merge, not MultiIndex.map (one Python lookup per row): left rows keep their order and,
    # the listed keys being unique (a groupby's), their number
    found = pd.Series(keys.merge(listed, how="left", on=["la_code", "collection_year"])["reference_date"]
                      .to_numpy(), index=frame.index, dtype="datetime64[ns]")
    years = frame["collection_year"].astype("Int64")
    default = pd.to_datetime(years.astype("string") + "-03-31", errors="coerce")
    return found.fillna(default).astype("datetime64[ns]")


def dates_suite(frame: pd.DataFrame, table: str, children: pd.DataFrame, extracts: pd.DataFrame):
    """End ≥ start; no event after its own file's reference date; no event before the birth month
    (for the CIN census, before the birth month less a pregnancy); ages 0–25 at events.

    These are the door's rules (:mod:`evaluation.ingest.plausibility`), which quarantines such
    rows: after the door they should all hold, and this check is a guard (a warning).
    """
    ref = own_reference_dates(frame, table, extracts)
    births = frame[["la_code", "child_id"]].merge(
        children[["la_code", "child_id", "birth_month"]], how="left", on=["la_code", "child_id"]
    )["birth_month"].to_numpy()
    pre_birth = PRE_BIRTH_DAYS if TABLE_DATASET.get(table) == "cin_census" else 0
    moved = (frame["repair"].astype("string").str.contains("|".join(REPAIRS_MOVING_DATES))
             .fillna(False).to_numpy(dtype=bool) if "repair" in frame.columns
             else np.zeros(len(frame), dtype=bool))
    flags: dict[str, np.ndarray] = {}
    if table in DATE_PAIRS:
        start, end = DATE_PAIRS[table]
        flags["end_not_before_start"] = (frame[end].isna() | frame[start].isna()
                                         | (frame[end] >= frame[start])).to_numpy()
    for column in EVENT_DATES.get(table, ()):
        when = frame[column]
        age_days = (when.to_numpy() - births) / np.timedelta64(1, "D")
        known = ~when.isna().to_numpy() & ~pd.isna(births)
        flags[f"{column}_not_after_its_file"] = (when.isna() | ref.isna() | (when <= ref)).to_numpy() \
            | moved
        # birth_month is the first of the birth month, so an event in the birth month has age >= 0.
        flags[f"{column}_not_before_birth_month"] = ~known | (age_days >= -pre_birth)
        flags[f"{column}_age_within_0_25"] = ~known | (age_days <= (MAX_AGE_YEARS + 1) * 365.25)
    derived = _flags(**flags)
    return derived, [_all_true(c) for c in derived.columns]


def windows_suite(extracts: pd.DataFrame):
    """Each dataset's collection years, per LA, over the span of all its datasets' years.

    One row per LA × dataset × collection year from the LA's earliest to its latest year. Three
    flags, each failure counted in years: ``no_gap_inside_window`` (a year missing between the
    dataset's first and last year), ``runs_to_latest_year`` (the dataset ends before the LA's
    other dataset), ``starts_with_earliest_year``. Follow-up stops where each dataset stops
    (:func:`evaluation.spells.censoring.observation_windows`); this check says where they differ.
    """
    from evaluation.spells.censoring import DATASETS

    rows = []
    used = extracts[extracts["dataset"].isin(list(DATASETS))]
    for la, part in used.groupby("la_code", observed=True):
        span = range(int(part["collection_year"].min()), int(part["collection_year"].max()) + 1)
        for dataset in DATASETS:
            years = set(part.loc[part["dataset"] == dataset, "collection_year"].dropna().astype(int))
            first, last = (min(years), max(years)) if years else (None, None)
            for year in span:
                present = year in years
                inside = first is not None and first <= year <= last
                rows.append({
                    "dataset": dataset, "collection_year": year,
                    "no_gap_inside_window": present or not inside,
                    "runs_to_latest_year": present or inside or (last is not None and year < first),
                    "starts_with_earliest_year": present or inside or (first is not None
                                                                       and year > last),
                })
    derived = pd.DataFrame(rows, columns=["dataset", "collection_year", "no_gap_inside_window",
                                          "runs_to_latest_year", "starts_with_earliest_year"])
    for column in ("no_gap_inside_window", "runs_to_latest_year", "starts_with_earliest_year"):
        derived[column] = derived[column].astype(bool)
    return derived, [_all_true(c) for c in ("no_gap_inside_window", "runs_to_latest_year",
                                            "starts_with_earliest_year")]


def plan_dates_suite(frame: pd.DataFrame, table: str, episodes: pd.DataFrame):
    """A plan's dates lie inside its CIN episode (start ≥ referral; end ≤ closure when closed)."""
    start, end = ("start_date", "end_date")
    joined = frame[["episode_id", start] + ([end] if end in frame.columns else [])].merge(
        episodes[["episode_id", "referral_date", "closure_date"]], how="left", on="episode_id"
    )
    starts_inside = joined["referral_date"].isna() | (joined[start] >= joined["referral_date"])
    flags = {"starts_within_episode": starts_inside}
    if end in joined.columns:
        flags["ends_within_episode"] = (joined["closure_date"].isna() | joined[end].isna()
                                        | (joined[end] <= joined["closure_date"]))
    derived = _flags(**flags)
    return derived, [_all_true(c) for c in derived.columns]


# --- referential integrity ----------------------------------------------------------------

def referential_suite(frame: pd.DataFrame, table: str, tables: dict[str, pd.DataFrame]):
    """Every plan belongs to an episode; every child is in children; every child has a family."""
    def _in(left: pd.DataFrame, right: pd.DataFrame, cols: list[str]) -> np.ndarray:
        left, right = left[cols], right[cols]
        if (all(left[c].dtype == right[c].dtype for c in cols)
                and not left.isna().to_numpy().any() and not right.isna().to_numpy().any()):
            # No missing key and the same types (every table after the door): plain equality of
            # keys, found by a hash join instead of building two MultiIndexes (3-6x faster)
            if len(cols) == 1:
                return left[cols[0]].isin(right[cols[0]]).to_numpy()
            found = left.merge(right.drop_duplicates().assign(_found=True), how="left", on=cols)
            return found["_found"].notna().to_numpy()
        keys = pd.MultiIndex.from_frame(right.drop_duplicates())
        return pd.MultiIndex.from_frame(left).isin(keys)

    flags: dict[str, np.ndarray] = {}
    if "episode_id" in frame.columns and table != "cin_episodes":
        flags["episode_exists"] = _in(frame, tables["cin_episodes"], ["episode_id"])
    if table in ("cin_episodes", "care_episodes"):
        flags["child_in_children"] = _in(frame, tables["children"], ["la_code", "child_id"])
    if table == "children":
        flags["child_has_family"] = _in(frame, tables["families"], ["la_code", "child_id"])
    if table == "assessment_factors":
        flags["assessment_exists"] = _in(frame, tables["assessments"], ["assessment_id"])
    derived = _flags(**flags)
    return derived, [_all_true(c) for c in derived.columns]


# --- reconciliation -----------------------------------------------------------------------

def reconciliation_suite(frame: pd.DataFrame):
    """Per file: rows read = kept + quarantined + merged."""
    balances = frame["rows_read"] == (frame["rows_kept"] + frame["rows_quarantined"]
                                      + frame["rows_merged"])
    derived = _flags(balances=balances.fillna(False))
    return derived, [_all_true("balances")]


def inventory_suite(frame: pd.DataFrame):
    """Every entry of the local-authority folder was read with data: no file or folder ignored,
    no file without data rows, no collection-year folder without a usable table."""
    status = frame["status"] if "status" in frame else pd.Series("read", index=frame.index)
    derived = _flags(entry_read_with_data=(status.fillna("read") == "read").to_numpy())
    return derived, [_all_true("entry_read_with_data")]


def children_present_suite(frame: pd.DataFrame):
    """At least one child passed the door (a council of which no child could be used stops
    here, before anything is analysed or released)."""
    count = pd.DataFrame({"children": [len(frame)]})
    return count, [E.ExpectColumnValuesToBeBetween(column="children", min_value=1)]


# --- spells -------------------------------------------------------------------------------

def spells_suite(frame: pd.DataFrame, care: bool = False):
    """Spell ids present and unique; censored spells have no end reason; durations ≥ 0;
    periods of care do not overlap for one child."""
    censored = frame["censored"].fillna(False).astype(bool)
    flags = {
        "censored_has_no_end_reason": ~censored | frame["end_reason"].isna(),
        "duration_not_negative": frame["duration_days"].isna() | (frame["duration_days"] >= 0),
    }
    if care:
        ordered = frame.sort_values(["la_code", "child_id", "start_date"])
        same_child = (ordered[["la_code", "child_id"]].shift(-1) == ordered[["la_code", "child_id"]]).all(axis=1)
        next_start = ordered["start_date"].shift(-1)
        stop = ordered["end_date"].fillna(ordered["censor_date"])
        overlap = same_child & next_start.notna() & (stop.isna() | (next_start < stop))
        flags["no_overlap_with_next_period"] = ~overlap.reindex(frame.index)
    derived = pd.concat([frame[["spell_id"]].reset_index(drop=True),
                         _flags(**{k: pd.Series(v).to_numpy() for k, v in flags.items()})], axis=1)
    expectations = [E.ExpectColumnValuesToNotBeNull(column="spell_id"),
                    E.ExpectColumnValuesToBeUnique(column="spell_id")]
    expectations += [_all_true(c) for c in flags]
    return derived, expectations


# --- cohorts ------------------------------------------------------------------------------

BALANCE_THRESHOLD = 0.1
BALANCE_COVARIATES = ("age_band", "sex", "ethnic_group", "family_size", "prior_cin_episodes",
                      "domestic_abuse", "mental_health", "substance_misuse", "referral_source_group")


def standardised_differences(children: pd.DataFrame, cohort: str = "cohort",
                             treated: str = "post_fsp", control: str = "pre_fsp") -> pd.DataFrame:
    """Standardised mean differences (post vs pre) of each covariate level, one row per level."""
    rows = []
    for covariate in BALANCE_COVARIATES:
        if covariate not in children.columns:
            continue
        values = children[covariate]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns = {covariate: values.astype(float)}
        else:
            dummies = pd.get_dummies(values.astype("string").fillna("missing"), dtype=float)
            columns = {f"{covariate}={level}": dummies[level] for level in dummies.columns}
        for name, x in columns.items():
            a, b = x[children[cohort] == treated], x[children[cohort] == control]
            if len(a) < 2 or len(b) < 2:
                continue
            pooled = np.sqrt((a.var() + b.var()) / 2)
            difference = a.mean() - b.mean()
            if pooled > 0:
                smd = difference / pooled
            else:  # no spread within either cohort: any difference is total separation
                smd = 0.0 if difference == 0 else float(np.sign(difference)) * np.inf
            rows.append({"covariate": name, "smd": float(smd)})
    return pd.DataFrame(rows, columns=["covariate", "smd"])


def balance_suite(analysis: pd.DataFrame, outcome: str = "time_in_need"):
    """Covariate balance post vs pre: |SMD| ≤ 0.1 for each covariate level (a warning)."""
    children = analysis[analysis["outcome"] == outcome]
    smd = standardised_differences(children)
    return smd, [E.ExpectColumnValuesToBeBetween(column="smd", min_value=-BALANCE_THRESHOLD,
                                                 max_value=BALANCE_THRESHOLD)]


def model_counts(analysis: pd.DataFrame) -> pd.DataFrame:
    """People and events per outcome × cohort: what a model needs to be fitted."""
    return (analysis.groupby(["outcome", "cohort"], observed=True)
            .agg(n=("event", "size"), events=("event", "sum")).reset_index())


def model_counts_suite(analysis: pd.DataFrame, min_n: int = 50, min_events: int = 20):
    counts = model_counts(analysis)
    return counts[["n", "events"]], [
        E.ExpectColumnValuesToBeBetween(column="n", min_value=min_n),
        E.ExpectColumnValuesToBeBetween(column="events", min_value=min_events),
    ]
