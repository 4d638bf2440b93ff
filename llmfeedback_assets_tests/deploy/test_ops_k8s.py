"""The Kubernetes deployment, checked without a cluster: deploy/k8s/dagster.yaml and run_config.yaml pass
dagster-k8s's config schemas, the run launcher loads from them, and every GPU-pooled step's pod — built by
the same dagster-k8s functions the k8s_job_executor calls — requests a GPU and tolerates GPU nodes. The
vLLM manifests parse as Kubernetes objects and the vLLM judge config loads. The DuckLake profile
(deploy/ducklake/) passes the same schemas, gives step pods its credentials and a scratch volume instead of
the shared one, and its `warehouse:` section, merged into the bundled config, validates and names a lake."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml
from dagster._config import process_config

from deploy.k8s_defs import defs as k8s_defs
from deploy.k8s_defs import gpu_request, gpu_steps_without_request
from llmfeedback_assets.config import ConfigError, load_config
from llmfeedback_assets.defs.gpu import GPU_OP_TAGS, GPU_POOL, GPU_RESOURCE, gpu_op_tags
from llmfeedback_assets_tests.support.ops import REPO

K8S = REPO / "deploy" / "k8s"
DUCKLAKE = REPO / "deploy" / "ducklake"
ENV = {"LLMFEEDBACK_K8S_NAMESPACE": "llmfeedback", "LLMFEEDBACK_IMAGE": "registry.example/llmfeedback:0.1.0",
       "DAGSTER_PG_HOST": "dagster-postgresql", "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "x",
       "DAGSTER_PG_DB": "dagster"}


@pytest.fixture
def k8s_env(monkeypatch, tmp_path):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    # A kubeconfig that parses but points nowhere: nothing here contacts a cluster.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "none", "user": {"token": "none"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}]}))
    return kubeconfig


def _run_launcher(kubeconfig, instance_dir=K8S):
    from dagster_k8s import K8sRunLauncher

    section = yaml.safe_load((instance_dir / "dagster.yaml").read_text())["run_launcher"]
    assert (section["module"], section["class"]) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), section["config"])
    assert result.success, result.errors
    config = {**result.value, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    return K8sRunLauncher.from_config_value(None, config)


def _step_job(op: dg.OpDefinition, kubeconfig, instance_dir=K8S) -> dict:
    """The Kubernetes Job the k8s_job_executor would create for `op`, as a manifest dict. Same layering as
    `K8sStepHandler._get_container_context`: run launcher (dagster.yaml), then the executor's
    step_k8s_config (run_config.yaml), then the op's `dagster-k8s/config` tag, deep-merged in that order."""
    import kubernetes
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
        get_user_defined_k8s_config,
    )

    launcher = _run_launcher(kubeconfig, instance_dir)
    executor_cfg = yaml.safe_load((K8S / "run_config.yaml").read_text())["execution"]["config"]
    context = K8sContainerContext.create_for_run(dg.DagsterRun(job_name="__ASSET_JOB"), launcher,
                                                 include_run_tags=False)
    context = context.merge(K8sContainerContext(
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(executor_cfg.get("step_k8s_config", {}))))
    context = context.merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op.tags)))
    job = construct_dagster_k8s_job(job_config=context.get_k8s_job_config(None, launcher), args=["dagster"],
                                    job_name=f"dagster-step-{op.name}".replace("_", "-"),
                                    user_defined_k8s_config=context.run_k8s_config, component="step_worker")
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


@dg.asset(pool=GPU_POOL, op_tags=GPU_OP_TAGS)
def _gpu_embeddings() -> None:
    """Stands for the project's GPU steps (embeddings, reward training) until they exist in the graph."""


@dg.asset(pool=GPU_POOL)
def _gpu_untagged() -> None:
    """A GPU step that forgot the tag: it must be reported."""


def _ops(definitions: dg.Definitions) -> list[dg.OpDefinition]:
    return [op for a in definitions.resolve_asset_graph().assets_defs for op in a.node_def.iterate_op_defs()]


def test_instance_and_executor_config_pass_the_dagster_k8s_schemas(k8s_env):
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(K8S), "dagster.yaml")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] >= 1

    launcher = _run_launcher(k8s_env)
    assert launcher.job_namespace == "llmfeedback"
    assert launcher.job_image == ENV["LLMFEEDBACK_IMAGE"]

    run_config = yaml.safe_load((K8S / "run_config.yaml").read_text())
    job = k8s_defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s"
    assert dg.validate_run_config(job, run_config)["execution"]["k8s"]["max_concurrent"] == 8
    bad = {"execution": {"config": {"max_concurrent": "eight"}}}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, bad)


def test_every_gpu_pooled_step_of_the_project_requests_a_gpu(k8s_env):
    assert gpu_steps_without_request(k8s_defs) == []
    for op in _ops(k8s_defs):
        if op.pool == GPU_POOL:
            limits = (_step_job(op, k8s_env)["spec"]["template"]["spec"]["containers"][0]
                      ["resources"]["limits"])
            assert int(limits[GPU_RESOURCE]) >= 1, op.name


