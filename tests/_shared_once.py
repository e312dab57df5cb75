"""A test resource built once per test session, also across pytest-xdist's worker processes.

The same idea as ``_once`` in conftest.py (which is for the session fixtures there), for resources
of test modules that several test files use (so, with ``--dist loadfile``, possibly in both
workers): the first worker to ask builds it under a file lock in the folder every worker of the
run shares and leaves it pickled there; the others load it. Outside xdist it is built in the
session's own temporary folder. Use the result read-only: every worker sees the same files.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable


def once_across_workers(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> Any:
    """``build(folder)`` once per test session (a fresh ``folder`` named ``name``); its result
    is pickled for the other workers of the run."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = base.parent
    with FileLock(str(shared / f"{name}.lock")):
        record = shared / f"{name}.pickle"
        if record.exists():
            return pickle.loads(record.read_bytes())
        folder = shared / name
        if folder.exists():         # a worker that died while building it left it half written
            shutil.rmtree(folder)
        folder.mkdir()
        value = build(folder)
        record.write_bytes(pickle.dumps(value))
        return value
