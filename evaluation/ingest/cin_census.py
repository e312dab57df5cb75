"""Read Children in Need census XML files (DfE layout, collection years 2017–2026).

The file is STREAMED: ``lxml.etree.iterparse`` hands over one ``Child``
element at a time, which is flattened into plain tuples and then cleared, so a
large file never sits whole in memory. The parser is SAFE: no DTD is loaded,
no entity is expanded, no network is touched, and a file carrying a
``<!DOCTYPE`` (the only place entities can be declared) is rejected outright.

The collection year is read from ``Header/CollectionDetails/Year`` (not the
file name); codes are checked against that year's DfE schema
(:mod:`evaluation.codes.cin`). Sex: ``GenderCurrent`` 1/2/0/9 -> M/F/U/U up to
the 2024 schema, ``Sex`` M/F/U from 2025; the element of the other era in a
file is an unknown code for its year.

A council's files are read one after another and their records checked together
(:func:`read_cin_censuses`): ids are pseudonymised as soon as the last file has been
read; until then only the flattened records of this module (tuples, then compact text
frames) hold raw ``LAchildID`` and ``UPN`` values (the UPN only to give its
council-independent pseudonym, :func:`~evaluation.pseudonymise.upn_pseudonyms`), and
nothing leaves it before they are replaced. FormerUPN and the expected date of birth
are never read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from lxml import etree
from pandas.arrays import ArrowStringArray

from evaluation.codes import cin_code_list, cin_sex_element
from evaluation.codes.cin import CIN_YEARS
from evaluation.codes.groupings import reference_date_of
from evaluation.ingest import quarantine as q
from evaluation.ingest import values as v
from evaluation.ingest.errors import InputError
from evaluation.ingest.values import STRING
from evaluation.ingest.extract import Extract
from evaluation.pseudonymise import (
    ASSESSMENT, CHILD, CIN_EPISODE, PseudonymisationKey, derived_id, pseudonymise, upn_pseudonyms,
)
from evaluation.tables import copies_of_one

DATASET = "cin_census"
_SEX = {"GenderCurrent": {"1": "M", "2": "F", "0": "U", "9": "U"}, "Sex": {"M": "M", "F": "F", "U": "U"}}
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_PROLOG_BYTES = 1 << 16
#: Records held as Python tuples before they are turned into compact text frames (about a
#: default-county file's worth: a few files of a small council are framed at once).
_MAX_TUPLES_HELD = 50_000


@dataclass
class _Records:
    """Flattened records of the files read: the current file's as tuples (raw text only, in
    memory only), the earlier files' already as compact text frames."""

    children: list[tuple] = field(default_factory=list)
    episodes: list[tuple] = field(default_factory=list)
    assessments: list[tuple] = field(default_factory=list)
    factors: list[tuple] = field(default_factory=list)
    cin_plans: list[tuple] = field(default_factory=list)
    section47s: list[tuple] = field(default_factory=list)
    cp_plans: list[tuple] = field(default_factory=list)
    framed: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    rows_framed: dict[str, int] = field(default_factory=dict)

    def row(self, name: str) -> int:
        """Position, over every file read, of the next record of kind ``name``."""
        return self.rows_framed.get(name, 0) + len(getattr(self, name))

    def held(self) -> int:
        """Records held as tuples."""
        return sum(len(getattr(self, name)) for name in _COLUMNS)

    def sizes(self) -> dict[str, int]:
        """Records of each kind so far (where the next file's records start)."""
        return {name: self.row(name) for name in _COLUMNS}

    def frame_tuples(self) -> None:
        """Turn the tuples held into text frames (Arrow strings) and let the tuples go."""
        for name in _COLUMNS:
            records = getattr(self, name)
            if records:
                self.framed.setdefault(name, []).append(_text_frame(records, name))
                self.rows_framed[name] = self.row(name)
                setattr(self, name, [])

    def frame(self, name: str) -> pd.DataFrame:
        """Every record of kind ``name`` read, in order, as one frame with empty quarantine marks."""
        self.frame_tuples()
        parts = self.framed.pop(name, [])
        frame = (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts
                 else _text_frame([], name))
        return q.start_marks(frame)


