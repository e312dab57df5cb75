"""Issue #13, safe with real data: key handling fails closed, council-scoped pseudonyms, the
output folder apart from data and instance, LA folder names, one run per instance, killed runs
and releases cleaned up, the demo key stated, and the synthetic county never written over a
council's files. (The bad inputs are in tests/bad_inputs/safety.py; `make run` on a council's
folder leaving every input byte unchanged is in test_pipeline_end_to_end.py.)"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from evaluation.pseudonymise import (
    CHILD, DEMO_KEY, FAMILY, PseudonymisationKeyError, load_key, pseudonymise,
)
from conftest import LOCAL_STORAGE

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "handwritten" / "931"


# --- keys -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, why", [
    ("00" * 32, "distinct byte"),
    ("a" * 64, "distinct byte"),
    ("deadbeef" * 8, "distinct byte"),
    ("0001020304050607101112131415161720212223242526273031323334353637", "distinct hex characters"),
    ("correcthorsebatterystaplecorrecthorsebattery", "passphrase"),
    ("CorrecthorsebatterystaplecorrecthorsebatterY", "passphrase"),
    ("0x" + "5f1c0e2d9b7a4c3e8f6d1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f", "0x"),
    ("5f1c0e2d9b7a4c3e8f6d1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6", "odd number"),
])
def test_weak_and_ambiguous_keys_are_refused(text, why):
    with pytest.raises(PseudonymisationKeyError, match=why) as err:
        load_key(text)
    assert text not in str(err.value)
    assert "secrets.token_hex(32)" in str(err.value)


def test_generated_keys_are_never_refused():
    """30,000 keys as the README's commands make them (hex, URL-safe and standard base64) pass
    the entropy rules, including base64 keys that happen to start with 0x."""
    rng = random.Random(20201101)
    for _ in range(10_000):
        secret = rng.randbytes(32)
        for text in (secret.hex(), base64.urlsafe_b64encode(secret).decode().rstrip("="),
                     base64.b64encode(secret).decode()):
            assert load_key(text).secret == secret
    starts_0x = base64.b64encode(bytes([0xD3, 0x1F]) + rng.randbytes(30)).decode()
    assert starts_0x.startswith("0x") and load_key(starts_0x)


def _preflight(monkeypatch, value, demo):
    from assets.run import KEY_ENV_VAR, _preflight_key

    if value is None:
        monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV_VAR, value)
    return _preflight_key(demo)


def test_an_empty_key_variable_is_no_key_never_the_demo_key(monkeypatch):
    with pytest.raises(SystemExit, match="is set but empty"):
        _preflight(monkeypatch, "", demo=True)
    with pytest.raises(SystemExit, match="is set but empty"):
        _preflight(monkeypatch, "   ", demo=True)
    with pytest.raises(SystemExit, match="is not set"):
        _preflight(monkeypatch, None, demo=False)
    assert _preflight(monkeypatch, None, demo=True).is_demo


def test_a_key_change_within_an_instance_stops_unless_deliberate():
    from assets.resources import FINGERPRINT_ASSET, KeyChangedError, check_key_continuity

    with dg.instance_for_test() as instance:
        check_key_continuity(instance, "aaaa", False)          # a new instance: any key
        instance.report_runless_asset_event(dg.AssetMaterialization(
            FINGERPRINT_ASSET, partition="931", metadata={"key_fingerprint": "aaaa"}))
        check_key_continuity(instance, "aaaa", False)          # the same key again
        with pytest.raises(KeyChangedError, match="aaaa") as err:
            check_key_continuity(instance, "bbbb", False)
        assert "FSP_KEY_CHANGE_DELIBERATE=1" in str(err.value)
        check_key_continuity(instance, "bbbb", True)           # told it is deliberate
        instance.report_runless_asset_event(dg.AssetMaterialization(
            FINGERPRINT_ASSET, partition="931", metadata={"key_fingerprint": "bbbb"}))
        check_key_continuity(instance, "bbbb", False)          # the new key from then on


def test_the_door_refuses_a_changed_key(tmp_path, monkeypatch):
    """The door asset itself (a run from the UI, not only make run) stops on a changed key."""
    from assets.definitions import ALL_ASSETS, build_resources
    from assets.partitions import local_authorities
    from assets.resources import FINGERPRINT_ASSET

    root = tmp_path / "input"
    shutil.copytree(FIXTURE, root / "931")
    with dg.instance_for_test(overrides=LOCAL_STORAGE) as instance:
        instance.add_dynamic_partitions(local_authorities.name, ["931"])
        instance.report_runless_asset_event(dg.AssetMaterialization(
            FINGERPRINT_ASSET, partition="931", metadata={"key_fingerprint": "0123456789abcdef"}))
        resources = build_resources(database=str(tmp_path / "db.duckdb"), input_dir=str(root),
                                    output_dir=str(tmp_path / "out"))
        monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", secrets.token_hex(32))
        monkeypatch.delenv("FSP_KEY_CHANGE_DELIBERATE", raising=False)
        result = dg.materialize(ALL_ASSETS, selection=dg.AssetSelection.groups("pseudonymised"),
                                partition_key="931", instance=instance, resources=resources,
                                raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "pseudonymisation key has changed" in str(failure.event_specific_data.error.message)


# --- council-scoped identities ---------------------------------------------------------------------

def test_child_and_family_ids_are_scoped_by_council():
    key = load_key(secrets.token_hex(32))
    ids = pd.Series(["123", "0001"])
    for namespace in (CHILD, FAMILY):
        a = pseudonymise(ids, key.for_council("931"), namespace)
        b = pseudonymise(ids, key.for_council("932"), namespace)
        assert not (a == b).any()
        assert a.equals(pseudonymise(ids, key.for_council("931"), namespace))


def _two_councils_with_the_same_ids(root: Path) -> None:
    """Folders 931 and 932 holding the same raw child and family ids (the fixture twice)."""
    for code in ("931", "932"):
        shutil.copytree(FIXTURE, root / code)
        for xml in (root / code / "cin_census").glob("*.xml"):
            xml.write_text(xml.read_text().replace("<LEA>931</LEA>", f"<LEA>{code}</LEA>"))


def test_two_councils_family_123_are_two_clusters(tmp_path):
    """The same raw child and family ids in two councils' folders give distinct pseudonyms, so
    models clustered on family_id never merge two councils' families."""
    from evaluation.ingest import ingest_local_authority

    key = load_key(secrets.token_hex(32))
    _two_councils_with_the_same_ids(tmp_path)
    a = ingest_local_authority(tmp_path / "931", key)
    b = ingest_local_authority(tmp_path / "932", key)
    assert len(a["children"]) == len(b["children"]) == 4
    assert not set(a["children"]["child_id"]) & set(b["children"]["child_id"])
    assert not set(a["families"]["family_id"]) & set(b["families"]["family_id"])


