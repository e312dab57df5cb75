"""Each child's journey from the index referral as multi-state intervals.

The input of the days-in-each-state estimator
(:mod:`evaluation.survival.multistate`): one row per stay in a state, with
``id, cluster, group, tstart, tstop, from_state, to_state`` (days from time
zero; the child is in ``from_state`` on ``(tstart, tstop]`` and enters
``to_state`` at ``tstop``, or is ``"censored"`` there), plus ``la_code,
child_id, family_id``. ``id`` and ``cluster`` are ``"<la_code>:<child_id>"``
and ``"<la_code>:<family_id>"`` so that pseudonyms of two local authorities
never collide; ``group`` is the family's cohort (all three cohorts are kept).

Rules:

* States, by **precedence** (highest wins when spells overlap): ``care`` (a
  period of care) > ``cp_plan`` > ``cin_plan`` > ``referral`` (an open CIN
  episode) > ``closed`` (none of these). A child on a CP plan who comes into
  care is in care; a CIN plan running beside a CP plan is hidden by it.
  A new referral after closure moves ``closed`` → ``referral``.
* Follow-up runs from time zero (the index referral,
  :func:`~evaluation.cohorts.index_episodes`) — or from the LA's
  ``observation_start`` when time zero is earlier (delayed entry) — to the
  first of: the end of the LA's joint data window (the earlier of its CIN
  census and SSDA903 ends, or ``study_end``: a journey needs both),
  ``horizon_days``, the 18th birthday, death, transfer out
  (:func:`~evaluation.spells.censoring.censoring_limits`), and the unknown
  exit of a period of care (an X1 with nothing after it). A change of state
  on the last day is observed when follow-up ends at the window end or the
  horizon, and censored when it ends at a birthday, death, transfer or
  unknown exit (the spells' rule). Children with no follow-up after entry are
  dropped (counted in ``.attrs["children_without_follow_up"]``).
* A spell censored by the extract, a birthday, death or transfer runs on
  past the end of follow-up; one censored before the child's follow-up ends
  (a transfer out before time zero and a return) is taken to end there.
* **Same-day stays.** The estimator needs ``tstop > tstart``. A spell that
  starts and ends on the same day (a referral closed with no further action,
  a same-day plan or care episode) is shown only when it outranks every other
  state the child is in on that day; it then gets ``config.same_day_days``
  (half a day by default, as in the analysis dataset) and the next state
  starts that much later. Otherwise it is hidden by the state it overlaps.

Built with interval arithmetic on change points (no loop over children):
each spell adds +1 to its state's count on its start day and −1 on its end
day; the state after each change day is the highest state with a positive
running count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.cohorts import index_episodes
from evaluation.spells import care_periods, cin_plan_spells, need_spells, protection_spells
from evaluation.spells.censoring import censoring_limits
from evaluation.study import StudyConfig
from evaluation.upstream import built

KEYS = ["la_code", "child_id"]
#: States from lowest to highest precedence; the position is the precedence level.
STATES: tuple[str, ...] = ("closed", "referral", "cin_plan", "cp_plan", "care")
#: Each state's spells: the table's name (an upstream asset) and its builder.
SPELL_BUILDERS = {"referral": ("need_spells", need_spells),
                  "cin_plan": ("cin_plan_spells", cin_plan_spells),
                  "cp_plan": ("protection_spells", protection_spells),
                  "care": ("care_periods", care_periods)}
JOURNEY_COLUMNS: tuple[str, ...] = ("id", "cluster", "group", "tstart", "tstop", "from_state",
                                    "to_state", "la_code", "child_id", "family_id")


def _all_spells(tables: dict[str, pd.DataFrame], config: StudyConfig) -> pd.DataFrame:
    """Every spell of every state in one table, with its precedence ``level``."""
    columns = KEYS + ["start_date", "end_date", "censored", "censor_date", "censor_reason"]
    return pd.concat([built(tables, name, lambda build=build: build(tables, config))[columns]
                      .assign(level=STATES.index(state))
                      for state, (name, build) in SPELL_BUILDERS.items()], ignore_index=True)


def _entry_number(children: pd.DataFrame) -> pd.Series:
    """1 for a child's first entry (earliest time zero), 2 for the next, ..."""
    return (children.groupby(KEYS, observed=True)["time_zero"].rank(method="dense")
            .astype("int64"))