_COLUMNS = {
    "children": ("raw_child", "raw_upn", "birth_date", "sex_element", "sex", "death_date",
                 "ethnicity", "disabilities", "line", "element"),
    "episodes": ("child_row", "referral_date", "referral_source", "primary_need", "closure_date",
                 "reason_for_closure", "initial_cpc_date", "referral_nfa", "line", "element"),
    "assessments": ("episode_row", "start_date", "authorisation_date", "line", "element"),
    "factors": ("assessment_row", "factor", "line", "element"),
    "cin_plans": ("episode_row", "start_date", "end_date", "line", "element"),
    "section47s": ("episode_row", "start_date", "icpc_target_date", "icpc_date",
                   "icpc_not_required", "line", "element"),
    "cp_plans": ("episode_row", "start_date", "end_date", "initial_category", "latest_category",
                 "previous_cpp", "review_count", "line", "element"),
}


def read_cin_census(path: Path, key: PseudonymisationKey, la_code: str | None = None,
                    national_upn_link: bool = True) -> Extract:
    """Read, check and pseudonymise one CIN census file (:func:`read_cin_censuses` of one)."""
    return read_cin_censuses([path], key, la_code, national_upn_link)[0]


def read_cin_censuses(paths: list[Path], key: PseudonymisationKey, la_code: str | None = None,
                      national_upn_link: bool = True) -> list[Extract]:
    """Read, check and pseudonymise CIN census files: one :class:`Extract` per file, in order.

    Each file is parsed in turn; then the records of every file are checked and
    pseudonymised together, each against its own file's collection year, and split
    back into their files (the same tables as checking each file on its own, at
    one pass of each check instead of one per file).

    Raises :class:`InputError` (file name and position, no values) for a file
    that cannot be parsed at all: a DOCTYPE, not well-formed XML, a root other
    than ``Message``, no ``Header/CollectionDetails/Year``, an unknown year, or
    a ``Source/LEA`` that is not ``la_code``.
    """
    records = _Records()
    extracts, sizes = [], []
    for path in paths:
        extracts.append(_parse_file(Path(path), la_code, records))
        sizes.append(records.sizes())
        if records.held() > _MAX_TUPLES_HELD:   # raw text held compactly until every file is read
            records.frame_tuples()
    _build_tables(records, _Files(extracts, sizes), key, national_upn_link)
    return extracts


def _parse_file(path: Path, la_code: str | None, records: _Records) -> Extract:
    """Append one file's flattened records to ``records``; its (still empty) :class:`Extract`."""
    _reject_doctype(path)
    header: dict[str, str | None] | None = None
    n_child = 0
    try:
        source = path.open("rb")   # closed on every way out, a stop included
    except OSError as err:
        raise InputError(f"{path.name}: cannot be read ({err.strerror or 'I/O error'})") from None
    with source:
        events = etree.iterparse(
            source, events=("end",), tag=("Header", "Child"), resolve_entities=False,
            no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
            remove_comments=True, remove_pis=True,
        )
        root = None   # the document's root and prolog, checked at the first element handed over
        try:
            for _, element in events:
                if root is None:
                    root = element.getroottree().getroot()
                    if root.tag != "Message":
                        raise InputError(
                            f"{path.name}: root element is not Message (line {root.sourceline})")
                    if element.getroottree().docinfo.doctype:
                        raise InputError(f"{path.name}: a DOCTYPE is not allowed in a CIN census file")
                parent = element.getparent()
                if element.tag == "Header" and parent is root:
                    header = _read_header(element)
                elif element.tag == "Child":
                    if parent is None or parent.tag != "Children" or parent.getparent() is not root:
                        where = "the root" if parent is None else f"a {parent.tag} element"
                        raise InputError(
                            f"{path.name}: line {element.sourceline}: a Child element inside {where}, "
                            "not directly in Message/Children, where the CIN census puts every child; "
                            "no child of the file was read")
                    if header is None:
                        raise InputError(f"{path.name}: Child element before the Header "
                                         f"(line {element.sourceline})")
                    n_child += 1
                    _flatten_child(element, n_child, records)
                else:
                    continue
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del parent[0]
            root = events.root
        except etree.XMLSyntaxError as err:
            line, column = (err.position if err.position else (err.lineno, 0))
            raise InputError(f"{path.name}: not well-formed XML at line {line}, column {column}") from None
        except OSError as err:
            raise InputError(f"{path.name}: cannot be read ({err.strerror or 'I/O error'})") from None
    if root is None or root.tag != "Message":
        raise InputError(f"{path.name}: root element is not Message")
    if header is None or not header.get("year"):
        raise InputError(f"{path.name}: no Header/CollectionDetails/Year")
    if n_child == 0:
        raise InputError(f"{path.name}: no Message/Children/Child element: the file holds no child "
                         "(a CIN census return lists every child in need in its year)")
    year = _year(header["year"], path)
    if la_code is not None and header.get("lea") and header["lea"] != la_code:
        raise InputError(f"{path.name}: Header/Source/LEA is not the folder's LA code {la_code}")
    reference = _reference_date(header.get("reference_date"), year, path)
    return Extract(DATASET, path.name, year, reference)


