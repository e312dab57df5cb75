"""Need spells: a CIN episode from referral to closure.

A closure for death (RC2) or transfer to another LA (RC5) censors the spell
rather than ending it; an episode still open is censored at the end of
follow-up (see :mod:`evaluation.spells.censoring`). A referral closed the same
day (e.g. no further action) is a spell of 0 days. Each CIN episode is its own
spell: a new referral after a closure is a new spell (a re-referral), even one
day later.
"""

from __future__ import annotations

import pandas as pd

from evaluation.codes.groupings import CIN_CENSORING_CLOSURES
from evaluation.spells.censoring import FollowUp, finish_spells
from evaluation.study import StudyConfig


def need_spells(tables: dict[str, pd.DataFrame], config: StudyConfig,
                follow: FollowUp | None = None) -> pd.DataFrame:
    """One row per CIN episode: referral → closure, exit type "closure" or "censored".

    ``follow`` (optional) is the run's precomputed censoring inputs.
    """
    episodes = tables["cin_episodes"]
    reason = episodes["reason_for_closure"]
    spells = pd.DataFrame({
        "la_code": episodes["la_code"], "child_id": episodes["child_id"],
        "episode_id": episodes["episode_id"], "start_date": episodes["referral_date"],
        "end_date": episodes["closure_date"], "end_reason": reason,
        "exit_type": "closure",
    })
    spells.loc[reason.isin(list(CIN_CENSORING_CLOSURES)).fillna(False).to_numpy(), "exit_type"] = "censored"
    return finish_spells("need", spells, tables, config, follow=follow)
