"""Spells: need (CIN episodes), CIN plans, protection (CP plans) and periods of care.

Each builder is a pure function of the pseudonymised tables and a
:class:`~evaluation.study.StudyConfig`, returning one row per spell
with the columns of :data:`evaluation.spells.censoring.SPELL_COLUMNS`.
"""

from evaluation.spells.care import care_periods
from evaluation.spells.censoring import SPELL_COLUMNS, follow_up, observation_windows
from evaluation.spells.cin_plans import cin_plan_spells
from evaluation.spells.need import need_spells
from evaluation.spells.protection import protection_spells

__all__ = [
    "SPELL_COLUMNS",
    "care_periods",
    "cin_plan_spells",
    "follow_up",
    "need_spells",
    "observation_windows",
    "protection_spells",
]