def _reject_doctype(path: Path) -> None:
    """Reject a DOCTYPE in the prolog before the parser sees the file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_PROLOG_BYTES)
    except OSError as err:
        raise InputError(f"{path.name}: cannot be read ({err.strerror or 'I/O error'})") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    if _DOCTYPE.search(head):
        raise InputError(f"{path.name}: a DOCTYPE (DTD or entity declarations) is not allowed; "
                         "the file was not parsed")


def _text(parent, name: str) -> str | None:
    if parent is None:
        return None
    found = parent.find(name)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _read_header(header) -> dict[str, str | None]:
    details = header.find("CollectionDetails")
    source = header.find("Source")
    return {
        "year": _text(details, "Year"),
        "reference_date": _text(details, "ReferenceDate"),
        "lea": _text(source, "LEA"),
    }


def _year(text: str, path: Path) -> int:
    if not re.fullmatch(r"\d{4}", text) or int(text) not in CIN_YEARS:
        raise InputError(f"{path.name}: Header/CollectionDetails/Year is not a collection year "
                         f"{CIN_YEARS[0]}–{CIN_YEARS[-1]}")
    return int(text)


def _reference_date(text: str | None, year: int, path: Path) -> dt.date:
    if text is None:
        return reference_date_of(year)
    parsed, bad = v.iso_dates(pd.Series([text]))
    if bad.iloc[0]:
        raise InputError(f"{path.name}: Header/CollectionDetails/ReferenceDate is not a date")
    reference = parsed.iloc[0].date()
    if reference != reference_date_of(year):
        # the reference date censors follow-up: one from another collection would shift it
        raise InputError(f"{path.name}: Header/CollectionDetails/ReferenceDate {reference.isoformat()} "
                         f"is not {reference_date_of(year).isoformat()}, the reference date of "
                         f"Header/CollectionDetails/Year {year}")
    return reference


def _fields(parent) -> dict:
    """Tag -> stripped text (``None`` if empty) of the direct children of ``parent``, in one pass."""
    if parent is None:
        return {}
    return {item.tag: (text.strip() or None) if (text := item.text) else None for item in parent}


def _flatten_child(child, n: int, rec: _Records) -> None:
    """Append one Child element's records (raw text) to ``rec``.

    One pass over the Child's own elements (its first ChildIdentifiers and ChildCharacteristics,
    every CINdetails in order); each record's row is where its kind's records reach so far."""
    path = f"Message/Children/Child[{n}]"
    ids_element = chars_element = None
    details = []
    for part in child:
        tag = part.tag
        if tag == "CINdetails":
            details.append(part)
        elif tag == "ChildIdentifiers":
            if ids_element is None:
                ids_element = part
        elif tag == "ChildCharacteristics":
            if chars_element is None:
                chars_element = part
    ids = _fields(ids_element)
    chars = _fields(chars_element)
    sex_element = "Sex" if "Sex" in ids else "GenderCurrent"
    disabilities = None
    if "Disabilities" in chars:
        disabilities = "|".join([(d.text or "").strip()
                                 for middle in chars_element.iterchildren("Disabilities")
                                 for d in middle.iterchildren("Disability")])
    framed = rec.rows_framed
    child_row = framed.get("children", 0) + len(rec.children)
    rec.children.append((
        ids.get("LAchildID"), ids.get("UPN"), ids.get("PersonBirthDate"), sex_element,
        ids.get(sex_element),
        ids.get("PersonDeathDate"), chars.get("Ethnicity"), disabilities, child.sourceline, path,
    ))
    if not details:
        return
    episodes, assessments, factors = rec.episodes, rec.assessments, rec.factors
    episode_row = framed.get("episodes", 0) + len(episodes)
    assessments_before = framed.get("assessments", 0)
    for k, detail in enumerate(details, 1):
        episode_path = f"{path}/CINdetails[{k}]"
        counts = {"Assessments": 0, "CINPlanDates": 0, "Section47": 0, "ChildProtectionPlans": 0}
        fields = {}
        for item in detail:
            tag = item.tag
            if tag not in counts:
                fields[tag] = (text.strip() or None) if (text := item.text) else None
                continue
            counts[tag] += 1
            where = f"{episode_path}/{tag}[{counts[tag]}]"
            inner = {i.tag: (text.strip() or None) if (text := i.text) else None for i in item}
            if tag == "Assessments":
                assessment_row = assessments_before + len(assessments)
                assessments.append((
                    episode_row, inner.get("AssessmentActualStartDate"),
                    inner.get("AssessmentAuthorisationDate"), item.sourceline, where,
                ))
                if "FactorsIdentifiedAtAssessment" in inner:
                    i = 0   # counted over every FactorsIdentifiedAtAssessment of the assessment
                    for middle in item.iterchildren("FactorsIdentifiedAtAssessment"):
                        for factor in middle.iterchildren("AssessmentFactors"):
                            i += 1
                            factors.append((
                                assessment_row, (factor.text or "").strip() or None,
                                factor.sourceline,
                                f"{where}/FactorsIdentifiedAtAssessment/AssessmentFactors[{i}]",
                            ))
            elif tag == "CINPlanDates":
                rec.cin_plans.append((
                    episode_row, inner.get("CINPlanStartDate"), inner.get("CINPlanEndDate"),
                    item.sourceline, where,
                ))
            elif tag == "Section47":
                rec.section47s.append((
                    episode_row, inner.get("S47ActualStartDate"), inner.get("InitialCPCtarget"),
                    inner.get("DateOfInitialCPC"), inner.get("ICPCnotRequired"), item.sourceline, where,
                ))
            else:
                rec.cp_plans.append((
                    episode_row, inner.get("CPPstartDate"), inner.get("CPPendDate"),
                    inner.get("InitialCategoryOfAbuse"), inner.get("LatestCategoryOfAbuse"),
                    inner.get("NumberOfPreviousCPP"),
                    sum([len(list(middle.iterchildren("CPPreviewDate")))
                         for middle in item.iterchildren("Reviews")]) if "Reviews" in inner else 0,
                    item.sourceline, where,
                ))
        episodes.append((
            child_row, fields.get("CINreferralDate"), fields.get("ReferralSource"),
            fields.get("PrimaryNeedCode"), fields.get("CINclosureDate"),
            fields.get("ReasonForClosure"), fields.get("DateOfInitialCPC"),
            fields.get("ReferralNFA"), detail.sourceline, episode_path,
        ))
        episode_row += 1


#: Record fields that are integers (row links, source lines, counts); the others are text.
_INTEGERS = ("child_row", "episode_row", "assessment_row", "line", "review_count")


def _text_frame(records: list[tuple], name: str) -> pd.DataFrame:
    """Records of kind ``name`` as a frame, text as Arrow strings (row links and lines as read).

    The tuples go to Arrow in one conversion (a struct array); the frame is the one
    ``DataFrame.from_records`` and ``astype(STRING)`` give (:func:`_text_frame_by_pandas`,
    which still takes what Arrow refuses: no records, or an integer field missing).
    """
    columns = _COLUMNS[name]
    if not records:
        return _no_text_records(name)
    try:
        fields = pa.array(records, type=pa.struct(
            [(c, pa.int64() if c in _INTEGERS else pa.large_string()) for c in columns])).flatten()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _text_frame_by_pandas(records, name)
    if any(f.null_count for c, f in zip(columns, fields) if c in _INTEGERS):
        return _text_frame_by_pandas(records, name)
    return pd.DataFrame({c: f.to_numpy() if c in _INTEGERS
                         else pd.Series(ArrowStringArray(pa.chunked_array([f])), copy=False)
                         for c, f in zip(columns, fields)})


@copies_of_one
def _no_text_records(name: str) -> pd.DataFrame:
    """No records of kind ``name``, as :func:`_text_frame_by_pandas` types them: made once per
    process (a file often has no records of a kind), copies handed out."""
    return _text_frame_by_pandas([], name)


def _text_frame_by_pandas(records: list[tuple], name: str) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(_COLUMNS[name]))
    for column in frame.columns:
        if column not in _INTEGERS:
            frame[column] = frame[column].astype(STRING)  # already stripped, empty is None
    return frame


def _cascade(rows: pd.DataFrame, parents: pd.DataFrame, link: str) -> None:
    """Quarantine rows whose parent record is quarantined, naming the parent's field."""
    parent_field = rows[link].map(parents["q_field"])
    failed = rows[link].map(parents["q_reason"]).notna()
    q.mark(rows, failed, parent_field.astype(STRING), q.PARENT_QUARANTINED)


