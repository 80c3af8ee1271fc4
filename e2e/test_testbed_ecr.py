"""The ECR endpoint answers aiobotocore as ECR does: paginated listings, distinct digests and push
times in push order, authorisation tokens, and STS AssumeRole credentials that ECR then accepts.
Its control endpoints inject errors that botocore retries (or not) as it would ECR's, count calls,
and seed images in bulk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from hack.testbed import ecr

# Last segments no detection test globs for (the ECR server is shared by the whole session).
SEEDED = {"testbed-faults/app": ("1.0.0", "1.1.0", "2.0.0"), "testbed-faults/ui": ("a", "b")}


@pytest.fixture(autouse=True)
def no_faults(ecr_server: ecr.ECR) -> Iterator[None]:
    """Each test starts with no faults and zero calls, and leaves no fault behind for other modules."""
    ecr_server.clear_faults()
    ecr_server.reset_calls()
    yield
    ecr_server.clear_faults()


@pytest.fixture(scope="module")
def seeded(ecr_server: ecr.ECR) -> dict[str, dict[str, str]]:
    return ecr_server.seed(SEEDED)


@pytest.fixture
async def retrying_client(ecr_server: ecr.ECR) -> AsyncIterator[Any]:
    """A client retrying as the detection controller's does: botocore's standard mode."""
    config = AioConfig(retries={"mode": "standard", "max_attempts": 5})
    async with get_session().create_client(
        "ecr",
        endpoint_url=ecr_server.endpoint,
        region_name=ecr_server.region,
        config=config,
        **ecr.CREDENTIALS,
    ) as client:
        yield client


@pytest.fixture
async def ecr_client(ecr_server: ecr.ECR, ecr_images: dict[str, dict[str, str]]) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "ecr", endpoint_url=ecr_server.endpoint, region_name=ecr_server.region, **ecr.CREDENTIALS
    ) as client:
        yield client


async def test_repositories_are_listed_page_by_page(ecr_client: Any) -> None:
    pages = [
        page
        async for page in ecr_client.get_paginator("describe_repositories").paginate(
            PaginationConfig={"PageSize": 1}
        )
    ]
    names = [r["repositoryName"] for p in pages for r in p["repositories"]]
    # Other modules add repositories to the session's server: the fixtures are a subset, and page
    # by page lists exactly what one large page does, each repository once.
    everything = await ecr_client.describe_repositories(maxResults=1000)
    assert len(pages) == len(names) and len(set(names)) == len(names)
    assert sorted(names) == sorted(r["repositoryName"] for r in everything["repositories"])
    assert set(ecr.FIXTURE_IMAGES) <= set(names)
    assert all(
        r["repositoryUri"].startswith(f"{ecr.ACCOUNT_ID}.dkr.ecr.") for p in pages for r in p["repositories"]
    )


async def test_images_have_distinct_digests_and_ordered_push_times(
    ecr_client: Any, ecr_images: dict[str, dict[str, str]]
) -> None:
    for repository, tags in ecr.FIXTURE_IMAGES.items():
        details = [
            d
            async for page in ecr_client.get_paginator("describe_images").paginate(
                repositoryName=repository, PaginationConfig={"PageSize": 2}
            )
            for d in page["imageDetails"]
        ]
        by_tag = {d["imageTags"][0]: d for d in details}
        assert set(by_tag) == set(tags)
        assert {t: d["imageDigest"] for t, d in by_tag.items()} == ecr_images[repository]
        pushed = [by_tag[t]["imagePushedAt"] for t in tags]
        assert pushed == sorted(pushed) and len(set(pushed)) == len(pushed)
    all_digests = [d for tags in ecr_images.values() for d in tags.values()]
    assert len(set(all_digests)) == len(all_digests)


async def test_authorization_token_and_assumed_role(ecr_server: ecr.ECR, ecr_images: object) -> None:
    session = get_session()
    async with session.create_client(
        "sts", endpoint_url=ecr_server.endpoint, region_name=ecr_server.region, **ecr.CREDENTIALS
    ) as sts:
        assumed = await sts.assume_role(
            RoleArn=f"arn:aws:iam::{ecr.ACCOUNT_ID}:role/irc-reader", RoleSessionName="irc-e2e"
        )
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"] != ecr.CREDENTIALS["aws_access_key_id"]
    async with session.create_client(
        "ecr",
        endpoint_url=ecr_server.endpoint,
        region_name=ecr_server.region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ) as client:
        auth = (await client.get_authorization_token())["authorizationData"][0]
        images = await client.list_images(repositoryName="team-a/api")
    assert auth["proxyEndpoint"].endswith(".amazonaws.com") and auth["authorizationToken"]
    assert len(images["imageIds"]) == len(ecr.FIXTURE_IMAGES["team-a/api"])


async def test_listings_page_at_ecr_default_of_100(ecr_server: ecr.ECR, ecr_client: Any) -> None:
    """Like ECR (and unlike plain moto), one call returns at most 100 images and a nextToken."""
    tags = [f"0.0.{i}" for i in range(150)]
    ecr.populate(ecr_server, {"bulk/many": tags})
    first = await ecr_client.list_images(repositoryName="bulk/many")
    assert len(first["imageIds"]) == 100 and first["nextToken"]
    second = await ecr_client.list_images(repositoryName="bulk/many", nextToken=first["nextToken"])
    assert len(second["imageIds"]) == 50 and "nextToken" not in second
    seen = {i["imageTag"] for page in (first, second) for i in page["imageIds"]}
    assert seen == set(tags)


@pytest.mark.parametrize(
    ("status", "code", "count"),
    [(400, "ThrottlingException", 2), (500, "ServerException", 1), (503, "ServiceUnavailableException", 1)],
)
async def test_throttling_and_server_errors_are_retried(
    ecr_server: ecr.ECR, retrying_client: Any, seeded: object, status: int, code: str, count: int
) -> None:
    ecr_server.inject_fault("DescribeImages", status=status, code=code, count=count)
    listed = await retrying_client.list_images(repositoryName="testbed-faults/app")  # another action
    described = await retrying_client.describe_images(repositoryName="testbed-faults/app")
    assert listed["ResponseMetadata"]["RetryAttempts"] == 0
    assert described["ResponseMetadata"]["RetryAttempts"] == count
    assert len(described["imageDetails"]) == len(SEEDED["testbed-faults/app"])
    assert ecr_server.calls() == {"ListImages": 1, "DescribeImages": count + 1}


async def test_access_denied_is_not_retried(
    ecr_server: ecr.ECR, retrying_client: Any, seeded: object
) -> None:
    ecr_server.inject_fault("*", code="AccessDeniedException", count=3)
    with pytest.raises(ClientError) as raised:
        await retrying_client.describe_images(repositoryName="testbed-faults/app")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ecr_server.calls() == {"DescribeImages": 1}
    ecr_server.clear_faults()
    assert (await retrying_client.list_images(repositoryName="testbed-faults/app"))["imageIds"]


async def test_sts_calls_are_counted_by_action(ecr_server: ecr.ECR) -> None:
    async with get_session().create_client(
        "sts", endpoint_url=ecr_server.endpoint, region_name=ecr_server.region, **ecr.CREDENTIALS
    ) as sts:
        identity = await sts.get_caller_identity()
        await sts.get_caller_identity()
    assert identity["Account"] == ecr.ACCOUNT_ID  # moto still read the form body the counter read
    assert ecr_server.calls() == {"GetCallerIdentity": 2}
    ecr_server.reset_calls()
    assert ecr_server.calls() == {}


async def test_seeded_images_are_listed_with_their_digests_and_manifests_in_push_order(
    retrying_client: Any, seeded: dict[str, dict[str, str]]
) -> None:
    assert {r: list(tags) for r, tags in seeded.items()} == {r: list(tags) for r, tags in SEEDED.items()}
    for repository, tags in SEEDED.items():
        details = (await retrying_client.describe_images(repositoryName=repository))["imageDetails"]
        by_tag = {d["imageTags"][0]: d for d in details}
        assert {t: d["imageDigest"] for t, d in by_tag.items()} == seeded[repository]
        pushed = [by_tag[t]["imagePushedAt"] for t in tags]
        assert pushed == sorted(pushed) and len(set(pushed)) == len(pushed)
        got = await retrying_client.batch_get_image(
            repositoryName=repository, imageIds=[{"imageTag": t} for t in tags]
        )
        assert {i["imageId"]["imageTag"]: i["imageManifest"] for i in got["images"]} == {
            t: ecr.manifest(repository, t) for t in tags
        }
    digests = [d for tags in seeded.values() for d in tags.values()]
    assert len(set(digests)) == len(digests)