def _follow_up(tables, config, spells: pd.DataFrame, horizon_days) -> pd.DataFrame:
    """Per included child: time zero, entry and end of follow-up in days, and whether the end is observed."""
    index = built(tables, "index_episodes", lambda: index_episodes(tables, config))
    limits = censoring_limits(index, "time_zero", tables, config)
    zero = index["time_zero"]
    soft = limits["admin_end"]
    if horizon_days is not None:
        soft = soft.clip(upper=zero + pd.Timedelta(days=horizon_days))
    if config.censor_earlier_cohorts_at_go_live:   # the primary design: practice as usual ends at go-live
        earlier = (index["cohort"] != "post_fsp").to_numpy()
        soft = soft.where(~earlier, soft.clip(upper=pd.Timestamp(config.go_live)))
    entry = limits["observation_start"].where(limits["observation_start"] > zero, zero)
    unknown = spells.loc[spells["censor_reason"] == "unknown_exit", KEYS + ["censor_date"]]
    pairs = index[KEYS].assign(entry=entry).reset_index().merge(unknown, on=KEYS)
    cut = (pairs[pairs["censor_date"] >= pairs["entry"]].groupby("index")["censor_date"].min()
           .reindex(index.index).astype("datetime64[ns]"))
    hard = pd.concat([limits["limit"], cut], axis=1).min(axis=1)
    end = pd.concat([soft, hard], axis=1).min(axis=1)
    return index.assign(
        entry_day=(entry - zero).dt.days, end_day=(end - zero).dt.days, follow_end=end,
        observed_end=(hard.isna() | (soft < hard)).to_numpy())


def _spell_days(spells: pd.DataFrame, children: pd.DataFrame) -> pd.DataFrame:
    """Spells of the followed children as days from time zero, clipped to their follow-up."""
    s = spells.merge(children[KEYS + ["cid", "time_zero", "entry_day", "end_day", "follow_end"]], on=KEYS)
    # censored by the extract / birthday / death / transfer: runs on past follow-up,
    # unless censored before follow-up ends (then taken to end there)
    early = s["censor_date"].where(s["censor_date"] < s["follow_end"])
    stop = s["end_date"].where(~s["censored"].astype(bool), early)
    start = (s["start_date"] - s["time_zero"]).dt.days.astype(float)
    end = (stop - s["time_zero"]).dt.days.astype(float).fillna(np.inf)
    entry, last = s["entry_day"], s["end_day"]
    keep = (start <= last) & ((end > entry) | ((start == entry) & (end == entry)))
    return pd.DataFrame({"cid": s["cid"], "level": s["level"], "start": np.maximum(start, entry),
                         "end": np.minimum(end, last + 1)})[keep.to_numpy()]


def _change_days(days: pd.DataFrame, children: pd.DataFrame) -> pd.DataFrame:
    """Per child and change day: the state after it, a same-day stay, the state entered that day.

    Levels are positions in :data:`STATES` (0 = closed); ``same_day`` is 0 when there is none.
    """
    bounds = pd.concat([children[["cid", "entry_day"]].rename(columns={"entry_day": "day"}),
                        children[["cid", "end_day"]].rename(columns={"end_day": "day"})])
    events = pd.concat([
        days[["cid", "start", "level"]].rename(columns={"start": "day"}).assign(delta=1),
        days[["cid", "end", "level"]].rename(columns={"end": "day"}).assign(delta=-1),
        bounds.assign(level=1, delta=0),
    ], ignore_index=True)
    levels = range(1, len(STATES))
    table = (events.pivot_table(index=["cid", "day"], columns="level", values="delta", aggfunc="sum",
                                fill_value=0).reindex(columns=levels, fill_value=0).sort_index())
    counts = table.groupby(level="cid").cumsum()   # open spells of each state after each day
    grid = counts.index.to_frame(index=False)
    inside = (grid["day"] <= grid["cid"].map(children["end_day"])).to_numpy()
    grid = grid[inside].reset_index(drop=True)
    grid["after"] = ((counts.to_numpy()[inside] > 0) * np.arange(1, len(STATES))).max(axis=1)
    same_day = (days[days["start"] == days["end"]].groupby(["cid", "start"])["level"].max()
                .rename("same_day").rename_axis(["cid", "day"]).reset_index())
    grid = grid.merge(same_day, on=["cid", "day"], how="left")
    grid["same_day"] = grid["same_day"].fillna(0).astype(int)
    first = ~grid["cid"].duplicated()
    before = grid["after"].shift(fill_value=0).where(~first, 0)
    grid["visit"] = grid["same_day"] > np.maximum(grid["after"], before)
    grid["entered"] = grid["same_day"].where(grid["visit"], grid["after"])
    grid["last"] = grid["day"] == grid["cid"].map(children["end_day"])
    return grid


