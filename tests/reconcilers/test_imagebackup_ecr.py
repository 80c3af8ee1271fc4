"""The image-backup reconciler's registry credentials through reconcile(): dockerconfigjson Secrets
for the source (sourceCredentials; a missing or unreadable one skipped, as the kubelet skips such
imagePullSecrets) and the backup registry (targetCredentials, or the manager's --backup-credentials;
a missing or unreadable one is CredentialsNotFound or InvalidCredentials); and ECR registries
without a pull secret, whose basic credentials come from ECR GetAuthorizationToken through the
reconciler's AwsClients (a fake of its public `authorization_token`): one token per ECR registry,
kept across reconciles until shortly before it expires.

ECR hosts have no port, so the test's HTTP session resolves them to the FakeRegistry standing in.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from irc.api.secrets import SecretRef
from irc.ecr.tokens import ECR_MARGIN
from irc.images.auth import RegistryOptions, TokenError
from irc.images.testing import FakeRegistry
from irc.reconcilers.settings import Settings
from irc.runtime import Obj
from tests.reconcilers.test_imagebackup import (
    HOUR,
    FakeAws,
    Make,
    World,
    assert_copied,
    b64,
    backup,
    between,
    pull_secret,
    push,
    registry_writes,
)
from tests.reconcilers.test_imagebackup import make as make  # the fixture

ACCOUNT = "123456789012"
EAST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
WEST = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com"
ECR_HOSTS = {EAST: RegistryOptions(plain_http=True), WEST: RegistryOptions(plain_http=True)}
USER = ("robot", "s3cret")


async def served(registry: FakeRegistry) -> AsyncIterator[FakeRegistry]:
    await registry.server.start_server()
    yield registry
    await registry.server.close()


@pytest.fixture
async def private() -> AsyncIterator[FakeRegistry]:
    """A registry that wants basic credentials USER."""
    async for registry in served(FakeRegistry(basic=USER)):
        yield registry


# ---- pull Secrets


async def test_source_credentials_come_from_the_secrets_named(
    make: Make, private: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(private)
    secrets = [
        pull_secret("other", "shop", {"elsewhere.example": ("x", "y")}),
        pull_secret("pull", "shop", {private.host: USER}),
    ]
    refs = [{"name": "other", "namespace": "shop"}, {"name": "pull", "namespace": "shop"}]
    w = make(between(private, dst, sourceCredentials=refs), *secrets, registries=[private])
    await w.reconcile()
    assert_copied(w, image)
    assert private.authorizations[-1] == "Basic " + b64(":".join(USER))


@pytest.mark.parametrize(
    "auths",
    [None, lambda host: {"127.0.0.1": USER}, lambda host: {host: (USER[0], "wrong")}],
    ids=["no-secret", "another-host", "wrong-password"],  # a port makes another host
)
async def test_a_source_refusing_the_credentials_is_source_unauthorized(
    make: Make, private: FakeRegistry, dst: FakeRegistry, auths: Callable[[str], dict[str, Any]] | None
) -> None:
    push(private)
    if auths is None:
        w = make(between(private, dst), registries=[private])
    else:
        refs = [{"name": "pull", "namespace": "shop"}]
        secret = pull_secret("pull", "shop", auths(private.host))
        w = make(between(private, dst, sourceCredentials=refs), secret, registries=[private])
    error = await w.fail()
    assert (error.reason, error.terminal) == ("SourceUnauthorized", False)
    assert w.status()["phase"] == "Failed" and w.ready()["reason"] == "SourceUnauthorized"


async def test_target_credentials_come_from_the_spec_before_the_managers_default(
    make: Make, src: FakeRegistry, private: FakeRegistry
) -> None:
    image = push(src)
    obj = between(src, private, targetCredentials={"name": "push", "namespace": "irc-system"})
    secret = pull_secret("push", "irc-system", {private.host: USER})
    missing_default = Settings(backup_credentials=SecretRef("absent", "irc-system"))  # never read
    w = make(obj, secret, registries=[private], settings=missing_default)
    await w.reconcile()
    assert_copied(w, image)
    assert [(a.verb, a.name) for a in w.client.actions if a.kind == "Secret"] == [("get", "push")]


async def test_target_credentials_default_to_the_managers(
    make: Make, src: FakeRegistry, private: FakeRegistry
) -> None:
    image = push(src)
    secret = pull_secret("push", "irc-system", {private.host: USER})
    w = make(
        between(src, private),
        secret,
        registries=[private],
        settings=Settings(backup_credentials=SecretRef("push", "irc-system")),
    )
    await w.reconcile()
    assert_copied(w, image)
    assert private.authorizations[-1] == "Basic " + b64(":".join(USER))


BROKEN = {".dockerconfigjson": b64("[" * 100_000 + "]" * 100_000)}  # a JSON bomb


@pytest.mark.parametrize("unusable", ["missing", "broken"])
async def test_an_unusable_source_secret_is_skipped_and_the_next_one_copies(
    make: Make, private: FakeRegistry, dst: FakeRegistry, unusable: str
) -> None:
    """The DoS this closes: sourceCredentials gather the pull Secrets of every namespace running the
    image, so a namespace naming a Secret it never made (or a broken one) must not stop the copy
    another namespace's valid Secret allows."""
    image = push(private)
    secrets = [pull_secret("pull", "shop", {private.host: USER})]
    if unusable == "broken":
        secrets.append(pull_secret("pull", "tenant", {}) | {"data": BROKEN})
    refs = [{"name": "pull", "namespace": "tenant"}, {"name": "pull", "namespace": "shop"}]
    w = make(between(private, dst, sourceCredentials=refs), *secrets, registries=[private])
    await w.reconcile()
    assert_copied(w, image)
    warning = w.recorder.events[0]
    reason = {"missing": "CredentialsNotFound", "broken": "InvalidCredentials"}[unusable]
    assert (warning.type, warning.reason) == ("Warning", reason)
    assert warning.message.startswith("secret tenant/pull") and warning.message.endswith(
        ": not used for the source"
    )


