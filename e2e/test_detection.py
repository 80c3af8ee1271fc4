"""The detection controller against the test bed: the policy and detection controllers on a real
kube-apiserver, scanning the moto ECR endpoint (paginated like ECR, with injected faults)."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from e2e.support import eventually, running
from hack.testbed import cluster, ecr
from irc.api import API_VERSION
from irc.api.imagepolicy import REQUESTED_AT
from irc.reconcilers import detection, policy
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions
from irc.runtime.client import Client, Obj

REGISTRY = f"{ecr.ACCOUNT_ID}.dkr.ecr.{ecr.REGION}.amazonaws.com"
IRP = "ImageResourcePolicy"


@contextlib.asynccontextmanager
async def manager(kube: cluster.Cluster, namespace: str, server: ecr.ECR) -> AsyncIterator[Manager]:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            namespaces=(namespace,), metrics_bind_address="0", health_probe_bind_address="0"
        ),
    )
    settings = Settings(aws_endpoint_url=server.endpoint)
    policy.setup(mgr, settings)
    detection.setup(mgr, settings)
    try:
        async with running(mgr.start()):
            yield mgr
    finally:  # also when the test failed: a session left to the garbage collector fails the run
        await mgr.client.close()


@pytest.fixture
async def bed(client: Client, namespace: str) -> str:
    """A namespace with a ResourceTemplate and an AWS credentials Secret (moto takes any keys)."""
    await client.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceTemplate",
            "metadata": {"name": "tmpl", "namespace": namespace},
            "spec": {"template": "kind: ConfigMap", "gitRepository": {"url": "https://git.invalid/x.git"}},
        }
    )
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "aws", "namespace": namespace},
            "data": {
                "accessKeyId": base64.b64encode(b"testbed").decode(),
                "secretAccessKey": base64.b64encode(b"testbed-secret").decode(),
            },
        }
    )
    return namespace


def irp(
    namespace: str, name: str, ecr_repository: dict[str, Any], selection: dict[str, Any], **spec: Any
) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": IRP,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ecrRepository": {"region": ecr.REGION, **ecr_repository},
            "policy": selection,
            "templateRef": {"name": "tmpl"},
            "aws": {"secretRef": {"name": "aws"}},
            **spec,
        },
    }


async def detected(client: Client, namespace: str) -> dict[str, Obj]:
    return {
        o["metadata"]["name"]: o for o in (await client.list(API_VERSION, "ImageDetected", namespace)).items
    }


async def scanned(client: Client, namespace: str, name: str, reason: str = "Succeeded") -> Obj:
    """The policy once its Scanned condition has `reason`."""

    async def check() -> Obj | None:
        obj = await client.get(API_VERSION, IRP, name, namespace)
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c["type"] == "Scanned" and c["reason"] == reason:
                return obj
            if c["type"] == "Ready":
                assert c["status"] == "True", f"{name}: {c}"  # fail now, with the reason, not at the timeout
        return None

    return await eventually(check, what=f"{name} Scanned reason {reason}")


def image(repository: str, tag: str) -> str:
    return f"{REGISTRY}/{repository}:{tag}"


async def test_policies_detect_exactly_their_selections(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    bed: str,
    ecr_server: ecr.ECR,
    ecr_images: dict[str, dict[str, str]],
) -> None:
    ns = bed
    policies = [
        irp(
            ns,
            "semver-each",
            {"repositoryPattern": "team-a/*"},
            {"perRepository": True, "semver": {"range": ">=1.0.0"}},
        ),
        irp(
            ns,
            "envs",
            {"repositoryPattern": "team-a/envs"},
            {
                "pattern": {"regex": "^(dev|staging|prod)-", "extractPrefix": True},
                "semver": {"range": ">=1.0.0"},
            },
            filterTags={"pattern": "^[a-z]+-(.*)", "extract": "$1"},
        ),
        irp(
            ns,
            "numbers-each",
            {"imageNamePattern": "w*"},
            {"perRepository": True, "numerical": {"order": "asc"}},
        ),
        irp(
            ns,
            "numbers-all",
            {"imageNamePattern": "w*"},
            {"perRepository": False, "numerical": {"order": "asc"}},
        ),
    ]
    async with manager(kube, ns, ecr_server):
        for obj in policies:
            await client.create(obj)
        statuses = {
            p["metadata"]["name"]: (await scanned(client, ns, p["metadata"]["name"]))["status"]
            for p in policies
        }
        objects = await detected(client, ns)

    expected = {
        ("semver-each", "team-a/api", "2.0.0", None),
        ("envs", "team-a/envs", "dev-1.4.0", "dev"),
        ("envs", "team-a/envs", "staging-1.2.0", "staging"),
        ("envs", "team-a/envs", "prod-1.2.0", "prod"),
        ("numbers-each", "team-a/worker", "10", None),
        ("numbers-each", "team-b/web", "20240215", None),
        ("numbers-all", "team-b/web", "20240215", None),
    }
    seen = {
        (
            o["spec"]["sourcePolicy"]["name"],
            o["metadata"]["annotations"]["automation.gitops.io/repository"],
            o["spec"]["imageTag"],
            o["spec"].get("tagPrefix"),
        )
        for o in objects.values()
    }
    assert seen == expected
    for name, obj in objects.items():
        spec, meta = obj["spec"], obj["metadata"]
        repository = meta["annotations"]["automation.gitops.io/repository"]
        digest = ecr_images[repository][spec["imageTag"]]
        assert spec["imageDigest"] == digest and spec["fullImageName"] == image(repository, spec["imageTag"])
        base = detection.detected_name(repository, spec["imageTag"], digest)
        assert name == base or (name.startswith(f"{base}-") and len(name) == len(base) + 7), name
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "irc"
        assert meta["labels"]["automation.gitops.io/policy"] == spec["sourcePolicy"]["name"]
        assert meta["ownerReferences"][0]["kind"] == IRP and meta["ownerReferences"][0]["controller"]
        assert spec["detectedAt"] and spec["pushedAt"] and spec["imageName"] == repository.replace("/", "-")
    assert (
        objects["envs-dev-1-4-0-" + ecr_images["team-a/envs"]["dev-1.4.0"][7:15]]["metadata"]["labels"][
            "automation.gitops.io/tag-prefix"
        ]
        == "dev"
    )

    # Two policies selected team-b/web:20240215: each has its own object, the second one's name
    # carries a hash of policy and image.
    web = sorted(n for n in objects if n.startswith("web-20240215-"))
    assert len(web) == 2 and len(web[0]) + 7 == len(web[1])

    events = {
        e["involvedObject"]["name"]: e["message"]
        for e in (await client.list("v1", "Event", ns)).items
        if e["reason"] == "Detected"
    }
    assert events["envs"].startswith("3 new: ") and image("team-a/envs", "dev-1.4.0") in events["envs"]

    semver_each = statuses["semver-each"]
    assert semver_each["repositoriesMatched"] == 3 and semver_each["repositoriesScanned"] == 3
    assert semver_each["imagesScanned"] == sum(
        len(ecr.FIXTURE_IMAGES[r]) for r in ecr.FIXTURE_IMAGES if r.startswith("team-a/")
    )
    assert semver_each["imagesDetected"] == 1 and semver_each["apiCalls"] >= 4
    assert [(i["repository"], i["tag"]) for i in semver_each["latestImages"]] == [("team-a/api", "2.0.0")]
    assert [i["tagPrefix"] for i in statuses["envs"]["latestImages"]] == ["dev", "prod", "staging"]
    assert statuses["numbers-all"]["imagesDetected"] == 1


async def test_invalid_policies_are_not_scanned(
    kube: cluster.Cluster, crds: None, client: Client, bed: str, ecr_server: ecr.ECR, ecr_images: object
) -> None:
    ns = bed
    ecr_server.reset_calls()
    async with manager(kube, ns, ecr_server):
        await client.create(
            irp(ns, "bad-range", {"repositoryPattern": "team-a/*"}, {"semver": {"range": ">=1.0.0 <<2"}})
        )
        await client.create(
            irp(
                ns,
                "no-secret",
                {"repositoryPattern": "team-a/*"},
                {"semver": {"range": "*"}},
                aws={"secretRef": {"name": "nope"}},
            )
        )
        await client.create(irp(ns, "valid", {"repositoryPattern": "team-b/*"}, {"alphabetical": {}}))
        await scanned(client, ns, "valid")  # the invalid ones were validated before this one was scanned
        for name, reason in (("bad-range", "InvalidPolicy"), ("no-secret", "SecretNotFound")):
            obj = await client.get(API_VERSION, IRP, name, ns)
            conditions = {c["type"]: c for c in obj["status"]["conditions"]}
            assert conditions["Ready"]["reason"] == reason
            assert "Scanned" not in conditions and "lastScanTime" not in obj["status"]
    assert {o["spec"]["sourcePolicy"]["name"] for o in (await detected(client, ns)).values()} == {"valid"}
    assert ecr_server.calls().get("DescribeRepositories") == 1


async def test_throttling_is_retried_and_access_denied_reported(
    kube: cluster.Cluster, crds: None, client: Client, bed: str, ecr_server: ecr.ECR, ecr_images: object
) -> None:
    ns = bed
    try:
        async with manager(kube, ns, ecr_server):
            ecr_server.inject_fault("DescribeImages", status=400, code="ThrottlingException", count=2)
            await client.create(
                irp(ns, "throttled", {"repositoryPattern": "team-b/web"}, {"alphabetical": {}})
            )
            status = (await scanned(client, ns, "throttled"))["status"]
            assert status["apiCalls"] == 2 + 2  # one listing, one description, two throttled retries
            assert [i["tag"] for i in status["latestImages"]] == ["20240215"]

            ecr_server.inject_fault("*", status=400, code="AccessDeniedException", count=100)
            await client.create(irp(ns, "denied", {"repositoryPattern": "team-a/api"}, {"alphabetical": {}}))
            denied = await scanned(client, ns, "denied", reason="AccessDenied")
            condition = next(c for c in denied["status"]["conditions"] if c["type"] == "Scanned")
            assert condition["status"] == "False" and "AccessDeniedException" in condition["message"]
            events = (await client.list("v1", "Event", ns)).items
            assert any(
                e["reason"] == "AccessDenied" and e["involvedObject"]["name"] == "denied" for e in events
            )

            # Access restored: a scan request (the annotation) retries at once, not after the backoff.
            ecr_server.clear_faults()
            await client.patch(
                API_VERSION, IRP, "denied", {"metadata": {"annotations": {REQUESTED_AT: "now"}}}, namespace=ns
            )
            recovered = await eventually(
                functools.partial(_handled, client, ns, "denied", "now"), what="rescan"
            )
            condition = next(c for c in recovered["status"]["conditions"] if c["type"] == "Scanned")
            assert condition["reason"] == "Succeeded", condition
    finally:
        ecr_server.clear_faults()


async def test_scan_timeout_then_retry_with_backoff(
    kube: cluster.Cluster, crds: None, client: Client, bed: str, ecr_server: ecr.ECR, ecr_images: object
) -> None:
    """A registry slower than scanTimeout: ScanTimeout, then the retry (transient: after 15 s, not
    the 1 h interval) succeeds once ECR answers in time again."""
    ns = bed
    try:
        async with manager(kube, ns, ecr_server):
            ecr_server.inject_fault("DescribeImages", code=None, delay=3, count=1)
            await client.create(
                irp(
                    ns,
                    "slow",
                    {"repositoryPattern": "team-b/web", "scanTimeout": "2s"},  # the delay is 3 s
                    {"alphabetical": {}},
                    interval="1h",
                )
            )
            timed_out = await scanned(client, ns, "slow", reason="ScanTimeout")
            condition = next(c for c in timed_out["status"]["conditions"] if c["type"] == "Scanned")
            assert "scanTimeout" in condition["message"] and "lastScanTime" not in timed_out["status"]
            recovered = (await scanned(client, ns, "slow"))["status"]
            assert [i["tag"] for i in recovered["latestImages"]] == ["20240215"]
    finally:
        ecr_server.clear_faults()


async def test_new_image_on_request_restart_without_duplicates_and_role(
    kube: cluster.Cluster, crds: None, client: Client, bed: str, ecr_server: ecr.ECR
) -> None:
    ns, repository = bed, f"e2e-{uuid.uuid4().hex[:8]}/svc"
    ecr.populate(ecr_server, {repository: ["1.0.0", "1.1.0"]})
    policy_obj = irp(
        ns,
        "svc",
        {"repositoryPattern": repository},
        {"semver": {"range": "^1"}},
        interval="1h",
        aws={"secretRef": {"name": "aws"}, "roleArn": f"arn:aws:iam::{ecr.ACCOUNT_ID}:role/irc-reader"},
    )
    async with manager(kube, ns, ecr_server):
        await client.create(policy_obj)
        first = (await scanned(client, ns, "svc"))["status"]
        assert [i["tag"] for i in first["latestImages"]] == ["1.1.0"]

    before = await detected(client, ns)
    ecr_server.client().put_image(
        repositoryName=repository, imageManifest=ecr.manifest(repository, "1.2.0"), imageTag="1.2.0"
    )
    ecr_server.reset_calls()
    async with manager(kube, ns, ecr_server):
        # The restarted manager does not rescan a policy scanned within its interval, only on request.
        for value in ("1", "2"):
            await client.patch(
                API_VERSION, IRP, "svc", {"metadata": {"annotations": {REQUESTED_AT: value}}}, namespace=ns
            )
            handled = functools.partial(_handled, client, ns, "svc", value)
            status = (await eventually(handled, what=f"scan {value}"))["status"]
            assert [i["tag"] for i in status["latestImages"]] == ["1.2.0"]
    assert ecr_server.calls()["DescribeRepositories"] == 2  # the two requests, no scan at startup
    after = await detected(client, ns)
    # The second scan found what the first had created: one new object, the old ones untouched.
    assert set(after) == set(before) | {status["latestImages"][0]["imageDetected"]} and len(after) == 2
    for name, obj in before.items():
        assert after[name]["metadata"]["uid"] == obj["metadata"]["uid"]


async def test_default_credential_chain(
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    bed: str,
    ecr_server: ecr.ECR,
    ecr_images: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """No secretRef: the manager's own identity (here AWS_* variables, as IRSA or an instance role
    would be in a cluster); with none at all, the policy says NoCredentials."""
    ns = bed
    for name in (
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testbed-secret")
    chain = {"aws": None}
    async with manager(kube, ns, ecr_server):
        await client.create(
            irp(ns, "ambient", {"repositoryPattern": "team-b/web"}, {"alphabetical": {}}, **chain)
        )
        assert [i["tag"] for i in (await scanned(client, ns, "ambient"))["status"]["latestImages"]] == [
            "20240215"
        ]
    # A manager's botocore session keeps the credentials it resolved (refreshing them, for IRSA),
    # so "none at all" is a manager started without any.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with manager(kube, ns, ecr_server):
        await client.create(
            irp(ns, "nothing", {"repositoryPattern": "team-b/web"}, {"alphabetical": {}}, **chain)
        )
        message = next(
            c["message"]
            for c in (await scanned(client, ns, "nothing", reason="NoCredentials"))["status"]["conditions"]
            if c["type"] == "Scanned"
        )
    assert "spec.aws.secretRef" in message


async def _handled(client: Client, ns: str, name: str, value: str) -> Obj | None:
    obj = await client.get(API_VERSION, IRP, name, ns)
    return obj if obj["status"].get("lastHandledReconcileAt") == value else None


async def test_repository_limit_is_reported(
    kube: cluster.Cluster, crds: None, client: Client, bed: str, ecr_server: ecr.ECR, ecr_images: object
) -> None:
    ns = bed
    async with manager(kube, ns, ecr_server):
        await client.create(
            irp(
                ns,
                "limited",
                # maxConcurrentScans: the seed's field, accepted by the schema and honoured
                {"repositoryPattern": "team-a/*", "maxRepositories": 1, "maxConcurrentScans": 1},
                {"perRepository": True, "alphabetical": {}},
            )
        )
        status = (await scanned(client, ns, "limited"))["status"]
    assert status["repositoriesMatched"] == 3 and status["repositoriesScanned"] == 1
    assert [i["repository"] for i in status["latestImages"]] == ["team-a/api"]  # the first by name
    events = (await client.list("v1", "Event", ns)).items
    assert any(e["reason"] == "RepositoryLimitReached" for e in events)


def test_irc_scan_prints_selections_without_a_cluster(
    ecr_server: ecr.ECR, ecr_images: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(
        json.dumps(
            irp(
                "default",
                "envs",
                {"repositoryPattern": "team-a/envs"},
                {"pattern": {"regex": "^(dev|prod)-", "extractPrefix": True}},
            )
        )
        + "\n---\n"
        + json.dumps(irp("default", "bad", {"repositoryPattern": "x"}, {"semver": {"range": "<<1"}}))
    )
    env = {"AWS_ACCESS_KEY_ID": "testbed", "AWS_SECRET_ACCESS_KEY": "testbed-secret", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "irc",
            "scan",
            "-f",
            str(path),
            "--endpoint-url",  # the short spelling scan also takes
            ecr_server.endpoint,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert out.returncode == 1, out.stderr  # the invalid policy fails the run ...
    assert "default/bad: invalid policy: policy.semver.range" in out.stderr
    rows = json.loads(out.stdout)  # ... and the valid one is still printed
    assert {(r["tag"], r["tagPrefix"]) for r in rows} == {("dev-1.4.0", "dev"), ("prod-1.2.0", "prod")}
    assert {r["digest"] for r in rows} == {
        ecr_images["team-a/envs"]["dev-1.4.0"],
        ecr_images["team-a/envs"]["prod-1.2.0"],
    }