def _stays(grid: pd.DataFrame, children: pd.DataFrame, same_day_days: float) -> pd.DataFrame:
    """Runs of one state per child: ``cid, tstart, tstop, level, to_level`` (NaN = censored)."""
    step = grid[~grid["last"]]
    following = grid["day"].shift(-1)[~grid["last"]]
    visit = step["visit"].to_numpy()
    stays = pd.concat([
        pd.DataFrame({"cid": step["cid"], "tstart": step["day"] + same_day_days * visit,
                      "tstop": following, "level": step["after"]}),
        pd.DataFrame({"cid": step["cid"], "tstart": step["day"], "tstop": step["day"] + same_day_days,
                      "level": step["same_day"]})[visit],
    ]).sort_values(["cid", "tstart"], kind="stable").reset_index(drop=True)
    run = ((stays["cid"] != stays["cid"].shift()) | (stays["level"] != stays["level"].shift())).cumsum()
    out = stays.groupby(run).agg(cid=("cid", "first"), tstart=("tstart", "min"), tstop=("tstop", "max"),
                                 level=("level", "first")).reset_index(drop=True)
    final = grid[grid["last"]].set_index("cid")["entered"]
    is_last = out["cid"] != out["cid"].shift(-1)
    end_level = out["cid"].map(final)
    moved = is_last & out["cid"].map(children["observed_end"]).astype(bool) & (end_level != out["level"])
    out["to_level"] = out["level"].shift(-1).where(~is_last, end_level.where(moved))
    return out


def state_intervals(tables: dict[str, pd.DataFrame], config: StudyConfig,
                    horizon_days: int | None = None) -> pd.DataFrame:
    """Each included child's states from time zero as multi-state intervals (see module doc)."""
    spells = _all_spells(tables, config)
    children = _follow_up(tables, config, spells, horizon_days)
    followed = children["end_day"] > children["entry_day"]
    dropped = int((~followed).sum())
    children = children[followed.to_numpy()].reset_index(drop=True)
    children["cid"] = np.arange(len(children))
    grid = _change_days(_spell_days(spells, children), children)
    out = _stays(grid, children, config.same_day_days)

    names = np.array(STATES, dtype=object)
    child = children.loc[out["cid"]].reset_index(drop=True)
    result = pd.DataFrame({
        # an entry, not a child: a child may enter once in each cohort period (entry_rule); the
        # child's entries are numbered in time order (never dated: a stored id holds no date)
        "id": (child["la_code"].astype(str) + ":" + child["child_id"].astype(str) + ":"
               + _entry_number(child).astype(str)),
        "cluster": child["la_code"].astype(str) + ":" + child["family_id"].astype(str),
        "group": child["cohort"].astype("string"),
        "tstart": out["tstart"].astype(float), "tstop": out["tstop"].astype(float),
        "from_state": names[out["level"].to_numpy(dtype=int)],
        "to_state": np.where(out["to_level"].isna(), "censored",
                             names[out["to_level"].fillna(0).to_numpy(dtype=int)]),
        "la_code": child["la_code"], "child_id": child["child_id"], "family_id": child["family_id"],
    })
    result.attrs = {"children_without_follow_up": dropped}
    return result[list(JOURNEY_COLUMNS)]
