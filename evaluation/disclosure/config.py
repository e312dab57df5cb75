"""Thresholds and symbols of statistical disclosure control, in one place.

The defaults are those of UK trusted research environments and DfE
publications: no count below 10, counts rounded to 5, zeros treated as
disclosive, no percentage, mean or rate on fewer than 10 people, curves stopped
when fewer than 10 remain at risk. The symbols are the GSS / DfE (Explore
Education Statistics) ones.
"""

from __future__ import annotations

from dataclasses import dataclass


class DisclosureError(RuntimeError):
    """A table cannot be made safe by suppression (e.g. a cell equals a total released elsewhere)."""


@dataclass(frozen=True)
class DisclosureConfig:
    """Every threshold and symbol used by :mod:`evaluation.disclosure`."""

    #: Smallest count that may be released (counts 1..threshold-1 are suppressed).
    threshold: int = 10
    #: Released counts are rounded to the nearest multiple of this (1 = no rounding).
    rounding_base: int = 5
    #: Treat zero counts as disclosive (ACRO's ``zeros_are_disclosive``); a zero
    #: says "nobody in this group", which can be as revealing as a small count.
    suppress_zeros: bool = True
    #: Fewest people behind a released percentage, mean or rate.
    min_denominator: int = 10
    #: Fewest people / events behind a released model estimate.
    min_model_n: int = 10
    min_model_events: int = 10
    #: A released curve stops at the first grid time with fewer than this at risk.
    min_at_risk: int = 10
    #: Decimal places of released percentages and rates.
    rate_decimals: int = 1

    #: GSS / DfE symbols.
    suppressed: str = "c"        # confidential: suppressed to protect individuals
    low: str = "low"             # rounds to zero but is not zero
    not_available: str = "x"     # not available (not collected, not produced)
    not_applicable: str = "z"    # no possible value for this combination
    #: Text that replaces a model estimate resting on too few people or events.
    not_estimable: str = "not estimable (small numbers)"
    #: Label of total rows added to a table.
    total_label: str = "Total"

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.rounding_base < 1:
            raise ValueError("threshold and rounding_base must be positive")
        if self.min_at_risk < 1 or self.min_denominator < 1:
            raise ValueError("min_at_risk and min_denominator must be positive")


#: The configuration used when none is given.
DEFAULT = DisclosureConfig()


def round_to_base(values, base: int):
    """Round non-negative counts to the nearest multiple of ``base`` (halves up).

    Works on scalars and numpy arrays; ``base == 1`` returns the counts unchanged.
    """
    import numpy as np

    array = np.asarray(values, dtype="float64")
    rounded = base * np.floor(array / base + 0.5)
    return rounded if rounded.ndim else float(rounded)
