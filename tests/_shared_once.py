"""Test resources built once per test session, also across pytest-xdist's worker processes.

For conftest.py's session fixtures (the small county, its ``make run``) and for resources that
several test files use (so, with ``--dist loadfile``, possibly in both workers): the first
worker to ask builds it under a file lock in the folder every worker of the run shares and leaves
it pickled there; every caller, that worker included, gets its own copy loaded from the pickle.
Outside xdist the session's own temporary folder plays that part. Files a resource wrote are
shared by every worker: read them, never change them.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable


def once_across_workers(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> Any:
    """``build(folder)`` once per test session (``folder`` a fresh folder named ``name``); each
    call returns a copy of its result (unpickled)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base if os.environ.get("PYTEST_XDIST_WORKER") is None else base.parent
    with FileLock(str(shared / f"{name}.lock")):
        record = shared / f"{name}.pickle"
        if record.exists():
            return pickle.loads(record.read_bytes())
        folder = shared / name
        if folder.exists():         # a worker that died while building it left it half written
            shutil.rmtree(folder)
        folder.mkdir()
        data = pickle.dumps(build(folder))
        record.write_bytes(data)
        return pickle.loads(data)


def small_county_door(tmp_path_factory, small_county: Path, la_code: str) -> dict:
    """The door's tables of one council of the shared small county (conftest's ``small_county``),
    read with the demo key (the county carries the synthetic marker): the ingest runs once per
    test session; each call gets its own copy of the tables."""
    def ingest(_folder: Path) -> dict:
        from evaluation.ingest import ingest_local_authority
        from evaluation.pseudonymise import DEMO_KEY, load_key

        return ingest_local_authority(small_county / la_code, load_key(DEMO_KEY))

    return once_across_workers(tmp_path_factory, f"small_county_door_{la_code}", ingest)
