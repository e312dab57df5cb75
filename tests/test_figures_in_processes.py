"""The release's figures drawn in several processes: the same PNG files and the same answer as in one.

The one-process side is the simulated county's release (``county_release``, drawn there one figure
after another by ``write_release``); here its tables are drawn again in two processes.
"""

from __future__ import annotations

import os

import pytest

from evaluation import figures
from evaluation.report import drawing
from test_release_assembly import county_release


@pytest.fixture
def forks(monkeypatch) -> list[int]:
    """The process ids ``os.fork`` gives while the test runs (``multiprocessing`` forks through it)."""
    made, fork = [], os.fork

    def counted_fork():
        pid = fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted_fork)
    return made


def assert_all_ended(pids: list[int]) -> None:
    """Every process in ``pids`` has ended and been waited for (none left running or a zombie)."""
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    _, tables, release = county_release(tmp_path_factory)
    return tables, release


def test_two_processes_draw_the_same_figures_as_one(county, tmp_path, forks):
    tables, release = county
    alone = release.figures                       # write_release's, drawn in one process
    together = drawing.draw_release_figures(tables, tmp_path, processes=2)
    assert len(forks) == 1
    assert_all_ended(forks)
    assert len(alone) >= 12
    assert list(together) == list(alone)          # same figures, same order
    assert all(path == tmp_path / f"{name}.png" for name, path in together.items())
    assert [path.name for path in together.values()] == [path.name for path in alone.values()]
    for name, path in together.items():
        assert path.read_bytes() == alone[name].read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in together.values())


def test_the_split_balances_measured_seconds():
    assert drawing.shares([1.0, 5.0, 1.0, 1.0, 2.0, 2.0], 2) == [[1, 2], [0, 3, 4, 5]]   # 6 s each
    assert drawing.shares([1.0, 1.0, 1.0], 2) == [[0, 2], [1]]
    assert drawing.shares([3.0], 4) == [[0]]                     # no process without figures
    assert all(drawing.figure_seconds(name) > 0 for name in ("cohort_flow", "km_time_in_care",
                                                            "monthly_referrals", "something_new"))


def some(tables):
    """The county's flow and Kaplan-Meier tables alone (a pipeline release of a few figures)."""
    return {name: table for name, table in tables.items()
            if name in ("cohort_flow", "cohort_characteristics") or name.startswith("km_")}


def failing_km_figure(where):
    """figures.km_figure raising, naming its file, in the processes where ``where(pid)`` holds."""
    original = figures.km_figure

    def km_figure(table, path, **kwargs):
        if where(os.getpid()):
            raise ValueError(f"cannot draw {path.name}")
        return original(table, path, **kwargs)
    return km_figure


def test_a_figure_failing_raises_what_one_process_raises(county, tmp_path, monkeypatch, forks):
    tables = some(county[0])
    monkeypatch.setattr(figures, "km_figure", failing_km_figure(lambda pid: True))
    with pytest.raises(ValueError) as alone:
        drawing.draw_release_figures(tables, tmp_path / "alone")
    with pytest.raises(ValueError) as together:
        drawing.draw_release_figures(tables, tmp_path / "together", processes=2)
    first_km = next(figure.name for figure in drawing.planned_figures(tables) if figure.name.startswith("km_"))
    assert str(alone.value) == str(together.value) == f"cannot draw {first_km}.png"
    assert alone.value.__notes__[0] == together.value.__notes__[0] == (
        f"while drawing the figure {first_km!r} from the released table {first_km!r}")
    assert len(forks) == 1
    assert_all_ended(forks)


def test_a_figure_failing_in_the_forked_process_is_raised_here_naming_it(county, tmp_path, monkeypatch, forks):
    tables, here = some(county[0]), os.getpid()
    monkeypatch.setattr(figures, "km_figure", failing_km_figure(lambda pid: pid != here))
    planned = drawing.planned_figures(tables)
    split = drawing.shares([drawing.figure_seconds(figure.name) for figure in planned], 2)
    forked_km = [planned[p].name for p in split[1] if planned[p].name.startswith("km_")]
    assert forked_km, "the split gives the forked process no Kaplan-Meier figure"
    with pytest.raises(ValueError) as raised:
        drawing.draw_release_figures(tables, tmp_path, processes=2)
    assert str(raised.value) == f"cannot draw {forked_km[0]}.png"
    notes = "\n".join(raised.value.__notes__)
    assert f"while drawing the figure {forked_km[0]!r}" in notes and "drawn in a forked process" in notes
    assert len(forks) == 1
    assert_all_ended(forks)


def test_a_forked_process_that_dies_is_an_error_naming_its_figures(county, tmp_path, monkeypatch, forks):
    tables, here = some(county[0]), os.getpid()
    original = figures.km_figure

    def km_figure(table, path, **kwargs):
        if os.getpid() != here:
            os._exit(3)
        return original(table, path, **kwargs)

    monkeypatch.setattr(figures, "km_figure", km_figure)
    with pytest.raises(RuntimeError, match=r"ended \(exit code 3\) without saying what it drew") as raised:
        drawing.draw_release_figures(tables, tmp_path, processes=2)
    assert "km_" in str(raised.value)
    assert len(forks) == 1
    assert_all_ended(forks)


def test_one_process_forks_nothing(county, tmp_path, forks):
    tables = some(county[0])
    drawn = drawing.draw_release_figures(tables, tmp_path, processes=1)
    assert forks == []
    assert list(drawn) == [name for name in county[1].figures if name in tables]
    assert len(drawn) >= 3
