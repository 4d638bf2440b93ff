"""The one place GPU steps get their pool and Kubernetes request.

Usage on an asset that trains or embeds: `@dg.asset(pool=GPU_POOL, op_tags=GPU_OP_TAGS, ...)`.
The pool caps GPU steps per deployment (dagster.yaml `concurrency.pools`); the op tag is read by the
`k8s_job_executor` (deploy/k8s_defs.py), which puts each step in its own pod with this container
request, so the scheduler places it on a GPU node. On a machine without a GPU the step runs on the CPU
and the tag is ignored.
"""

from __future__ import annotations

GPU_POOL = "gpu"
K8S_CONFIG_TAG = "dagster-k8s/config"
GPU_RESOURCE = "nvidia.com/gpu"


def gpu_op_tags(gpus: int = 1, memory: str = "16Gi") -> dict:
    """The `dagster-k8s/config` op tag for a step needing `gpus` GPUs (requests == limits, as Kubernetes
    requires for extended resources) and tolerating the taint GPU node pools usually carry."""
    resources = {GPU_RESOURCE: str(gpus), "memory": memory}
    return {
        K8S_CONFIG_TAG: {
            "container_config": {"resources": {"requests": dict(resources), "limits": dict(resources)}},
            "pod_spec_config": {
                "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
            },
        }
    }


GPU_OP_TAGS = gpu_op_tags()
