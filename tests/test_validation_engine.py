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


# --- cheaper validations, same results (#20) ----------------------------------------------------

def _every_kind_of_expectation():
    """One of each expectation the suites use, with failures, nulls and a table-level one."""
    import great_expectations as gx

    E = gx.expectations
    frame = pd.DataFrame({
        "flag": pd.Series([True, False, True, None, True], dtype=object),
        "id": pd.Series(["a1", "b2", "A123456789012", None, "SW1A 1AA"], dtype="string"),
        "n": [1, 2, 2, 3, None], "m": [1, 1, 2, 2, 2],
        "when": pd.to_datetime(["2020-01-01", None, "2020-02-01", "2020-03-01", "2020-04-01"]),
        "unused": ["x", "y", "z", "x", "y"],
    })
    expectations = lambda: [  # noqa: E731 — fresh objects for each validation
        E.ExpectColumnValuesToBeInSet(column="flag", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="id"),
        E.ExpectColumnValuesToMatchRegex(column="id", regex=r"^[a-z]\d$"),
        E.ExpectColumnValuesToNotMatchRegexList(column="id", regex_list=list(suites.RAW_SHAPES.values())),
        E.ExpectColumnValuesToBeUnique(column="n"),
        E.ExpectCompoundColumnsToBeUnique(column_list=["n", "m"]),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=2),
        E.ExpectColumnValuesToNotBeNull(column="when"),
    ]
    return frame, expectations


def _results(validation) -> list:
    return [(r.expectation_config.type, r.expectation_config.kwargs, r.success, r.result,
             r.exception_info) for r in validation.results]


def test_basic_result_format_gives_the_same_results_as_summary(project):
    """BASIC skips the unexpected-index list and query GX computes for SUMMARY; with no partial
    values asked (partial_unexpected_count 0) every result is the same, failures and nulls included."""
    from evaluation.validation import engine

    frame, expectations = _every_kind_of_expectation()
    prepared = engine._prepare(project, "every_kind", expectations())
    results = {}
    for name in ("SUMMARY", "BASIC"):
        batch = prepared.batch.get_batch(batch_parameters={"dataframe": frame})
        results[name] = _results(engine._validate(project, prepared.batch, batch, prepared.suite, result_format={
            "result_format": name, "partial_unexpected_count": 0}))
    assert engine.RESULT_FORMAT == {"result_format": "BASIC", "partial_unexpected_count": 0}
    assert results["BASIC"] == results["SUMMARY"]
    assert sum(not success for _, _, success, _, _ in results["BASIC"]) >= 5  # failures were compared


def test_only_the_columns_expectations_read_are_validated_with_the_same_results(project):
    from evaluation.validation import engine

    frame, expectations = _every_kind_of_expectation()
    pruned = engine.referenced_columns(frame, expectations())
    assert list(pruned.columns) == ["flag", "id", "n", "m", "when"] and len(pruned) == len(frame)
    prepared = engine._prepare(project, "every_kind", expectations())
    whole, narrow = (_results(engine._validate(project, prepared.batch,
                                               prepared.batch.get_batch(batch_parameters={"dataframe": f}),
                                               prepared.suite))
                     for f in (frame, pruned))
    assert narrow == whole
    outcome = run_suite(project, "every_kind", frame, expectations(), run=RUN + "r1")
    assert outcome.rows == len(frame) and len(outcome.failed) >= 5


def test_a_table_level_expectation_keeps_every_column():
    import great_expectations as gx

    from evaluation.validation import engine

    frame, expectations = _every_kind_of_expectation()
    table_level = [*expectations(), gx.expectations.ExpectTableColumnCountToEqual(value=6)]
    assert engine.referenced_columns(frame, table_level) is frame
    schema_frame, schema_expectations = suites.schema_suite(_children(), "children")
    assert engine.referenced_columns(schema_frame, schema_expectations) is schema_frame


def test_a_new_process_reuses_the_stored_suite_and_saves_a_changed_one(project, tmp_path):
    """A step process starts with nothing prepared: an unchanged suite is read back, not saved again."""
    from evaluation.validation import engine

    frame, expectations = suites.pseudonym_suite(_children(1))
    run_suite(project, "pseudonymised__children", frame, expectations, run=RUN + "r1")
    stored = tmp_path / "gx" / "gx" / "expectations" / "pseudonymised__children.json"
    before = stored.stat().st_mtime_ns, stored.read_text()
    ids = [e.id for e in project.gx.suites.get("pseudonymised__children").expectations]
    project.prepared.clear()  # as a process forked before this suite was prepared
    outcome = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(1)), run=RUN + "r2")
    assert (stored.stat().st_mtime_ns, stored.read_text()) == before
    assert [e.id for e in project.prepared["pseudonymised__children"].suite.expectations] == ids
    assert outcome.failed[0].unexpected == 1
    project.prepared.clear()
    changed = suites.pseudonym_suite(_children(1))[1][1:]
    run_suite(project, "pseudonymised__children", frame, changed, run=RUN + "r3")
    assert len(project.gx.suites.get("pseudonymised__children").expectations) == len(changed)
    assert engine._expectations_json(project.gx.suites.get("pseudonymised__children").expectations) \
        == engine._expectations_json(changed)


