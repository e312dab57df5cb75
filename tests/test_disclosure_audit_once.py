"""suppress_counts works out once per count column what totals released elsewhere reveal with every
releasable cell suppressed (``narrowed`` / ``recoverable`` of ``~structure.public``: most of the
audit's linear programmes), hands it to the protection and lists it as ``disclosed_elsewhere``.
Here the same tables are released with the protection working it out again itself (as before):
the same released table and disclosure record, and half as many of those audits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from evaluation.disclosure import DisclosureConfig, suppress_counts
from evaluation.disclosure import tables as disclosure_tables
from evaluation.disclosure.flow import release_flow

from test_disclosure import flow_table, two_way

CONFIG = DisclosureConfig()


def _cases():
    rng = np.random.default_rng(20201101)
    county = pd.DataFrame([{"cohort": c, "combination": k} for c in ("pre", "mid", "post")
                           for k in ("none", "DA", "MH", "SM", "DA+MH", "all")])
    county["children"] = rng.multinomial(60, np.full(18, 1 / 18))
    county["families"] = np.minimum(county["children"], rng.integers(0, 9, 18))
    by = ["cohort", "combination"]
    yield "flow", lambda: release_flow(flow_table())
    yield "flow exact", lambda: release_flow(flow_table(), config=replace(CONFIG, rounding_base=1))
    yield "two-way elsewhere", lambda: suppress_counts(two_way([120, 35, 7, 40, 90, 28, 22, 31]), ["children"],
                                                       by, margins=[], released_elsewhere=[("cohort",)])
    yield "county", lambda: suppress_counts(county, ["children", "families"], by,
                                            released_elsewhere=[("combination",)])
    yield "county rounded", lambda: suppress_counts(county, ["children", "families"], by, rounding_protects=True)
    lone = pd.DataFrame({"cohort": ["pre", "pre", "post"], "combination": ["none", "SM", "none"],
                         "children": [50, 4, 60]})            # SM's total, published elsewhere, is 4
    for rounded in (False, True):
        yield f"disclosed elsewhere{' rounded' if rounded else ''}", lambda rounded=rounded: suppress_counts(
            lone, ["children"], by, released_elsewhere=[("combination",)], rounding_protects=rounded)


@pytest.mark.parametrize("name, release", list(_cases()), ids=[name for name, _ in _cases()])
def test_released_tables_equal_those_of_the_protection_auditing_again(name, release, monkeypatch):
    audits = []
    narrowed, recoverable = disclosure_tables.narrowed, disclosure_tables.recoverable

    def counted(function):
        def audit(structure, values, suppressed, *args, **kwargs):
            if np.array_equal(suppressed, ~structure.public):
                audits.append(function.__name__)
            return function(structure, values, suppressed, *args, **kwargs)
        return audit

    monkeypatch.setattr(disclosure_tables, "narrowed", counted(narrowed))
    monkeypatch.setattr(disclosure_tables, "recoverable", counted(recoverable))
    once = release()
    columns = sum(1 for c in ("children", "families") if c in once.attrs["disclosure"]["primary"])
    assert len(audits) == columns

    protect, protect_rounded = disclosure_tables.protect, disclosure_tables.protect_rounded
    monkeypatch.setattr(disclosure_tables, "protect",
                        lambda structure, values, primary, accepted=None: protect(structure, values, primary))
    monkeypatch.setattr(disclosure_tables, "protect_rounded",
                        lambda structure, values, primary, base, accepted=None:
                        protect_rounded(structure, values, primary, base))
    audits.clear()
    again = release()
    assert len(audits) == 2 * columns                     # the protection's own audit, then ours
    pd.testing.assert_frame_equal(once, again, check_exact=True)
    assert once.attrs == again.attrs


def _narrowed_by_two_programmes_per_cell(structure, values, suppressed, base):
    """What narrowed found before its shortcut: every suppressed cell's minimum and maximum."""
    from scipy.optimize import linprog

    matrix = structure.constraint_matrix()
    low_known, high_known = disclosure_tables.rounding_interval(values, base)
    cap = 2.0 * float(np.abs(values).sum()) + 10.0 * base
    bounds = [(0.0, cap) if suppressed[k] else
              ((values[k], values[k]) if structure.public[k] else (low_known[k], high_known[k]))
              for k in range(structure.n_variables)]
    pinned = np.zeros(structure.n_variables, dtype=bool)
    for cell in np.flatnonzero(suppressed):
        cost = np.zeros(structure.n_variables)
        cost[cell] = 1.0
        low = linprog(cost, A_eq=matrix, b_eq=np.zeros(matrix.shape[0]), bounds=bounds, method="highs")
        high = linprog(-cost, A_eq=matrix, b_eq=np.zeros(matrix.shape[0]), bounds=bounds, method="highs")
        if low.status == 0 and high.status == 0 and -high.fun - low.fun < max(base - 1, 1) - 1e-9:
            pinned[cell] = True
    return pinned


@pytest.mark.parametrize("base", [1, 5, 10])
def test_narrowed_finds_the_cells_two_programmes_per_cell_find(base):
    """The random programmes and the solutions met on the way only spare a cell's own programmes
    when they show it clearly wide: the same narrowed cells as a minimum and a maximum per cell,
    over the flow table and two-way tables with totals (released here or elsewhere), with every
    releasable cell suppressed and with random suppressions."""
    from evaluation.disclosure.flow import flow_sums

    rng = np.random.default_rng(base)
    flow = flow_table()
    structures = [(disclosure_tables.table_structure(flow, ["step", "stage", "reason", "cohort"], [], (),
                                                     flow_sums(flow)), flow["children"].to_numpy(float))]
    for k in range(6):
        table = two_way(rng.integers(0, 40, size=8) * (rng.random(8) < 0.8))
        elsewhere = [("cohort",)] if k % 2 else []
        margins = [] if k % 3 == 0 else None
        structure = disclosure_tables.table_structure(
            table, ["cohort", "combination"],
            disclosure_tables.all_margins(["cohort", "combination"]) if margins is None else margins,
            elsewhere, [])
        structures.append((structure, structure.values(table["children"].to_numpy(float))))
    checked = found = 0
    for structure, values in structures:
        every = ~structure.public
        for suppressed in [every, every & (rng.random(structure.n_variables) < 0.5),
                           every & (values < 10), every & (rng.random(structure.n_variables) < 0.2)]:
            expected = _narrowed_by_two_programmes_per_cell(structure, values, suppressed, base)
            assert np.array_equal(disclosure_tables.narrowed(structure, values, suppressed, base), expected)
            checked, found = checked + 1, found + int(expected.sum())
    assert checked == 28 and found > 0                    # some cells are narrowed, so it can fail
