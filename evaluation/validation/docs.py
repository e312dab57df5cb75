"""The validation docs analysts open inside the secure environment: our own static HTML pages.

Great Expectations' Data Docs site builds its index with JavaScript from public CDNs and asks
third-party servers for a logo; inside a secure environment with no internet it shows no list at
all, and a page for reviewing personal data must not call out anyway. So the pipeline does not
build GX's site: it renders each stored GX validation result into one page of its own, from the
Jinja2 templates next to this module, and an index of every council × table × run.

Every page is one self-contained file: inline CSS, no JavaScript, no font, image or any other
resource, and a Content-Security-Policy that forbids the browser to fetch one. Pages show counts
only — the expectation, its parameters (code lists, patterns, thresholds: configuration, never
data) and how many values it found unexpected — never an observed or row value.

Layout of the docs folder::

    index.html                          per council: the latest validation of each table, then
                                        every run (newest first) with all its validations
    runs/<run name>/<suite>--<time>.html  one page per validation result
    runs/<run name>/<suite>--<time>.json  that page's counts-only summary (what the index lists)

A run is named ``<council>_<extract date>_<Dagster run id>`` (see :func:`run_name`).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
INDEX = "index.html"
RUNS = "runs"

#: Result keys that are counts and may be shown; everything else GX returns is dropped.
COUNT_KEYS = ("element_count", "unexpected_count", "missing_count", "unexpected_percent")
#: Expectation arguments that are plumbing, not what the expectation asks.
_PLUMBING = {"batch_id", "result_format", "catch_exceptions", "include_config", "meta"}
#: Folders and files of GX's own Data Docs site, removed from the docs folder when found there.
GX_SITE_LEFTOVERS = ("static", "validations", "expectations")
#: Severity order, worst first (Dagster's names: ERROR blocks downstream assets, WARN does not).
SEVERITIES = ("ERROR", "WARN")

#: The process's umask, so pages get the permissions any file written here would (not mkstemp's 0600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

_RUN_NAME = re.compile(r"^(?P<council>[^_]+)_(?P<extract>\d{4}-\d{2}-\d{2}|unknown)_(?P<run>.+)$")
_UNSAFE = re.compile(r"[^0-9A-Za-z._-]+")


def run_name(council: str | None, extract_date: object, dagster_run_id: str | None) -> str:
    """The GX run name of one check run: ``<council>_<extract date>_<Dagster run id>``."""
    extract = str(extract_date)[:10] if extract_date not in (None, "") else "unknown"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", extract):
        extract = "unknown"
    council = _UNSAFE.sub("-", str(council or "all")).strip("-") or "all"
    return f"{council}_{extract}_{_UNSAFE.sub('-', str(dagster_run_id or 'adhoc'))}"


@dataclass(frozen=True)
class RunLabel:
    council: str
    extract_date: str
    dagster_run: str

    @classmethod
    def parse(cls, name: str | None) -> "RunLabel":
        match = _RUN_NAME.match(name or "")
        if match is None:
            return cls("unknown", "unknown", name or "unnamed")
        return cls(match["council"], match["extract"], match["run"])


def _when(value: str) -> str:
    try:
        return datetime.fromisoformat(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return str(value or "")


@functools.lru_cache(maxsize=None)
def _environment() -> Environment:
    """The Jinja2 environment, made once per process (it compiles each template once)."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES),
                              autoescape=select_autoescape(["html", "j2"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["when"] = _when
    return environment


def _parameter_text(value: object, limit: int = 160) -> str:
    if isinstance(value, (list, tuple, set)):
        items = [str(v) for v in value]
        text = ", ".join(items[:12]) + (f", … ({len(items) - 12} more)" if len(items) > 12 else "")
        text = f"[{text}]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value: object) -> float | int | None:
    """A count as a plain Python number (NumPy scalars included); None for anything else or NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    return str(value or "")


def page_summary(result, run_label: RunLabel, run_time: object, page: str) -> tuple[dict, list[dict]]:
    """Counts-only summary of one GX validation result, and its expectations' rows."""
    suite = result.suite_name
    expectations: list[dict] = []
    for item in result.results:
        config = item.expectation_config
        meta = config.meta or {}
        raw = item.result or {}
        raised = bool((item.exception_info or {}).get("raised_exception"))
        counts = {k: _number(raw.get(k)) for k in COUNT_KEYS}
        kwargs = config.kwargs or {}
        columns = kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or ""
        parameters = {k: _parameter_text(v) for k, v in sorted(kwargs.items())
                      if k not in _PLUMBING and k not in ("column", "column_list") and v is not None}
        expectations.append({
            "check": str(meta.get("check") or suite), "severity": str(meta.get("severity") or ""),
            "expectation": config.type, "column": str(columns),
            "parameters": parameters, "success": bool(item.success) and not raised,
            "not_evaluated": raised, **counts,
        })
    checks: dict[str, dict] = {}
    for e in expectations:
        check = checks.setdefault(e["check"], {"name": e["check"], "severity": e["severity"],
                                               "expectations": 0, "failed": 0, "unexpected": 0})
        check["expectations"] += 1
        check["failed"] += 0 if e["success"] else 1
        check["unexpected"] += int(e["unexpected_count"] or 0)
    for check in checks.values():
        check["success"] = check["failed"] == 0
    failing = [c["severity"] for c in checks.values() if not c["success"]]
    worst = next((s for s in SEVERITIES if s in failing), failing[0] if failing else "")
    rows = [e["element_count"] for e in expectations if e["element_count"] is not None]
    summary = {
        "suite": suite, "table": suite.replace("__", "/"),
        "council": run_label.council, "extract_date": run_label.extract_date,
        "dagster_run": run_label.dagster_run, "run_time": _iso(run_time),
        "success": all(e["success"] for e in expectations),
        "rows": int(max(rows)) if rows else None,
        "expectations": len(expectations), "failed": sum(not e["success"] for e in expectations),
        "unexpected": sum(int(e["unexpected_count"] or 0) for e in expectations),
        "severity": worst, "checks": list(checks.values()), "page": page,
    }
    return summary, expectations


def page_path(run: str | None, suite: str, run_time: object) -> str:
    """Where one validation's page goes, relative to the docs folder (POSIX separators)."""
    stamp = _iso(run_time)
    try:
        stamp = datetime.fromisoformat(stamp).strftime("%Y%m%dT%H%M%S%fZ")
    except ValueError:
        stamp = _UNSAFE.sub("-", stamp) or "undated"
    return f"{RUNS}/{_UNSAFE.sub('-', run or 'unnamed')}/{_UNSAFE.sub('-', suite)}--{stamp}.html"


def _write(path: Path, text: str) -> None:
    """Write atomically, so a reader (or another process) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _folder_lock(docs_dir: Path):
    """Serialise index rebuilds across processes (parallel LA runs share the docs folder)."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover — not POSIX: rebuilds may race, the next one repairs
        yield
        return
    with open(docs_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_page(docs_dir: str | os.PathLike, result, run_time: object = None) -> Path:
    """Render one GX validation result (``ExpectationSuiteValidationResult``) to its page."""
    docs_dir = Path(docs_dir)
    run_id = (result.meta or {}).get("run_id") or {}
    if not isinstance(run_id, Mapping):  # a RunIdentifier
        run_id = {"run_name": run_id.run_name, "run_time": run_id.run_time}
    name = run_id.get("run_name")
    run_time = run_time or run_id.get("run_time") or (result.meta or {}).get("validation_time")
    relative = page_path(name, result.suite_name, run_time)
    summary, expectations = page_summary(result, RunLabel.parse(name), run_time, relative)
    depth = relative.count("/")
    html = _environment().get_template("validation.html.j2").render(
        v=summary, expectations=expectations, index="../" * depth + INDEX)
    page = docs_dir / relative
    _write(page, html)
    _write(page.with_suffix(".json"), json.dumps(summary, indent=1, sort_keys=True))
    return page


#: Page summaries already read by this process: path -> (modification time, size, summary).
_read: dict[Path, tuple[int, int, dict]] = {}


def _summaries(docs_dir: Path) -> list[dict]:
    """Every page's summary; a file read before and unchanged since (time and size) is not read again,
    so rebuilding the index after each table costs a folder listing, not every page ever written."""
    found = []
    for path in sorted((docs_dir / RUNS).glob("*/*.json")):
        try:
            stat = path.stat()
            cached = _read.get(path)
            if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
                found.append(cached[2])
                continue
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced by another process: the next rebuild lists it
        _read[path] = (stat.st_mtime_ns, stat.st_size, summary)
        found.append(summary)
    return found


def warm(docs_dir: Path) -> None:
    """Compile the page templates and read the pages' summaries now, once: the executor's fork
    server opens the validation project (``assets/preload.py``), so every check step forked from it
    starts with both (compiling the two templates alone cost each step ~25 ms of CPU)."""
    environment = _environment()
    for template in ("validation.html.j2", "index.html.j2"):
        environment.get_template(template)
    _summaries(docs_dir)


def _runs(summaries: Iterable[dict]) -> list[dict]:
    """Summaries grouped by council, then run (newest first), then table."""
    councils: dict[str, dict[str, dict]] = {}
    for s in summaries:
        runs = councils.setdefault(s["council"], {})
        run = runs.setdefault(s["dagster_run"], {"council": s["council"], "dagster_run": s["dagster_run"],
                                                  "extract_date": s["extract_date"], "started": s["run_time"],
                                                  "validations": []})
        run["started"] = min(run["started"], s["run_time"])
        run["validations"].append(s)
    grouped = []
    for council in sorted(councils):
        runs = sorted(councils[council].values(), key=lambda r: r["started"], reverse=True)
        for run in runs:
            run["validations"].sort(key=lambda s: (s["table"], s["run_time"]))
            run["failed"] = sum(not s["success"] for s in run["validations"])
        latest: dict[str, dict] = {}
        for run in runs:  # newest run first: the first validation of a table seen is its latest
            for s in sorted(run["validations"], key=lambda s: s["run_time"], reverse=True):
                latest.setdefault(s["table"], s)
        grouped.append({"council": council, "runs": runs,
                        "latest": [latest[t] for t in sorted(latest)]})
    return grouped


def write_index(docs_dir: str | os.PathLike) -> Path:
    """Rebuild ``index.html`` from every page's summary in the docs folder."""
    docs_dir = Path(docs_dir)
    with _folder_lock(docs_dir):
        summaries = _summaries(docs_dir)
        councils = _runs(summaries)
        latest = [s for c in councils for s in c["latest"]]
        html = _environment().get_template("index.html.j2").render(
            councils=councils, total=len(summaries), latest=len(latest),
            failed=sum(not s["success"] for s in latest),
            blocking=sum(not s["success"] and s["severity"] == "ERROR" for s in latest))
        index = docs_dir / INDEX
        _write(index, html)
    return index


def remove_gx_site(docs_dir: str | os.PathLike) -> None:
    """Delete what an earlier version's GX Data Docs site left in the docs folder (CDN pages)."""
    import shutil

    docs_dir = Path(docs_dir)
    for name in GX_SITE_LEFTOVERS:
        target = docs_dir / name
        if target.is_dir():
            shutil.rmtree(target)
