"""The README and docs/ say only what the project has: pages they link exist, the Make targets and
``FSP_*`` settings they name are in the Makefile or the code, files they name are in the tree, and
the README stays short and free of measured timings (those belong in benchmark docstrings)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Every page a reader is sent to: the README, docs/, and the READMEs of outputs/ and deploy/.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "outputs" / "README.md",
         ROOT / "deploy" / "README.md"]
#: Where a setting or a file named in the docs may live (not tests, not the docs themselves).
CODE_DIRS = ("assets", "checks", "evaluation", "benchmarks", "notebooks", "deploy")
#: Generated or installed folders at the root (``data/`` holds the generated synthetic county).
ROOT_SKIP = {".git", ".venv", ".dagster_home", "data", "node_modules"}
MAX_README_LINES = 150

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MAKE = re.compile(r"(?:^|[\s;(])make ([a-z][a-z0-9_-]*)")
SETTING = re.compile(r"\bFSP_[A-Z0-9_]*[A-Z0-9]\b")
#: A repository file named in backticks: a relative path with a known extension, no placeholder.
FILE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*/[A-Za-z0-9_.-]+\.(?:py|md|yaml|yml|R|toml|lock|xsd|j2)$")


def _pages():
    return [page for page in PAGES if page.exists()]


def _code_spans(text: str) -> list[str]:
    """Fenced blocks and inline code spans: where commands and file names are written."""
    spans = [block for block in FENCE.findall(text)]
    spans += INLINE_CODE.findall(FENCE.sub("", text))
    return spans


def _code_files() -> list[Path]:
    files = [ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "workspace.yaml"]
    for directory in CODE_DIRS:
        for base, dirs, names in os.walk(ROOT / directory):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [Path(base) / n for n in names
                      if n.endswith((".py", ".yaml", ".yml", ".toml", ".cfg")) or n == "Dockerfile"]
    return files


def _tree() -> set[str]:
    """Every file of the working tree, as a path relative to the root."""
    out = set()
    for base, dirs, names in os.walk(ROOT):
        rel = Path(base).relative_to(ROOT)
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")
                   and not (rel == Path(".") and d in ROOT_SKIP)]
        out.update((rel / n).as_posix() for n in names)
    return out


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.*)$", text, re.M)}


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*:(?!=)", text, re.M))


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move detail into docs/")


def test_readme_carries_no_measured_timings():
    text = README.read_text(encoding="utf-8")
    timings = re.findall(r"\b\d+(?:\.\d+)?\s?(?:s|sec|seconds|min|minutes|h|hours)\b", text)
    assert not timings, f"README.md quotes measured times {timings}: they belong in benchmarks/"
    assert not re.search(r"\bmeasured\s+(?:on\s+)?\d{4}-\d{2}-\d{2}", text, re.I)


def test_readme_links_the_docs_pages():
    text = README.read_text(encoding="utf-8")
    linked = {Path(target.split("#")[0]).name for target in LINK.findall(text)
              if target.startswith("docs/")}
    pages = {page.name for page in (ROOT / "docs").glob("*.md")}
    assert linked, "README.md links no page of docs/"
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    missing = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):  # http(s):, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            missing.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            missing.append(target)
    assert not missing, f"{page.name} links what does not exist: {missing}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_make_targets_named_exist(page):
    targets = _make_targets()
    assert {"run", "test"} <= targets
    named = {m for span in _code_spans(page.read_text(encoding="utf-8")) for m in MAKE.findall(span)}
    assert named <= targets, f"{page.name} names Make targets the Makefile lacks: {sorted(named - targets)}"


def test_settings_named_exist_in_the_code():
    code = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in _code_files())
    known = set(SETTING.findall(code))
    for page in _pages():
        named = set(SETTING.findall(page.read_text(encoding="utf-8")))
        assert named <= known, (
            f"{page.name} names settings no code reads: {sorted(named - known)}")


def test_every_setting_the_code_reads_is_documented():
    code = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in _code_files())
    documented = {name for page in _pages() for name in SETTING.findall(page.read_text(encoding="utf-8"))}
    undocumented = set(SETTING.findall(code)) - documented
    assert not undocumented, f"settings the code reads that no page documents: {sorted(undocumented)}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_files_named_exist(page):
    """A file named in backticks is in the tree (a path relative to the root, or, for a page about
    one package, the end of a path in the tree)."""
    tree = _tree()
    named = {span.strip() for span in INLINE_CODE.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}
    missing = []
    for name in sorted(n for n in named if FILE.match(n)):
        # a collection year written as YYYY stands for any year
        pattern = re.compile(r"(?:^|.*/)" + re.escape(name).replace("YYYY", r"\d{4}") + "$")
        if not any(pattern.match(path) for path in tree):
            missing.append(name)
    assert not missing, f"{page.name} names files that are not in the tree: {missing}"


#: Asset groups built per council: the README lists the checks on their tables.
COUNCIL_GROUPS = ("pseudonymised", "spells", "cohorts")


def test_every_asset_check_is_documented_with_its_severity():
    """docs/checks.md's table names exactly the project's asset checks, and the README's two lists
    exactly those on a council's tables, each as blocking (ERROR) or warning (WARN) as the code
    defines it."""
    from checks import ALL_CHECKS

    flags: dict[str, set[bool]] = {}
    council: set[str] = set()
    for definition in ALL_CHECKS:
        for spec in definition.check_specs:
            flags.setdefault(spec.name, set()).add(spec.blocking)
            if spec.asset_key.path[0] in COUNCIL_GROUPS:
                council.add(spec.name)
    assert all(len(f) == 1 for f in flags.values()), f"a check name with two severities: {flags}"
    expected = {name: "ERROR" if True in f else "WARN" for name, f in flags.items()}
    table = dict(re.findall(r"^\| `(\w+)` \|[^|\n]*\| (ERROR|WARN) \|",
                            (ROOT / "docs" / "checks.md").read_text(encoding="utf-8"), re.M))
    assert table == expected, "docs/checks.md's table differs from the checks in checks/"
    readme = README.read_text(encoding="utf-8")
    lists = re.search(r"^- \*\*blocking\*\*(.*?)^- \*\*warning\*\*(.*?)(?:\n\n)", readme, re.M | re.S)
    assert lists, "README.md lists the blocking and the warning checks"
    assert set(INLINE_CODE.findall(lists.group(1))) == {n for n in council if expected[n] == "ERROR"}
    assert set(INLINE_CODE.findall(lists.group(2))) == {n for n in council if expected[n] == "WARN"}


def test_every_asset_group_and_per_council_asset_is_documented():
    """docs/operations.md names every asset group, and every asset built per council and the
    release by name; the README names every group."""
    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    named = set(INLINE_CODE.findall(operations))
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.path[-1])
    for group, assets in groups.items():
        assert f"| `{group}` |" in operations, f"docs/operations.md lacks the asset group {group}"
        assert f"`{group}`" in readme, f"README.md does not name the asset group {group}"
        if group in (*COUNCIL_GROUPS, "release"):
            assert assets <= named, f"docs/operations.md lacks {sorted(assets - named)} of {group}"


def test_the_checks_work():
    """The scanners find what they must (a test of the tests): a link, a target, a setting."""
    text = "see [a](docs/x.md#b) and `make run`\n```\nexport FSP_INPUT_DIR=/x\nmake ui\n```\n"
    assert LINK.findall(text) == ["docs/x.md#b"]
    assert {m for s in _code_spans(text) for m in MAKE.findall(s)} == {"run", "ui"}
    assert SETTING.findall(text) == ["FSP_INPUT_DIR"]
    assert _slug("The demo key") == "the-demo-key" and _slug("`km_<outcome>`") == "km_outcome"
    assert FILE.match("evaluation/ingest/assemble.py") and not FILE.match("tests/reference/<x>/")