# --- folders --------------------------------------------------------------------------------------

def test_output_folder_may_not_overlap_the_inputs_or_the_instance(tmp_path):
    from assets.resources import OutputFolder, UnsafeOutputFolderError, check_output_folder

    inputs, home = tmp_path / "extracts", tmp_path / "home"
    inputs.mkdir(), home.mkdir()
    for bad in (inputs, inputs / "release", home, home / "out", tmp_path):
        with pytest.raises(UnsafeOutputFolderError, match="overlaps"):
            check_output_folder(bad, inputs, home)
    link = tmp_path / "link_to_inputs"
    link.symlink_to(inputs)
    with pytest.raises(UnsafeOutputFolderError):
        check_output_folder(link, inputs, home)
    check_output_folder(tmp_path / "release", inputs, home)
    with pytest.raises(UnsafeOutputFolderError):
        OutputFolder(path=str(inputs), input_path=str(inputs)).folder()


def test_run_refuses_an_output_folder_inside_the_inputs(tmp_path, monkeypatch):
    from assets.run import run_pipeline

    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", secrets.token_hex(32))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FSP_INPUT_DIR", str(tmp_path / "input"))
    monkeypatch.setenv("FSP_OUTPUT_DIR", str(tmp_path / "input" / "release"))
    shutil.copytree(FIXTURE, tmp_path / "input" / "931")
    messages: list[str] = []
    with dg.instance_for_test() as instance:
        code = run_pipeline(instance, echo=messages.append)
    assert code == 1 and "overlaps the input folder" in messages[-1]
    assert not (tmp_path / "input" / "release").exists()


