"""The cluster configuration in deploy/: valid for Dagster, coherent across files, free of secrets.

deploy/dagster.yaml (the instance), deploy/helm/values.yaml (the same instance as the official
chart renders it, plus pods), deploy/k8s/executor.yaml (step pods) and deploy/k8s/pipeline-env.yaml
(the ConfigMap) describe one deployment; these tests fail when they drift apart, when the executor
config stops matching the job's config schema, or when a secret value appears in a file.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.storage import (
    DEFAULT_EXECUTOR_CONFIG,
    ParquetIOManager,
    executor_from_env,
    io_manager_from_env,
    load_executor_config,
)

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
KEY_SECRET = "fsp-pseudonymisation-key"


def _load(relative: str) -> dict:
    return yaml.safe_load((DEPLOY / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def instance_yaml() -> dict:
    return _load("dagster.yaml")


@pytest.fixture(scope="module")
def values() -> dict:
    return _load("helm/values.yaml")


@pytest.fixture(scope="module")
def executor_config() -> dict:
    return load_executor_config()


@pytest.fixture(scope="module")
def pipeline_env() -> dict[str, str]:
    return _load("k8s/pipeline-env.yaml")["data"]


def _names(refs: list) -> list[str]:
    return [r["name"] if isinstance(r, dict) else r for r in refs]


def _strings(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, str(i)))
    elif isinstance(node, str):
        yield path, node


# -- Dagster accepts the configuration ---------------------------------------------------------

def test_executor_config_is_the_default_file():
    assert DEFAULT_EXECUTOR_CONFIG == DEPLOY / "k8s" / "executor.yaml"


def test_configured_executor_runs_steps_as_k8s_jobs(monkeypatch, executor_config):
    monkeypatch.setenv("FSP_EXECUTOR", "k8s")
    executor = executor_from_env()
    assert executor.name == "k8s_job_per_step"

    @dg.asset
    def one() -> int:
        return 1

    job = dg.Definitions(assets=[one], executor=executor).resolve_implicit_global_asset_job_def()
    resolved = dg.validate_run_config(job, {})
    assert resolved["execution"]["k8s_job_per_step"]["max_concurrent"] == executor_config["max_concurrent"]

    monkeypatch.setenv("FSP_EXECUTOR", "multiprocess")
    assert executor_from_env() is None
    monkeypatch.setenv("FSP_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="multiprocess' or 'k8s"):
        executor_from_env()


def test_pipeline_env_selects_parquet_storage_and_k8s(pipeline_env, monkeypatch):
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    manager = io_manager_from_env()
    assert isinstance(manager, ParquetIOManager)
    assert manager.root == pipeline_env["FSP_PARQUET_ROOT"]
    assert executor_from_env().name == "k8s_job_per_step"


#: Run in a fresh process (so the module-level ``defs`` is built from the cluster environment):
#: load assets.definitions, then validate deploy/k8s/executor.yaml against the project's job.
CLUSTER_LOAD_SCRIPT = """
import json, os
import dagster as dg
from dagster_k8s import k8s_job_executor
import assets.definitions as d
from assets.storage import load_executor_config
from evaluation.pseudonymise import DEMO_KEY

# The jobs make run executes are the jobs the cluster's sensors start, with the cluster's executor.
job = d.defs.resolve_job_def("council")
pooled = d.defs.resolve_job_def("pooled_analysis")
io = d.defs.resources["io_manager"]
loaded = {"executor": job.executor_def.name, "io_manager": type(io).__name__,
          "root": getattr(io, "root", None), "partitions": getattr(job.partitions_def, "name", None),
          "pooled_executor": pooled.executor_def.name,
          "jobs": {name: d.defs.resolve_job_def(name).executor_def.name
                   for name in ("council", "comparison_areas", "pooled_analysis")},
          "sensors": sorted(s.name for s in d.defs.sensors)}

# Validating run config resolves EnvVar resources, so the key is set only now, after loading.
os.environ["FSP_PSEUDONYMISATION_KEY"] = DEMO_KEY
plain = dg.Definitions(assets=d.ALL_ASSETS, resources=d.build_resources(),
                       executor=k8s_job_executor).resolve_implicit_global_asset_job_def()
config = load_executor_config()
resolved = dg.validate_run_config(plain, {"execution": {"config": config}})["execution"]["k8s"]
try:
    dg.validate_run_config(plain, {"execution": {"config": {**config, "env_secret": []}}})
    typo_rejected = False
except dg.DagsterInvalidConfigError:
    typo_rejected = True
