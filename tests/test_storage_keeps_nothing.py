"""The DuckDB IO manager keeps nothing of a stored table after the step: not the frame, not the
connection it was written through (assets/storage.py).

Dagster builds a ``@record`` class's constructor the first time one is made in a process and keeps
the caller's local variables with it for the life of the process. When the first ``TableSchema``
was made by dagster-duckdb-pandas while storing a table, the stored frame and its DuckDB
connection stayed alive until the interpreter ended, where DuckDB's bindings reported the
connection as leaked (``nanobind: leaked 28 instances!`` at the end of ``make test``). It takes
a fresh process: only the first ``TableSchema`` of a process does it. The in-memory instances the
IO manager keeps (``_KeptInstances``) are closed and dropped at exit: one still open then was
reported the same way.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from assets.storage import _KeptInstances

SCRIPT = textwrap.dedent("""
    import gc, json, sys, weakref
    import dagster as dg
    import pandas as pd
    from assets.storage import io_manager_from_env

    stored = []

    @dg.asset
    def table():
        frame = pd.DataFrame({"a": list(range(1000))})
        stored.append(weakref.ref(frame))
        return frame

    result = dg.materialize([table], resources={"io_manager": io_manager_from_env(database=sys.argv[1])})
    success = result.success
    del result   # which keeps the step's outputs
    gc.collect()
    held = [type(value).__name__ for obj in gc.get_objects()
            if type(obj).__name__ == "function" and obj.__name__ == "__checked_new__"
            for value in obj.__globals__.values()
            if type(value).__name__ in ("DataFrame", "DuckDBPyConnection")]
    print(json.dumps({"success": success, "frame_alive": stored[0]() is not None,
                      "held_by_dagster_records": held}))
""")


def test_a_stored_frame_and_its_connection_are_not_kept(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "t.duckdb")],
                          cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"success": True, "frame_alive": False, "held_by_dagster_records": []}, outcome
    assert "leaked" not in done.stderr


def test_the_kept_instances_are_closed_and_let_go(tmp_path):
    """What assets.storage runs at exit: each kept in-memory DuckDB instance closed and dropped."""
    kept = _KeptInstances()
    lease = kept.lease(str(tmp_path / "t.duckdb"), False, {})
    lease.connection.execute("create table t as select 1 as a")
    lease.close()
    (instance,) = kept.instances.values()
    kept.close()
    assert kept.instances == {}
    with pytest.raises(duckdb.ConnectionException):
        instance.base.execute("select 1")
