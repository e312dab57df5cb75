"""Draw every figure the report knows about from the released tables present.

Two kinds of figure:

* one figure per table (:data:`FIGURE_FOR_TABLE`: e.g. the cohort flow, the
  illustrative tables of :mod:`evaluation.report.demo`);
* figures drawn from a *view* of a released table (:func:`figure_plan`): a
  Kaplan–Meier figure per ``km_<outcome>`` table, a CIF panel per exit table,
  the post-vs-pre hazard ratios per outcome, the forest plot by risk-factor
  combination, RMST differences, days in each state, the love plot and one
  monthly series figure per local authority × series.

A run (or the Dagster asset wrapping it) gets ``{figure name: png_path}``
ready for :func:`~evaluation.report.build_report`, and :func:`figure_sources`
says which released table each figure was drawn from (for the output log).
Tables that are absent are skipped.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from evaluation import figures
from evaluation.report.comparison_section import comparison_figure_plan
from evaluation.figures.style import readable

#: Released-table name -> figure function (each takes the table and a PNG path).
FIGURE_FOR_TABLE: dict[str, Callable[..., Path]] = {
    "km_time_in_protection": figures.km_figure,
    "cif_exit_from_protection": figures.cif_figure,
    "hazard_ratios": figures.forest_figure,
    "rmst_differences": figures.rmst_figure,
    "days_in_state": figures.days_in_state_figure,
    "monthly_referrals": figures.timeseries_figure,
    "cohort_flow": figures.flow_figure,
    "covariate_balance": figures.balance_figure,
}
#: The outcome whose forest plot by combination and love plot the report shows.
PRIMARY_OUTCOME = "time_in_protection"
POST_VS_PRE = "post_fsp vs pre_fsp"
OUTCOME_TITLES = {
    "time_in_need": "Time in need (CIN episode)", "time_on_cin_plan": "Time on a CIN plan",
    "time_in_protection": "Time on a child protection (CP) plan", "time_in_care": "Time in care",
    "time_to_protection": "Time to a child protection (CP) plan", "time_to_care": "Time to care",
    "re_referral": "Time to re-referral",
}


@dataclass(frozen=True)
class PlannedFigure:
    """A figure to draw: its name, the released table it comes from, and how to draw it."""

    name: str
    table: str
    draw: Callable[[pd.DataFrame, Path], Path]


def _rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).fillna(False).to_numpy(dtype=bool)
    return table[mask].reset_index(drop=True)


def _title(outcome: str) -> str:
    return OUTCOME_TITLES.get(outcome, outcome.replace("_", " ").capitalize())


def _km(outcome: str):
    def draw(table, path):
        time_to = outcome.startswith("time_to") or outcome == "re_referral"
        caveat = cin_plan_caveat()[0] if outcome == "time_on_cin_plan" else None
        return figures.km_figure(table, path, title=_title(outcome), caveat=caveat,
                                 ylabel="Proportion not yet reached" if time_to else "Proportion still in the state")
    return draw


def _cif(outcome: str):
    def draw(table, path):
        return figures.cif_figure(table, path, title=f"{_title(outcome)}: ways of leaving (cumulative incidence)")
    return draw


def _hazard_ratios(table, path):
    rows = _rows(table, analysis="cox_adjusted", contrast=POST_VS_PRE)
    rows = rows[rows["term"].astype(str).str.startswith("cohort[")].reset_index(drop=True)
    return figures.forest_figure(rows, path, label="outcome",
                                 title="Adjusted hazard ratio of leaving, post-FSP vs pre-FSP, by outcome",
                                 xlabel="Hazard ratio (log scale; above 1 = leaving sooner)")


def _differential(table, path):
    rows = _rows(table, outcome=PRIMARY_OUTCOME, term="hazard ratio")
    return figures.forest_figure(rows, path, label="combination",
                                 title="Post-FSP vs pre-FSP hazard ratio by combination of parental risk "
                                       f"factors ({_title(PRIMARY_OUTCOME)})",
                                 xlabel="Hazard ratio (log scale; above 1 = leaving sooner)")


def _rmst(table, path):
    rows = _rows(table, term="rmst_difference", contrast=POST_VS_PRE)
    if len(rows):
        rows = rows[rows["time"] == rows["time"].max()].reset_index(drop=True)
    tau = f" within {rows['time'].iloc[0]:.0f} days" if len(rows) else ""
    return figures.rmst_figure(rows, path, title=f"Difference in restricted mean days{tau}, post-FSP minus pre-FSP")


def cin_plan_caveat() -> tuple[str, tuple[str, ...]]:
    """The warning a chart of CIN-plan days carries, and the cohorts it marks.

    CIN plan dates are in the census only from the first schema carrying them
    (:func:`~evaluation.spells.censoring.first_year_with_cin_plan_dates`), so cohorts
    referred before go-live have their CIN-plan days observed only from then on.
    """
    from evaluation.spells.censoring import first_year_with_cin_plan_dates

    since = f"1 April {first_year_with_cin_plan_dates() - 1}"
    return (f"CIN plans are recorded in the CIN census only from {since}. The pre-FSP and transition "
            f"cohorts' days on a CIN plan count only plans still open on {since} (as do those of post-FSP "
            "children referred before then), so they understate time on a CIN plan and cannot be "
            "compared with the post-FSP cohort's.",
            ("pre_fsp", "transition"))


def _days_in_state(table, path):
    # the observed days by cohort (the adjusted ones are in the table beside it)
    observed = table["analysis"].astype(str).eq("multistate_aalen_johansen") if "analysis" in table else True
    rows = table[table["cohort"].notna() & observed].reset_index(drop=True)
    if len(rows):
        rows = rows[rows["time"] == rows["time"].max()].reset_index(drop=True)
    view = pd.DataFrame({"state": rows["outcome"].astype(str).str.replace("days_in_", "", regex=False),
                         "cohort": rows["cohort"],
                         "mean_days": rows["estimate"].astype(object).where(rows["estimate"].notna(), "c"),
                         "ci_lower": rows["ci_lower"], "ci_upper": rows["ci_upper"]})
    tau = f" within {rows['time'].iloc[0]:.0f} days of referral" if len(rows) else ""
    caveat, cohorts, partial = None, (), ()
    if (view["state"] == "cin_plan").any():
        caveat, cohorts = cin_plan_caveat()
        partial = [("cin_plan", c) for c in cohorts if ((view["state"] == "cin_plan") & (view["cohort"] == c)).any()]
    return figures.days_in_state_figure(view, path, title=f"Mean days in each state{tau}, by cohort",
                                        caveat=caveat if partial else None, partial=partial)


def _balance(table, path):
    outcome = PRIMARY_OUTCOME if (table["outcome"] == PRIMARY_OUTCOME).any() else (
        table["outcome"].iloc[0] if len(table) else PRIMARY_OUTCOME)
    rows = _rows(table, outcome=outcome)
    return figures.balance_figure(rows, path, covariate="variable",
                                  title=f"Covariate balance, post-FSP vs pre-FSP ({_title(outcome)})")


def _by_extract(table, path):
    return figures.estimates_by_extract_figure(table, path, titles=OUTCOME_TITLES)


def _monthly(la: str, series: str):
    def draw(table, path):
        rows = _rows(table, la_code=la, series=series)
        return figures.timeseries_figure(rows, path, title=f"{readable(series)} per month (LA {la})")
    return draw


def figure_plan(tables: Mapping[str, pd.DataFrame]) -> list[PlannedFigure]:
    """The figures that can be drawn from the released tables present, in report order."""
    plan: list[PlannedFigure] = []
    if tables.get("cohort_flow") is not None:
        plan.append(PlannedFigure("cohort_flow", "cohort_flow", figures.flow_figure))
    for name in tables:
        if name.startswith("km_") and name != "km_estimates" and tables[name] is not None:
            plan.append(PlannedFigure(name, name, _km(name[3:])))
    for name in tables:
        if name.startswith("cif_") and tables[name] is not None:
            outcome = tables[name]["outcome"].iloc[0] if len(tables[name]) else name
            plan.append(PlannedFigure(name, name, _cif(str(outcome))))
    views = (("hazard_ratios", _hazard_ratios), ("differential_impact", _differential),
             ("rmst_differences", _rmst), ("days_in_state", _days_in_state), ("covariate_balance", _balance),
             ("estimates_by_extract", _by_extract))
    for name, draw in views:
        if tables.get(name) is not None:
            plan.append(PlannedFigure(name, name, draw))
    monthly = tables.get("monthly_series")
    if monthly is not None and len(monthly):
        pairs = monthly[["la_code", "series"]].drop_duplicates()
        several = pairs["la_code"].nunique() > 1
        for la, series in pairs.itertuples(index=False):
            name = f"monthly_{la}_{series}" if several else f"monthly_{series}"
            plan.append(PlannedFigure(name, "monthly_series", _monthly(str(la), str(series))))
    plan += [PlannedFigure(name, table, draw) for name, table, draw in comparison_figure_plan(tables)]
    return plan


def _is_pipeline_release(tables: Mapping[str, pd.DataFrame]) -> bool:
    """A release built by :func:`~evaluation.report.assemble.release_tables` (tidy tables + views)."""
    return "cohort_characteristics" in tables or "km_estimates" in tables or "monthly_series" in tables


def figure_sources(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Figure name -> the released table it is drawn from."""
    return {figure.name: figure.table for figure in planned_figures(tables)}


