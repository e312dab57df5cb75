"""Imported once by the executor's fork server (``assets/fork_server.py``): the project's
definitions and the validation project, built from this process's environment, so that every step
forked from the server starts with both ready rather than building them again (a Great
Expectations project takes about a second to open). One process runs one configuration:
``make run`` and every run the UI launches are processes of their own.

The modules the steps import in their bodies are imported here too: the definitions name the
estimators, the comparison areas' fits and the release without importing them (so that loading
the definitions stays cheap in ``make run``'s own process, each test worker and the UI's code
server), and each step process would otherwise import its own (SciPy's stats, statsmodels'
formulas, pysyncon, differences, the report: up to a few seconds per step).

The jobs are resolved here too (``Definitions.resolve_job_def`` keeps what it resolves): each step
process rebuilds its job from :mod:`assets.definitions` before it starts, which cost ~25 ms of
CPU per step when every step resolved the repository and its job again.

Steps already run side by side (``FSP_MAX_CONCURRENT``, by default one per core), so each step's
BLAS gets the cores left per step (one on a machine that runs a step per core): BLAS threads
spinning beside other steps cost more than they gave (a Cox information matrix, 64 ms of CPU
with threads against 5.5 ms without, on two cores).

Last, everything imported so far is frozen out of the garbage collector (``gc.freeze``, as
Python's documentation advises before forking): a forked process's collections no longer walk
the millions of objects the libraries made, nor write to their pages, which stay shared with the
server. They are given back to the collector when the server itself exits (an object frozen
then is never freed, and DuckDB's bindings report each one as leaked); ``make run`` stops the
server instead once its runs have ended (``assets.run.exit_now``)."""

import atexit
import gc
import os

from threadpoolctl import threadpool_limits

import checks.summary  # noqa: F401
import evaluation.analysis.across_councils  # noqa: F401
import evaluation.analysis.competing_exits  # noqa: F401
import evaluation.analysis.states  # noqa: F401
import evaluation.analysis.survival_outcomes  # noqa: F401
import evaluation.analysis.time_series  # noqa: F401
import evaluation.comparison.staggered  # noqa: F401
import evaluation.comparison.synthetic  # noqa: F401
import evaluation.disclosure.provenance  # noqa: F401
import evaluation.report.assemble  # noqa: F401
import evaluation.report.history  # noqa: F401
import evaluation.report.predrawn  # noqa: F401
import evaluation.report.release  # noqa: F401
import evaluation.report.sections  # noqa: F401
import evaluation.validation  # noqa: F401
from assets.definitions import build_resources, defs
from assets.jobs import JOBS, max_concurrent

threadpool_limits(limits=max(1, (os.cpu_count() or 1) // max_concurrent()), user_api="blas")
build_resources()["validation"].context()
for job in JOBS:
    defs.resolve_job_def(job.name)
gc.freeze()
atexit.register(gc.unfreeze)
