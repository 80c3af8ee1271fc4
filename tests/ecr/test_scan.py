"""irc.ecr.scan against a fake of the aiobotocore ECR client: paging, limits, concurrency, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from irc.ecr.scan import scan
from irc.ecr.select import ScanSpec
from irc.runtime.errors import ReconcileError

ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
OPERATIONS = {"describe_repositories": "DescribeRepositories", "describe_images": "DescribeImages"}


def client_error(code: str, status: int, operation: str = "DescribeImages") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} says no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


def detail(digest: int, tags: list[str], pushed: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = {
        "registryId": ACCOUNT,
        "imageDigest": f"sha256:{digest:064x}",
        "imagePushedAt": EPOCH + datetime.timedelta(seconds=pushed),
    }
    if tags:
        found["imageTags"] = tags
    return found


class FakeEvents:
    """botocore's hierarchical event emitter, as far as register/unregister/emit go."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., Any]]] = {}

    def register(self, event_name: str, handler: Callable[..., Any]) -> None:
        self.handlers.setdefault(event_name, []).append(handler)

    def unregister(self, event_name: str, handler: Callable[..., Any]) -> None:
        self.handlers[event_name].remove(handler)
        if not self.handlers[event_name]:
            del self.handlers[event_name]

    def emit(self, event_name: str, **kwargs: Any) -> None:
        for name, handlers in list(self.handlers.items()):
            if event_name == name or event_name.startswith(name + "."):
                for handler in handlers:
                    handler(event_name=event_name, **kwargs)


class FakeMeta:
    def __init__(self) -> None:
        self.events = FakeEvents()


