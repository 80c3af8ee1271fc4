"""Typed informers against a real apiserver: for every object of several kinds (built-in ones with
most of the pod spec filled in, and irc's own CRD), the typed informer's object is the dict informer's,
field for field; and a watched change arrives typed too. A schema field the generator got wrong would
drop or mangle data here."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest

from e2e.support import eventually
from irc.api.crd import API_VERSION
from irc.runtime import typed
from irc.runtime.client import Client
from irc.runtime.informer import LAST_APPLIED, Informer

LABELS = {"app.kubernetes.io/name": "rich", "tier": "backend"}


def pod_spec() -> dict[str, Any]:
    """A pod spec with most kinds of field: lists of objects, maps, int-or-string, quantities, nulls."""
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 7, "failureThreshold": 2}
    return {
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/team/app:1.2.3",
                "args": ["--port=8080", "--verbose"],
                "ports": [
                    {"name": "http", "containerPort": 8080},
                    {"containerPort": 9090, "protocol": "UDP"},
                ],
                "env": [
                    {"name": "PLAIN", "value": "x"},
                    {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                ],
                "envFrom": [{"secretRef": {"name": "s", "optional": True}}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
                "readinessProbe": probe,
                "livenessProbe": {**probe, "httpGet": {"path": "/live", "port": 8080}},
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                ],
                "securityContext": {
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                    "allowPrivilegeEscalation": False,
                },
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
            }
        ],
        "volumes": [
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "k", "path": "k.conf"}]}},
            {
                "name": "proj",
                "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}]},
            },
        ],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": LABELS},
                        },
                    }
                ]
            }
        },
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": LABELS},
            }
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "imagePullSecrets": [{"name": "pull"}],
    }


def objects(namespace: str) -> list[dict[str, Any]]:
    meta = {"namespace": namespace, "labels": LABELS, "annotations": {LAST_APPLIED: "{}", "note": "kept"}}
    template = {"metadata": {"labels": LABELS}, "spec": pod_spec()}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "rich", **meta},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": LABELS},
                "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}},
                "template": template,
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "rich", **meta},
            "spec": {
                "replicas": 0,
                "serviceName": "rich",
                "selector": {"matchLabels": LABELS},
                "template": template,
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "rich", **meta},
            "spec": {
                "schedule": "*/5 * * * *",
                "suspend": True,
                "jobTemplate": {
                    "spec": {"template": {**template, "spec": {**pod_spec(), "restartPolicy": "Never"}}}
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "rich", **meta},
            "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "rich", **meta},
            "data": {"k": "v", "multi": "a\nb"},
            "binaryData": {"bin": "AAEC"},
        },
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceTemplate",
            "metadata": {"name": "rich", **meta},
            "spec": {"template": "kind: ConfigMap", "gitRepository": {"url": "https://git.invalid/x.git"}},
        },
    ]


async def synced(informer: Informer) -> None:
    await informer.wait_for_sync(within=60)


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize("watch_list", [True, False], ids=["streaming-list", "list-then-watch"])
async def test_typed_objects_equal_the_dicts(
    client: Client, namespace: str, watch_list: bool, caplog: pytest.LogCaptureFixture
) -> None:
    for obj in objects(namespace):
        await client.create(obj)
    kinds = [(o["apiVersion"], o["kind"]) for o in objects(namespace)]
    informers = [
        (
            Informer(client, api_version, kind, namespace=namespace, watch_list=watch_list, typed=True),
            Informer(client, api_version, kind, namespace=namespace, watch_list=watch_list),
        )
        for api_version, kind in kinds
    ]
    with caplog.at_level(logging.WARNING, logger="irc.runtime"):
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(i.run()) for pair in informers for i in pair]
            await asyncio.gather(*(synced(i) for pair in informers for i in pair))
            for typed_informer, dict_informer in informers:
                as_struct, as_dict = await eventually(
                    functools.partial(_at_one_version, typed_informer, dict_informer, namespace),
                    within=30,
                    what=f"{typed_informer!r} and {dict_informer!r} at one resourceVersion",
                )
                assert isinstance(as_struct, typed.TypedObject), typed_informer
                assert typed.to_dict(as_struct) == as_dict, typed_informer
                annotations = as_struct["metadata"]["annotations"]
                assert annotations["note"] == "kept" and LAST_APPLIED not in annotations
            # A change arrives by the watch, typed too.
            await client.patch(
                "apps/v1", "Deployment", "rich", {"spec": {"replicas": 2}}, namespace=namespace
            )
            typed_deployments, dict_deployments = informers[0]

            async def patched() -> tuple[Any, Any] | None:
                pair = await _at_one_version(typed_deployments, dict_deployments, namespace)
                return pair if pair is not None and pair[0]["spec"]["replicas"] == 2 else None

            as_struct, as_dict = await eventually(patched, within=30, what="both informers see the patch")
            assert isinstance(as_struct, typed.TypedObject)
            assert typed.to_dict(as_struct) == as_dict
            for task in tasks:
                task.cancel()
    assert "does not fit its schema" not in caplog.text
    assert "no schema to build typed objects from" not in caplog.text


async def _at_one_version(
    typed_informer: Informer, dict_informer: Informer, namespace: str
) -> tuple[Any, Any] | None:
    """The object "rich" from both informers once they hold the same resourceVersion of it (the
    controllers write status meanwhile)."""
    a, b = typed_informer.store.get_by(namespace, "rich"), dict_informer.store.get_by(namespace, "rich")
    if a is None or b is None or a["metadata"]["resourceVersion"] != b["metadata"]["resourceVersion"]:
        return None
    return a, b
