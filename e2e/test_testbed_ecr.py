"""The ECR endpoint answers aiobotocore as ECR does: paginated listings, distinct digests and push
times in push order, authorisation tokens, and STS AssumeRole credentials that ECR then accepts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from hack.testbed import ecr


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
    assert len(pages) >= len(ecr.FIXTURE_IMAGES)
    names = [r["repositoryName"] for p in pages for r in p["repositories"]]
    assert sorted(names) == sorted(ecr.FIXTURE_IMAGES)
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
