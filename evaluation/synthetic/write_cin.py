"""Write one Children in Need census XML per collection year, as a council submits it.

Each year's file holds every child with a CIN episode open at any time in the
year (1 April – 31 March), with only what was known at the reference date:
later closures, plan ends and events are absent, so the same episode recurs
in several years' files. Within an episode, a year's file holds only the
sub-records open during that collection year, as DfE validation requires
(:func:`open_in_year`): an assessment authorised before 1 April (rule 8696),
a CIN plan or protection plan that ended before 1 April (4013, 8930) and a
section 47 whose initial conference was held before 1 April (8715) are left
out; so is a section 47 that needed no conference and started before 1 April.
``DateOfInitialCPC`` at CIN level (the conference that started the episode's first
protection plan) is written only when no section 47 of the child in the same file carries
that date (rule 2884: the guide has the date at section 47 level, and at CIN level only for
a conference whose enquiry is not in the year). Assessments are the episode's initial one
plus any that accompany a section 47 enquiry (``CinRecords.s47_assessments``); a child's
``Disabilities`` may hold several codes (``CinRecords.disabilities``).
``CinWriter.repeat_history`` (tests only) writes every earlier sub-record
again in each year, which DfE would reject. Elements follow the order and
presence rules of that year's DfE schema (``GenderCurrent`` up to 2024,
``Sex`` from 2025; ``CINPlanDates`` only where the schema has it, i.e. from
2022: a CIN plan that ended before April 2021 is in no file). The XML is
written as text (every value is a code, a date or an id), which is several
times faster than building element trees; the tests validate every file
against its schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from evaluation.codes.cin import cin_schema_path, cin_sex_element
from evaluation.synthetic.cin_records import CinRecords
from evaluation.synthetic.dates import OPEN, DateText, reference_day, year_start

SEX_CODES = {"GenderCurrent": {1: "1", 2: "2"}, "Sex": {1: "M", 2: "F"}}
#: Review conferences: the first within three months of the plan's start, then every six months,
#: in whole weeks so that each falls on the weekday of the initial conference (never a weekend).
REVIEW_FIRST_DAYS = 13 * 7
REVIEW_EVERY_DAYS = 26 * 7


@lru_cache(maxsize=None)
def schema_has_cin_plan_dates(year: int) -> bool:
    return 'name="CINPlanDates"' in cin_schema_path(year).read_text()


@dataclass
class CinOverrides:
    """Per-year deviations from the truth (see ``imperfections.py``)."""

    #: (episode, year) -> (closure day shown, reason shown) — premature closure later corrected
    closure: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)
    #: episodes whose reason for closure is left out
    missing_reason: set[int] = field(default_factory=set)


def _ranges(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end row of each key 0..n-1 in an array sorted by key."""
    lo = np.searchsorted(keys, np.arange(n), side="left")
    hi = np.searchsorted(keys, np.arange(n), side="right")
    return lo, hi


def open_in_year(start: int, end: int, year: int) -> bool:
    """Whether a sub-record from ``start`` to ``end`` (``OPEN`` if not ended) goes in ``year``'s file.

    It must have started by the reference date, and not have ended before the
    collection year began (an end after the reference date is not yet known,
    so the record is open at the reference date).
    """
    return start <= reference_day(year) and end >= year_start(year)


def episodes_in_year(episodes: pd.DataFrame, year: int) -> np.ndarray:
    """Rows of episodes open at any time in collection ``year``."""
    ref, start = reference_day(year), year_start(year)
    r = episodes["referral"].to_numpy()
    c = episodes["closure"].to_numpy()
    return np.flatnonzero((r <= ref) & (c >= start))


