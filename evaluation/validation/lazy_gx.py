"""Great Expectations, imported where a suite is built or run, not where the pipeline is defined.

Importing ``great_expectations`` costs about 1.5 s of CPU. The modules that name expectations
(``evaluation.validation.suites``, ``evaluation.comparison.validation``) and run them
(``evaluation.validation.engine``) are imported with the pipeline's definitions, by every process
that loads them: each ``make run``, each test worker, the UI's code server; only check steps use
GX. So those modules take it from here: :func:`gx_package` imports it when called, and :data:`E`
stands for ``great_expectations.expectations``, imported at the first expectation made. The
executor's fork server still imports GX once for every step it forks (``assets/jobs.py``).
"""

from __future__ import annotations

import os

# No usage statistics sent anywhere: set before GX is first imported, wherever that happens.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def gx_package():
    """The ``great_expectations`` package (imported on the first call)."""
    import great_expectations

    return great_expectations


class _Expectations:
    """``great_expectations.expectations``, imported when one of its names is first read
    (``E.ExpectColumnValuesToBeInSet(...)``); each name read is kept on the object."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        import great_expectations.expectations as expectations

        value = getattr(expectations, name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return "<great_expectations.expectations, imported on first use>"


#: ``great_expectations.expectations``, imported on first use.
E = _Expectations()
