"""irc.api.workloads: pod templates, containers, health rules and the slim informer transform."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from irc.api.workloads import (
    CRONJOB,
    DAEMONSET,
    DEPLOYMENT,
    STATEFULSET,
    WorkloadKind,
    containers,
    healthy,
    slim,
)
from irc.runtime.typed import TypedObject, to_dict

DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "generation": 3,
        "resourceVersion": "9",
        "annotations": {"a": "b"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "serviceAccountName": "web",
                "imagePullSecrets": [{"name": "pull"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
                "containers": [{"name": "app", "image": "nginx:1.25", "env": [{"name": "X", "value": "1"}]}],
                "ephemeralContainers": [{"name": "debug", "image": "alpine"}],
                "volumes": [{"name": "v", "emptyDir": {}}],
            },
        },
    },
    "status": {
        "observedGeneration": 3,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "x"}
        ],
    },
}


def test_slim_keeps_what_the_reconcilers_read_and_nothing_else() -> None:
    slimmed = slim(DEPLOY)
    assert isinstance(slimmed, TypedObject) and not gc.is_tracked(slimmed)  # read-only, read like a dict
    kept = to_dict(slimmed)
    assert kept["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "generation": 3,
        "resourceVersion": "9",
        "annotations": {"a": "b"},
    }
    assert kept["spec"] == {
        "replicas": 2,
        "template": {
            "spec": {
                "serviceAccountName": "web",
                "imagePullSecrets": [{"name": "pull"}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": "nginx:1.25"}],
                "ephemeralContainers": [{"name": "debug", "image": "alpine"}],
            }
        },
    }
    assert kept["status"]["conditions"] == [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
    ]
    assert kept.keys() == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert healthy(DEPLOYMENT, slimmed) is None and healthy(DEPLOYMENT, DEPLOY) is None
    assert containers(DEPLOYMENT, slimmed) == containers(
        DEPLOYMENT, DEPLOY
    )  # read as attributes, and as a dict
    assert containers(DEPLOYMENT, slimmed, ephemeral=True) == containers(DEPLOYMENT, DEPLOY, ephemeral=True)
    assert [c.name for c in containers(DEPLOYMENT, slimmed, ephemeral=True)] == ["init", "app", "debug"]
    assert slim(slimmed) == slimmed  # a slimmed workload slims to itself


def test_slimmed_workloads_share_the_values_they_hold_alike() -> None:
    # Two decodes of the same JSON: equal values, but each its own string, as the informer receives them.
    first, second = (slim(json.loads(json.dumps(DEPLOY))) for _ in range(2))
    pod_specs = [w["spec"]["template"]["spec"] for w in (first, second)]
    shared = [
        (first["apiVersion"], second["apiVersion"]),
        (first["kind"], second["kind"]),
        (first["metadata"]["namespace"], second["metadata"]["namespace"]),
        (pod_specs[0]["containers"][0]["image"], pod_specs[1]["containers"][0]["image"]),
        (pod_specs[0]["initContainers"][0]["name"], pod_specs[1]["initContainers"][0]["name"]),
        (first["status"]["conditions"][0]["reason"], second["status"]["conditions"][0]["reason"]),
    ]
    assert all(a is b for a, b in shared)
    assert first["metadata"]["name"] is not second["metadata"]["name"]  # one workload's own: left alone


def test_slim_finds_a_cronjobs_pod_template() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {
            "schedule": "@daily",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}},
        },
    }
    assert [c.image for c in containers(CRONJOB, slim(cron))] == ["x:1"]
    assert healthy(CRONJOB, slim(cron)) is None
    assert to_dict(slim(cron))["spec"] == {
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    }


@pytest.mark.parametrize(
    ("kind", "spec", "status", "unhealthy"),
    [
        (DEPLOYMENT, {"replicas": 0}, {"observedGeneration": 1}, False),  # scaled to zero
        (DEPLOYMENT, {"replicas": 2}, {"observedGeneration": 0}, True),
        (
            DEPLOYMENT,
            {"replicas": 2},
            {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 1,
            },
            True,
        ),
        (
            DEPLOYMENT,
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            },
            True,
        ),
        (DAEMONSET, {}, {"observedGeneration": 1, "desiredNumberScheduled": 0}, False),
        (
            DAEMONSET,
            {},
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberReady": 2,
            },
            True,
        ),
        (
            STATEFULSET,
            {"replicas": 1},
            {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"},
            False,
        ),
        (
            STATEFULSET,
            {"replicas": 1},
            {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "r1", "updateRevision": "r2"},
            True,
        ),
    ],
)
def test_health_rules(
    kind: WorkloadKind, spec: dict[str, Any], status: dict[str, Any], unhealthy: bool
) -> None:
    obj = {"kind": kind.kind, "metadata": {"name": "w", "generation": 1}, "spec": spec, "status": status}
    assert (healthy(kind, obj) is not None) == unhealthy