class CinWriter:
    """Writes the yearly files from child-level records; built once, used for every year."""

    #: Repeat every earlier sub-record of an episode in each year's file (NOT as DfE defines the
    #: return; for tests that compare a county written both ways).
    repeat_history: bool = False

    def __init__(self, records: CinRecords, children: pd.DataFrame, la_code: str, dates: DateText,
                 overrides: CinOverrides):
        self.r = records
        self.la_code = la_code
        self.d = dates
        self.first = dates.first
        self.iso_text = dates.iso.tolist()
        self.ov = overrides
        ep = records.episodes
        self.n_ep = len(ep)
        self.ep = {c: ep[c].tolist() for c in (
            "child", "referral", "referral_source", "need_code", "closure", "reason_for_closure",
            "referral_nfa", "assessment_start", "assessment_auth", "factors")}
        ch = children
        self.child = {c: ch[c].tolist() for c in (
            "child_id", "dob", "sex", "ethnic", "upn", "upn_day", "upn_unknown", "former_upn", "disability")}
        if records.disabilities is not None:
            self.child["disability"] = list(records.disabilities)
        extra = records.s47_assessments
        if extra is None:
            extra = pd.DataFrame({"episode": pd.Series(dtype=np.int64), "start": pd.Series(dtype=np.int64),
                                  "auth": pd.Series(dtype=np.int64), "factors": pd.Series(dtype=object)})
        for name, tab in (("plans", records.plans), ("s47", records.s47), ("cp_plans", records.cp_plans),
                          ("extra_assessments", extra)):
            tab = tab.sort_values(["episode", "start"], kind="stable")
            setattr(self, name, {c: tab[c].tolist() for c in tab.columns})
            lo, hi = _ranges(tab["episode"].to_numpy(), self.n_ep)
            setattr(self, name + "_range", (lo.tolist(), hi.tolist()))

    def write(self, path: Path, year: int) -> int:
        """Write the census of ``year`` to ``path``; returns the number of children."""
        rows = episodes_in_year(self.r.episodes, year)
        by_child: dict[int, list[int]] = {}
        for e in rows.tolist():
            by_child.setdefault(self.ep["child"][e], []).append(e)
        order = sorted(by_child, key=lambda c: self.child["child_id"][c])
        ref = reference_day(year)
        sex_el = cin_sex_element(year)
        plan_dates = schema_has_cin_plan_dates(year)
        path.parent.mkdir(parents=True, exist_ok=True)
        out: list[str] = ["<?xml version='1.0' encoding='utf-8'?>", "<Message>"]
        out += self._header(year)
        out.append("  <Children>")
        for c in order:
            self._child(out, c, by_child[c], year, ref, sex_el, plan_dates)
        out += ["  </Children>", "</Message>", ""]
        path.write_text("\n".join(out), encoding="utf-8")
        return len(order)

    def _header(self, year: int) -> list[str]:
        return [
            "  <Header>", "    <CollectionDetails>", "      <Collection>CIN</Collection>",
            f"      <Year>{year}</Year>", f"      <ReferenceDate>{year}-03-31</ReferenceDate>",
            "    </CollectionDetails>", "    <Source>", "      <SourceLevel>L</SourceLevel>",
            f"      <LEA>{self.la_code}</LEA>", "      <SoftwareCode>evaluation.synthetic</SoftwareCode>",
            "      <Release>1</Release>", f"      <SerialNo>{year % 1000:03d}</SerialNo>",
            f"      <DateTime>{year}-05-15T09:00:00</DateTime>", "    </Source>", "  </Header>"]

    def _child(self, out: list[str], c: int, eps: list[int], year: int, ref: int, sex_el: str,
               plan_dates: bool) -> None:
        ch = self.child
        iso = self.iso_text
        out.append("    <Child>")
        out.append("      <ChildIdentifiers>")
        out.append(f"        <LAchildID>{escape(ch['child_id'][c])}</LAchildID>")
        if ch["upn_day"][c] <= ref and not ch["upn_unknown"][c]:
            out.append(f"        <UPN>{ch['upn'][c]}</UPN>")
            if ch["former_upn"][c]:
                out.append(f"        <FormerUPN>{ch['former_upn'][c]}</FormerUPN>")
        else:
            out.append(f"        <UPNunknown>{ch['upn_unknown'][c] or 'UN1'}</UPNunknown>")
        out.append(f"        <PersonBirthDate>{iso[ch['dob'][c] - self.first]}</PersonBirthDate>")
        out.append(f"        <{sex_el}>{SEX_CODES[sex_el][ch['sex'][c]]}</{sex_el}>")
        out.append("      </ChildIdentifiers>")
        out.append("      <ChildCharacteristics>")
        out.append(f"        <Ethnicity>{ch['ethnic'][c]}</Ethnicity>")
        if ch["disability"][c]:
            codes = "".join(f"<Disability>{d}</Disability>" for d in ch["disability"][c].split("|"))
            out.append(f"        <Disabilities>{codes}</Disabilities>")
        out.append("      </ChildCharacteristics>")
        # the conference dates the child's section 47s carry in this file: DateOfInitialCPC at
        # CIN level only when no section 47 carries it (DfE rule 2884 compares across episodes)
        s47_icpc = {self.s47["icpc"][k] for e in eps for k in self._s47_rows(e, year, ref)}
        for e in eps:
            self._cin_details(out, e, year, ref, plan_dates, s47_icpc)
        out.append("    </Child>")

    def _keep(self, year: int):
        if self.repeat_history:
            return lambda start, end, ref=reference_day(year): start <= ref
        return lambda start, end: open_in_year(start, end, year)

    def _s47_rows(self, e: int, year: int, ref: int) -> list[int]:
        """Rows of episode ``e``'s section 47s written in ``year``'s file."""
        s, keep, rows = self.s47, self._keep(year), []
        for k in range(self.s47_range[0][e], self.s47_range[1][e]):
            start = s["start"][k]
            if start > ref:
                break
            # an enquiry ends at its initial conference, or (none needed) on the day it starts
            if keep(start, start if s["icpc"][k] == OPEN else s["icpc"][k]):
                rows.append(k)
        return rows

    def _assessment(self, add, start: int, auth: int, factors: str, ref: int) -> None:
        iso, first = self.iso_text, self.first
        add("        <Assessments>")
        add(f"          <AssessmentActualStartDate>{iso[start - first]}</AssessmentActualStartDate>")
        if auth <= ref:
            add(f"          <AssessmentAuthorisationDate>{iso[auth - first]}</AssessmentAuthorisationDate>")
            add("          <FactorsIdentifiedAtAssessment>")
            for code in factors.split(","):
                add(f"            <AssessmentFactors>{code}</AssessmentFactors>")
            add("          </FactorsIdentifiedAtAssessment>")
        add("        </Assessments>")

    def _cin_details(self, out: list[str], e: int, year: int, ref: int, plan_dates: bool,
                     s47_icpc: set[int] = frozenset()) -> None:
        ep = self.ep
        first = self.first
        iso = self.iso_text
        add = out.append
        closure, reason = ep["closure"][e], ep["reason_for_closure"][e]
        override = self.ov.closure.get((e, year))
        if override is not None:
            closure, reason = override
        add("      <CINdetails>")
        add(f"        <CINreferralDate>{iso[ep['referral'][e] - first]}</CINreferralDate>")
        add(f"        <ReferralSource>{ep['referral_source'][e]}</ReferralSource>")
        add(f"        <PrimaryNeedCode>{ep['need_code'][e]}</PrimaryNeedCode>")
        if closure <= ref:
            add(f"        <CINclosureDate>{iso[closure - first]}</CINclosureDate>")
            if reason and (override is not None or e not in self.ov.missing_reason):
                add(f"        <ReasonForClosure>{reason}</ReasonForClosure>")
        lo, hi = self.cp_plans_range[0][e], self.cp_plans_range[1][e]
        cp = self.cp_plans
        if hi > lo and cp["start"][lo] <= ref and cp["start"][lo] not in s47_icpc:
            add(f"        <DateOfInitialCPC>{iso[cp['start'][lo] - first]}</DateOfInitialCPC>")
        keep = self._keep(year)
        a_start, a_auth = ep["assessment_start"][e], ep["assessment_auth"][e]
        if a_start != OPEN and keep(a_start, a_auth):
            self._assessment(add, a_start, a_auth, ep["factors"][e], ref)
        xa = self.extra_assessments
        for k in range(self.extra_assessments_range[0][e], self.extra_assessments_range[1][e]):
            if xa["start"][k] > ref:
                break
            if keep(xa["start"][k], xa["auth"][k]):
                self._assessment(add, xa["start"][k], xa["auth"][k], xa["factors"][k], ref)
        if plan_dates:
            pl = self.plans
            for k in range(self.plans_range[0][e], self.plans_range[1][e]):
                if pl["start"][k] > ref:
                    break
                end = pl["end"][k]
                if override is not None and end > closure:
                    end = closure
                if not keep(pl["start"][k], end):
                    continue
                add("        <CINPlanDates>")
                add(f"          <CINPlanStartDate>{iso[pl['start'][k] - first]}</CINPlanStartDate>")
                if end <= ref:
                    add(f"          <CINPlanEndDate>{iso[end - first]}</CINPlanEndDate>")
                add("        </CINPlanDates>")
        s = self.s47
        for k in self._s47_rows(e, year, ref):
            start = s["start"][k]
            add("        <Section47>")
            add(f"          <S47ActualStartDate>{iso[start - first]}</S47ActualStartDate>")
            if start + 15 <= ref:
                add(f"          <InitialCPCtarget>{iso[start + 15 - first]}</InitialCPCtarget>")
            icpc = s["icpc"][k]
            if icpc != OPEN and icpc <= ref:
                add(f"          <DateOfInitialCPC>{iso[icpc - first]}</DateOfInitialCPC>")
            add(f"          <ICPCnotRequired>{'1' if s['icpc_not_required'][k] else '0'}</ICPCnotRequired>")
            add("        </Section47>")
        add(f"        <ReferralNFA>{'1' if ep['referral_nfa'][e] else '0'}</ReferralNFA>")
        for k in range(lo, hi):
            start = cp["start"][k]
            if start > ref:
                break
            end = cp["end"][k]
            if not keep(start, end):
                continue
            add("        <ChildProtectionPlans>")
            add(f"          <CPPstartDate>{iso[start - first]}</CPPstartDate>")
            if end <= ref:
                add(f"          <CPPendDate>{iso[end - first]}</CPPendDate>")
            add(f"          <InitialCategoryOfAbuse>{cp['initial_category'][k]}</InitialCategoryOfAbuse>")
            add(f"          <LatestCategoryOfAbuse>{cp['latest_category'][k]}</LatestCategoryOfAbuse>")
            add(f"          <NumberOfPreviousCPP>{cp['previous_plans'][k]}</NumberOfPreviousCPP>")
            last = min(end, ref)
            review = start + REVIEW_FIRST_DAYS
            if review <= last:
                add("          <Reviews>")
                while review <= last:
                    add(f"            <CPPreviewDate>{iso[review - first]}</CPPreviewDate>")
                    review += REVIEW_EVERY_DAYS
                add("          </Reviews>")
            add("        </ChildProtectionPlans>")
        add("      </CINdetails>")
