"""Bad input, generated (issue 15): ImageResourcePolicy specs mixing valid and hostile values go to the
real kube-apiserver (server-side dry-run, so nothing is stored); each is either rejected there by the
CRD's schema and CEL rules with 422 Invalid (never a 500), or accepted and then reconciled by the
policy controller, through `reconcile()` with irc.runtime.testing's fakes, to a Ready condition with a
documented reason, never an exception other than a ReconcileError. ImageBackup specs go through the
same server-side check. ResourceTemplate and ImageDetected specs the server accepts are rendered as
the creation controller renders them (`render_template` over `image_variables`): they render, or
raise a ReconcileError with a reason, never another exception. Each ResourceTemplate the server
accepts also goes through the creation controller's whole `reconcile()` for one ImageDetected,
writing to a local bare repository in place of its URL (a hostile URL would leave 127.0.0.1; the
writer's URL checks have their own tests), its branch, path, push branch, commit message and author
as generated: it commits, or fails with a reason in the ImageDetected's Ready condition, and
whatever reached the repository is under the template's path, the README untouched.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.conditions import get_condition
from irc.gitops.errors import PathEscapesRepository
from irc.gitops.paths import split_directory
from irc.reconcilers.creation import render_template
from irc.reconcilers.policy import INDEXES, Metrics, PolicyReconciler
from irc.runtime import Request, errors
from irc.runtime.client import Client
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder
from irc.templating.variables import image_variables
from tests.gitops.conftest import Origin
from tests.reconcilers.test_creation import Bed, detected

pytestmark = pytest.mark.e2e

READY_REASONS = {
    "Valid",
    "InvalidPolicy",
    "TemplateNotFound",
    "TemplateNotWatched",
    "SecretNotFound",
    "SecretInvalid",
    "CrossNamespaceSecretRef",
}  # docs/operations.md, "The reasons"

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "*", "**/..", "../../etc", "[", "(?P<x", "\x00", "🙂", "a" * 300, "${HOME}"]),
)


def maybe(value: Any) -> st.SearchStrategy[Any]:
    """A valid `value` (three times in four), or something hostile in its place."""
    return st.one_of(st.just(value), st.just(value), st.just(value), HOSTILE)


POLICIES = st.one_of(
    st.fixed_dictionaries({"semver": st.fixed_dictionaries({"range": maybe(">=1.0.0")})}),
    st.fixed_dictionaries({"alphabetical": st.fixed_dictionaries({"order": maybe("asc")})}),
    st.fixed_dictionaries({"numerical": st.fixed_dictionaries({"order": maybe("desc")})}),
    st.fixed_dictionaries(
        {
            "pattern": st.fixed_dictionaries(
                {"regex": maybe("^(?P<env>[a-z]+)-"), "extractPrefix": st.booleans()}
            )
        }
    ),
    st.dictionaries(HOSTILE, HOSTILE, max_size=2),
)
POLICY_SPECS = st.fixed_dictionaries(
    {
        "ecrRepository": st.fixed_dictionaries(
            {"region": maybe("us-east-1"), "repositoryPattern": maybe("team-a/*")},
            optional={
                "imageNamePattern": maybe("*"),
                "exclude": st.lists(maybe("*-test"), max_size=2),
                "maxRepositories": st.integers(-5, 100_000),
                "scanTimeout": maybe("30s"),
            },
        ),
        "policy": POLICIES,
        "templateRef": st.fixed_dictionaries({"name": maybe("tmpl")}, optional={"namespace": maybe("other")}),
    },
    optional={
        "filterTags": st.fixed_dictionaries({"pattern": maybe("^v(?P<v>.*)$"), "extract": maybe("$v")}),
        "interval": maybe("5m"),
        "aws": st.fixed_dictionaries({"secretRef": st.fixed_dictionaries({"name": maybe("aws")})}),
        "ttlDays": st.integers(-3, 10_000),
        "suspend": st.booleans(),
    },
)
BACKUP_SPECS = st.fixed_dictionaries(
    {"source": maybe("127.0.0.1:5000/team/app:1.0.0")},
    optional={
        "target": maybe("127.0.0.1:5001/backup/app:1.0.0"),
        "platforms": st.lists(maybe("linux/amd64"), max_size=3),
        "resyncInterval": maybe("24h"),
        "targetCredentials": st.fixed_dictionaries({"name": maybe("push"), "namespace": maybe("irc")}),
    },
)
SEED_TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .ServiceName }}
spec:
  template:
    spec:
      containers:
      - name: app
        image: {{ .FullImageName }}
"""
TEMPLATE_TEXTS = st.one_of(
    st.just(SEED_TEMPLATE),
    st.just("{% for k, v in Variables.items() %}{{ k }}: {{ v }}{% endfor %}"),
    st.lists(
        st.sampled_from(
            ["{{", "}}", "{%", "%}", ".ImageName", "range", "end", "printf", "|", "\n", "kind: x", "🙂"]
        ),
        min_size=1,
        max_size=12,
    ).map("".join),
    HOSTILE,
)
TEMPLATE_SPECS = st.fixed_dictionaries(
    {
        "gitRepository": st.fixed_dictionaries(
            {"url": maybe("https://127.0.0.1/x.git")},
            optional={
                "branch": maybe("main"),
                "path": maybe("./apps"),
                "pushBranch": maybe("irc/{{ .ImageName }}-{{ .ImageTag }}"),
                "commitMessage": maybe("{{ .ImageName }} {{ .ImageTag }}"),
                "author": st.fixed_dictionaries({"name": maybe("bot"), "email": maybe("bot@example.com")}),
            },
        )
    },
    optional={
        "template": TEMPLATE_TEXTS,
        "multiFiles": st.lists(
            st.fixed_dictionaries(
                {"name": maybe("{{ .ImageName }}.yaml"), "template": TEMPLATE_TEXTS},
                optional={"relativePath": maybe("{{ .ServiceName }}/")},
            ),
            max_size=3,
        ),
        "engine": maybe("go"),
        "filePath": maybe("{{ .ImageName }}-{{ .ImageTag }}.yaml"),
        "variables": st.dictionaries(maybe("team"), HOSTILE, max_size=2),
    },
)
DETECTED_SPECS = st.fixed_dictionaries(
    {
        "imageName": maybe("webapp/frontend"),
        "imageTag": maybe("v1.2.3"),
        "fullImageName": maybe("123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3"),
    },
    optional={"tagPrefix": maybe("v1"), "imageDigest": maybe("sha256:" + "a" * 64)},
)
DETECTED = {
    "imageName": "webapp/frontend",
    "imageTag": "v1.2.3",
    "fullImageName": "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3",
}
TEMPLATE: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": "ResourceTemplate",
    "metadata": {"name": "tmpl"},
    "spec": {"template": "kind: ConfigMap", "gitRepository": {"url": "https://git.invalid/x.git"}},
}
SECRET: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws"}, "data": {}}
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def dry_run(
    client: Client, kind: str, spec: dict[str, Any], namespace: str | None = None
) -> dict[str, Any] | None:
    """A `kind` named fuzz with `spec` as the server would store it, or None when its schema rejected
    it (422); an answer other than success or 422 Invalid raises. Counted in the statistics."""
    metadata = {"name": "fuzz"} | ({"namespace": namespace} if namespace else {})
    try:
        stored = await client.create(
            {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}, dry_run=True
        )
    except errors.Invalid:
        event("rejected by the schema")
        return None
    event("accepted")
    return stored