print(json.dumps({"loaded": loaded, "validated": resolved, "typo_rejected": typo_rejected}))
"""


@pytest.fixture(scope="module")
def cluster_load(pipeline_env, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("dagster_home")
    env = {**os.environ, **pipeline_env, "DAGSTER_HOME": str(home),
           "FSP_INPUT_DIR": str(home / "input"), "FSP_OUTPUT_DIR": str(home / "outputs")}
    env.pop("FSP_PSEUDONYMISATION_KEY", None)  # loading the code must not need the key
    done = subprocess.run([sys.executable, "-c", CLUSTER_LOAD_SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_executor_config_validates_against_the_project_job_schema(cluster_load, executor_config):
    step_config = cluster_load["validated"]
    assert step_config["job_namespace"] == executor_config["job_namespace"] == "fsp-evaluation"
    assert KEY_SECRET in step_config["env_secrets"]
    assert step_config["max_concurrent"] == executor_config["max_concurrent"]
    # The check is not vacuous: a misspelt field is rejected by the same schema.
    assert cluster_load["typo_rejected"]


def test_project_definitions_load_with_the_cluster_environment(cluster_load, pipeline_env):
    """assets.definitions under the ConfigMap's variables uses parquet storage and one pod per
    step (needs the wiring of assets/storage.py into build_resources / Definitions)."""
    assert cluster_load["loaded"] == {
        "executor": "k8s_job_per_step", "io_manager": "ParquetIOManager",
        "root": pipeline_env["FSP_PARQUET_ROOT"], "partitions": "local_authority",
        "pooled_executor": "k8s_job_per_step",
        "jobs": dict.fromkeys(("council", "comparison_areas", "pooled_analysis"), "k8s_job_per_step"),
        "sensors": ["new_extract_sensor", "pooled_after_councils"]}


# -- the files agree with one another ----------------------------------------------------------

def test_helm_run_queue_matches_instance(values, instance_yaml):
    queued = values["dagsterDaemon"]["runCoordinator"]
    assert queued["enabled"] and queued["type"] == "QueuedRunCoordinator"
    helm_limits = queued["config"]["queuedRunCoordinator"]
    runs = instance_yaml["concurrency"]["runs"]
    assert helm_limits["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert helm_limits["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    # One run per local authority at a time.
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} \
        in runs["tag_concurrency_limits"]
    assert instance_yaml["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_helm_storage_and_logs_match_instance(values, instance_yaml):
    pg = instance_yaml["storage"]["postgres"]["postgres_db"]
    assert values["postgresql"]["postgresqlScheme"] == pg["scheme"]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["telemetry"]["enabled"] is False and instance_yaml["telemetry"]["enabled"] is False
    helm_logs = values["computeLogManager"]
    assert helm_logs["type"] == instance_yaml["compute_logs"]["class"] == "S3ComputeLogManager"
    raw_logs = instance_yaml["compute_logs"]["config"]
    assert helm_logs["config"]["s3ComputeLogManager"]["prefix"] == raw_logs["prefix"]


def test_run_pods_and_step_pods_get_the_same_secrets_config_and_volumes(values, instance_yaml,
                                                                        executor_config):
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    helm = launcher["config"]["k8sRunLauncher"]
    raw = instance_yaml["run_launcher"]["config"]
    assert instance_yaml["run_launcher"]["class"] == "K8sRunLauncher"
    for helm_key, raw_key in (("envSecrets", "env_secrets"), ("envConfigMaps", "env_config_maps")):
        assert sorted(_names(helm[helm_key])) == sorted(raw[raw_key]) \
            == sorted(executor_config[raw_key])
    assert helm["jobNamespace"] == executor_config["job_namespace"]
    assert helm["volumes"] == executor_config["volumes"]
    assert [{"name": m["name"], "mountPath": m["mount_path"], "readOnly": m.get("read_only", False)}
            for m in executor_config["volume_mounts"]] == \
        [{"name": m["name"], "mountPath": m["mountPath"], "readOnly": m.get("readOnly", False)}
         for m in helm["volumeMounts"]]
    mounts = {m["mount_path"]: m for m in executor_config["volume_mounts"]}
    assert mounts["/data/input"].get("read_only") is True


def test_user_code_deployment_loads_the_workspace_module(values, pipeline_env):
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == module == "assets.definitions"
    assert deployment["image"]["tag"] not in ("", "latest")
    assert _names(deployment["envConfigMaps"]) == ["fsp-pipeline-env"]
    assert pipeline_env["FSP_INPUT_DIR"] == "/data/input"
    assert pipeline_env["FSP_OUTPUT_DIR"] == "/data/outputs"


# -- secrets stay in Secrets -------------------------------------------------------------------

SECRET_NAMES = re.compile(r"(password|secret|token|access_key|pseudonymisation_key)", re.IGNORECASE)
HEX_KEY = re.compile(r"\b[0-9a-fA-F]{32,}\b")


@pytest.mark.parametrize("relative", ["dagster.yaml", "helm/values.yaml", "k8s/executor.yaml",
                                      "k8s/pipeline-env.yaml"])
def test_no_secret_value_is_written_in_deploy_files(relative):
    from evaluation.pseudonymise import DEMO_KEY

    text = (DEPLOY / relative).read_text(encoding="utf-8")
    assert DEMO_KEY not in text
    assert not HEX_KEY.search(text)
    for path, value in _strings(yaml.safe_load(text)):
        leaf = path[-1]
        # A secret-looking field (postgresqlPassword, AWS_SECRET_ACCESS_KEY ...) must stay empty;
        # Secrets are referenced by name (envSecrets, postgresqlSecretName) or read from `env:`.
        if SECRET_NAMES.search(leaf) and not leaf.endswith("SecretName"):
            assert value == "", f"{relative}: {'/'.join(path)} holds a literal value"


def test_pseudonymisation_key_reaches_runs_and_steps_only(values, executor_config):
    def secrets_of(section: dict) -> list[str]:
        return _names(section.get("envSecrets", []))

    assert KEY_SECRET in secrets_of(values["runLauncher"]["config"]["k8sRunLauncher"])
    assert KEY_SECRET in executor_config["env_secrets"]
    assert KEY_SECRET not in secrets_of(values["dagsterWebserver"])
    assert KEY_SECRET not in secrets_of(values["dagsterDaemon"])
    for deployment in values["dagster-user-deployments"]["deployments"]:
        assert KEY_SECRET not in secrets_of(deployment)
        assert "FSP_PSEUDONYMISATION_KEY" not in deployment.get("env", {})
    assert "FSP_PSEUDONYMISATION_KEY" not in _load("k8s/pipeline-env.yaml")["data"]
