"""Write the JSON schema that tests/test_deploy.py checks cluster/rayjob.yaml against, from
KubeRay's RayJob CRD.

    git -C kuberay show v1.7.0:ray-operator/config/crd/bases/ray.io_rayjobs.yaml > crd.yaml
    python tests/data/extract_crd_schema.py crd.yaml --source "KubeRay v1.7.0 (59d663ae)" \\
        > tests/data/kuberay_rayjob_v1_schema.json

It takes the CRD's ``openAPIV3Schema`` of one version and:

- replaces the pod templates (and ``status``) with ``{"type": "object"}``: they are Kubernetes'
  PodTemplateSpec, which the test checks with kubernetes-validate, and they are 90 % of the CRD;
- drops the descriptions;
- gives every object with ``properties`` (and no ``additionalProperties`` or
  ``x-kubernetes-preserve-unknown-fields``) ``additionalProperties: false``. The API server
  prunes unknown fields of a structural schema, and rejects them under
  ``kubectl apply --validate=strict``: a JSON-schema validator sees the same only this way.

The CEL rules (``x-kubernetes-validations``) stay in the file but no JSON-schema validator
runs them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

#: Fields of a RayJob (dots between fields, [] after a list) whose schemas are left open.
OPEN = (
    "status",
    "spec.submitterPodTemplate",
    "spec.rayClusterSpec.headGroupSpec.template",
    "spec.rayClusterSpec.workerGroupSpecs[].template",
)


def open_field(schema: dict[str, Any], path: str) -> None:
    """Replace the schema of field ``path`` (see :data:`OPEN`) with any object's."""
    *parents, last = path.split(".")
    for name in parents:
        schema = schema["properties"][name.removesuffix("[]")]
        if name.endswith("[]"):
            schema = schema["items"]
    if last not in schema["properties"]:
        raise KeyError(f"the CRD has no field {path!r}")
    schema["properties"][last] = {"type": "object"}


def strict(schema: Any) -> Any:
    """``schema`` without descriptions, its objects closed to unknown fields (see above)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items() if key != "description"}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def extract(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """The strict schema of ``crd``'s ``version`` with the :data:`OPEN` fields left open."""
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in versions:
        raise ValueError(f"version must be one of {sorted(versions)}; got {version!r}")
    schema = versions[version]["schema"]["openAPIV3Schema"]
    for path in OPEN:
        open_field(schema, path)
    return strict(schema)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crd", help="ray-operator/config/crd/bases/ray.io_rayjobs.yaml")
    parser.add_argument("--version", default="v1", help="the CRD version (default v1)")
    parser.add_argument("--source", required=True, help="the KubeRay release, for the record")
    args = parser.parse_args(argv)
    with open(args.crd) as f:
        crd = yaml.safe_load(f)
    schema = {
        "$comment": f"{args.source} {crd['metadata']['name']} {args.version}, "
        "made by tests/data/extract_crd_schema.py",
        **extract(crd, args.version),
    }
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
