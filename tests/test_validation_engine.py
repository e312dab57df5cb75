"""The validation engine's shortcuts change no result: a suite saved once, an identical frame not
validated twice (its earlier result stored again under the new run), anything else validated."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from evaluation.validation import run_suite, suites, validation_context
from validation_fixtures import valid_tables

RUN = "931_2024-03-31_"


def _children(bad_ids: int = 0) -> pd.DataFrame:
    children = pd.concat([valid_tables()["children"]] * 3, ignore_index=True)
    children["child_id"] = [f"{n:016x}" for n in range(len(children))]
    if bad_ids:
        children.loc[: bad_ids - 1, "child_id"] = "not-a-pseudonym"
    return children


def _stored(project) -> dict[str, object]:
    store = project.gx.validation_results_store
    return {key.run_id.run_name: store.get(key) for key in store.list_keys()}


@pytest.fixture()
def project(tmp_path):
    return validation_context(tmp_path / "gx", tmp_path / "docs")


def test_identical_frame_reuses_the_earlier_result_under_the_new_run(project, tmp_path):
    first = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(2)), run=RUN + "r1")
    again = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(2)), run=RUN + "r2")
    assert not first.success and first.failed[0].unexpected == 2
    assert again.expectations == first.expectations and again.rows == first.rows
    stored = _stored(project)
    assert set(stored) == {RUN + "r1", RUN + "r2"}
    assert "same_as_run" not in stored[RUN + "r1"].meta
    assert stored[RUN + "r2"].meta["same_as_run"]["run_name"] == RUN + "r1"
    assert stored[RUN + "r2"].meta["run_id"]["run_name"] == RUN + "r2"
    # each run has its own page, with the same counts
    pages = [json.loads(o.docs_page.with_suffix(".json").read_text()) for o in (first, again)]
    assert [p["dagster_run"] for p in pages] == ["r1", "r2"]
    assert pages[0]["unexpected"] == pages[1]["unexpected"] == 2 and pages[0]["checks"] == pages[1]["checks"]


@pytest.mark.parametrize("change", ["values", "expectations", "order"])
def test_a_different_frame_or_suite_is_validated_anew(project, change):
    frame, expectations = suites.pseudonym_suite(_children(2))
    run_suite(project, "pseudonymised__children", frame, expectations, run=RUN + "r1")
    if change == "values":
        frame, expectations = suites.pseudonym_suite(_children(3))
    elif change == "expectations":
        frame, expectations = suites.pseudonym_suite(_children(2))
        expectations = expectations[1:]
    else:
        frame, expectations = suites.pseudonym_suite(_children(2))
        frame = frame.iloc[::-1].reset_index(drop=True)
    outcome = run_suite(project, "pseudonymised__children", frame, expectations, run=RUN + "r2")
    assert "same_as_run" not in _stored(project)[RUN + "r2"].meta
    if change == "values":
        assert outcome.failed[0].unexpected == 3


def test_a_result_gone_from_the_store_is_validated_again(project, tmp_path):
    run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(1)), run=RUN + "r1")
    shutil.rmtree(tmp_path / "gx" / "gx" / "uncommitted" / "validations")
    outcome = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(1)), run=RUN + "r2")
    assert outcome.failed[0].unexpected == 1
    assert "same_as_run" not in _stored(project)[RUN + "r2"].meta


def test_suite_saved_once_and_no_checkpoint_per_run(project, tmp_path):
    for n in range(3):
        run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(n)), run=RUN + f"r{n}")
    saved = project.gx.suites.get("pseudonymised__children")
    assert len(saved.expectations) == len(suites.pseudonym_suite(_children())[1])
    assert not list((tmp_path / "gx" / "gx" / "checkpoints").glob("*.json"))
    assert not list((tmp_path / "gx" / "gx" / "validation_definitions").glob("*.json"))
    assert len(_stored(project)) == 3


def test_the_same_text_as_another_type_is_validated_anew(project):
    """pandas hashes object cells by their text; a 1 where "1" was must not reuse the earlier result."""
    import great_expectations as gx

    expectations = [gx.expectations.ExpectColumnValuesToBeInSet(column="code", value_set=["1", "2"])]
    text = pd.DataFrame({"code": pd.Series(["1", "2", "2"], dtype=object)})
    mixed = pd.DataFrame({"code": pd.Series([1, "2", "2"], dtype=object)})
    first = run_suite(project, "codes", text, expectations, run=RUN + "r1")
    again = [gx.expectations.ExpectColumnValuesToBeInSet(column="code", value_set=["1", "2"])]
    second = run_suite(project, "codes", mixed, again, run=RUN + "r2")
    assert first.success and not second.success
    assert "same_as_run" not in _stored(project)[RUN + "r2"].meta
