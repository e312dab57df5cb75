"""Errors shared across the library (a leaf module: it imports nothing from this project).

:class:`NotEstimable` is the one error that means "these data cannot support
this estimate" (too few events, no variation, an empty group, a singular
information matrix, a fit that did not converge). Estimators raise it where
they detect such data, with a message in our own plain words: the message is
released (``evaluation.analysis.guard`` turns it into a "not estimable" row),
so it names what the data lack, never a library's internals. Every other error
is a bug or bad input and must raise.
"""

from __future__ import annotations

from contextlib import contextmanager


class NotEstimable(ValueError):
    """The data cannot support this estimate; the message says why, in plain words fit to release."""


#: Released wording for a library's failure on these data (see :func:`estimable`).
NOT_CONVERGED = "not fitted: the model did not converge"
SINGULAR = "not fitted: the model could not be solved (a covariate has no variation or duplicates another)"

#: A library's ``ValueError`` texts that mean "no solution for these data" (statsmodels' IRLS
#: starting from a NaN deviance); any other ``ValueError`` is a bug and raises as it is.
_NO_SOLUTION_TEXTS = ("deviance function returned a nan",)


@contextmanager
def estimable(*convergence_errors: type[BaseException]):
    """Turn a library's failure on these data into :class:`NotEstimable`, in our own words.

    numpy's ``LinAlgError`` (a singular or non-finite matrix) becomes
    :data:`SINGULAR`; any of ``convergence_errors`` (e.g. statsmodels'
    ``PerfectSeparationError``) and statsmodels' NaN-deviance ``ValueError``
    become :data:`NOT_CONVERGED`. The library's own error is chained
    (``__cause__``) for the log. Anything else passes through unchanged.
    """
    import numpy as np

    try:
        yield
    except NotEstimable:
        raise
    except np.linalg.LinAlgError as error:
        raise NotEstimable(SINGULAR) from error
    except convergence_errors as error:
        raise NotEstimable(NOT_CONVERGED) from error
    except ValueError as error:
        if any(text in str(error).lower() for text in _NO_SOLUTION_TEXTS):
            raise NotEstimable(NOT_CONVERGED) from error
        raise
