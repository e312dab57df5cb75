"""The study's rules as a Dagster resource, so a sensitivity analysis is a launch config."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from evaluation.cohorts.config import StudyConfig

_DEFAULT = StudyConfig()


class StudySettings(dg.ConfigurableResource):
    """Cohort dates and windows (defaults: Oxfordshire FSP). See README, 'What every estimate means'."""

    pre_fsp_start: str = _DEFAULT.pre_fsp_start.isoformat()
    transition_start: str = _DEFAULT.transition_start.isoformat()
    go_live: str = _DEFAULT.go_live.isoformat()
    study_end: str | None = None
    factor_grace_days: int = _DEFAULT.factor_grace_days
    escalation_window_days: int = _DEFAULT.escalation_window_days
    re_referral_days: int = _DEFAULT.re_referral_days
    domestic_abuse_definition: str = _DEFAULT.domestic_abuse_definition
    #: sensitivity: stop the pre-FSP and transition cohorts' follow-up at go-live
    censor_earlier_cohorts_at_go_live: bool = _DEFAULT.censor_earlier_cohorts_at_go_live

    def config(self) -> StudyConfig:
        return StudyConfig(
            pre_fsp_start=dt.date.fromisoformat(self.pre_fsp_start),
            transition_start=dt.date.fromisoformat(self.transition_start),
            go_live=dt.date.fromisoformat(self.go_live),
            study_end=dt.date.fromisoformat(self.study_end) if self.study_end else None,
            factor_grace_days=self.factor_grace_days,
            escalation_window_days=self.escalation_window_days,
            re_referral_days=self.re_referral_days,
            domestic_abuse_definition=self.domestic_abuse_definition,
            censor_earlier_cohorts_at_go_live=self.censor_earlier_cohorts_at_go_live,
        )