async def test_a_source_secret_name_no_secret_can_have_is_skipped_without_asking_the_api(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """An ImageBackup made before workload-rewrite left such names out, or by hand: the API server
    would answer `..%2Fx` with a 400, which must not fail the copy for everyone."""
    image = push(src)
    w = make(between(src, dst, sourceCredentials=[{"name": "..%2Fx", "namespace": "shop"}]))
    await w.reconcile()
    assert_copied(w, image)
    assert not [a for a in w.client.actions if a.kind == "Secret"]
    [warning] = [e for e in w.recorder.events if e.type == "Warning"]
    assert (warning.reason, warning.message) == (
        "CredentialsNotFound",
        "secret shop/'..%2Fx' cannot exist: not used for the source",
    )


async def test_a_public_source_copies_without_the_missing_secret_it_names(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst, sourceCredentials=[{"name": "pull", "namespace": "shop"}]))
    await w.reconcile()
    assert_copied(w, image)
    assert src.authorizations and not any(src.authorizations)  # anonymous, as the kubelet would pull


async def test_a_source_refusing_after_a_skipped_secret_says_which_was_skipped(
    make: Make, private: FakeRegistry, dst: FakeRegistry
) -> None:
    push(private)
    w = make(
        between(private, dst, sourceCredentials=[{"name": "pull", "namespace": "shop"}]), registries=[private]
    )
    error = await w.fail()
    assert (error.reason, error.terminal) == ("SourceUnauthorized", False)
    assert error.message.endswith("; skipped secret shop/pull not found")
    assert w.ready()["message"] == error.message