def planned_figures(tables: Mapping[str, pd.DataFrame]) -> list[PlannedFigure]:
    """Every figure :func:`draw_release_figures` draws from ``tables``, in the order it returns them."""
    if _is_pipeline_release(tables):
        return figure_plan(tables)
    return [PlannedFigure(name, name, draw) for name, draw in FIGURE_FOR_TABLE.items()
            if tables.get(name) is not None]


def draw_release_figures(tables: Mapping[str, pd.DataFrame], directory: str | Path,
                         processes: int = 1) -> dict[str, Path]:
    """Write ``<directory>/<figure>.png`` for every figure the released tables support.

    ``processes`` above one: this process and ``processes - 1`` processes forked from it draw
    the figures side by side (:func:`_draw_in_processes`); the same PNG files, the same answer.
    A figure that fails raises its own exception, with a note naming the figure."""
    directory = Path(directory)
    planned = planned_figures(tables)
    with long_lived_objects_frozen():
        if processes > 1 and len(planned) > 1:
            return _draw_in_processes(planned, tables, directory, processes)
        drawn, failure = _draw_share(planned, range(len(planned)), tables, directory)
        if failure is not None:
            raise failure[1]
        return drawn


def _draw_share(planned: list[PlannedFigure], share, tables: Mapping[str, pd.DataFrame],
                directory: Path) -> tuple[dict[str, Path], tuple[int, Exception] | None]:
    """Draw the figures at positions ``share`` of ``planned`` in that order, up to the first that
    fails: ``({name: path}, None)``, or what was drawn and ``(position, exception)`` of that one."""
    drawn = {}
    for position in share:
        figure = planned[position]
        try:
            drawn[figure.name] = figure.draw(tables[figure.table], directory / f"{figure.name}.png")
        except Exception as error:
            error.add_note(f"while drawing the figure {figure.name!r} from the released table "
                           f"{figure.table!r}")
            return drawn, (position, error)
    return drawn, None


