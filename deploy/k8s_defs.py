"""The llmfeedback code location with every step in its own Kubernetes pod (`k8s_job_executor`).

GPU steps carry `llmfeedback_assets.defs.gpu.GPU_OP_TAGS`, which the executor turns into the pod's
`nvidia.com/gpu` request; `gpu_steps_without_request` lists the GPU-pooled steps that forgot it.
The instance is deploy/k8s/dagster.yaml (K8sRunLauncher, PostgreSQL), the executor's run config
deploy/k8s/run_config.yaml.
"""

from __future__ import annotations

import json

import dagster as dg
from dagster_k8s import k8s_job_executor
from dagster_k8s.job import get_user_defined_k8s_config

from llmfeedback_assets import definitions as _project
from llmfeedback_assets.defs.gpu import GPU_POOL, GPU_RESOURCE

defs = dg.Definitions.merge(_project.defs, dg.Definitions(executor=k8s_job_executor))


def gpu_request(tags: dict) -> int:
    """GPUs a step's pod would request, read the way the k8s executor reads op tags (0 if none).
    Takes an op's tags (values JSON strings, as Dagster stores them) or a tag dict as written in code."""
    config = get_user_defined_k8s_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()})
    resources = (config.container_config or {}).get("resources", {})
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    return int(limits.get(GPU_RESOURCE, requests.get(GPU_RESOURCE, 0)) or 0)


def gpu_steps_without_request(definitions: dg.Definitions) -> list[str]:
    """Ops in `pool="gpu"` whose `dagster-k8s/config` tag requests no GPU (they would land on CPU nodes)."""
    missing = []
    for assets_def in definitions.resolve_asset_graph().assets_defs:
        for op in assets_def.node_def.iterate_op_defs():
            if op.pool == GPU_POOL and gpu_request(op.tags) < 1:
                missing.append(op.name)
    return sorted(set(missing))
