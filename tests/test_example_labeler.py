"""The library example (examples/configmap_labeler.py) through `reconcile()`, built on the fakes of
irc.runtime.testing as docs/library.md tells library users to test theirs."""

from __future__ import annotations

from examples.configmap_labeler import LABEL, LABELED_BY, VALUE, ConfigMapLabeler
from irc.runtime import Obj, Request
from irc.runtime.testing import FakeClient, FakeRecorder, RecordedEvent
from irc.runtime.testing.client import Action

ME = "host-1234"


def configmap(name: str, labels: dict[str, str] | None = None) -> Obj:
    metadata: dict[str, object] = {"name": name, "namespace": "demo"}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def build(*objects: Obj) -> tuple[ConfigMapLabeler, FakeClient, FakeRecorder]:
    client, recorder = FakeClient(objects), FakeRecorder()
    reconciler = ConfigMapLabeler(client=client, reader=client.cache, recorder=recorder, identity=ME)
    return reconciler, client, recorder


async def test_an_unlabelled_configmap_is_labelled_and_an_event_recorded() -> None:
    reconciler, client, recorder = build(configmap("a", {"app": "web"}))
    assert await reconciler.reconcile(Request("demo", "a")) is None
    stored = client.get_now("v1", "ConfigMap", "a", "demo")
    assert stored["metadata"]["labels"] == {"app": "web", LABEL: VALUE}  # the other labels are kept
    assert stored["metadata"]["annotations"] == {LABELED_BY: ME}
    assert stored["data"] == {"k": "v"}
    assert client.writes() == [Action("patch", "ConfigMap", "demo", "a")]
    assert recorder.events == [
        RecordedEvent("ConfigMap", "demo", "a", "Normal", "Labeled", f"set {LABEL}={VALUE}")
    ]


async def test_a_wrong_value_is_corrected() -> None:
    reconciler, client, recorder = build(configmap("a", {LABEL: "false"}))
    await reconciler.reconcile(Request("demo", "a"))
    assert client.get_now("v1", "ConfigMap", "a", "demo")["metadata"]["labels"] == {LABEL: VALUE}
    assert recorder.reasons() == ["Labeled"]


async def test_a_labelled_configmap_is_not_written() -> None:
    reconciler, client, recorder = build(configmap("a", {LABEL: VALUE}))
    before = client.get_now("v1", "ConfigMap", "a", "demo")
    assert await reconciler.reconcile(Request("demo", "a")) is None
    assert client.writes() == [] and recorder.events == []
    assert client.get_now("v1", "ConfigMap", "a", "demo") is before  # not even rewritten


async def test_a_configmap_deleted_since_it_was_queued_is_nothing_to_do() -> None:
    reconciler, client, recorder = build(configmap("other"))
    assert await reconciler.reconcile(Request("demo", "gone")) is None
    assert await reconciler.reconcile(Request("elsewhere", "other")) is None
    assert client.actions == [] and recorder.events == []


async def test_a_second_reconcile_converges_without_writing() -> None:
    reconciler, client, recorder = build(configmap("a"))
    await reconciler.reconcile(Request("demo", "a"))
    await reconciler.reconcile(Request("demo", "a"))  # the cache now shows the label
    assert len(client.writes()) == 1 and recorder.reasons() == ["Labeled"]
