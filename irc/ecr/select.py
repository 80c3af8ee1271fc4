"""What a policy selects from the images a scan lists: the one parsed form of an ImageResourcePolicy
spec (`ScanSpec`, which the policy controller uses to validate and the detection controller to
scan) and the selection itself (`Selector`), fed one repository at a time so a scan holds only the
current winners, never every image of every repository.

Selection, for each group (the repository when perRepository, else all repositories together;
within it, each tag prefix when pattern.extractPrefix):

    tags ─▶ drop sha256-….sig/.att/.sbom ─▶ imagePattern's tag glob ─▶ pattern.regex ─▶ filterTags ─▶ best

"Best" is the policy's (semver / alphabetical / numerical, as irc.tags.select_tag); with only a
`pattern`, the most recently pushed. Ties go to the shorter tag, then the lexically smaller one
(irc.tags' rule, docs/tags.md), then the most recent push, then the lexically greatest repository,
so the answer never depends on listing order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import InvalidRegionError
from botocore.utils import validate_region_name

from irc.api.durations import parse_duration
from irc.ecr.match import RepositoryMatcher
from irc.tags import Policy, TagFilter, compile_go_regex, is_signature_tag
from irc.tags.select import preference

DEFAULT_SCAN_TIMEOUT = 300.0
DEFAULT_MAX_REPOSITORIES = 50


@dataclass(frozen=True)
class Image:
    """One tag of one ECR image."""

    repository: str
    tag: str
    digest: str
    uri: str
    """registry host/repository, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/api."""
    pushed_at: float = 0.0
    """Epoch seconds (ECR records milliseconds); 0 if unknown."""

    @property
    def full_name(self) -> str:
        return f"{self.uri}:{self.tag}"


@dataclass(frozen=True)
class Selection:
    image: Image
    prefix: str | None = None


@dataclass(frozen=True)
class ScanSpec:
    region: str
    matcher: RepositoryMatcher
    registry_id: str | None = None
    max_repositories: int = DEFAULT_MAX_REPOSITORIES
    max_concurrent_scans: int | None = None
    """Repositories described at a time (the seed's ecrRepository.maxConcurrentScans); None: the
    manager's --ecr-concurrency."""
    timeout: float = DEFAULT_SCAN_TIMEOUT
    per_repository: bool = False
    order: Policy | None = None
    filter_tags: TagFilter | None = None
    pattern: re.Pattern[str] | None = None
    extract_prefix: bool = False

    def prefix_of(self, tag: str) -> str | None:
        """The tag prefix this policy extracts from `tag` (group 1 of pattern.regex, with
        extractPrefix); None when it extracts none or the tag does not match. The Selector uses it on
        ECR's tags and the creation controller on the tags workloads run: one rule on both sides."""
        if self.pattern is None or not self.extract_prefix:
            return None
        match = self.pattern.search(tag)
        return None if match is None else match.group(1)

    def concurrency(self, default: int) -> int:
        """Repositories to describe at a time: the policy's maxConcurrentScans, else `default`."""
        return self.max_concurrent_scans or default

    @classmethod
    def from_policy(cls, spec: Mapping[str, Any]) -> ScanSpec:
        """Parse an ImageResourcePolicy spec; ValueError naming the field that is wrong."""
        ecr = spec.get("ecrRepository") or {}
        if not isinstance(ecr, Mapping) or not ecr.get("region"):
            raise ValueError("ecrRepository.region: required")
        try:
            validate_region_name(str(ecr["region"]))  # what the client would refuse at scan time
        except InvalidRegionError:
            raise ValueError(f"ecrRepository.region: {ecr['region']!r} is not a region name") from None
        policy = spec.get("policy") or {}
        order = None
        if any(policy.get(k) is not None for k in ("semver", "alphabetical", "numerical")):
            order = Policy.parse(policy)
        pattern, extract = None, False
        if policy.get("pattern") is not None:
            if not isinstance(policy["pattern"], Mapping):
                raise ValueError("policy.pattern: must be a mapping with regex and extractPrefix")
            pattern = compile_go_regex(policy["pattern"].get("regex", ""), "policy.pattern.regex")
            extract = bool(policy["pattern"].get("extractPrefix"))
            if extract and pattern.groups < 1:
                raise ValueError(
                    "policy.pattern.regex: extractPrefix needs a capture group, e.g. ^(dev|prod)-"
                )
        if order is None and pattern is None:
            raise ValueError("policy: one of semver, alphabetical, numerical or pattern is required")
        maximum = _positive(ecr, "maxRepositories", DEFAULT_MAX_REPOSITORIES) or DEFAULT_MAX_REPOSITORIES
        concurrency = _positive(ecr, "maxConcurrentScans", None)
        timeout = DEFAULT_SCAN_TIMEOUT
        if ecr.get("scanTimeout") is not None:
            timeout = parse_duration(str(ecr["scanTimeout"]), "ecrRepository.scanTimeout")
            if timeout <= 0:
                raise ValueError("ecrRepository.scanTimeout: must be positive")
        return cls(
            region=str(ecr["region"]),
            matcher=RepositoryMatcher.parse(ecr),
            registry_id=ecr.get("registryId") or None,
            max_repositories=maximum,
            max_concurrent_scans=concurrency,
            timeout=timeout,
            per_repository=bool(policy.get("perRepository")),
            order=order,
            filter_tags=TagFilter.parse(spec["filterTags"]) if spec.get("filterTags") is not None else None,
            pattern=pattern,
            extract_prefix=extract,
        )


def _positive(ecr: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = ecr.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"ecrRepository.{key}: must be a positive integer, got {value!r}")
    return value


class Selector:
    """Keeps, per group, the best image offered so far (see the module docstring)."""

    def __init__(self, spec: ScanSpec) -> None:
        self.spec = spec
        self._best: dict[tuple[str | None, str | None], tuple[tuple[Any, ...], Selection]] = {}

    def offer(self, images: Iterable[Image]) -> None:
        spec = self.spec
        for image in images:
            tag = image.tag
            if is_signature_tag(tag) or not spec.matcher.tag_matches(tag):
                continue
            prefix = None
            if spec.pattern is not None:
                if spec.extract_prefix:
                    prefix = spec.prefix_of(tag)
                    if prefix is None:  # no match, or group 1 did not take part in it
                        continue
                elif spec.pattern.search(tag) is None:
                    continue
            key = tag if spec.filter_tags is None else spec.filter_tags.key(tag)
            if key is None:
                continue
            rank = image.pushed_at if spec.order is None else spec.order.rank(key)
            if rank is None:
                continue
            entry = (preference(rank, tag), image.pushed_at, image.repository)
            group = (image.repository if spec.per_repository else None, prefix)
            held = self._best.get(group)
            if held is None or entry > held[0]:  # ranks of one policy are mutually comparable
                self._best[group] = (entry, Selection(image, prefix))

    def selections(self) -> list[Selection]:
        """The winners, ordered by repository, then prefix."""
        return sorted((s for _, s in self._best.values()), key=lambda s: (s.image.repository, s.prefix or ""))