#: CPU-seconds each kind of figure (by the start of its name) took to draw from the default
#: county's released tables, measured once (the median of three passes over every figure in one
#: process, 7 December 2026); a kind not listed counts as :data:`OTHER_FIGURE_SECONDS`. They only
#: split the figures between processes (:func:`shares`): a wrong number here makes the split less
#: even, never a figure different.
FIGURE_SECONDS = {"cohort_flow": 0.36, "km_": 0.20, "cif_": 0.30, "hazard_ratios": 0.23,
                  "differential_impact": 0.28, "rmst_differences": 0.22, "days_in_state": 0.30,
                  "covariate_balance": 0.27, "estimates_by_extract": 0.63, "monthly_": 0.19,
                  "comparison_synthetic_": 0.31, "comparison_event_study_": 0.17}
OTHER_FIGURE_SECONDS = 0.25


def figure_seconds(name: str) -> float:
    """What drawing the figure ``name`` is expected to take (:data:`FIGURE_SECONDS`)."""
    for start, seconds in FIGURE_SECONDS.items():
        if name.startswith(start):
            return seconds
    return OTHER_FIGURE_SECONDS


def shares(seconds: list[float], processes: int) -> list[list[int]]:
    """The positions of figures taking ``seconds`` split into at most ``processes`` shares of
    about equal time: the longest first, each to the share with the least time so far (the
    first such share on a tie); each share in the figures' order, the first share this process's."""
    loads, split = [0.0] * processes, [[] for _ in range(processes)]
    for position in sorted(range(len(seconds)), key=lambda position: -seconds[position]):
        least = min(range(processes), key=loads.__getitem__)
        split[least].append(position)
        loads[least] += seconds[position]
    return [sorted(share) for share in split if share]


