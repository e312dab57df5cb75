"""The output-checking log: every released file, the checks it passed, its checksum.

An output checker in a trusted research environment reviews each file before
it leaves. :class:`OutputLog` records, for every released file, its path,
the disclosure checks applied with their outcome, an overall status
(``pass`` / ``review`` / ``fail``) and its SHA-256, and writes them as a
``results.json`` session in the layout ACRO writes and SACRO-Viewer reads
(ACRO 1.0 format: ``version``, ``tool``, ``results`` keyed by output id, each
with ``uid, status, type, properties, files[{name, sdc}], outcome, command,
summary, timestamp, comments, exception``), plus ``checksums/<file>.txt`` and
``config.json`` beside it. The format is reproduced here so the pipeline does
not depend on the ``acro`` package; see :mod:`evaluation.disclosure.acro_tables`
for using ACRO itself on cross-tabulations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from evaluation.disclosure.config import DEFAULT, DisclosureConfig

#: Version of the ACRO results.json layout reproduced (SACRO-Viewer checks major.minor).
ACRO_FORMAT_VERSION = "1.0.2"
STATUSES = ("pass", "review", "fail")
#: Extensions never released (vector graphics keep exact coordinates; ACRO blocks these too).
BLOCKED_EXTENSIONS = (".svg", ".gph", ".eps", ".pdf")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def overall_status(checks: Mapping[str, str]) -> str:
    """``fail`` if any check failed, else ``review`` if any needs review, else ``pass``."""
    outcomes = set(checks.values())
    unknown = outcomes - set(STATUSES)
    if unknown:
        raise ValueError(f"check outcomes must be one of {STATUSES}, got {sorted(unknown)}")
    for status in ("fail", "review"):
        if status in outcomes:
            return status
    return "pass"


@dataclass
class OutputRecord:
    """One released file as the output checker sees it."""

    uid: str
    name: str                      # path relative to the log's directory, '/'-separated
    output_type: str               # "table", "figure", "report", "model", "custom"
    checks: dict[str, str]         # check name -> pass / review / fail
    status: str
    sha256: str
    summary: str = ""
    comments: list[str] = field(default_factory=list)
    exception: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    sdc: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    timestamp: str = field(default_factory=lambda: dt.datetime.now().isoformat())

    def as_acro(self) -> dict[str, Any]:
        """This record in ACRO's results.json layout."""
        return {
            "uid": self.uid,
            "status": self.status,
            "type": self.output_type,
            "properties": {**self.properties, "checks": self.checks, "sha256": self.sha256},
            "files": [{"name": self.name, "sdc": self.sdc, "sha256": self.sha256}],
            "outcome": self.outcome,
            "command": self.command,
            "summary": self.summary,
            "timestamp": self.timestamp,
            "comments": self.comments,
            "exception": self.exception,
            "fair": {},
        }