class FakeEcr:
    """The slice of an aiobotocore ECR client that scan() uses.

    Every page is one request: it emits before-send.ecr.<Operation>, is recorded in `requests`, and
    yields to the loop a few times while counted `in_flight` (describe_images only).
    """

    def __init__(
        self, repositories: dict[str, list[dict[str, Any]]], *, listed: list[str] | None = None
    ) -> None:
        self.repositories = repositories
        self.listed = list(repositories) if listed is None else listed
        """What DescribeRepositories returns, in order; a name not in `repositories` was deleted since."""
        self.meta = FakeMeta()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[tuple[str, str | None], tuple[int, BaseException]] = {}
        """(operation, repositoryName) → (page index, exception to raise when requesting that page)."""
        self.hang: set[str] = set()
        """Operations whose requests never complete."""
        self.in_flight = self.high_water = 0

    def get_paginator(self, operation: str) -> FakePaginator:
        assert operation in OPERATIONS, operation
        return FakePaginator(self, operation)

    async def request(self, operation: str, kwargs: dict[str, Any], page: int) -> None:
        self.meta.events.emit(f"before-send.ecr.{OPERATIONS[operation]}", request=object())
        self.requests.append((operation, kwargs))
        counted = operation == "describe_images"
        if counted:
            self.in_flight += 1
            self.high_water = max(self.high_water, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if operation in self.hang:
                await asyncio.Event().wait()
            failure = self.failures.get((operation, kwargs.get("repositoryName")))
            if failure is not None and failure[0] == page:
                raise failure[1]
        finally:
            if counted:
                self.in_flight -= 1

    def describe_images_of(self) -> list[str]:
        return [kwargs["repositoryName"] for op, kwargs in self.requests if op == "describe_images"]


class FakePaginator:
    def __init__(self, client: FakeEcr, operation: str) -> None:
        self.client, self.operation = client, operation

    def paginate(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        return self._pages(kwargs)

    async def _pages(self, kwargs: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        client, operation = self.client, self.operation
        size = kwargs.get("PaginationConfig", {}).get("PageSize", 100)  # ECR's default is 100
        if not 1 <= size <= 1000:
            raise client_error("InvalidParameterException", 400, OPERATIONS[operation])
        if operation == "describe_repositories":
            items: list[Any] = [
                {"repositoryName": name, "repositoryUri": f"{REGISTRY}/{name}", "registryId": ACCOUNT}
                for name in client.listed
            ]
            key = "repositories"
        else:
            name = kwargs["repositoryName"]
            items = list(client.repositories.get(name, []))
            if kwargs.get("filter") == {"tagStatus": "TAGGED"}:
                items = [d for d in items if d.get("imageTags")]
            key = "imageDetails"
        page, start = 0, 0
        while True:
            await client.request(operation, kwargs, page)
            if operation == "describe_images" and kwargs["repositoryName"] not in client.repositories:
                raise client_error("RepositoryNotFoundException", 400)
            chunk = items[start : start + size]
            start += size
            more = start < len(items)
            yield {key: chunk, **({"nextToken": f"t{start}"} if more else {})}
            if not more:
                return
            page += 1


def make_spec(policy: dict[str, Any] | None = None, **ecr: Any) -> ScanSpec:
    return ScanSpec.from_policy(
        {
            "ecrRepository": {"region": "us-east-1", "repositoryPattern": "**", **ecr},
            "policy": policy or {"numerical": {}},
        }
    )


def picked(result_selections: list[Any]) -> list[tuple[str, str]]:
    return [(s.image.repository, s.image.tag) for s in result_selections]


async def test_a_scan_describes_each_matched_repository_and_selects() -> None:
    ecr = FakeEcr(
        {
            "team-a/api": [detail(1, ["1", "latest"], pushed=10), detail(2, ["3"], pushed=20), detail(9, [])],
            "team-a/web": [detail(3, ["2"], pushed=30)],
            "team-b/api": [detail(4, ["99"], pushed=40)],
        }
    )
    result = await scan(
        ecr, make_spec({"numerical": {}, "perRepository": True}, repositoryPattern="team-a/*")
    )
    assert picked(result.selections) == [("team-a/api", "3"), ("team-a/web", "2")]
    winner = result.selections[0].image
    assert winner.digest == f"sha256:{2:064x}"
    assert winner.uri == f"{REGISTRY}/team-a/api"
    assert winner.pushed_at == (EPOCH + datetime.timedelta(seconds=20)).timestamp()
    assert (result.repositories_matched, result.repositories_scanned) == (2, 2)
    assert result.images_scanned == 3  # distinct tagged digests: 1 (two tags), 2 and 3
    assert result.api_calls == 3 == len(ecr.requests)
    assert result.vanished == []
    assert sorted(ecr.describe_images_of()) == ["team-a/api", "team-a/web"]
    assert all(kw["filter"] == {"tagStatus": "TAGGED"} for op, kw in ecr.requests if op == "describe_images")
    assert "registryId" not in ecr.requests[0][1]
    assert ecr.meta.events.handlers == {}  # the call counter is unregistered


async def test_every_page_of_repositories_is_read() -> None:
    names = [f"svc-{n:04d}" for n in range(2500)]
    random.Random(7).shuffle(names)
    names.append("late/app")  # on the third page of 1,000
    ecr = FakeEcr({"late/app": [detail(1, ["7"])]}, listed=names)
    result = await scan(ecr, make_spec(repositoryPattern="late/*"))
    assert picked(result.selections) == [("late/app", "7")]
    listings = [kw for op, kw in ecr.requests if op == "describe_repositories"]
    assert len(listings) == 3
    assert result.api_calls == 4


async def test_max_repositories_keeps_the_first_by_name_and_reports_all_matched() -> None:
    names = [f"svc-{n:04d}" for n in range(2500)]
    random.Random(11).shuffle(names)
    ecr = FakeEcr({name: [detail(n, [str(n)])] for n, name in enumerate(names)}, listed=names)
    result = await scan(ecr, make_spec())  # maxRepositories defaults to 50
    assert result.repositories_matched == 2500
    assert result.repositories_scanned == 50
    assert sorted(ecr.describe_images_of()) == [f"svc-{n:04d}" for n in range(50)]
    assert result.api_calls == 3 + 50


async def test_max_repositories_counts_only_matched_repositories() -> None:
    names = ["e", "skip/1", "c", "a", "skip/0", "d", "b"]
    ecr = FakeEcr({name: [detail(n, ["1"])] for n, name in enumerate(names)})
    spec = make_spec({"numerical": {}, "perRepository": True}, maxRepositories=2, exclude=["skip/*"])
    result = await scan(ecr, spec)
    assert picked(result.selections) == [("a", "1"), ("b", "1")]
    assert (result.repositories_matched, result.repositories_scanned) == (5, 2)


async def test_every_page_of_images_is_read() -> None:
    details = [detail(n, [str(n)], pushed=n) for n in range(2500)]
    random.Random(3).shuffle(details)
    details.append(detail(9999, ["100000"]))  # the winner, on the last page
    ecr = FakeEcr({"app": details})
    result = await scan(ecr, make_spec())
    assert picked(result.selections) == [("app", "100000")]
    assert result.images_scanned == 2501
    pages = [kw for op, kw in ecr.requests if op == "describe_images"]
    assert len(pages) == 3
    assert result.api_calls == 1 + 3


@pytest.mark.parametrize("registry_id", ["210987654321", None])
async def test_registry_id_is_passed_through_when_set(registry_id: str | None) -> None:
    ecr = FakeEcr({"a": [detail(1, ["1"])], "b": [detail(2, ["2"])]})
    await scan(ecr, make_spec(registryId=registry_id))
    assert {op for op, _ in ecr.requests} == set(OPERATIONS)
    for _, kwargs in ecr.requests:
        assert kwargs.get("registryId") == registry_id
        assert ("registryId" in kwargs) is (registry_id is not None)


@pytest.mark.parametrize(("concurrency", "repositories"), [(1, 5), (3, 10), (8, 20), (8, 3)])
async def test_at_most_concurrency_describes_in_flight(concurrency: int, repositories: int) -> None:
    ecr = FakeEcr({f"r{n:02d}": [detail(n, [str(m) for m in range(3)])] for n in range(repositories)})
    result = await scan(ecr, make_spec({"numerical": {}, "perRepository": True}), concurrency=concurrency)
    assert ecr.high_water == min(concurrency, repositories)
    assert len(result.selections) == repositories
    assert sorted(ecr.describe_images_of()) == sorted(ecr.repositories)  # each repository exactly once


async def test_the_policys_max_concurrent_scans_overrides_the_managers_concurrency() -> None:
    ecr = FakeEcr({f"r{n:02d}": [detail(n, ["1"])] for n in range(12)})
    spec = make_spec({"numerical": {}, "perRepository": True}, maxConcurrentScans=2)
    await scan(ecr, spec, concurrency=8)
    assert ecr.high_water == 2


async def test_a_repository_deleted_before_its_description_is_skipped() -> None:
    ecr = FakeEcr(
        {"a": [detail(1, ["1"])], "c": [detail(3, ["3"])]},
        listed=["a", "b-gone", "c"],
    )
    result = await scan(ecr, make_spec({"numerical": {}, "perRepository": True}))
    assert result.vanished == ["b-gone"]
    assert picked(result.selections) == [("a", "1"), ("c", "3")]
    assert (result.repositories_matched, result.repositories_scanned) == (3, 3)


async def test_a_repository_deleted_while_paging_contributes_nothing() -> None:
    ecr = FakeEcr(
        {"a": [detail(n, [str(n)]) for n in range(1500)], "b": [detail(1, ["1"])]},
    )
    ecr.failures[("describe_images", "a")] = (1, client_error("RepositoryNotFoundException", 400))
    result = await scan(ecr, make_spec())
    assert result.vanished == ["a"]
    assert picked(result.selections) == [("b", "1")]  # not 999 from a's first page
    assert result.images_scanned == 1


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_exceeding_the_scan_timeout_is_a_scan_timeout(operation: str) -> None:
    ecr = FakeEcr({"a": [detail(1, ["1"])], "b": [detail(2, ["2"])]})
    ecr.hang.add(operation)
    spec = dataclasses.replace(make_spec(), timeout=0.05)
    with pytest.raises(ReconcileError) as raised:
        await scan(ecr, spec)
    assert raised.value.reason == "ScanTimeout"
    assert raised.value.terminal is False
    assert "scanTimeout" in str(raised.value)
    assert ecr.meta.events.handlers == {}
    assert ecr.in_flight == 0  # hung describes were cancelled


ERRORS: list[tuple[BaseException, str, bool]] = [
    (client_error("AccessDeniedException", 400), "AccessDenied", False),
    (client_error("UnrecognizedClientException", 400), "AccessDenied", False),
    (client_error("ExpiredTokenException", 400), "AccessDenied", False),
    (client_error("Forbidden", 403), "AccessDenied", False),
    (client_error("ThrottlingException", 400), "Throttled", True),
    (client_error("Throttling", 400), "Throttled", True),  # STS's spelling
    (client_error("TooManyRequestsException", 400), "Throttled", True),
    (client_error("SlowDown", 429), "Throttled", True),
    (client_error("InternalFailure", 500), "ScanFailed", True),
    (client_error("ServiceUnavailable", 503), "ScanFailed", True),
    (client_error("ValidationException", 400), "ScanFailed", False),
    (client_error("RegistryNotFoundException", 400), "InvalidPolicy", False),
    (client_error("InvalidParameterException", 400), "InvalidPolicy", False),
    (NoCredentialsError(), "NoCredentials", False),
    (EndpointConnectionError(endpoint_url="https://api.ecr.us-east-1.amazonaws.com/"), "NetworkError", True),
]


@pytest.mark.parametrize(("error", "reason", "transient"), ERRORS)
async def test_listing_errors_are_classified(error: BaseException, reason: str, transient: bool) -> None:
    ecr = FakeEcr({"a": [detail(1, ["1"])]})
    ecr.failures[("describe_repositories", None)] = (0, error)
    with pytest.raises(ReconcileError) as raised:
        await scan(ecr, make_spec())
    assert (raised.value.reason, not raised.value.terminal) == (reason, transient)
    assert raised.value.__cause__ is error
    assert ecr.meta.events.handlers == {}


@pytest.mark.parametrize(("error", "reason", "transient"), ERRORS[:1] + ERRORS[4:5] + ERRORS[-2:])
async def test_describe_errors_are_classified(error: BaseException, reason: str, transient: bool) -> None:
    ecr = FakeEcr({"a": [detail(1, ["1"])], "b": [detail(2, ["2"])]})
    ecr.failures[("describe_images", "b")] = (0, error)
    with pytest.raises(ReconcileError) as raised:
        await scan(ecr, make_spec())
    assert (raised.value.reason, not raised.value.terminal) == (reason, transient)


async def test_error_messages_name_the_operation_and_code() -> None:
    ecr = FakeEcr({"a": []})
    ecr.failures[("describe_repositories", None)] = (
        0,
        client_error("AccessDeniedException", 400, "DescribeRepositories"),
    )
    with pytest.raises(
        ReconcileError, match="DescribeRepositories: AccessDeniedException: AccessDeniedException says no"
    ):
        await scan(ecr, make_spec())