def test_gpu_op_tags_become_the_pods_gpu_request_and_toleration(k8s_env):
    definitions = dg.Definitions(assets=[_gpu_embeddings, _gpu_untagged])
    assert gpu_steps_without_request(definitions) == ["_gpu_untagged"]

    ops = {op.name: op for op in _ops(definitions)}
    pod = _step_job(ops["_gpu_embeddings"], k8s_env)["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["limits"][GPU_RESOURCE] == resources["requests"][GPU_RESOURCE] == "1"
    assert resources["requests"]["cpu"] == "1"  # the executor's step default survives the merge
    assert {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["containers"][0]["image"] == ENV["LLMFEEDBACK_IMAGE"]
    assert ({"name": "llmfeedback-data", "mountPath": "/opt/llmfeedback/data"}
            in pod["containers"][0]["volumeMounts"])

    cpu_pod = _step_job(ops["_gpu_untagged"], k8s_env)["spec"]["template"]["spec"]
    assert GPU_RESOURCE not in cpu_pod["containers"][0]["resources"].get("limits", {})
    assert gpu_request(gpu_op_tags(gpus=2)) == 2 and gpu_request({}) == 0


def test_vllm_manifests_and_judge_config():
    import kubernetes

    api = kubernetes.client.ApiClient()
    docs = list(yaml.safe_load_all((REPO / "deploy" / "vllm" / "vllm.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service"}
    deployment = api._ApiClient__deserialize(kinds["Deployment"], "V1Deployment")
    service = api._ApiClient__deserialize(kinds["Service"], "V1Service")
    container = deployment.spec.template.spec.containers[0]
    assert container.resources.limits[GPU_RESOURCE] == "1"
    served = next(a.split("=", 1)[1] for a in container.args if a.startswith("--served-model-name="))

    config = load_config(REPO / "deploy" / "vllm" / "llmfeedback.yaml")
    vllm_judges = [config.model(j) for j in config.judges if config.model(j).base_url]
    assert vllm_judges, "the vLLM config has no OpenAI-compatible judge"
    judge = vllm_judges[0]
    assert judge.provider == "openai" and judge.model_id == served
    assert f"//{service.metadata.name}." in judge.base_url and judge.base_url.endswith(":8000/v1")
    config.check_secrets()  # vLLM needs no API key


def _ducklake_config(tmp_path, **warehouse):
    """The bundled config with deploy/ducklake/llmfeedback.yaml merged in (its top-level keys replace the
    bundled ones), `warehouse` overriding keys of the profile's section."""
    config = yaml.safe_load((REPO / "data" / "config" / "llmfeedback.yaml").read_text())
    profile = yaml.safe_load((DUCKLAKE / "llmfeedback.yaml").read_text())
    config.update(profile)
    config["warehouse"] = {**profile["warehouse"], **warehouse}
    config["root"] = str(REPO)  # the bundled relative paths (prompts) as from data/config/
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_ducklake_profile_merged_into_the_bundled_config_names_a_lake(tmp_path, monkeypatch):
    from llmfeedback_assets.warehouse import Warehouse

    monkeypatch.delenv("LLMFEEDBACK_DB", raising=False)
    profile = yaml.safe_load((DUCKLAKE / "llmfeedback.yaml").read_text())
    assert set(profile) == {"database", "warehouse"}, "the profile is meant to be merged: only these keys"

    config = load_config(_ducklake_config(tmp_path))
    spec = config.warehouse
    assert spec.backend == "ducklake"
    assert spec.catalog.startswith("postgres:") and "\n" not in spec.catalog
    keywords = {kv.split("=")[0] for kv in spec.catalog.removeprefix("postgres:").split()}
    assert {"dbname", "host", "port", "user"} <= keywords
    assert "password" not in spec.catalog.lower()
    assert spec.data_path.startswith("s3://")
    wh = Warehouse.from_config(config)
    assert wh.backend == "ducklake"
    assert wh.lake.data_path == spec.data_path  # a remote path is passed on, not resolved against the project
    # `database` only places side files; in the pods it is on the scratch volume of the profile's instance.
    assert str(config.database_path).startswith("/opt/llmfeedback/scratch/")

    with pytest.raises(ConfigError, match="PGPASSWORD"):
        load_config(_ducklake_config(tmp_path, catalog=spec.catalog + " password=hunter2"))
    with pytest.raises(ConfigError, match="data_path"):
        load_config(_ducklake_config(tmp_path, data_path=None))


def test_ducklake_instance_gives_step_pods_credentials_and_scratch_not_a_shared_volume(k8s_env):
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(DUCKLAKE), "dagster.yaml")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["storage"] == yaml.safe_load((K8S / "dagster.yaml").read_text())["storage"]
    launcher = _run_launcher(k8s_env, DUCKLAKE)
    assert launcher.job_image == ENV["LLMFEEDBACK_IMAGE"]
    assert "llmfeedback-lake-credentials" in launcher.env_secrets
    assert "llmfeedback-api-keys" in launcher.env_secrets
    assert "llmfeedback-env" in launcher.env_config_maps

    ops = {op.name: op for op in _ops(dg.Definitions(assets=[_gpu_embeddings]))}
    pod = _step_job(ops["_gpu_embeddings"], k8s_env, DUCKLAKE)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {"secretRef": {"name": "llmfeedback-lake-credentials"}} in container["envFrom"]
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"]), "a lake needs no shared volume"
    scratch = {v["name"]: v for v in pod["volumes"]}["llmfeedback-scratch"]
    assert "emptyDir" in scratch
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["llmfeedback-scratch"]
    database = yaml.safe_load((DUCKLAKE / "llmfeedback.yaml").read_text())["database"]
    assert database.startswith(mount.rstrip("/") + "/"), "side files must land on the scratch volume"
    assert int(container["resources"]["limits"][GPU_RESOURCE]) == 1  # GPU tags work the same way
