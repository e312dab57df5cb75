"""Tables an earlier step already built: reused, not rebuilt.

The cohorts, the journeys and the monthly counts read the spells and the index episodes. In the
pipeline those are assets of their own, handed in beside the door tables
(``tables["need_spells"]``, ``tables["index_episodes"]``, ...), so the asset graph is the data
flow and each is built once per council. Called on the door tables alone (tests, notebooks,
benchmarks), the library builds them itself. Either way the same builder made them from the same
tables and configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

#: The tables a step may receive already built, with the asset that builds each.
UPSTREAM: dict[str, str] = {
    "need_spells": "spells/need_spells",
    "cin_plan_spells": "spells/cin_plan_spells",
    "protection_spells": "spells/protection_spells",
    "care_periods": "spells/care_periods",
    "index_episodes": "cohorts/index_episodes",
}


def built(tables: dict[str, pd.DataFrame], name: str,
          build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``tables[name]`` when an upstream step built it, else ``build()``."""
    if name not in UPSTREAM:
        raise KeyError(f"{name!r} is not a table a step reuses (see UPSTREAM)")
    frame = tables.get(name)
    return build() if frame is None else frame