@given(spec=POLICY_SPECS)
@EXAMPLES
async def test_a_policy_spec_is_rejected_by_the_schema_or_reported_in_a_condition(
    client: Client, crds: None, namespace: str, spec: dict[str, Any]
) -> None:
    stored = await dry_run(client, "ImageResourcePolicy", spec, namespace)
    if stored is None:
        return
    stored["metadata"].setdefault("generation", 1)
    objects = [
        stored,
        *({**o, "metadata": {**o["metadata"], "namespace": namespace}} for o in (TEMPLATE, SECRET)),
    ]
    fake = FakeClient(copy.deepcopy(objects), indexes=INDEXES)
    reconciler = PolicyReconciler(
        client=fake,
        reader=fake.cache,
        recorder=FakeRecorder(),
        clock=FakeClock(),
        metrics=Metrics.register(CollectorRegistry()),
    )
    with contextlib.suppress(errors.ReconcileError):
        await reconciler.reconcile(Request(namespace, "fuzz"))
    status = fake.get_now(API_VERSION, "ImageResourcePolicy", "fuzz", namespace).get("status") or {}
    ready = get_condition(status, "Ready") or {}
    assert ready.get("reason") in READY_REASONS, (spec, status)
    event(f"Ready {ready['reason']}")
    assert ready.get("message"), (spec, status)


