"""Compatibility: the study configuration now lives in the leaf module :mod:`evaluation.study`."""

from evaluation.study import COHORTS, StudyConfig

__all__ = ["COHORTS", "StudyConfig"]
