"""A second process that reads some of a council's CIN census files while the door reads the rest.

The CIN census files are most of the door's work (parsing, checking and pseudonymising each one
on its own), and the door runs alone, so on two cores a second Python process reads every other
file while this one reads the rest, then the SSDA903 returns and the family table. Each file is
read by the same function either way (:func:`~evaluation.ingest.cin_census.read_cin_census`),
so the extracts, and every table of the door, are the same.

Raw values stay in memory: the key's secret, the council and the file paths go to the second
process on its standard input, and its pseudonymised extracts come back on its standard output;
nothing is written to disk, and the second process ends when it has answered. It answers, per
file, the extract or the message of the :class:`~evaluation.ingest.errors.InputError` the file
raised (messages never quote a value); a file it failed on for any other reason is read again
here, so that the same exception is raised here.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from evaluation.ingest.errors import InputError
from evaluation.pseudonymise import PseudonymisationKey

#: How many processes read a council's CIN census files (``1``: this one alone). Unset: two when
#: this process may run on two CPUs or more.
DOOR_PROCESSES = "FSP_DOOR_PROCESSES"
#: Fewer bytes of CIN census than this are read here alone: starting a process costs ~0.6 s.
MIN_CIN_BYTES = 16_000_000

_ENTRY = "from evaluation.ingest.second_process import _serve; _serve()"


def door_processes() -> int:
    """Processes to read with: :data:`DOOR_PROCESSES`, else two if two CPUs are ours, else one."""
    value = os.environ.get(DOOR_PROCESSES, "").strip()
    if value:
        return max(1, int(value))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cpus >= 2 else 1


def _serve() -> None:
    """The second process: read the files asked for on stdin, answer on stdout (both pickles)."""
    from evaluation.ingest.cin_census import read_cin_census

    secret, council, la_code, national_upn_link, paths = pickle.load(sys.stdin.buffer)
    key = PseudonymisationKey(secret, council).remembering()
    answers = {}
    for path in paths:
        try:
            answers[path] = ("extract", read_cin_census(Path(path), key, la_code, national_upn_link))
        except InputError as error:
            answers[path] = ("input error", str(error))
        except Exception:  # read again by the door, which raises it itself
            answers[path] = ("failed", None)
    pickle.dump(answers, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


class SecondReader:
    """CIN census files being read by a second process (:meth:`start`); :meth:`answers` waits."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self._process: subprocess.Popen | None = None

    @classmethod
    def start(cls, cin_files: list[Path], key: PseudonymisationKey, la_code: str,
              national_upn_link: bool) -> "SecondReader":
        """Hand every other file (the first, third, ...: the larger half, since this process then
        reads the SSDA903 returns and the family table too) to a new process, if that pays."""
        try:
            size = sum(Path(path).stat().st_size for path in cin_files)
        except OSError:
            size = 0  # the door itself says which file cannot be read
        if door_processes() < 2 or len(cin_files) < 2 or size < MIN_CIN_BYTES:
            return cls([])
        reader = cls([Path(path) for path in cin_files[::2]])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        reader._process = subprocess.Popen([sys.executable, "-c", _ENTRY], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        request = (key.secret, key.council, la_code, national_upn_link, [str(p) for p in reader.paths])
        try:
            with reader._process.stdin as handle:
                pickle.dump(request, handle, protocol=pickle.HIGHEST_PROTOCOL)
            reader._process.stdin = None   # sent and closed: communicate() only reads
        except OSError:   # it did not start: this process reads everything
            reader.close()
            return cls([])
        return reader

    def answers(self) -> dict[Path, tuple[str, object]]:
        """Per file handed over: ``("extract", Extract)`` or ``("input error", message)``; files the
        second process could not answer for are left out (the door reads them itself)."""
        if self._process is None:
            return {}
        out, _ = self._process.communicate()
        ok = self._process.returncode == 0
        self._process = None
        if not ok:
            return {}
        try:
            answers = pickle.loads(out)
        except Exception:
            return {}
        return {Path(path): answer for path, answer in answers.items() if answer[0] != "failed"}

    def close(self) -> None:
        """Stop the second process if it is still reading (the door failed first)."""
        if self._process is not None:
            self._process.kill()
            self._process.communicate()
            self._process = None