@given(spec=BACKUP_SPECS)
@EXAMPLES
async def test_a_backup_spec_the_schema_does_not_take_is_a_422(
    client: Client, crds: None, spec: dict[str, Any]
) -> None:
    await dry_run(client, "ImageBackup", spec)


def rendered(template_spec: dict[str, Any], detected_spec: dict[str, Any]) -> str:
    """What the creation controller's rendering makes of them: "rendered", or the error's reason."""
    try:
        render_template(template_spec, image_variables(detected_spec, None, template_spec))
    except errors.ReconcileError as e:
        assert e.reason and e.message, e
        return e.reason
    return "rendered"


async def committed(template_spec: dict[str, Any]) -> str:
    """What the creation controller's reconcile makes of the template for one ImageDetected, writing to
    a local bare repository: "committed", or the reason its Ready condition gives."""
    with tempfile.TemporaryDirectory() as directory:
        origin = Origin(Path(directory) / "origin.git")
        spec = {**template_spec, "gitRepository": {**template_spec["gitRepository"], "url": origin.url}}
        bed = Bed(origin, Path(directory) / "work", [detected()], spec)
        try:
            await bed.reconcile()  # a terminal failure is only in the status; others raise as well
        except errors.ReconcileError as e:
            assert (bed.ready()["reason"], bed.ready()["message"]) == (e.reason, e.message)
        ready = bed.ready()
        assert ready["message"], ready
        if ready["status"] == "True":
            assert ready["reason"] in ("Committed", "UpToDate"), ready
            outcome = "committed"
        else:
            assert bed.status()["phase"] == "Failed", bed.status()
            outcome = ready["reason"]
        try:
            under = "/".join(split_directory(str(spec["gitRepository"].get("path") or "")))
        except PathEscapesRepository:
            under = None  # nothing may have been written
        for branch in origin.branches():
            files = origin.files(branch)
            assert files.pop("README.md") == b"fleet\n", branch
            if files:
                assert outcome == "committed" and under is not None, (outcome, files)
            assert all(f.startswith(f"{under}/") or not under for f in files), (under, sorted(files))
    return outcome


@given(spec=TEMPLATE_SPECS)
@EXAMPLES
async def test_a_template_spec_is_rejected_by_the_schema_or_renders_or_says_why(
    client: Client, crds: None, namespace: str, spec: dict[str, Any]
) -> None:
    stored = await dry_run(client, "ResourceTemplate", spec, namespace)
    if stored is not None:
        event(rendered(stored["spec"], DETECTED))
        event(f"reconcile: {await committed(stored['spec'])}")


@given(spec=DETECTED_SPECS)
@EXAMPLES
async def test_a_detected_spec_is_rejected_by_the_schema_or_renders_or_says_why(
    client: Client, crds: None, namespace: str, spec: dict[str, Any]
) -> None:
    stored = await dry_run(client, "ImageDetected", spec, namespace)
    if stored is not None:
        event(
            rendered(
                {"template": SEED_TEMPLATE, "gitRepository": {"url": "https://127.0.0.1/x.git"}},
                stored["spec"],
            )
        )