@pytest.mark.parametrize(
    ("spec", "settings", "message"),
    [
        (
            {"targetCredentials": {"name": "push", "namespace": "irc"}},
            Settings(),
            "secret irc/push not found",
        ),
        ({}, Settings(backup_credentials=SecretRef("push", "irc")), "secret irc/push not found"),
    ],
    ids=["target", "default-target"],
)
async def test_a_missing_target_secret_is_credentials_not_found(
    make: Make, src: FakeRegistry, dst: FakeRegistry, spec: dict[str, Any], settings: Settings, message: str
) -> None:
    push(src)
    w = make(between(src, dst, **spec), settings=settings)
    error = await w.fail()
    assert (error.reason, error.terminal, error.message) == ("CredentialsNotFound", False, message)
    assert w.status()["phase"] == "Failed" and w.ready()["reason"] == "CredentialsNotFound"
    assert w.recorder.events[-1].reason == "CredentialsNotFound"
    assert w.metric("irc_image_backup_failures_total", reason="CredentialsNotFound") == 1
    assert src.log == [] and dst.log == []  # no registry is asked without its credentials


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "secret has neither .dockerconfigjson nor .dockercfg"),
        ({".dockerconfigjson": "not base64!"}, "secret key .dockerconfigjson is not base64"),
        (
            {".dockerconfigjson": b64('{"auths": {"h": {"auth": "bm8gY29sb24="}}}')},
            "is not base64 of user:password",
        ),
        ({".dockerconfigjson": b64("auths: {}")}, "docker config is not JSON"),  # YAML, not JSON
        ({".dockerconfigjson": base64.b64encode(b"\xff\xfe{}").decode()}, "docker config is not JSON"),
        # a JSON bomb: an Opaque Secret's keys are not validated by the API server, as dockerconfigjson's are
        ({".dockerconfigjson": b64("[" * 100_000 + "]" * 100_000)}, "docker config is not JSON"),
        ({".dockerconfigjson": b64('{"auths": null}')}, "is not a JSON object of registries"),
        ({".dockerconfigjson": b64('{"auths": {"h": "robot:s3cret"}}')}, "entry for 'h' is not an object"),
        ({"username": b64("robot"), "password": b64("s3cret")}, "neither .dockerconfigjson nor .dockercfg"),
        ({".dockerconfigjson": b64("{" + " " * (1 << 20))}, "docker config is not JSON"),  # 1 MiB, the most
    ],
    ids=[
        "no-key",
        "not-base64",
        "auth-without-colon",
        "yaml",
        "not-utf8",
        "json-bomb",
        "auths-null",
        "entry-a-string",
        "basic-auth-type",
        "one-mib",
    ],
)
async def test_an_unreadable_target_secret_is_invalid_credentials(
    make: Make, src: FakeRegistry, dst: FakeRegistry, data: dict[str, str], message: str
) -> None:
    push(src)
    secret = pull_secret("push", "irc", {}) | {"data": data}
    w = make(between(src, dst, targetCredentials={"name": "push", "namespace": "irc"}), secret)
    error = await w.fail()
    assert (error.reason, error.terminal) == ("InvalidCredentials", False)
    assert error.message.startswith("secret irc/push: ") and message in error.message
    assert w.ready()["reason"] == "InvalidCredentials" and w.status()["phase"] == "Failed"
    assert src.log == [] and dst.log == []


# ---- ECR


class Resolver(AbstractResolver):
    """Resolves every name to 127.0.0.1 and the port of the FakeRegistry standing in for it."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.ports[host],
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def ecr() -> AsyncIterator[FakeRegistry]:
    """A registry that wants what ECR tokens carry (user AWS), at EAST and WEST."""
    async for registry in served(FakeRegistry(basic=("AWS", "pw"))):
        yield registry


@pytest.fixture
async def ecr_http(ecr: FakeRegistry) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that reaches EAST and WEST at `ecr` (and 127.0.0.1 as itself)."""
    assert ecr.server.port is not None
    ports = {EAST: ecr.server.port, WEST: ecr.server.port}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=Resolver(ports))) as session:
        yield session


def ecr_world(session: aiohttp.ClientSession, dst: FakeRegistry, *objects: Obj, **kwargs: Any) -> World:
    return World(list(objects), [dst], session, settings=Settings(registries=ECR_HOSTS), **kwargs)


