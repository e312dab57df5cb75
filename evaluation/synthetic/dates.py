"""Dates as integer day numbers (days since 1970-01-01) and their fast formatting.

The simulation works on int64 day numbers so every step is a numpy
operation; text is produced only when files are written, through a lookup
table (one string per day) rather than strftime per value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
#: Marks "no date": an interval still open at the end of the simulation.
OPEN = np.int64(10**7)


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01."""
    return (date - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def collection_year(days: np.ndarray) -> np.ndarray:
    """Collection year (named by its end, 1 April – 31 March) of each day number."""
    d = np.asarray(days, dtype="datetime64[D]")
    year = d.astype("datetime64[Y]").astype(int) + 1970
    month = (d.astype("datetime64[M]").astype(int) % 12) + 1
    return np.where(month >= 4, year + 1, year)


def year_start(year: int) -> int:
    """Day number of 1 April opening collection ``year``."""
    return day_number(dt.date(year - 1, 4, 1))


def reference_day(year: int) -> int:
    """Day number of 31 March, the reference date of collection ``year``."""
    return day_number(dt.date(year, 3, 31))


def add_years(days: np.ndarray, years: int) -> np.ndarray:
    """Same calendar day ``years`` later, e.g. an 18th birthday; 29 February -> 28 February.

    A 29 February moved to a non-leap year becomes 28 February: DfE's validators date ages
    with ``pandas.DateOffset(years=n)`` (e.g. SSDA903 rule 460, "stayed put at 18"), which
    keeps the month and clips the day, so the 18th birthday of a child born on 29 February
    2004 is 28 February 2022 there too.
    """
    d = np.asarray(days, dtype="datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target_month = month + 12 * years
    month_length = ((target_month + 1).astype("datetime64[D]") - target_month.astype("datetime64[D]")).astype(np.int64)
    target = target_month.astype("datetime64[D]") + np.minimum(day_of_month, month_length - 1)
    return target.astype(np.int64)


class DateText:
    """ISO (``YYYY-MM-DD``) and DfE (``dd/mm/YYYY``) text of every day in a range."""

    def __init__(self, first_day: int, last_day: int):
        self.first = int(first_day)
        days = np.arange(first_day, last_day + 1).astype("datetime64[D]")
        iso = np.datetime_as_string(days, unit="D")
        self.iso = iso
        self.dmy = np.array([f"{s[8:10]}/{s[5:7]}/{s[0:4]}" for s in iso.tolist()], dtype=object)

    def iso_of(self, days: np.ndarray) -> np.ndarray:
        return self.iso[np.asarray(days, dtype=np.int64) - self.first]

    def dmy_of(self, days: np.ndarray) -> np.ndarray:
        """dd/mm/YYYY, or an empty string for OPEN."""
        days = np.asarray(days, dtype=np.int64)
        out = np.full(days.shape, "", dtype=object)
        known = days != OPEN
        out[known] = self.dmy[days[known] - self.first]
        return out
