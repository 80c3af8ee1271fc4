"""irc.runtime.events against a real kube-apiserver: Events are written, repeats patched, and described."""

from __future__ import annotations

import asyncio

from hack.testbed import cluster
from irc.runtime.client import Client, Obj
from irc.runtime.events import EventBroadcaster


async def test_events_are_written_deduplicated_and_described(
    kube: cluster.Cluster, client: Client, namespace: str
) -> None:
    configmap = await client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "subject", "namespace": namespace},
            "data": {"image": "example.invalid/app:1.0"},
        }
    )
    broadcaster = EventBroadcaster(client, host="e2e-host", retry_delay=0.1)
    recorder = broadcaster.recorder("image-backup")

    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(broadcaster.run(), name="event-broadcaster")
        recorder.event(configmap, "Normal", "BackedUp", "copied 1 image to the backup registry")
        recorder.event(configmap, "Normal", "BackedUp", "copied 1 image to the backup registry")
        recorder.event(configmap, "Warning", "PullFailed", "cannot pull example.invalid/app:1.0")
        async with asyncio.timeout(60):  # a hang guard, not a timing assertion
            await broadcaster.wait_idle()
        run.cancel()

    listed = await client.list("v1", "Event", namespace)
    events: dict[str, Obj] = {event["reason"]: event for event in listed.items}
    assert sorted(events) == ["BackedUp", "PullFailed"]
    backed_up, pull_failed = events["BackedUp"], events["PullFailed"]
    assert (backed_up["type"], backed_up["count"]) == ("Normal", 2)
    assert (pull_failed["type"], pull_failed["count"]) == ("Warning", 1)
    assert pull_failed["message"] == "cannot pull example.invalid/app:1.0"
    metadata = configmap["metadata"]
    for event in events.values():
        assert event["metadata"]["name"].startswith("subject.")
        assert event["involvedObject"] == {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "subject",
            "namespace": namespace,
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
        }
        assert event["source"] == {"component": "image-backup", "host": "e2e-host"}
        assert event["reportingComponent"] == "image-backup"
        assert event["reportingInstance"] == "image-backup-e2e-host"

    described = await asyncio.to_thread(kube.kubectl, "describe", "configmap", "subject", "-n", namespace)
    assert "BackedUp" in described
    assert "PullFailed" in described
    assert "copied 1 image to the backup registry" in described
