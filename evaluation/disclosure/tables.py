"""Safe count tables: primary and secondary suppression, then rounding.

A released table is a set of interior cells (one per combination of the
``by`` columns) plus totals over some of those columns ("margins"). A reader
who knows the totals can recover a suppressed cell by subtraction when it is
the only unknown in a row or column, and more generally when the released
numbers pin it down through any chain of additions and subtractions. So
:func:`suppress_counts`

1. suppresses every count below the threshold (and zeros, when configured) —
   *primary* suppression — in the interior and in the totals;
2. adds *secondary* (complementary) suppressions until no suppressed cell can
   be recovered, neither from the totals released with the table nor from
   totals released in other tables (``released_elsewhere``), checking by
   linear programming that each suppressed cell's feasible range is wider
   than one person;
3. rounds every remaining count, totals independently, to the rounding base.

By default the reader of step 2 knows every released count exactly (before
rounding), the worst case. With ``rounding_protects=True`` the reader knows
each released count only as the rounding leaves it (a count released as 20515
is 20513 to 20517 for base 5), and a suppressed cell is safe when it cannot be
narrowed to fewer values than a released count spans (``rounding_base``).
That is the protection rounding gives against differencing, and it is what a
chain of differences such as a flow table needs: under exact knowledge,
hiding one small exclusion hides every count after it.

:func:`suppress_rates` blanks percentages, means and rates resting on fewer
than ``min_denominator`` people.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from evaluation.disclosure.config import DEFAULT, DisclosureConfig, DisclosureError, round_to_base


@dataclass(frozen=True)
class TableStructure:
    """The additive structure of a table: cells and the totals that bind them.

    Variables ``0..n_interior-1`` are the interior cells (rows of the input
    table); after them come the margin cells released with the table, then
    the margin cells released elsewhere. ``lines`` holds, for each margin
    cell, the variable indices ``[margin, member, member, ...]``: the margin
    equals the sum of its members. Relations between rows of the table
    itself (``sums``: e.g. a flow table's "remaining before" = "excluded" +
    "remaining after") are lines whose first entry is a row. ``public`` marks the variables a reader
    knows whatever this table shows: totals released elsewhere (including
    those also shown here).
    """

    n_interior: int
    margin_specs: tuple[tuple[str, ...], ...]     # spec of each released margin cell
    margin_keys: tuple[tuple, ...]                # key (values of the spec's columns) of each
    n_external: int
    lines: tuple[np.ndarray, ...]
    public: np.ndarray

    @property
    def n_released_margins(self) -> int:
        return len(self.margin_specs)

    @property
    def n_variables(self) -> int:
        return self.n_interior + self.n_released_margins + self.n_external

    def values(self, interior: np.ndarray) -> np.ndarray:
        """All variable values (margins summed) from the interior counts."""
        out = np.zeros(self.n_variables)
        out[: self.n_interior] = interior
        for line in self.lines:
            if line[0] >= self.n_interior:      # a margin; rows of the table keep their own value
                out[line[0]] = interior[line[1:]].sum()
        return out

    def constraint_matrix(self) -> np.ndarray:
        """``A`` with ``A @ values == 0``: one row per margin (members − margin)."""
        matrix = np.zeros((len(self.lines), self.n_variables))
        for row, line in enumerate(self.lines):
            matrix[row, line[1:]] = 1.0
            matrix[row, line[0]] = -1.0
        return matrix


def all_margins(by: Sequence[str]) -> list[tuple[str, ...]]:
    """Every total over a proper subset of ``by``: for (a, b) that is (a,), (b,) and ()."""
    specs: list[tuple[str, ...]] = []
    for size in range(len(by) - 1, -1, -1):
        specs.extend(combinations(by, size))
    return specs


def table_structure(
    table: pd.DataFrame,
    by: Sequence[str],
    margins: Iterable[Sequence[str]],
    released_elsewhere: Iterable[Sequence[str]] = (),
    sums: Iterable[tuple[int, Sequence[int]]] = (),
) -> TableStructure:
    """Build the :class:`TableStructure` of ``table`` (one row per combination of ``by``).

    ``sums`` lists additive relations between rows: (position of a row, positions
    of the rows that add up to it).
    """
    by = list(by)
    if table.duplicated(by).any():
        raise ValueError(f"table has more than one row per combination of {by}")
    released = [tuple(spec) for spec in margins]
    known_elsewhere = {tuple(spec) for spec in released_elsewhere}
    elsewhere = [spec for spec in dict.fromkeys(known_elsewhere) if spec not in released]
    for spec in released + elsewhere:
        unknown = set(spec) - set(by)
        if unknown:
            raise ValueError(f"margin {spec} uses columns not in by: {sorted(unknown)}")
        if len(spec) == len(by):
            raise ValueError(f"margin {spec} is the interior, not a total")

    n = len(table)
    positions = np.arange(n)
    specs, keys, groups_released, groups_elsewhere = [], [], [], []
    for spec_list, store in ((released, groups_released), (elsewhere, groups_elsewhere)):
        for spec in spec_list:
            if spec:
                grouped = pd.Series(positions).groupby(
                    [table[c].to_numpy() for c in spec], sort=True, dropna=False
                )
                for key, members in grouped:
                    key = key if isinstance(key, tuple) else (key,)
                    store.append(members.to_numpy())
                    if store is groups_released:
                        specs.append(spec)
                        keys.append(key)
            else:
                store.append(positions)
                if store is groups_released:
                    specs.append(spec)
                    keys.append(())
    lines = []
    index = n
    for members in groups_released + groups_elsewhere:
        lines.append(np.concatenate([[index], members]).astype(int))
        index += 1
    for total, members in sums:
        members = np.asarray(list(members), dtype=int)
        if not (0 <= total < n) or members.size == 0 or members.min() < 0 or members.max() >= n:
            raise ValueError(f"sum relation ({total}, {list(members)}) refers to rows outside the table")
        lines.append(np.concatenate([[total], members]).astype(int))
    public = np.zeros(index, dtype=bool)
    public[n : n + len(specs)] = [spec in known_elsewhere for spec in specs]
    public[n + len(specs):] = True
    return TableStructure(n, tuple(specs), tuple(keys), len(groups_elsewhere), tuple(lines), public)


def feasible_ranges(
    structure: TableStructure, values: np.ndarray, suppressed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of each suppressed cell consistent with what is released.

    The reader knows every unsuppressed value exactly (the worst case: before
    rounding), that totals are sums, and that counts are non-negative. Each
    bound is a linear programme. Unsuppressed cells get their own value;
    an unbounded maximum is ``inf``.
    """
    lower = values.astype(float).copy()
    upper = values.astype(float).copy()
    unknown = np.flatnonzero(suppressed)
    if unknown.size == 0:
        return lower, upper
    matrix = structure.constraint_matrix()
    known = ~suppressed
    a_unknown = matrix[:, unknown]
    b = -matrix[:, known] @ values[known]
    involved = np.abs(a_unknown).sum(axis=1) > 0
    a_unknown, b = a_unknown[involved], b[involved]
    for position, variable in enumerate(unknown):
        if a_unknown.shape[0] == 0:
            lower[variable], upper[variable] = 0.0, np.inf
            continue
        cost = np.zeros(unknown.size)
        cost[position] = 1.0
        low = linprog(cost, A_eq=a_unknown, b_eq=b, bounds=(0, None), method="highs")
        high = linprog(-cost, A_eq=a_unknown, b_eq=b, bounds=(0, None), method="highs")
        lower[variable] = low.fun if low.status == 0 else 0.0
        upper[variable] = -high.fun if high.status == 0 else np.inf
    return lower, upper