def _draw_in_processes(planned: list[PlannedFigure], tables: Mapping[str, pd.DataFrame], directory: Path,
                       processes: int) -> dict[str, Path]:
    """Draw ``planned`` in this process and up to ``processes - 1`` processes forked from it.

    Each forked process draws its share (:func:`shares`) from the same tables into the same
    folder and sends back what it drew, or the exception of the first figure of its share that
    failed; then it ends (``os._exit``, skipping what an exit of this process would run: its
    ``atexit`` functions, flushing streams whose locks another thread of this process may have
    held at the fork). This process draws the first share, then waits for each forked process
    and ends it, also when drawing fails or is interrupted. The figures come back in
    ``planned``'s order; when figures fail, the exception raised is that of the first in that
    order, as drawing them one after another would raise it (with a note naming the figure and
    the forked process's traceback).

    Forking is safe here. A forked process has only the thread that forked; the others of a
    Dagster step process (its termination handler waiting on an event, the feeder thread of the
    queue its events go out by, threads of the libraries' pools) are not in it, and it takes none
    of their locks: it only draws (Matplotlib, NumPy, pandas, Pillow) and writes files. Python
    gives it fresh locks for its import system and ``logging``, Matplotlib clears its open fonts,
    the figures' shared text-metrics cache is its own copy (answers worked out there stay there),
    and the objects the garbage collector leaves alone stay so (:func:`long_lived_objects_frozen`
    runs around this). Every ``os.register_at_fork`` handler of the process runs in it too, so
    none may free what the parent holds: a DuckDB connection freed in a forked process crashes
    it (then this raises a RuntimeError: it ended without saying what it drew). A forked process
    that ends in any way closes its end of the pipe, so this never waits on one that has gone.
    """
    split = shares([figure_seconds(figure.name) for figure in planned], processes)
    fork = multiprocessing.get_context("fork")
    forked = []
    try:
        for share in split[1:]:
            receive, send = fork.Pipe(duplex=False)
            process = fork.Process(target=_draw_and_send, args=(planned, share, tables, directory, send),
                                   name="drawing figures", daemon=True)
            process.start()
            send.close()     # the forked process holds the only sending end: its end is our EOF
            forked.append((process, receive, share))
        outcomes = [_draw_share(planned, split[0], tables, directory)]
        outcomes += [_received(process, receive, [planned[p].name for p in share])
                     for process, receive, share in forked]
    finally:
        for process, receive, _ in forked:
            if process.exitcode is None:     # still drawing: this process failed or was interrupted
                process.kill()
            process.join()
            receive.close()
    drawn, failures = {}, []
    for paths, failure in outcomes:
        drawn.update(paths)
        if failure is not None:
            failures.append(failure)
    if failures:
        raise min(failures, key=lambda failure: failure[0])[1]
    return {figure.name: drawn[figure.name] for figure in planned}


def _draw_and_send(planned: list[PlannedFigure], share: list[int], tables: Mapping[str, pd.DataFrame],
                   directory: Path, send) -> None:
    """In a forked process: draw ``share``, send ``({name: path}, failure)`` and end the process."""
    drawn, failure = _draw_share(planned, share, tables, directory)
    if failure is not None:
        failure = (failure[0], _sendable(failure[1]))
    send.send((drawn, failure))
    send.close()
    os._exit(0)


def _sendable(error: Exception) -> Exception:
    """``error`` with its traceback as a note, as it can cross to another process: itself when it
    comes back from pickle as the same type and text, else a RuntimeError with that type and text."""
    error.add_note(f"drawn in a forked process (pid {os.getpid()}), where it raised:\n"
                   + "".join(traceback.format_exception(error)).rstrip())
    try:
        copy = pickle.loads(pickle.dumps(error))
        if type(copy) is type(error) and str(copy) == str(error):
            return error
    except Exception:
        pass
    sendable = RuntimeError(f"{type(error).__module__}.{type(error).__qualname__}: {error}")
    for note in getattr(error, "__notes__", []):
        sendable.add_note(note)
    return sendable


def _received(process, receive, names: list[str]) -> tuple[dict[str, Path], tuple[int, Exception] | None]:
    """What a forked process drawing ``names`` sent, once it has ended."""
    try:
        outcome = receive.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the process drawing the figures {', '.join(names)} ended (exit code "
                           f"{process.exitcode}) without saying what it drew") from None
    process.join()
    return outcome


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Python's cyclic garbage collector told to leave the objects that exist now alone (``gc.freeze``)
    for the block, then to look at them again (``gc.unfreeze``).

    Matplotlib makes tens of thousands of objects per figure, so the collector runs often and, every
    so often, over every object of the process: in the release step (Dagster, pandas and Great
    Expectations loaded, about 550,000 objects) two such full collections took 0.9 CPU-s of the
    figures' 6.4. None of those objects can become garbage while the figures are drawn; the
    figures' own objects are still collected as usual. Nothing else changes (a collector only
    decides when unreachable objects are freed). A caller that froze objects itself (e.g. before a
    fork) keeps them frozen: then this does nothing.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