async def test_an_ecr_source_without_a_pull_secret_gets_an_ecr_token(
    ecr_http: aiohttp.ClientSession, ecr: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(ecr)
    w = ecr_world(ecr_http, dst, backup(f"{EAST}/team/app:v1", f"{dst.host}/backup/app:v1"))
    await w.reconcile()
    assert_copied(w, image)
    assert w.aws.calls == [("us-east-1", None, [ACCOUNT])]  # the default AWS chain, this registry
    assert ecr.authorizations[-1] == "Basic " + b64("AWS:pw")


async def test_one_token_per_ecr_registry_across_reconciles_until_it_nears_expiry(
    ecr_http: aiohttp.ClientSession, ecr: FakeRegistry, dst: FakeRegistry
) -> None:
    push(ecr)
    east = backup(f"{EAST}/team/app:v1", f"{dst.host}/backup/east:v1", name="east", resyncInterval="1h")
    west = backup(f"{WEST}/team/app:v1", f"{dst.host}/backup/west:v1", name="west", resyncInterval="1h")
    w = ecr_world(ecr_http, dst, east, west)
    for _ in range(3):  # each reconcile asks the source whether its tag moved
        for name in ("east", "west"):
            await w.reconcile(name)
    assert w.aws.calls == [("us-east-1", None, [ACCOUNT]), ("us-west-2", None, [ACCOUNT])]
    assert {w.status(n)["phase"] for n in ("east", "west")} == {"Completed"}

    w.clock.advance(12 * HOUR - ECR_MARGIN - 1)
    await w.reconcile("east")
    assert len(w.aws.calls) == 2
    w.clock.advance(2)  # within the margin of expiresAt: renewed
    w.aws.expires_at += 12 * HOUR
    await w.reconcile("east")
    assert w.aws.calls[2:] == [("us-east-1", None, [ACCOUNT])]


async def test_a_pull_secret_for_an_ecr_host_wins_over_the_aws_chain(
    ecr_http: aiohttp.ClientSession, ecr: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(ecr)
    obj = backup(
        f"{EAST}/team/app:v1",
        f"{dst.host}/backup/app:v1",
        sourceCredentials=[{"name": "pull", "namespace": "shop"}],
    )
    w = ecr_world(ecr_http, dst, obj, pull_secret("pull", "shop", {EAST: ("AWS", "pw")}))
    await w.reconcile()
    assert_copied(w, image)
    assert w.aws.calls == []


async def test_an_ecr_target_without_credentials_gets_its_own_token(
    ecr_http: aiohttp.ClientSession, ecr: FakeRegistry, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = World(
        [backup(f"{src.host}/team/app:v1", f"{WEST}/backup/app:v1")],
        [src],
        ecr_http,
        settings=Settings(registries=ECR_HOSTS),
    )
    await w.reconcile()
    assert_copied(w, image)
    assert w.aws.calls == [("us-west-2", None, [ACCOUNT])]
    assert ecr.repos["backup/app"].tags == {"v1": image.digest}
    assert registry_writes(dst) == []


@pytest.mark.parametrize(("status", "reason"), [(401, "SourceUnauthorized"), (403, "SourceUnauthorized")])
async def test_an_ecr_token_refused_by_aws_is_retried(
    ecr_http: aiohttp.ClientSession, ecr: FakeRegistry, dst: FakeRegistry, status: int, reason: str
) -> None:
    push(ecr)
    aws = FakeAws()
    aws.error = TokenError("ECR GetAuthorizationToken: AccessDeniedException", status)
    w = ecr_world(ecr_http, dst, backup(f"{EAST}/team/app:v1", f"{dst.host}/backup/app:v1"), aws=aws)
    error = await w.fail()
    assert (error.reason, error.terminal) == (reason, False)
    assert "ECR GetAuthorizationToken" in error.message
    assert w.status()["phase"] == "Failed" and w.ready()["reason"] == reason
    aws.error = None  # AWS relents: the next reconcile asks again
    await w.reconcile()
    assert w.status()["phase"] == "Completed" and len(aws.calls) == 2
