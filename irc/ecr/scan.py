"""One scan of ECR for one policy: list the repositories (every page), keep those the globs match
(at most maxRepositories, by name), describe each one's tagged images (every page, `concurrency`
repositories at a time) and feed them to a Selector, all within scanTimeout.

DescribeImages rather than ListImages: one call returns tags, digest and push time for up to 1,000
images, so a scan costs 1 + repositories calls (for ≤1,000 images each) and no per-image request.
Throttling, 5xx and connection errors are retried by the client (irc.ecr.credentials); what still
fails becomes a ReconcileError with a reason for the policy's Scanned condition: terminal when it
needs someone to fix credentials or the policy, else worth retrying soon with backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
)

from irc.ecr.select import Image, ScanSpec, Selection, Selector
from irc.runtime.errors import ReconcileError, first_failure

PAGE_SIZE = 1000  # ECR's maximum for both listings
DEFAULT_CONCURRENCY = 8

_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "AuthFailure",
    }
)

# botocore's standard retry mode treats these as throttling too; STS says "Throttling".
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


@dataclass
class ScanResult:
    selections: list[Selection]
    repositories_matched: int = 0
    repositories_scanned: int = 0
    images_scanned: int = 0
    api_calls: int = 0
    duration: float = 0.0
    vanished: list[str] = field(default_factory=list)
    """Repositories deleted between the listing and their description (skipped)."""


async def scan(client: Any, spec: ScanSpec, *, concurrency: int = DEFAULT_CONCURRENCY) -> ScanResult:
    """Scan with an aiobotocore ECR client, `spec.max_concurrent_scans` (else `concurrency`)
    repositories at a time; ReconcileError on failure (ScanTimeout past spec.timeout)."""
    concurrency = spec.concurrency(concurrency)
    calls = 0

    def count(**_: Any) -> None:
        nonlocal calls
        calls += 1

    client.meta.events.register("before-send.ecr", count)
    started = time.monotonic()
    result = ScanResult([])
    try:
        async with asyncio.timeout(spec.timeout):
            await _scan(client, spec, concurrency, result)
    except TimeoutError:
        raise ReconcileError(
            "ScanTimeout",
            f"the scan took longer than scanTimeout ({spec.timeout:g}s) after {calls} ECR calls; "
            "raise ecrRepository.scanTimeout or narrow the pattern",
            terminal=False,
        ) from None
    except (ClientError, BotoCoreError) as e:
        raise classify(e) from e
    finally:
        client.meta.events.unregister("before-send.ecr", count)
    result.api_calls, result.duration = calls, time.monotonic() - started
    return result


async def _scan(client: Any, spec: ScanSpec, concurrency: int, result: ScanResult) -> None:
    registry = {"registryId": spec.registry_id} if spec.registry_id else {}
    matched: dict[str, str] = {}
    pages = client.get_paginator("describe_repositories").paginate(
        **registry, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    async for page in pages:
        for repo in page["repositories"]:
            if spec.matcher.repository_matches(repo["repositoryName"]):
                matched[repo["repositoryName"]] = repo["repositoryUri"]
    names = sorted(matched)[: spec.max_repositories]
    result.repositories_matched, result.repositories_scanned = len(matched), len(names)
    selector = Selector(spec)
    todo: Iterator[str] = iter(names)

    async def worker() -> None:
        for name in todo:  # one shared iterator: each repository goes to exactly one worker
            images = await _describe(client, registry, name, matched[name], result)
            result.images_scanned += len({i.digest for i in images})
            selector.offer(images)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(names))):
                group.create_task(worker())
    except ExceptionGroup as failed:  # the first worker's error; the group cancelled the others
        raise (first_failure(failed) or failed) from None
    result.selections = selector.selections()


async def _describe(
    client: Any, registry: dict[str, str], name: str, uri: str, result: ScanResult
) -> list[Image]:
    images: list[Image] = []
    pages = client.get_paginator("describe_images").paginate(
        **registry,
        repositoryName=name,
        filter={"tagStatus": "TAGGED"},
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    try:
        async for page in pages:
            for detail in page["imageDetails"]:
                pushed = detail.get("imagePushedAt")
                for tag in detail.get("imageTags") or ():
                    images.append(
                        Image(name, tag, detail["imageDigest"], uri, pushed.timestamp() if pushed else 0.0)
                    )
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
        result.vanished.append(name)
        return []
    return images


def classify(e: ClientError | BotoCoreError) -> ReconcileError:
    """The ReconcileError (reason, terminal) for an error of an AWS call."""
    if isinstance(e, NoCredentialsError):
        return ReconcileError(
            "NoCredentials",
            "no AWS credentials: set spec.aws.secretRef, or give the manager an identity "
            "(IRSA, Pod Identity, instance role, AWS_* environment)",
            terminal=True,
        )
    if isinstance(e, NoRegionError | InvalidRegionError):
        return ReconcileError("InvalidPolicy", str(e), terminal=True)
    if isinstance(e, ConnectionError):
        return ReconcileError("NetworkError", f"cannot reach ECR: {e}", terminal=False)
    if isinstance(e, BotoCoreError):
        return ReconcileError("ScanFailed", str(e), terminal=False)
    code = e.response.get("Error", {}).get("Code", "")
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = e.response.get("Error", {}).get("Message") or str(e)
    operation = e.operation_name
    if code in _AUTH_CODES or status in (401, 403):
        return ReconcileError("AccessDenied", f"{operation}: {code}: {message}", terminal=True)
    if code in _THROTTLING_CODES or status == 429:
        return ReconcileError("Throttled", f"{operation}: throttled after retries: {message}", terminal=False)
    if code in ("RegistryNotFoundException", "InvalidParameterException", "RepositoryNotFoundException"):
        return ReconcileError("InvalidPolicy", f"{operation}: {code}: {message}", terminal=True)
    return ReconcileError("ScanFailed", f"{operation}: {code or status}: {message}", terminal=status < 500)
