"""irc.reconcilers.detection.detected_name: the seed's ImageDetected names, always valid object names."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from irc.reconcilers.detection import detected_name

DIGEST = "sha256:abc12345" + "0" * 56
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")

NAMES = [
    ("webapp/frontend", "v1.2.3", DIGEST, "frontend-v1-2-3-abc12345"),
    ("frontend", "v1.2.3", DIGEST, "frontend-v1-2-3-abc12345"),
    ("team/a/b/api", "latest", DIGEST, "api-latest-abc12345"),
    ("team/My_Service", "Release_2024.01", DIGEST, "my-service-release-2024-01-abc12345"),
    ("app", "a..b__c--d", DIGEST, "app-a-b-c-d-abc12345"),  # runs of unsafe characters become one -
    ("app", "_v1_", DIGEST, "app-v1-abc12345"),  # no leading or trailing -
    ("app", "v1", "sha256:ABCDEF0123", "app-v1-abcdef01"),
    ("app", "v1", "abc12345ffff", "app-v1-abc12345"),  # no algorithm prefix
    # tags are cut to 20 characters
    ("app", "release-2024-01-10-build-7", DIGEST, "app-release-2024-01-10-b-abc12345"),
    ("app", "abcdefghijklmnopqrs-tuvwxyz", DIGEST, "app-abcdefghijklmnopqrs-abc12345"),  # cut at a -
    ("app", "abcdefghijklmnopqrst", DIGEST, "app-abcdefghijklmnopqrst-abc12345"),  # exactly 20
    ("app", "A" * 40, DIGEST, "app-" + "a" * 20 + "-abc12345"),
    # parts that sanitise to nothing are left out
    ("team/___", "v1", DIGEST, "v1-abc12345"),
    ("app", "...", DIGEST, "app-abc12345"),
]


@pytest.mark.parametrize(("repository", "tag", "digest", "expected"), NAMES)
def test_detected_name(repository: str, tag: str, digest: str, expected: str) -> None:
    assert detected_name(repository, tag, digest) == expected


def test_different_digests_of_one_tag_get_different_names() -> None:
    a = detected_name("app", "latest", "sha256:" + "1" * 64)
    b = detected_name("app", "latest", "sha256:" + "2" * 64)
    assert a != b


HEX_DIGESTS = st.text("0123456789abcdefABCDEF", min_size=1, max_size=64).map(lambda h: f"sha256:{h}")
TEXT = st.text(st.characters(codec="utf-8"), max_size=300)


@given(TEXT, TEXT, HEX_DIGESTS)
@example("team/" + "a" * 199 + "-" + "b" * 50, "T" * 30, "sha256:" + "f" * 64)  # cuts land on a -
@example("x" * 400, "y" * 400, "sha256:" + "0" * 64)
@example("", "", "sha256:0")
def test_names_are_always_dns_subdomains(repository: str, tag: str, digest: str) -> None:
    name = detected_name(repository, tag, digest)
    assert len(name) <= 253
    assert DNS_SUBDOMAIN.fullmatch(name), name
    assert name.endswith("-" + digest.partition(":")[2][:8].lower()) or name == digest[7:15].lower()


@given(st.text("abcdefghijklmnopqrstuvwxyz0123456789-._ABC", min_size=1, max_size=60), HEX_DIGESTS)
def test_the_tag_part_is_at_most_20_characters(tag: str, digest: str) -> None:
    name = detected_name("app", tag, digest)
    hex_part = digest[7:15].lower()
    assert name.startswith("app-") and name.endswith("-" + hex_part)
    middle = name[len("app-") : -len(hex_part) - 1]
    assert len(middle) <= 20
    assert not middle.startswith("-") and not middle.endswith("-")
