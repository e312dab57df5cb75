"""Code lists reconciled with the published sources: boundaries pinned, disagreements accepted."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.codes.cin import CIN_YEARS, cin_code_years
from evaluation.codes.ssda903 import (PLACE_YEARS, REC_YEARS, SSDA903_YEARS, ssda903_code_list,
                                      ssda903_disputed_codes)
from evaluation.validation import suites


@pytest.mark.parametrize("code", ["H5", "P2", "Z1"])
@pytest.mark.parametrize("year", SSDA903_YEARS)
def test_placements_the_implementations_disagree_on_are_accepted_in_every_year(code, year):
    # d2i rule 146 accepts H5, P2 and Z1 in every year; liia keeps H5/P2 to 2024 and Z1 to 2026
    assert code in ssda903_code_list("PLACE", year)
    assert (code in ssda903_disputed_codes("PLACE", year)) == (year >= 2024)


@pytest.mark.parametrize("year,accepted,disputed", [
    (2023, False, False), (2024, True, True), (2025, True, True), (2026, True, True)])
def test_z11_to_z14(year, accepted, disputed):
    for code in ("Z11", "Z12", "Z13", "Z14"):
        assert (code in ssda903_code_list("PLACE", year)) is accepted
        assert (code in ssda903_disputed_codes("PLACE", year)) is disputed


def test_k3_from_2025():
    assert "K3" not in ssda903_code_list("PLACE", 2024)
    assert "K3" in ssda903_code_list("PLACE", 2025)


@pytest.mark.parametrize("year,new,old,disputed", [
    (2018, False, True, False), (2019, True, True, True), (2020, True, False, False),
    (2026, True, False, False)])
def test_special_guardianship_codes(year, new, old, disputed):
    # liia's schema has E45-E48 from 2019 (and E43/E44 to 2018); our DfE reading from 2020
    codes = ssda903_code_list("REC", year)
    assert all((c in codes) is new for c in ("E45", "E46", "E47", "E48"))
    assert all((c in codes) is old for c in ("E43", "E44"))
    assert (ssda903_disputed_codes("REC", year) == {"E43", "E44", "E45", "E46", "E47", "E48"}) \
        is disputed


def test_every_year_bounded_code_names_its_source():
    for table in (PLACE_YEARS, REC_YEARS):
        for code, years in table.items():
            assert years.source, code
            assert years.first is None or years.first in SSDA903_YEARS
            if years.disputed is not None:
                assert years.note, code


def test_cin_code_years_come_from_the_schemas():
    closure = cin_code_years("ReasonForClosure")
    assert closure["RC9"][:2] == (2023, CIN_YEARS[-1])
    assert closure["RC8"][0] == CIN_YEARS[0]
    assert "cin_2023.xsd" in closure["RC9"][2]
    assert cin_code_years("AssessmentFactors")["24A"][0] == 2022
    assert cin_code_years("ReferralSource")["5D"][0] == 2023


def test_disputed_codes_are_counted_by_the_warning_check_not_refused():
    care = pd.DataFrame({"place": ["H5", "U1", "Z1", "H5"], "rec": ["E45", "E4A", None, "E45"],
                         "collection_year": [2024, 2024, 2025, 2019]})
    derived, _ = suites.codes_suite(care, "care_episodes")
    assert derived["place_valid_for_year"].all() and derived["rec_valid_for_year"].all()
    assert (~derived["place_undisputed_for_year"]).sum() == 2  # H5 2024, Z1 2025 (H5 2019 fine)
    assert (~derived["rec_undisputed_for_year"]).sum() == 1    # E45 in 2019