def _random_objectives(size: int):
    """The objectives of the few programmes that go first in an audit (:func:`recoverable`,
    :func:`narrowed`): two random directions and their opposites, the same every run. Each
    feasible table they find widens the known range of every cell at once."""
    rng = np.random.default_rng(0)
    for _ in range(2):
        cost = rng.normal(size=size)
        yield cost
        yield -cost


def recoverable(
    structure: TableStructure,
    values: np.ndarray,
    suppressed: np.ndarray,
    first_of: np.ndarray | None = None,
) -> np.ndarray:
    """Suppressed cells whose feasible range is narrower than one person (so pinned down).

    Every feasible table a linear programme visits widens the known range of
    every cell at once, so a few programmes with random objectives free most
    cells; each remaining cell is then pushed to its own maximum and minimum
    (as in :func:`feasible_ranges`) only while its range is still below one.
    With ``first_of`` (cells in order of interest), stop at the first pinned one.
    """
    pinned = np.zeros(structure.n_variables, dtype=bool)
    unknown = np.flatnonzero(suppressed)
    if unknown.size == 0:
        return pinned
    matrix = structure.constraint_matrix()[:, unknown]
    matrix = matrix[np.abs(matrix).sum(axis=1) > 0]
    if matrix.shape[0] == 0:
        return pinned
    x0 = values[unknown].astype(float)
    b = matrix @ x0
    low, high = x0.copy(), x0.copy()
    # A cap above any real count keeps every programme bounded; it cannot narrow a range
    # of width one or more below one, since every true value lies below it.
    cap = 2.0 * float(np.abs(values).sum()) + 10.0

    def visit(cost: np.ndarray) -> None:
        result = linprog(cost, A_eq=matrix, b_eq=b, bounds=(0, cap), method="highs")
        if result.status == 0:
            np.minimum(low, result.x, out=low)
            np.maximum(high, result.x, out=high)

    def wide(k: int) -> bool:
        return high[k] - low[k] >= 1.0 - 1e-9

    for cost in _random_objectives(unknown.size):
        visit(cost)
    position = {cell: k for k, cell in enumerate(unknown)}
    order = unknown if first_of is None else [c for c in first_of if suppressed[c]]
    for cell in order:
        k = position[cell]
        if wide(k):
            continue
        unit = np.zeros(unknown.size)
        unit[k] = 1.0
        visit(-unit)
        if not wide(k):
            visit(unit)
        if not wide(k):
            pinned[cell] = True
            if first_of is not None:
                return pinned
    return pinned