class _Files:
    """Which file (and so which collection year) each record of the batch came from."""

    def __init__(self, extracts: list[Extract], sizes: list[dict[str, int]]):
        self.extracts = extracts
        self.years = np.array([e.collection_year for e in extracts], dtype=np.int64)
        self._sizes = sizes

    def of(self, kind: str) -> np.ndarray:
        """Index of the file of each record of ``kind`` (``children``, ``episodes``, ...)."""
        ends = [size[kind] for size in self._sizes]
        counts = np.diff([0, *ends])
        return np.repeat(np.arange(len(ends)), counts)


def _build_tables(rec: _Records, files: _Files, key: PseudonymisationKey,
                  national_upn_link: bool = True) -> None:
    """Check, pseudonymise and split the flattened records into usable rows and quarantine,
    each file's into its own :class:`Extract`."""
    children = rec.frame("children")
    child_years = files.years[files.of("children")]
    children["child_id"] = pseudonymise(children.pop("raw_child"), key, CHILD)
    raw_upn = children.pop("raw_upn")   # without the national link not even hashed
    children["national_id"] = upn_pseudonyms(raw_upn, key) if national_upn_link else \
        pd.Series(pd.NA, index=children.index, dtype="string")
    del raw_upn
    q.mark(children, children["child_id"].isna(), "LAchildID", q.MISSING_KEY)
    child_key_failed = children["q_reason"].notna()
    v.check_dates(children, {"birth_date": "PersonBirthDate", "death_date": "PersonDeathDate"})
    expected = pd.Series(child_years, index=children.index).map(
        {year: cin_sex_element(year) for year in np.unique(child_years).tolist()})
    q.mark(children, children["sex"].notna() & (children["sex_element"] != expected),
           children["sex_element"], q.UNKNOWN_CODE)
    v.check_codes_by_year(children, child_years, {
        "sex": cin_sex_element,
        "ethnicity": "Ethnicity"}, cin_code_list)
    sex = pd.Series(pd.NA, index=children.index, dtype=object)
    for element, rows in v.year_groups(child_years, cin_sex_element):
        sex[rows] = children.loc[rows, "sex"].map(_SEX[element])
    children["sex"] = sex.fillna("U").astype(STRING)
    disability = children["disabilities"].str.split("|").explode()
    disability = v.code(disability)
    disability_years = child_years[disability.index.to_numpy()]
    unknown_disability = pd.Series(False, index=disability.index)
    for valid, rows in v.year_groups(disability_years, lambda y: cin_code_list("Disability", y)):
        unknown_disability[rows] = v.unknown(disability[rows], valid)
    bad_disability = unknown_disability | (
        disability.isna() & children["disabilities"].reindex(disability.index).notna())
    q.mark(children, bad_disability.groupby(level=0).any().reindex(children.index, fill_value=False),
           "Disability", q.UNKNOWN_CODE)
    children["disabled"] = (disability.notna() & (disability != "NONE")).groupby(level=0).any() \
        .astype("boolean").where(children["disabilities"].notna())

    episodes = rec.frame("episodes")
    episodes["child_id"] = episodes["child_row"].map(children["child_id"]).astype(STRING)
    q.mark(episodes, episodes["child_row"].map(child_key_failed), "LAchildID", q.PARENT_QUARANTINED)
    q.mark(episodes, episodes["referral_date"].isna(), "CINreferralDate", q.MISSING_KEY)
    v.check_dates(episodes, {"referral_date": "CINreferralDate", "closure_date": "CINclosureDate",
                             "initial_cpc_date": "DateOfInitialCPC"})
    v.check_order(episodes, "referral_date", "closure_date", "CINclosureDate")
    v.check_codes_by_year(episodes, files.years[files.of("episodes")], {
        "referral_source": "ReferralSource",
        "primary_need": "PrimaryNeedCode",
        "reason_for_closure": "ReasonForClosure",
    }, cin_code_list)
    episodes["referral_nfa"], bad = v.yes_no(episodes["referral_nfa"])
    q.mark(episodes, bad, "ReferralNFA", q.UNKNOWN_CODE)
    episodes["episode_id"] = derived_id([episodes["child_id"], episodes["referral_date"]], key,
                                        CIN_EPISODE)

    def attach(rows: pd.DataFrame) -> None:
        _cascade(rows, episodes, "episode_row")
        rows["child_id"] = rows["episode_row"].map(episodes["child_id"]).astype(STRING)
        rows["episode_id"] = rows["episode_row"].map(episodes["episode_id"]).astype(STRING)
        rows["episode_element"] = rows["episode_row"].map(episodes["element"]).astype(STRING)

    assessments = rec.frame("assessments")
    attach(assessments)
    q.mark(assessments, assessments["start_date"].isna(), "AssessmentActualStartDate", q.MISSING_KEY)
    v.check_dates(assessments, {"start_date": "AssessmentActualStartDate",
                                "authorisation_date": "AssessmentAuthorisationDate"})
    v.check_order(assessments, "start_date", "authorisation_date", "AssessmentAuthorisationDate")
    ordinal = assessments.groupby(["episode_row", "start_date"], dropna=False).cumcount()
    assessments["assessment_id"] = derived_id(
        [assessments["episode_id"], assessments["start_date"], ordinal.astype(STRING)], key,
        ASSESSMENT)

    factors = rec.frame("factors")
    _cascade(factors, assessments, "assessment_row")
    for column in ("child_id", "episode_id", "assessment_id", "episode_element"):
        factors[column] = factors["assessment_row"].map(assessments[column]).astype(STRING)
    q.mark(factors, factors["factor"].isna(), "AssessmentFactors", q.MISSING_KEY)
    v.check_codes_by_year(factors, files.years[files.of("factors")], {
        "factor": "AssessmentFactors"}, cin_code_list)

    cin_plans = rec.frame("cin_plans")
    attach(cin_plans)
    q.mark(cin_plans, cin_plans["start_date"].isna(), "CINPlanStartDate", q.MISSING_KEY)
    v.check_dates(cin_plans, {"start_date": "CINPlanStartDate", "end_date": "CINPlanEndDate"})
    v.check_order(cin_plans, "start_date", "end_date", "CINPlanEndDate")

    section47s = rec.frame("section47s")
    attach(section47s)
    q.mark(section47s, section47s["start_date"].isna(), "S47ActualStartDate", q.MISSING_KEY)
    v.check_dates(section47s, {"start_date": "S47ActualStartDate",
                               "icpc_target_date": "InitialCPCtarget",
                               "icpc_date": "DateOfInitialCPC"})
    v.check_order(section47s, "start_date", "icpc_date", "DateOfInitialCPC")
    section47s["icpc_not_required"], bad = v.yes_no(section47s["icpc_not_required"])
    q.mark(section47s, bad, "ICPCnotRequired", q.UNKNOWN_CODE)

    cp_plans = rec.frame("cp_plans")
    attach(cp_plans)
    q.mark(cp_plans, cp_plans["start_date"].isna(), "CPPstartDate", q.MISSING_KEY)
    v.check_dates(cp_plans, {"start_date": "CPPstartDate", "end_date": "CPPendDate"})
    v.check_order(cp_plans, "start_date", "end_date", "CPPendDate")
    v.check_codes_by_year(cp_plans, files.years[files.of("cp_plans")], {
        "initial_category": "InitialCategoryOfAbuse",
        "latest_category": "LatestCategoryOfAbuse",
    }, cin_code_list)
    cp_plans["previous_cpp"], bad = v.counts(cp_plans["previous_cpp"])
    q.mark(cp_plans, bad, "NumberOfPreviousCPP", q.NOT_A_NUMBER)
    cp_plans["review_count"] = cp_plans["review_count"].astype("Int64")

    children = children.drop(columns=["sex_element", "disabilities"])
    for name, kind, frame in (("children", "children", children),
                              ("cin_episodes", "episodes", episodes),
                              ("assessments", "assessments", assessments),
                              ("assessment_factors", "factors", factors),
                              ("cin_plans", "cin_plans", cin_plans),
                              ("section47s", "section47s", section47s),
                              ("cp_plans", "cp_plans", cp_plans)):
        frame = frame.drop(columns=[c for c in ("child_row", "episode_row", "assessment_row")
                                    if c in frame.columns])
        # a file without such records: ``line`` as in its own empty frame (no rows to type it)
        q.split_by_file(frame, name, files.of(kind), files.extracts, {"line": object})
