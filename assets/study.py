"""The study's rules as a Dagster resource, so a sensitivity analysis is a launch config.

:class:`StudySettings` is generated from the fields of
:class:`evaluation.study.StudyConfig`: every field is a launchpad setting with
the dataclass's default, and its ``#:`` comment as the description. Config
types are the ones the launchpad renders: dates are ISO strings
("2020-11-01"), tuples are lists (``age_bands`` a list of ``[low, high]``
pairs, ``lockdown_periods`` a list of ``[start, end]`` ISO date pairs), an
optional value may be left null. :meth:`StudySettings.config` converts back
and returns the validated ``StudyConfig``; adding a field to the dataclass
adds the setting, with nothing to copy by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
import types
import typing
from typing import Any, Optional

import dagster as dg
import pydantic

from evaluation.study import StudyConfig

_DEFAULT = StudyConfig()


def _config_type(hint: Any) -> Any:
    """The launchpad (Dagster config) type standing for the dataclass type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is dt.date:
        return str
    if hint in (int, float, bool, str):
        return hint
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return Optional[_config_type(inner)]
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        if len(set(items)) != 1:
            raise TypeError(f"cannot make a launchpad setting of {hint!r}")
        return list[_config_type(items[0])]
    raise TypeError(f"cannot make a launchpad setting of {hint!r}")


def _to_config(value: Any) -> Any:
    """A ``StudyConfig`` value as launchpad config (dates as ISO strings, tuples as lists)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_to_config(v) for v in value]
    return value


def _from_config(hint: Any, value: Any) -> Any:
    """Launchpad config ``value`` as the dataclass type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if hint is dt.date:
        return dt.date.fromisoformat(value)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _from_config(inner, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_config(args[0], v) for v in value)
        if len(value) != len(args):
            raise ValueError(f"expected {len(args)} values, got {list(value)!r}")
        return tuple(_from_config(a, v) for a, v in zip(args, value))
    return value


def _field_docs(cls: type) -> dict[str, str]:
    """Each field's ``#:`` comment (the lines just above it) in the source of ``cls``."""
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = [] if not stripped.startswith("#") else pending
    return docs


_HINTS = typing.get_type_hints(StudyConfig)
_DOCS = _field_docs(StudyConfig)
_FIELDS = {f.name: f for f in dataclasses.fields(StudyConfig)}


class _StudySettingsBase(dg.ConfigurableResource):
    """Cohort dates and windows (defaults: Oxfordshire FSP). Their meaning: docs/methods.md."""

    def config(self) -> StudyConfig:
        """The :class:`StudyConfig` these settings describe (validated by its ``__post_init__``)."""
        return StudyConfig(**{name: _from_config(_HINTS[name], getattr(self, name)) for name in _FIELDS})


StudySettings = pydantic.create_model(
    "StudySettings",
    __base__=_StudySettingsBase,
    __module__=__name__,
    __doc__=_StudySettingsBase.__doc__,
    **{
        name: (_config_type(_HINTS[name]),
               pydantic.Field(default=_to_config(getattr(_DEFAULT, name)), description=_DOCS.get(name)))
        for name in _FIELDS
    },
)
