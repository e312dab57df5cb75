"""The cluster's instance (deploy/dagster.yaml) against a real PostgreSQL and S3-compatible store.

A throwaway PostgreSQL server (Debian's ``postgresql``) and a loopback S3 server (moto) stand in
for the secure environment's database and object store. The project's ingest asset runs for one
synthetic local authority with run/event storage in PostgreSQL, intermediate tables as parquet on
S3 and compute logs on S3; the test then reads the run, its events and the partition back from
PostgreSQL directly, so nothing passes only because Dagster read its own cache.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY_INSTANCE = REPO / "deploy" / "dagster.yaml"
PG_USER = "dagster"
PG_PASSWORD = "not-a-real-secret-test-only"
PG_DB = "fsp_dagster"
BUCKET = "fsp-evaluation"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _ensure_postgres() -> Path:
    """PostgreSQL's server binaries, installing Debian's ``postgresql`` when missing (root only)."""
    bindir = _postgres_bindir()
    if bindir is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], env=env,
                       capture_output=True, timeout=300)
        bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are missing and could not be installed "
                    "(apt-get install postgresql)")
    return bindir


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and the server refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on a free loopback port with password auth; stopped at teardown."""
    bindir = _ensure_postgres()
    workdir = Path(tempfile.mkdtemp(prefix="fsp-pg-"))
    data, socket_dir, pwfile = workdir / "data", workdir / "socket", workdir / "pw"
    socket_dir.mkdir()
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(socket_dir, "postgres")
        shutil.chown(pwfile, "postgres")
    port = free_port()
    run = lambda cmd: subprocess.run(_as_postgres_user(cmd), check=True, capture_output=True,  # noqa: E731
                                     timeout=120)
    run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile),
         "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"])
    options = (f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(workdir / "server.log"),
         "-w", "-t", "60", "start"])
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD,
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {PG_DB}")
        conn.close()
        yield {"host": "127.0.0.1", "port": port, "user": PG_USER, "password": PG_PASSWORD,
               "db": PG_DB}
    finally:
        subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                          "-w", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def s3_server():
    """A loopback S3-compatible server (moto) with the evaluation's bucket; stopped at teardown."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import boto3

    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2",
                              aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield {"endpoint": endpoint, "client": client}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster_env(postgres, s3_server):
    """The environment variables a pod gets from the cluster's Secrets and ConfigMap."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "DAGSTER_PG_HOST": postgres["host"], "DAGSTER_PG_PORT": str(postgres["port"]),
            "DAGSTER_PG_DB": postgres["db"], "DAGSTER_PG_USERNAME": postgres["user"],
            "DAGSTER_PG_PASSWORD": postgres["password"],
            "DAGSTER_INSTANCE_CONFIG_MAP": "fsp-dagster-instance",
            "DAGSTER_K8S_NAMESPACE": "fsp-evaluation",
            "FSP_COMPUTE_LOG_BUCKET": BUCKET, "AWS_ENDPOINT_URL": s3_server["endpoint"],
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-west-2",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        }.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def instance(cluster_env, tmp_path_factory):
    """A DagsterInstance built from deploy/dagster.yaml exactly as committed."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    inst = dg.DagsterInstance.from_config(str(home))
    yield inst
    inst.dispose()


@pytest.fixture(scope="module")
def synthetic_county(small_county):
    """The session's small synthetic county (its Oxfordshire folder, code 931, is run here)."""
    return small_county


@dg.asset(ins={"children": dg.AssetIn(key=["pseudonymised", "children"])}, group_name="pooled")
def children_per_local_authority(children: pd.DataFrame) -> pd.DataFrame:
    """Pooled over every LA partition: exercises the multi-partition load from parquet."""
    return children.groupby("la_code", as_index=False).size()


def test_instance_from_deploy_yaml_uses_postgres_and_s3(instance):
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
    assert not instance.telemetry_enabled