def test_opening_the_project_compiles_the_page_templates(tmp_path):
    """The fork server opens the project, so check steps start with the templates compiled."""
    from evaluation.validation import docs

    docs._environment.cache_clear()
    validation_context(tmp_path / "gx2", tmp_path / "docs2")
    cached = docs._environment().cache
    assert cached is not None and {name for _, name in cached.keys()} >= {"validation.html.j2", "index.html.j2"}


def test_the_frame_is_hashed_once_per_validation(project, monkeypatch):
    """GX hashes the batch's values (its pandas_data_fingerprint) when the frame is fetched as a
    batch; that batch is the one validated (GX's Batch.validate fetched and hashed it again), and the
    reuse fingerprint takes GX's digest instead of hashing the frame once more, and still tells
    frames apart. A reused result costs that one hash too."""
    calls = []
    hash_frame = pd.util.hash_pandas_object

    def counted(obj, *args, **kwargs):
        calls.append(obj.shape)
        return hash_frame(obj, *args, **kwargs)

    monkeypatch.setattr(pd.util, "hash_pandas_object", counted)
    frame, expectations = suites.pseudonym_suite(_children(1))
    first = run_suite(project, "pseudonymised__children", frame, expectations, run=RUN + "r1")
    assert len(calls) == 1
    again = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(1)), run=RUN + "r2")
    assert len(calls) == 2
    other = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(2)), run=RUN + "r3")
    assert len(calls) == 3
    stored = _stored(project)
    assert stored[RUN + "r2"].meta["same_as_run"]["run_name"] == RUN + "r1"
    assert "same_as_run" not in stored[RUN + "r3"].meta
    assert again.expectations == first.expectations and other.failed[0].unexpected == 2


def _as_stored(validation) -> dict:
    """A validation result as stored, less the one value that differs per fetch of a batch (when
    it was fetched)."""
    stored = validation.to_json_dict()
    stored["meta"]["batch_markers"].pop("ge_load_time")
    return stored


@pytest.mark.parametrize("case", ["every_kind", "pseudonyms", "codes"])
def test_the_fetched_batch_is_validated_as_gx_validates_it(project, case):
    """The engine validates the batch it fetched (and hashed) itself, on an asset never saved in the
    project; GX's own path (a data asset saved in the data source, Batch.validate fetching the
    batch again) gives the same stored result: results, statistics, batch id, spec and markers."""
    from evaluation.validation import engine

    if case == "every_kind":
        frame, expectations = _every_kind_of_expectation()
        expectations = expectations()
    elif case == "pseudonyms":
        frame, expectations = suites.pseudonym_suite(_children(2))
    else:
        episodes = valid_tables()["cin_episodes"].copy()
        episodes.loc[0, "primary_need"] = "N99"
        frame, expectations = suites.codes_suite(episodes, "cin_episodes")
    prepared = engine._prepare(project, case, expectations)
    batch = prepared.batch.get_batch(batch_parameters={"dataframe": frame})
    ours = engine._validate(project, prepared.batch, batch, prepared.suite)
    gx_asset = project.source.add_dataframe_asset(case)  # GX's own way: saved in the project
    theirs = (gx_asset.add_batch_definition_whole_dataframe("whole")
              .get_batch(batch_parameters={"dataframe": frame})
              .validate(prepared.suite, result_format=engine.RESULT_FORMAT))
    assert batch.id == f"{engine.SOURCE}-{case}"
    assert _as_stored(ours) == _as_stored(theirs)
    assert not ours.success  # each case has failures: those are compared too


def test_validating_new_suites_rewrites_no_project_configuration(project, tmp_path):
    """A suite's data asset is not saved in the project: validating new suites (as every check step
    of a fresh instance does) leaves the project's configuration file as the project was opened."""
    config = tmp_path / "gx" / "gx" / "great_expectations.yml"
    before = config.stat().st_mtime_ns, config.read_text()
    for name in ("pseudonymised__children", "pseudonymised__families"):
        for n in (1, 2):
            outcome = run_suite(project, name, *suites.pseudonym_suite(_children(n)), run=RUN + f"r{n}")
            assert outcome.failed[0].unexpected == n
    assert (config.stat().st_mtime_ns, config.read_text()) == before
    assert project.source.assets == []


def test_a_project_with_saved_data_assets_still_validates(tmp_path, monkeypatch):
    """A project written by an earlier version holds each suite's data asset in its data source:
    opened again, its suites validate, with the same batch id."""
    from evaluation.validation import engine

    first = validation_context(tmp_path / "gx", tmp_path / "docs")
    first.source.add_dataframe_asset("pseudonymised__children").add_batch_definition_whole_dataframe("whole")
    monkeypatch.setattr(engine, "_contexts", {})  # as a new process
    project = validation_context(tmp_path / "gx", tmp_path / "docs")
    assert project is not first and project.source.get_asset("pseudonymised__children")
    outcome = run_suite(project, "pseudonymised__children", *suites.pseudonym_suite(_children(1)), run=RUN + "r1")
    assert outcome.failed[0].unexpected == 1
    (key,) = project.gx.validation_results_store.list_keys()
    assert key.batch_identifier == f"{engine.SOURCE}-pseudonymised__children"