def test_local_authority_folders_are_three_ascii_digits_and_others_are_listed(tmp_path):
    from assets.partitions import discover_local_authorities, skipped_entries

    for name in ("931", "９３１", "931\n", "0931", "oxfordshire", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert discover_local_authorities(tmp_path) == ["931"]
    skipped = "\n".join(skipped_entries(tmp_path))
    for name in ("９３１", "931\\n", "0931", "oxfordshire", "notes.txt"):
        assert name in skipped, skipped
    assert ".hidden" not in skipped


# --- runs -----------------------------------------------------------------------------------------

def test_one_run_per_instance_at_a_time(tmp_path):
    from assets.run import instance_lock

    with instance_lock(tmp_path):
        with pytest.raises(SystemExit, match="another run is using this Dagster instance"):
            with instance_lock(tmp_path):
                pass
    with instance_lock(tmp_path):   # released when the first run ends
        pass


def test_runs_left_started_by_a_killed_process_are_marked_failed():
    from dagster._core.storage.dagster_run import DagsterRun

    from assets.run import HOST_TAG, PID_TAG, fail_abandoned_runs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with dg.instance_for_test() as instance:
        def started(pid: int) -> str:
            run = instance.add_run(DagsterRun(
                job_name="stage", run_id=secrets.token_hex(8), status=dg.DagsterRunStatus.STARTED,
                tags={PID_TAG: str(pid), HOST_TAG: socket.gethostname()}))
            return run.run_id

        killed, alive = started(dead.pid), started(os.getpid())
        assert fail_abandoned_runs(instance, echo=lambda _: None) == 1
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED


def test_instance_home_is_owner_only_with_telemetry_off(tmp_path):
    import stat

    import yaml

    from assets.run import prepare_instance_home

    old = os.umask(0o022)
    try:
        prepare_instance_home(tmp_path / "home")
        assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
        (tmp_path / "home" / "store.db").write_text("x")
        assert stat.S_IMODE((tmp_path / "home" / "store.db").stat().st_mode) == 0o600
        settings = yaml.safe_load((tmp_path / "home" / "dagster.yaml").read_text())
        assert settings["telemetry"]["enabled"] is False
    finally:
        os.umask(old)


def test_a_killed_release_leaves_the_previous_release_whole(tmp_path):
    from evaluation.report.release import STAGING_PREFIX, publish, staging_folder

    out = tmp_path / "outputs"
    first = staging_folder(out)
    (first / "tables").mkdir()
    (first / "tables" / "a.csv").write_text("first")
    (first / "report.html").write_text("first")
    publish(first, out, ("tables", "report.html", "results.json"))
    killed = staging_folder(out)            # a second release, killed while writing
    (killed / "report.html").write_text("half")
    assert (out / "report.html").read_text() == "first"
    assert (out / "tables" / "a.csv").read_text() == "first"
    again = staging_folder(out)             # the next release clears the leftover first
    assert [p.name for p in out.glob(STAGING_PREFIX + "*")] == [again.name]
    (again / "report.html").write_text("third")
    publish(again, out, ("tables", "report.html", "results.json"))
    assert (out / "report.html").read_text() == "third" and not (out / "tables").exists()
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_a_demo_key_release_says_so_in_the_report_and_the_output_log(tmp_path):
    from evaluation.report import write_release
    from evaluation.report.build import DEMO_KEY_NOTICE
    from evaluation.report.demo import demo_release

    tables = {"cohort_counts": demo_release()["cohort_counts"]}   # one table is enough here
    # The notice is in the HTML and the log; the PDF printed from that HTML is the browser tests'.
    release = write_release(tables, tmp_path / "demo", {"key_fingerprint": "x", "demo_key": True},
                            pdf_report=False)
    assert 'id="demo-key"' in release.report.read_text(encoding="utf-8")
    session = json.loads(release.results_json.read_text(encoding="utf-8"))
    assert session["session_notes"] == [DEMO_KEY_NOTICE]
    plain = write_release(tables, tmp_path / "real", {"key_fingerprint": "x"}, pdf_report=False)
    assert 'id="demo-key"' not in plain.report.read_text(encoding="utf-8")


# --- the synthetic county is never written over a council's files -------------------------------

def test_the_generator_refuses_a_folder_holding_other_files(tmp_path):
    from evaluation.synthetic import generate_county

    council = tmp_path / "extracts"
    shutil.copytree(FIXTURE, council / "931")
    before = sorted(p.relative_to(council) for p in council.rglob("*"))
    with pytest.raises(FileExistsError, match="not a synthetic county"):
        generate_county(council, seed=1, scale=0.02, progress=False)
    run = subprocess.run([sys.executable, "-m", "evaluation.synthetic", str(council), "--quiet",
                          "--if-missing", "--scale", "0.02"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "not a synthetic county" in run.stderr
    assert sorted(p.relative_to(council) for p in council.rglob("*")) == before


def test_make_run_generates_only_without_an_input_folder(tmp_path):
    """`make -n run` (what make would do): with FSP_INPUT_DIR set, no generator and no demo
    key; without it, the generator writes into data/synthetic only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "FSP_"))}
    env["DAGSTER_HOME"] = str(tmp_path / "home")

    def plan(**extra) -> str:
        run = subprocess.run(["make", "-n", "--no-print-directory", "run"], cwd=ROOT,
                             env={**env, **extra}, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout

    council = plan(FSP_INPUT_DIR=str(tmp_path / "extracts"))
    assert "evaluation.synthetic" not in council and "--demo-key" not in council
    default = plan()
    assert f"evaluation.synthetic {ROOT}/data/synthetic" in default and "--demo-key" in default


def test_demo_key_is_accepted_on_the_generated_county_only(small_county, tmp_path):
    """The shared small county (conftest: as the generator wrote it; read here, never written)."""
    from evaluation.ingest import DemoKeyRefusedError, ingest_local_authority

    county = small_county
    demo = load_key(DEMO_KEY)
    assert len(ingest_local_authority(county / "931", demo)["children"]) > 0
    copy = tmp_path / "copy" / "931"
    shutil.copytree(FIXTURE, copy)
    shutil.copy(county / "931" / "SYNTHETIC_COUNTY.json", copy)   # the marker copied over
    with pytest.raises(DemoKeyRefusedError, match="inventory does not match"):
        ingest_local_authority(copy, demo)


def test_a_stop_ends_with_the_file_position_field_and_what_to_do(tmp_path, monkeypatch):
    """The last lines of a stopped run carry the door's own message (file, position, field), not
    a generic 'failed' line, and no traceback; the comparison run beside the council is stopped
    rather than waited for (the pooled analysis will not run)."""
    from conftest import run_pipeline_process

    folder = tmp_path / "input" / "931"
    shutil.copytree(FIXTURE, folder)
    xml = folder / "cin_census" / "cin_2020.xml"
    xml.write_text(xml.read_text().replace("<Children>", "<Children><Wrapper>")
                   .replace("</Children>", "</Wrapper></Children>"))
    code, messages = run_pipeline_process(tmp_path / "input", tmp_path / "home", tmp_path / "out",
                                          secrets.token_hex(32))
    assert code == 1
    tail = "\n".join(messages[-3:])
    assert "cin_census/cin_2020.xml" in tail and "line" in tail and "Child" in tail, tail
    assert "What to do" in messages[-1]
    assert "Traceback" not in "\n".join(messages)
    assert any(line.strip().startswith("comparison areas stopped in") for line in messages), messages


def test_the_national_upn_link_is_an_explicit_setting(tmp_path):
    """Off by default (national_id always missing); switched on, the same UPN in two councils
    gives the same council-independent pseudonym while child ids stay council-scoped, and the
    UPN-unknown codes are not identifiers."""
    from evaluation.ingest import ingest_local_authority
    from evaluation.pseudonymise import upn_pseudonyms

    key = load_key(secrets.token_hex(32))
    _two_councils_with_the_same_ids(tmp_path)
    plain = ingest_local_authority(tmp_path / "931", key)
    assert plain["children"]["national_id"].isna().all()
    a = ingest_local_authority(tmp_path / "931", key, national_upn_link=True)
    b = ingest_local_authority(tmp_path / "932", key, national_upn_link=True)
    assert a["children"]["national_id"].notna().sum() >= 3
    assert set(a["children"]["national_id"].dropna()) == set(b["children"]["national_id"].dropna())
    assert not set(a["children"]["child_id"]) & set(b["children"]["child_id"])
    got = upn_pseudonyms(pd.Series(["A123456789012", "a123456789012 ", "UN1", "UN10", "", None]),
                         key.for_council("931"))
    assert got.iloc[0] == got.iloc[1] and got.iloc[2:].isna().all()
    assert got.iloc[0] == upn_pseudonyms(pd.Series(["A123456789012"]), key).iloc[0]


def test_a_council_with_no_usable_child_stops_before_analysis(tmp_path, monkeypatch):
    """Every child quarantined (here: the family table lists none of them): the door stores the
    quarantine for review, and the blocking check children_present stops the spells."""
    from assets.definitions import ALL_ASSETS, build_resources
    from assets.partitions import local_authorities
    from checks.pseudonymised import PSEUDONYMISED_CHECKS

    # Only the children's checks: the other tables' validations are not under test here.
    children = dg.AssetKey(["pseudonymised", "children"])
    children_checks = [c for c in PSEUDONYMISED_CHECKS
                       if children in {k.asset_key for k in c.check_keys}]
    monkeypatch.setenv("FSP_PSEUDONYMISATION_KEY", secrets.token_hex(32))
    folder = tmp_path / "input" / "931"
    shutil.copytree(FIXTURE, folder)
    (folder / "families.csv").write_text("person_id,family_id\nNOBODY1,FAM-1\n")
    with dg.instance_for_test(overrides=LOCAL_STORAGE) as instance:
        instance.add_dynamic_partitions(local_authorities.name, ["931"])
        result = dg.materialize(
            [*ALL_ASSETS, *children_checks],
            selection=dg.AssetSelection.groups("pseudonymised", "spells"), partition_key="931",
            instance=instance, raise_on_error=False,
            resources=build_resources(database=str(tmp_path / "db.duckdb"),
                                      input_dir=str(tmp_path / "input"),
                                      output_dir=str(tmp_path / "out")))
    assert not result.success
    failed = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed}
    assert ("children", "children_present") in failed
    done = {e.asset_key.path[-1] for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "quarantine" in done and "children" in done
    assert not done & {"need_spells", "protection_spells", "care_periods"}
