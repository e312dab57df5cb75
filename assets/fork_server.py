"""The executor's fork server: the one process every step process (and ``make run``'s runs side
by side) is forked from, after it has imported the heavy libraries and the pipeline once.

No Dagster import here: ``make run`` starts the server before it imports Dagster itself, so the
server's imports (~10 s of CPU on a slow two-core machine; Great Expectations alone ~4 s) begin
as soon as the environment is final instead of after the run process's own imports.
"""

from __future__ import annotations

#: Imported once by the executor's fork server: the libraries, then the pipeline's definitions and
#: validation project (``assets/preload.py``), built from the run process's environment. The
#: executor's own module first, as Dagster's multiprocess executor lists it: the same list whether
#: the server is started by the executor or by ``make run`` (:func:`fork_server_context`).
PRELOADED = ["dagster._core.executor.multiprocess", "dagster", "pandas", "numpy", "scipy",
             "statsmodels.api", "great_expectations", "duckdb", "dagster_duckdb_pandas", "matplotlib",
             "lifelines",
             # The instance's storage, which every step opens and Dagster imports lazily: without
             # these each step spent ~0.6 s importing them (py-spy, default county).
             "dagster._core.storage.base_storage", "dagster._core.storage.sqlite_storage",
             "dagster._core.storage.local_compute_log_manager", "dagster._core.secrets.env_file",
             "assets.preload"]


def fork_server_context():
    """Python's ``forkserver`` context with the executor's preload list, its server started (if
    it is not running yet): processes started from it (``make run``'s runs side by side) and every
    step process of the multiprocess executor fork from one server that imported
    :data:`PRELOADED` once. Call it once the environment (and the umask) is final: the server
    keeps the one it starts with."""
    import multiprocessing
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    forkserver.ensure_running()
    return context
