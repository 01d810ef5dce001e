"""The cluster definitions users launch, checked by the code that reads them: Ray's cluster
launcher schema (``ray up``), KubeRay's CRD schema for the RayJob's own fields, the Kubernetes
API's schemas for its pods, Ray's KubeRay autoscaler for its cluster spec, and our own CLI for
its entrypoint."""

from __future__ import annotations

import copy
import functools
import json
import operator
import re
import shlex
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ray.autoscaler._private.kuberay.autoscaling_config import (
    _derive_autoscaling_config_from_ray_cr,
)
from ray.autoscaler._private.util import prepare_config, validate_config

from rllib_maaal import cli
from rllib_maaal.experiment import apply_overrides, build_experiments, load_file

ROOT = Path(__file__).resolve().parents[1]
#: Where docker/Dockerfile puts the repository in the image.
IMAGE_ROOT = "/opt/rllib_maaal"
#: KubeRay's RayJob CRD schema, pod templates left open (see tests/data/extract_crd_schema.py).
RAYJOB_SCHEMA = ROOT / "tests" / "data" / "kuberay_rayjob_v1_schema.json"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "cluster" / name).read_text())


def test_the_cluster_launcher_yaml_passes_rays_own_validation():
    config = load("ray-cluster.yaml")
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` does first
    types = config["available_node_types"]
    # Only the CPU workers take EnvRunners; the GPU nodes take learners.
    assert [name for name, t in types.items() if "rollout_node" in t["resources"]] == ["cpu_worker"]
    assert types["gpu_learner"]["resources"]["GPU"] == 1


def test_the_cluster_launcher_schema_rejects_a_misspelt_field():
    config = load("ray-cluster.yaml")
    config["available_node_types"]["cpu_worker"]["max_worker"] = 8
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        validate_config(prepare_config(config))


@pytest.fixture(scope="module")
def rayjob_schema() -> jsonschema.Draft7Validator:
    schema = json.loads(RAYJOB_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_rayjob_passes_kuberays_crd_schema(rayjob_schema):
    rayjob_schema.validate(load("rayjob.yaml"))


@pytest.mark.parametrize(
    "path, value, error",
    [
        pytest.param(
            ("spec", "shutdownAfterJobFinish"),
            True,
            "'shutdownAfterJobFinish' was unexpected",
            id="misspelt-top-level-field",
        ),
        pytest.param(
            ("spec", "shutdownAfterJobFinishes"),
            "yes",
            "'yes' is not of type 'boolean'",
            id="wrong-type",
        ),
        pytest.param(("specs",), {}, "'specs' was unexpected", id="unknown-root-field"),
        pytest.param(
            ("spec", "rayClusterSpec", "workerGroupSpecs", 0, "maxReplica"),
            4,
            "'maxReplica' was unexpected",
            id="misspelt-worker-group-field",
        ),
        pytest.param(
            ("spec", "rayClusterSpec", "headGroupSpec", "rayStartParams", "num-cpus"),
            2,
            "2 is not of type 'string'",
            id="rayStartParams-not-a-string",
        ),
    ],
)
def test_kuberays_crd_schema_rejects_a_misspelt_or_mistyped_field(
    rayjob_schema, path, value, error
):
    rayjob = load("rayjob.yaml")
    functools.reduce(operator.getitem, path[:-1], rayjob)[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError, match=re.escape(error)):
        rayjob_schema.validate(rayjob)


def pod_templates(rayjob: dict) -> list[dict]:
    """The RayJob's pod templates (its Ray nodes' and, if it has one, its submitter's), each as
    the Kubernetes resource that holds one: the CRD schema leaves them to these checks."""
    spec = rayjob["spec"]
    groups = [spec["rayClusterSpec"]["headGroupSpec"], *spec["rayClusterSpec"]["workerGroupSpecs"]]
    templates = [group["template"] for group in groups]
    if "submitterPodTemplate" in spec:
        templates.append(spec["submitterPodTemplate"])
    pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pods"}}
    return [{**pod_template, "template": template} for template in templates]


def test_the_rayjob_pods_pass_the_kubernetes_schema():
    rayjob = load("rayjob.yaml")
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    version = kubernetes_validate.utils.latest_version()
    for template in pod_templates(rayjob):
        kubernetes_validate.validate(template, version, strict=True)
    broken = pod_templates(rayjob)[1]
    broken["template"]["spec"]["containers"][0]["resources"]["limit"] = {"cpu": "1"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_kuberays_autoscaler_reads_the_rayjob_cluster_spec():
    rayjob = load("rayjob.yaml")
    ray_cluster = {
        "metadata": {"name": rayjob["metadata"]["name"], "namespace": "default"},
        "spec": rayjob["spec"]["rayClusterSpec"],
    }
    # Ray's translation of a RayCluster for its autoscaler, validated by Ray's schema.
    node_types = _derive_autoscaling_config_from_ray_cr(ray_cluster)["available_node_types"]
    assert node_types["headgroup"]["resources"]["CPU"] == 2
    assert node_types["rollout"]["resources"]["rollout_node"] == 16
    assert node_types["rollout"]["max_workers"] == 4


def test_the_rayjob_entrypoint_is_a_valid_rllib_train_of_the_football_file():
    entrypoint = shlex.split(load("rayjob.yaml")["spec"]["entrypoint"])
    assert entrypoint[0] == "rllib"
    args = cli.build_parser().parse_args(entrypoint[1:])
    assert args.file.startswith(IMAGE_ROOT + "/")
    specs = load_file(ROOT / Path(args.file).relative_to(IMAGE_ROOT))
    apply_overrides(specs, args.set)
    for experiment in build_experiments(specs, args.storage_path):
        assert experiment.config["num_env_runners"] == 16
        assert experiment.config["custom_resources_per_env_runner"] == {"rollout_node": 1}
