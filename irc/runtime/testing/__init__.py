"""Test doubles for code built on irc.runtime, as controller-runtime ships client/fake and controllertest.

A reconciler test builds the reconciler from these and awaits it, with no manager, queue or server:

    client = FakeClient([policy, secret], indexes=policy_module.INDEXES)
    recorder, clock = FakeRecorder(), FakeClock()
    r = PolicyReconciler(client=client, reader=client.cache, recorder=recorder, clock=clock, ...)
    result = await r.reconcile(Request("team", "frontend"))
    assert client.get_now(API, "ImageResourcePolicy", "frontend", "team")["status"] == ...
    assert recorder.reasons() == ["InvalidPolicy"]

- `FakeClient`: an in-memory API server behind the client's verbs (resourceVersions, 409 Conflict
  on a stale precondition, AlreadyExists, the status subresource, generation, finalizers, label and
  field selectors, merge/JSON/strategic patches, injected errors, every call and what it sent in
  `actions`), and `FakeClient.cache`, the `Reader` a manager's cache would be (indexes,
  metadata-only views, watched namespaces, `freeze()` for a cache that lags behind).
- `FakeRecorder`: keeps every Event recorded.
- `FakeClock`: time moves only when the test calls `advance()`.
- `running(coroutine)`: runs an informer's or manager's loop for the length of a block.
- `RecordingManager`: a manager without a cluster that records the controllers (with their options)
  and indexes a module's `setup(mgr)` registers.
"""

from irc.runtime.testing.client import Action as Action
from irc.runtime.testing.client import FakeCache as FakeCache
from irc.runtime.testing.client import FakeClient as FakeClient
from irc.runtime.testing.clock import FAKE_EPOCH as FAKE_EPOCH
from irc.runtime.testing.clock import FakeClock as FakeClock
from irc.runtime.testing.clock import running as running
from irc.runtime.testing.events import FakeRecorder as FakeRecorder
from irc.runtime.testing.events import RecordedEvent as RecordedEvent
from irc.runtime.testing.manager import RecordingManager as RecordingManager

__all__ = [
    "FAKE_EPOCH",
    "Action",
    "FakeCache",
    "FakeClient",
    "FakeClock",
    "FakeRecorder",
    "RecordedEvent",
    "RecordingManager",
    "running",
]