def test_run_launcher_config_is_valid_for_k8s(instance):
    """The run launcher section validates against dagster-k8s's own schema (no cluster needed)."""
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    section = instance.get_ref().run_launcher_data
    assert (section.module_name, section.class_name) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), section.config_dict)
    assert result.success, result.errors
    assert result.value["job_namespace"] == "fsp-evaluation"
    assert "fsp-pseudonymisation-key" in result.value["env_secrets"]


def test_partitioned_ingest_runs_on_postgres_and_s3(instance, synthetic_county, s3_server,
                                                    monkeypatch):
    """Materialise one LA partition of the ingest asset, then read it back from PostgreSQL and S3."""
    import psycopg2

    from assets.ingest import DOOR_TABLES, ingest_and_pseudonymise
    from assets.partitions import local_authorities, register_local_authorities
    from assets.resources import KEY_ENV_VAR, InputFolder, PseudonymisationKeyResource
    from assets.storage import ParquetIOManager
    from evaluation import tables as contract
    from evaluation.pseudonymise import DEMO_KEY

    monkeypatch.setenv(KEY_ENV_VAR, DEMO_KEY)
    assert register_local_authorities(instance, ["931"]) in (["931"], [])

    root = f"s3://{BUCKET}/intermediate"
    resources = {
        "io_manager": ParquetIOManager(root=root),
        "pseudonymisation_key": PseudonymisationKeyResource(key=dg.EnvVar(KEY_ENV_VAR)),
        "input_folder": InputFolder(path=str(synthetic_county)),
    }
    result = dg.materialize([ingest_and_pseudonymise], partition_key="931", instance=instance,
                            resources=resources, tags={"fsp/test": "postgres"})
    assert result.success
    pooled = dg.materialize([children_per_local_authority, ingest_and_pseudonymise],
                            selection=[children_per_local_authority], instance=instance,
                            resources=resources)
    assert pooled.success

    # The tables are on S3, partitioned by LA, and conform to the contract.
    keys = {obj["Key"] for obj in s3_server["client"].list_objects_v2(
        Bucket=BUCKET, Prefix="intermediate/")["Contents"]}
    for table in DOOR_TABLES:
        assert f"intermediate/pseudonymised/{table}/la_code=931/data.parquet" in keys
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_server["endpoint"], key="test", secret="test")
    with fs.open(f"{BUCKET}/intermediate/pseudonymised/children/la_code=931/data.parquet") as fh:
        children = pd.read_parquet(fh)
    assert len(children) > 0
    pd.testing.assert_frame_equal(children, contract.conform(children, "children"))
    counts = pooled.output_for_node("children_per_local_authority")
    assert counts.to_dict("records") == [{"la_code": "931", "size": len(children)}]

    # Read the run and its events straight from PostgreSQL.
    conn = psycopg2.connect(host=os.environ["DAGSTER_PG_HOST"], port=os.environ["DAGSTER_PG_PORT"],
                            user=PG_USER, password=PG_PASSWORD, dbname=PG_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute("SELECT value FROM run_tags WHERE run_id = %s AND key = %s",
                        (result.run_id, "dagster/partition"))
            assert cur.fetchone() == ("931",)
            cur.execute("SELECT dagster_event_type, asset_key, partition FROM event_logs "
                        "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                        (result.run_id,))
            materialised = cur.fetchall()
            cur.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s",
                        (local_authorities.name,))
            assert cur.fetchall() == [("931",)]
    finally:
        conn.close()
    assert {row[2] for row in materialised} == {"931"}
    assert {row[1] for row in materialised} == {
        dg.AssetKey(["pseudonymised", name]).to_string() for name in DOOR_TABLES}

    # And through Dagster's own API on the same storage.
    record = instance.get_run_record_by_id(result.run_id)
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    events = instance.all_logs(result.run_id)
    assert any(e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
               for e in events)
    # Raw identifiers never reach the event log: only the key's fingerprint is recorded.
    assert all(DEMO_KEY not in (e.message or "") for e in events)

    # Step stdout/stderr went to the object store, not to a pod's disk.
    log_keys = [obj["Key"] for obj in s3_server["client"].list_objects_v2(
        Bucket=BUCKET, Prefix="compute-logs/").get("Contents", [])]
    assert log_keys, "no compute logs were uploaded to the object store"