class OutputLog:
    """Records released files under ``directory`` and writes the checker's session.

    Files must already be inside ``directory`` (the release folder); their
    checksum is taken when added and verified again when the log is written.
    """

    def __init__(self, directory: str | Path, config: DisclosureConfig = DEFAULT):
        self.directory = Path(directory).resolve()
        self.config = config
        self.records: dict[str, OutputRecord] = {}
        #: Notes on the whole session for the checker (e.g. a run on the public demo key).
        self.session_notes: list[str] = []

    def _relative(self, path: str | Path) -> Path:
        path = Path(path)
        full = (path if path.is_absolute() else self.directory / path).resolve()
        try:
            full.relative_to(self.directory)
        except ValueError as exc:
            raise ValueError(f"{path} is not inside the release folder {self.directory}") from exc
        if not full.is_file():
            raise FileNotFoundError(full)
        return full

    def _uid(self, name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        uid, k = base, 1
        while uid in self.records:
            k += 1
            uid = f"{base}_{k}"
        return uid

    def add(
        self,
        path: str | Path,
        checks: Mapping[str, str],
        output_type: str = "custom",
        summary: str = "",
        comments: list[str] | tuple[str, ...] = (),
        exception: str = "",
        properties: Mapping[str, Any] | None = None,
        sdc: Mapping[str, Any] | None = None,
        outcome: Mapping[str, Any] | None = None,
        command: str = "",
    ) -> OutputRecord:
        """Record one released file with the checks applied to it (name -> pass/review/fail).

        A file whose ``properties["disclosure"]`` names a ``public_source`` (published aggregates)
        gets a ``PublishedAggregates`` check and a comment naming the source. A file with no checks
        is ``review``; a blocked format (SVG, PDF, …) is ``fail``, except a PDF
        with a passed ``RasterFiguresOnly`` check (the HTML report printed, its figures all PNG).
        """
        full = self._relative(path)
        name = full.relative_to(self.directory).as_posix()
        checks = dict(checks)
        # Published aggregates (e.g. DfE's LA statistics) need no suppression: the log names their source.
        public_source = dict((properties or {}).get("disclosure") or {}).get("public_source")
        if public_source:
            checks.setdefault("PublishedAggregates", "pass")
            comments = [*comments, f"public source: {public_source}"]
        # a PDF passes only as the print of an HTML report whose figures are all PNG (RasterFiguresOnly)
        if full.suffix.lower() in BLOCKED_EXTENSIONS and not (
                full.suffix.lower() == ".pdf" and checks.get("RasterFiguresOnly") == "pass"):
            checks["AllowedFileType"] = "fail"
        if not checks:
            checks["ManualReview"] = "review"
        status = overall_status(checks)
        record = OutputRecord(
            uid=self._uid(name), name=name, output_type=output_type, checks=checks,
            status=status, sha256=sha256_of(full),
            summary=summary or "; ".join(f"{k}: {v}" for k, v in checks.items()),
            comments=list(comments), exception=exception, properties=dict(properties or {}),
            sdc=dict(sdc or {}), outcome=dict(outcome or {}), command=command,
        )
        self.records[record.uid] = record
        return record

    def add_table(
        self,
        path: str | Path,
        table: pd.DataFrame,
        checks: Mapping[str, str] | None = None,
        summary: str = "",
        comments: list[str] | tuple[str, ...] = (),
    ) -> OutputRecord:
        """Write a released table as CSV at ``path`` and record it.

        The disclosure information that :func:`suppress_counts`,
        :func:`safe_curve` and :func:`safe_model_results` leave in
        ``table.attrs["disclosure"]`` becomes the record's SDC summary; a
        table without it goes to ``review``.
        """
        full = Path(path) if Path(path).is_absolute() else self.directory / path
        full.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(full, index=False)
        info = dict(table.attrs.get("disclosure", {}))
        if checks is None:
            checks = {"DisclosureControlApplied": "pass" if info else "review"}
        sdc: dict[str, Any] = {"summary": {}, "cells": {}}
        suppressed_rows = info.get("suppressed_rows", {})
        for column, rows in suppressed_rows.items():
            position = list(table.columns).index(column)
            sdc["cells"].setdefault("Suppressed", []).extend([[int(r), position] for r in rows])
        for key in ("primary", "secondary"):
            if key in info:
                sdc["summary"][f"{key}_suppressions"] = int(sum(info[key].values()))
        if "not_estimable_rows" in info:
            sdc["summary"]["not_estimable_rows"] = info["not_estimable_rows"]
        return self.add(full, checks, output_type="table", summary=summary, comments=comments,
                        properties={"disclosure": _jsonable(info)}, sdc=sdc)

    def statuses(self) -> dict[str, int]:
        """Number of records in each status."""
        counts = {s: 0 for s in STATUSES}
        for record in self.records.values():
            counts[record.status] += 1
        return counts

    def write(self) -> Path:
        """Write ``results.json``, ``config.json`` and ``checksums/``; return results.json's path.

        Raises if a recorded file changed after it was added.
        """
        for record in self.records.values():
            current = sha256_of(self.directory / record.name)
            if current != record.sha256:
                raise RuntimeError(f"{record.name} changed after it was logged")
            checksum = self.directory / "checksums" / f"{record.name}.txt"
            checksum.parent.mkdir(parents=True, exist_ok=True)
            checksum.write_text(record.sha256, encoding="utf-8")
        session = {
            "version": ACRO_FORMAT_VERSION,
            "tool": {"@type": "SoftwareApplication", "name": "fsp-evaluation OutputLog",
                     "format": f"ACRO {ACRO_FORMAT_VERSION} results.json"},
            "results": {uid: record.as_acro() for uid, record in self.records.items()},
        }
        if self.session_notes:
            session["session_notes"] = list(self.session_notes)
        results = self.directory / "results.json"
        results.write_text(json.dumps(session, indent=4), encoding="utf-8")
        (self.directory / "config.json").write_text(json.dumps({
            "safe_threshold": self.config.threshold,
            "safe_round_base": self.config.rounding_base,
            "zeros_are_disclosive": self.config.suppress_zeros,
            "survival_safe_threshold": self.config.min_at_risk,
            "min_denominator": self.config.min_denominator,
            "blocked_extensions": list(BLOCKED_EXTENSIONS),
            "disclosure_config": asdict(self.config),
        }, indent=4), encoding="utf-8")
        return results


def _jsonable(value: Any) -> Any:
    """Plain JSON types from numpy/pandas scalars inside nested containers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value