def rounding_interval(values: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """The counts that :func:`round_to_base` maps to the same released value as ``values``."""
    released = round_to_base(np.asarray(values, dtype=float), base)
    lower = np.maximum(np.ceil(released - base / 2.0), 0.0)
    upper = np.ceil(released + base / 2.0) - 1.0
    return lower, upper


#: How much wider than the narrowest allowed range the tables a linear programme happened to find
#: must show a cell before :func:`narrowed` takes it as not narrowed without its own programmes.
CLEARLY_WIDE = 1e-4


def narrowed(
    structure: TableStructure,
    values: np.ndarray,
    suppressed: np.ndarray,
    base: int,
    first_of: np.ndarray | None = None,
) -> np.ndarray:
    """Suppressed cells a reader of the rounded release can narrow to fewer than ``base`` values.

    Each released cell is only known to lie in its :func:`rounding_interval` (totals
    released elsewhere are taken as known exactly); every cell is a non-negative count and
    the totals are sums. A suppressed cell's range is its minimum and maximum over that
    polytope, one linear programme each; with ``first_of``, stop at the first narrow one.

    Without ``first_of`` (every suppressed cell audited) a few programmes with random
    objectives go first, as in :func:`recoverable`: the tables they find are points of the
    polytope, so a cell they already show to vary by :data:`CLEARLY_WIDE` more than the
    narrowest allowed range needs no programmes of its own (they could only find it wider).
    Every solution found on the way counts likewise. The margin is far above the solver's
    feasibility tolerance (1e-7), so the cells are the ones a programme per bound finds.
    """
    pinned = np.zeros(structure.n_variables, dtype=bool)
    unknown = np.flatnonzero(suppressed)
    if unknown.size == 0:
        return pinned
    matrix = structure.constraint_matrix()
    low_known, high_known = rounding_interval(values, base)
    cap = 2.0 * float(np.abs(values).sum()) + 10.0 * base
    bounds = [(0.0, cap) if suppressed[k] else
              ((values[k], values[k]) if structure.public[k] else (low_known[k], high_known[k]))
              for k in range(structure.n_variables)]
    need = max(base - 1, 1) - 1e-9
    order = unknown if first_of is None else [c for c in first_of if suppressed[c]]
    zeros = np.zeros(matrix.shape[0])
    seen_low = np.full(structure.n_variables, np.inf)
    seen_high = np.full(structure.n_variables, -np.inf)

    def solve(cost: np.ndarray):
        result = linprog(cost, A_eq=matrix, b_eq=zeros, bounds=bounds, method="highs")
        if result.status == 0 and first_of is None:
            np.minimum(seen_low, result.x, out=seen_low)
            np.maximum(seen_high, result.x, out=seen_high)
        return result

    if first_of is None:
        for random in _random_objectives(unknown.size):
            cost = np.zeros(structure.n_variables)
            cost[unknown] = random
            solve(cost)
    for cell in order:
        if seen_high[cell] - seen_low[cell] >= need + CLEARLY_WIDE:
            continue
        cost = np.zeros(structure.n_variables)
        cost[cell] = 1.0
        low = solve(cost)
        high = solve(-cost)
        if low.status != 0 or high.status != 0:
            continue
        if -high.fun - low.fun < need:
            pinned[cell] = True
            if first_of is not None:
                return pinned
    return pinned


def protect_rounded(
    structure: TableStructure,
    values: np.ndarray,
    primary: np.ndarray,
    base: int,
    accepted: np.ndarray | None = None,
) -> np.ndarray:
    """Add secondary suppressions to ``primary`` until no suppressed cell is :func:`narrowed`.

    The complement for an exposed cell is the smallest releasable count sharing a total
    with it (interior before totals). Cells narrowed even with everything here suppressed
    (by totals released elsewhere) are left as they are; ``accepted``, when given, is that
    set as ``narrowed(structure, values, ~structure.public, base)`` found it.
    """
    suppressed = primary & ~structure.public
    if accepted is None:
        accepted = narrowed(structure, values, ~structure.public, base)
    is_margin = np.arange(structure.n_variables) >= structure.n_interior
    while True:
        candidates = np.flatnonzero(suppressed & ~accepted)
        interest = np.concatenate([candidates[primary[candidates]], candidates[~primary[candidates]]])
        exposed = np.flatnonzero(narrowed(structure, values, suppressed, base, first_of=interest))
        if exposed.size == 0:
            return suppressed
        cell = int(exposed[0])
        pool = [line for line in structure.lines if cell in line] or [np.flatnonzero(~structure.public)]
        pool = np.unique(np.concatenate(pool))
        pool = pool[~suppressed[pool] & ~structure.public[pool]]
        if pool.size == 0:
            pool = np.flatnonzero(~suppressed & ~structure.public)
        if pool.size == 0:  # pragma: no cover - everything suppressed leaves only `accepted` exposed
            raise DisclosureError("no complementary cell left to protect a narrowed cell")
        suppressed[int(min(pool, key=lambda k: (is_margin[k], values[k] == 0, values[k], k)))] = True


def protect(
    structure: TableStructure,
    values: np.ndarray,
    primary: np.ndarray,
    accepted: np.ndarray | None = None,
) -> np.ndarray:
    """Add secondary suppressions to ``primary`` until no suppressed cell is recoverable.

    The aim: the table reveals no suppressed value beyond what totals
    published elsewhere reveal on their own. Cells those totals pin down even
    when everything here is suppressed (e.g. a cell that is the only member
    of a published total) are shown as suppressed but cannot be protected;
    :func:`suppress_counts` lists them as ``disclosed_elsewhere``.

    Each step suppresses a releasable cell sharing a total with an exposed
    cell — the one that closes most totals with a lone unknown and opens
    fewest new ones, then the smallest non-zero count, interior before
    totals — first for totals with a single unknown, then for cells the audit
    still finds pinned. Margins released elsewhere can never be suppressed. ``accepted``, when
    given, is what ``recoverable(structure, values, ~structure.public)`` found.
    """
    suppressed = primary & ~structure.public
    can_suppress = ~structure.public
    # what totals published elsewhere reveal on their own: nothing this table does can hide it
    if accepted is None:
        accepted = recoverable(structure, values, ~structure.public)
    is_margin = np.arange(structure.n_variables) >= structure.n_interior

    membership = np.zeros((len(structure.lines), structure.n_variables), dtype=bool)
    for row, line in enumerate(structure.lines):
        membership[row, line] = True

    def cheapest(candidates: np.ndarray) -> int:
        # prefer a cell that completes totals with a lone unknown and opens no new ones,
        # then the smallest non-zero count, then interior cells
        unknowns = (membership & suppressed).sum(axis=1)
        lone = unknowns == 1
        untouched = (unknowns == 0) & ~(membership & structure.public).any(axis=1)
        fixes = membership[lone][:, candidates].sum(axis=0)
        opens = membership[untouched][:, candidates].sum(axis=0)
        order = sorted(range(len(candidates)), key=lambda k: (
            -fixes[k], opens[k], values[candidates[k]] == 0, values[candidates[k]],
            is_margin[candidates[k]], candidates[k]))
        return int(candidates[order[0]])

    def complement_for(lines_with_cell: list[np.ndarray]) -> int | None:
        pool = np.unique(np.concatenate(lines_with_cell)) if lines_with_cell else np.array([], int)
        pool = pool[~suppressed[pool] & can_suppress[pool]]
        return cheapest(pool) if pool.size else None

    while True:
        changed = False
        for line in structure.lines:
            if suppressed[line].sum() == 1:
                pick = complement_for([line])
                if pick is not None:   # else: only public totals left; the audit below decides
                    suppressed[pick] = True
                    changed = True
        if changed:
            continue
        candidates = np.flatnonzero(suppressed & ~accepted)
        interest = np.concatenate([candidates[primary[candidates]], candidates[~primary[candidates]]])
        exposed = np.flatnonzero(recoverable(structure, values, suppressed, first_of=interest))
        if exposed.size == 0:
            return suppressed
        cell = int(exposed[0])
        pick = complement_for([line for line in structure.lines if cell in line])
        if pick is None:
            pick = complement_for([line for line in structure.lines if suppressed[line].any()])
        if pick is None:
            pick = complement_for([np.flatnonzero(can_suppress)])
        if pick is None:  # pragma: no cover - everything suppressed leaves only `accepted` exposed
            raise DisclosureError("no complementary cell left to protect a recoverable cell")
        suppressed[pick] = True


def suppress_counts(
    table: pd.DataFrame,
    count_cols: Sequence[str],
    by: Sequence[str],
    margins: Iterable[Sequence[str]] | None = None,
    released_elsewhere: Iterable[Sequence[str]] = (),
    config: DisclosureConfig = DEFAULT,
    sums: Iterable[tuple[int, Sequence[int]]] = (),
    rounding_protects: bool = False,
) -> pd.DataFrame:
    """Release a count table safely: primary + secondary suppression, then rounding.

    ``table`` has one row per combination of ``by`` and integer counts in
    ``count_cols`` (e.g. ``children``, ``families``), each protected on its
    own. ``margins`` lists the totals released with the table as tuples of
    ``by`` columns kept (``()`` is the grand total); the default is every
    total. They are appended as rows labelled ``config.total_label``.
    ``released_elsewhere`` lists totals published in other outputs: they are
    treated as known to the reader and protected against, but not added.
    ``sums`` adds relations between rows of ``table`` itself, as (row
    position, positions of the rows that add up to it), e.g. in a flow table.
    ``rounding_protects`` audits against a reader who knows released counts
    only as rounded (see the module docstring).

    Returns the interior rows then the total rows, ``by`` columns as text,
    counts as text: a multiple of the rounding base, or ``config.suppressed``.
    ``result.attrs["disclosure"]`` counts primary and secondary suppressions.
    """
    by = list(by)
    count_cols = list(count_cols)
    missing = set(by + count_cols) - set(table.columns)
    if missing:
        raise KeyError(f"columns not in table: {sorted(missing)}")
    margins = all_margins(by) if margins is None else [tuple(m) for m in margins]
    sums = [(int(total), [int(m) for m in members]) for total, members in sums]
    structure = table_structure(table, by, margins, released_elsewhere, sums)

    rows = table[by].astype(object).copy()
    total_rows = pd.DataFrame(
        [
            {c: (key[spec.index(c)] if c in spec else config.total_label) for c in by}
            for spec, key in zip(structure.margin_specs, structure.margin_keys)
        ],
        columns=by,
    )
    out = pd.concat([rows, total_rows], ignore_index=True)
    info = {"threshold": config.threshold, "rounding_base": config.rounding_base,
            "audit": ("reader knows released counts as rounded" if rounding_protects
                      else "reader knows released counts exactly"),
            "margins": [list(m) for m in margins],
            "released_elsewhere": [list(m) for m in released_elsewhere],
            "primary": {}, "secondary": {}, "suppressed_rows": {}}
    n_public = structure.n_interior + structure.n_released_margins
    for column in count_cols:
        counts = pd.to_numeric(table[column], errors="raise")
        if counts.isna().any() or (counts < 0).any() or (counts % 1 != 0).any():
            raise ValueError(f"{column}: counts must be non-negative integers without gaps")
        values = structure.values(counts.to_numpy(dtype=float))
        for total, members in sums:
            if values[total] != values[members].sum():
                raise ValueError(f"{column}: row {total} is not the sum of rows {members}")
        primary = values < config.threshold
        if not config.suppress_zeros:
            primary &= values > 0
        primary[n_public:] = False
        # totals published elsewhere are known to the reader, but small ones are still not shown here.
        # What those totals reveal with every releasable cell suppressed is worked out once (most of
        # the audit's linear programmes): the protection leaves those cells be, and lists them below
        if rounding_protects:
            accepted = narrowed(structure, values, ~structure.public, config.rounding_base)
            suppressed = protect_rounded(structure, values, primary, config.rounding_base, accepted) | primary
        else:
            accepted = recoverable(structure, values, ~structure.public)
            suppressed = protect(structure, values, primary, accepted) | primary
        public_values = values[:n_public]
        rounded = round_to_base(public_values, config.rounding_base).astype(np.int64)
        out[column] = np.where(suppressed[:n_public], config.suppressed, rounded.astype(str))
        info["primary"][column] = int(primary[:n_public].sum())
        info["secondary"][column] = int((suppressed & ~primary)[:n_public].sum())
        info["suppressed_rows"][column] = [int(i) for i in np.flatnonzero(suppressed[:n_public])]
        exposed = accepted & primary
        info.setdefault("disclosed_elsewhere", {})[column] = [int(i) for i in np.flatnonzero(exposed[:n_public])]
    out.attrs["disclosure"] = info
    return out


def released_numbers(column: pd.Series) -> pd.Series:
    """Numeric view of a released column: symbols (``c``, ``low``, ``x``, ``z``) become NaN."""
    return pd.to_numeric(column, errors="coerce")


def suppress_rates(
    table: pd.DataFrame,
    rate_cols: Sequence[str],
    denominator: str,
    numerator: str | None = None,
    config: DisclosureConfig = DEFAULT,
    decimals: int | None = None,
) -> pd.DataFrame:
    """Blank percentages, means or rates that rest on too few people.

    A value in ``rate_cols`` is released only when its ``denominator`` (people)
    is at least ``config.min_denominator`` and, if a ``numerator`` count is
    given, that count would itself be releasable (a small numerator times a
    known denominator gives the count back). Released values are rounded to
    ``decimals``; a non-zero value that rounds to zero shows ``config.low``,
    a missing one ``config.not_available``. Other columns are left as they are.
    """
    decimals = config.rate_decimals if decimals is None else decimals
    out = table.copy()
    people = pd.to_numeric(table[denominator], errors="coerce")
    unsafe = ~(people >= config.min_denominator)
    if numerator is not None:
        top = pd.to_numeric(table[numerator], errors="coerce")
        small = top < config.threshold
        if not config.suppress_zeros:
            small &= top > 0
        unsafe |= small | top.isna()
    for column in rate_cols:
        value = pd.to_numeric(table[column], errors="coerce")
        text = value.round(decimals).map(lambda v: f"{v:.{decimals}f}")
        text = text.where(~((value.round(decimals) == 0) & (value != 0)), config.low)
        text = text.where(value.notna(), config.not_available)
        out[column] = text.where(~unsafe, config.suppressed)
    return out
