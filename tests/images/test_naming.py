"""Backup target naming (nested and flat), its reverse, its limits, and ImageBackup object names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irc.images import ImageReference, TargetNaming, backup_object_name, parse_reference
from tests.images.test_reference import D256, D512, ECR, references

NESTED = TargetNaming("backup.example.com", "mirror")
FLAT = TargetNaming.from_location("docker.io/myorg", mode="flat")
BARE_NESTED = TargetNaming("registry.local:5000")
BARE_FLAT = TargetNaming("registry.local:5000", mode="flat")
NAMINGS = [NESTED, FLAT, BARE_NESTED, BARE_FLAT, TargetNaming("quay.io", "team/backups", "flat")]
ECR_NAMINGS = [TargetNaming(ECR, "mirror"), TargetNaming(ECR, mode="flat")]
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")

CASES: list[tuple[str, str, str]] = [
    # source, nested target (backup.example.com/mirror), flat target (docker.io/myorg)
    (
        "nginx:1.25",
        "backup.example.com/mirror/docker.io/library/nginx:1.25",
        "docker.io/myorg/docker.io_library_nginx:1.25",
    ),
    ("nginx", "backup.example.com/mirror/docker.io/library/nginx", "docker.io/myorg/docker.io_library_nginx"),
    ("a/b:c", "backup.example.com/mirror/docker.io/a/b:c", "docker.io/myorg/docker.io_a_b:c"),
    ("a-b:c", "backup.example.com/mirror/docker.io/library/a-b:c", "docker.io/myorg/docker.io_library_a-b:c"),
    (
        "a_b:c",
        "backup.example.com/mirror/docker.io/library/a_b:c",
        "docker.io/myorg/docker.io_library_a--b:c",
    ),
    ("x/a_b:c", "backup.example.com/mirror/docker.io/x/a_b:c", "docker.io/myorg/docker.io_x_a--b:c"),
    ("x/a/b:c", "backup.example.com/mirror/docker.io/x/a/b:c", "docker.io/myorg/docker.io_x_a_b:c"),
    ("x/a__b:c", "backup.example.com/mirror/docker.io/x/a__b:c", "docker.io/myorg/docker.io_x_a---b:c"),
    ("x/a--b:c", "backup.example.com/mirror/docker.io/x/a--b:c", "docker.io/myorg/docker.io_x_a----b:c"),
    ("x/a---b:c", "backup.example.com/mirror/docker.io/x/a---b:c", "docker.io/myorg/docker.io_x_a-----b:c"),
    ("x/a.b:c", "backup.example.com/mirror/docker.io/x/a.b:c", "docker.io/myorg/docker.io_x_a.b:c"),
    (
        "bitnami/redis:7.2",
        "backup.example.com/mirror/docker.io/bitnami/redis:7.2",
        "docker.io/myorg/docker.io_bitnami_redis:7.2",
    ),
    (
        "ghcr.io/my-org/my_app:v1",
        "backup.example.com/mirror/ghcr.io/my-org/my_app:v1",
        "docker.io/myorg/ghcr.io_my-org_my--app:v1",
    ),
    (
        "localhost:5000/team/app:1",
        "backup.example.com/mirror/localhost_5000/team/app:1",
        "docker.io/myorg/localhost--5000_team_app:1",
    ),
    (
        "xn--80ak6aa92e.com/app:1",
        "backup.example.com/mirror/xn--80ak6aa92e.com/app:1",
        "docker.io/myorg/xn----80ak6aa92e.com_app:1",
    ),
    (
        "[fe80::1]:5000/x:1",
        "backup.example.com/mirror/ipv6__fe80-0-0-0-0-0-0-1_5000/x:1",
        "docker.io/myorg/ipv6---fe80-0-0-0-0-0-0-1--5000_x:1",
    ),
    (
        f"{ECR}/team/app:2024.01",
        f"backup.example.com/mirror/{ECR}/team/app:2024.01",
        f"docker.io/myorg/{ECR}_team_app:2024.01",
    ),
    # digests are kept, alone or with the tag
    (
        f"nginx@{D256}",
        f"backup.example.com/mirror/docker.io/library/nginx@{D256}",
        f"docker.io/myorg/docker.io_library_nginx@{D256}",
    ),
    (
        f"nginx:1.25@{D256}",
        f"backup.example.com/mirror/docker.io/library/nginx:1.25@{D256}",
        f"docker.io/myorg/docker.io_library_nginx:1.25@{D256}",
    ),
    (
        f"quay.io/x/y@{D512}",
        f"backup.example.com/mirror/quay.io/x/y@{D512}",
        f"docker.io/myorg/quay.io_x_y@{D512}",
    ),
]


@pytest.mark.parametrize(("source", "nested", "flat"), CASES)
def test_targets(source: str, nested: str, flat: str) -> None:
    ref = parse_reference(source)
    for naming, expected in ((NESTED, nested), (FLAT, flat)):
        target = naming.target(ref)
        assert str(target) == expected
        assert parse_reference(expected) == target
        assert naming.source_of(target) == ref
        assert naming.is_target(target)
        assert not naming.is_target(ref)


def test_seed_bug_collisions_are_gone() -> None:
    """marcosQuesada joined the path with '_' and named objects with '/', ':', '.' → '-'."""
    sources = [parse_reference(s) for s in ("a/b:c", "a-b:c", "a_b:c", "a/b-c", "a.b:c", "a__b:c", "a--b:c")]
    for naming in NAMINGS:
        targets = {naming.target(s) for s in sources}
        assert len(targets) == len(sources)
    assert len({backup_object_name(s) for s in sources}) == len(sources)


def test_seed_bug_org_and_host_are_kept() -> None:
    """dharmjit dropped the org (`bitnami/redis` → `redis`); kuik v2 dropped the source host."""
    sources = [
        parse_reference(s) for s in ("bitnami/redis:6", "other/redis:6", "redis:6", "quay.io/bitnami/redis:6")
    ]
    for naming in NAMINGS:
        assert len({naming.target(s) for s in sources}) == len(sources)
        assert all("bitnami" in str(naming.target(s)) for s in sources if "bitnami" in s.repository)


def test_seed_bug_digest_references_stay_valid_and_pinned() -> None:
    """marcos wrote `repo:sha256:…`; timebertt swapped the digest for a tag; swapper lost the tag."""
    for text in (f"nginx@{D256}", f"nginx:1.25@{D256}"):
        source = parse_reference(text)
        for naming in NAMINGS:
            target = naming.target(source)
            assert (target.tag, target.digest) == (source.tag, source.digest)
            assert parse_reference(str(target)) == target


def test_backup_registry_and_prefix_are_normalised() -> None:
    naming = TargetNaming("Backup.Example.com:05000", "/mirror/")
    assert (naming.registry, naming.prefix, naming.location) == (
        "backup.example.com:5000",
        "mirror",
        "backup.example.com:5000/mirror",
    )
    assert TargetNaming.from_location("index.docker.io/me", mode="flat").location == "docker.io/me"
    assert TargetNaming.from_location("reg.io").location == "reg.io"
    assert str(TargetNaming("reg.io", "a/b").target(parse_reference("x"))) == "reg.io/a/b/docker.io/library/x"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"registry": "backup.example.com/mirror"}, "backup registry"),
        ({"registry": "bad_host.io"}, "backup registry"),
        ({"registry": "reg.io", "prefix": "Mirror"}, "backup prefix"),
        ({"registry": "reg.io", "prefix": "a//b"}, "backup prefix"),
        ({"registry": "reg.io", "mode": "deep"}, "neither 'nested' nor 'flat'"),
        ({"registry": "reg.io", "max_component_length": 1}, "below 2"),
        ({"registry": "docker.io", "prefix": "myorg"}, "use mode='flat'"),
        ({"registry": "docker.io", "mode": "flat"}, "use mode='flat'"),
        ({"registry": "docker.io", "prefix": "a/b", "mode": "flat"}, "use mode='flat'"),
        ({"registry": ECR, "prefix": "my__mirror"}, "ECR refuses"),
    ],
)
def test_invalid_naming_configuration(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        TargetNaming(**kwargs)  # type: ignore[arg-type]


def test_target_too_long() -> None:
    source = parse_reference("ghcr.io/" + "/".join(["abcdefghij"] * 22))  # name of 249 characters
    assert len(source.name) <= 255
    with pytest.raises(ValueError, match="over the limit of 255 for registry/repository"):
        NESTED.target(source)
    with pytest.raises(ValueError, match="over the limit of 255 for registry/repository"):
        FLAT.target(source)


def test_flat_component_too_long() -> None:
    naming = TargetNaming("quay.io", "team", "flat", max_component_length=30)
    assert str(naming.target(parse_reference("ghcr.io/a/b:1"))) == "quay.io/team/ghcr.io_a_b:1"
    with pytest.raises(ValueError, match="limit of 30 per path component"):
        naming.target(parse_reference("ghcr.io/organisation/application"))


@pytest.mark.parametrize(
    ("naming", "source"),
    [
        (TargetNaming(ECR, "mirror"), "ghcr.io/a__b/c"),
        (TargetNaming(ECR, "mirror"), "ghcr.io/a--b/c"),
        (TargetNaming(ECR, "mirror"), "[::1]:5000/a"),
        (TargetNaming(ECR, "mirror", "flat"), "ghcr.io/my_org/app"),
    ],
)
def test_ecr_backup_registry_grammar(naming: TargetNaming, source: str) -> None:
    with pytest.raises(ValueError, match="ECR refuses"):
        naming.target(parse_reference(source))


def test_ecr_backup_registry_accepts_common_names() -> None:
    for naming in (TargetNaming(ECR, "mirror"), TargetNaming(ECR, "mirror", "flat")):
        for text in ("nginx:1", "ghcr.io/my-org/app.x:2", "bitnami/redis"):
            source = parse_reference(text)
            assert naming.source_of(naming.target(source)) == source
    # nested mode writes the port with one '_', which ECR accepts; flat mode needs '--'
    source = parse_reference("localhost:5000/a/b")
    assert str(TargetNaming(ECR, "mirror").target(source)) == f"{ECR}/mirror/localhost_5000/a/b"
    with pytest.raises(ValueError, match="ECR refuses"):
        TargetNaming(ECR, "mirror", "flat").target(source)


def test_a_backup_is_not_backed_up_again() -> None:
    target = NESTED.target(parse_reference("nginx:1"))
    with pytest.raises(ValueError, match=r"already a backup image \(of docker.io/library/nginx:1\)"):
        NESTED.target(target)


@pytest.mark.parametrize(
    ("naming", "text", "reason"),
    [
        (NESTED, "other.example.com/mirror/docker.io/library/nginx", "not in the backup registry"),
        (NESTED, "backup.example.com/other/docker.io/library/nginx", "not under the backup prefix"),
        (NESTED, "backup.example.com/mirror/docker.io", "no source path"),
        (NESTED, "backup.example.com/mirror/docker.io/nginx", "write 'library/nginx'"),
        (NESTED, "backup.example.com/mirror/team/app", "Docker Hub namespace"),
        (
            NESTED,
            "backup.example.com/mirror/index.docker.io/library/nginx",
            "the backup of docker.io/library/nginx is",
        ),
        (NESTED, "backup.example.com/mirror/localhost_05000/app", "the backup of localhost:5000/app is"),
        (NESTED, "backup.example.com/mirror/localhost_x/app", "must be a decimal number"),
        (NESTED, "backup.example.com/mirror/a__b.io/app", "must be a decimal number"),
        (NESTED, "backup.example.com/mirror/ipv6__fe80--1/app", "the backup of [fe80::1]/app is"),
        (NESTED, "backup.example.com/mirror/ipv6__fe80-0-0-0-0-0-0-01/x", "the backup of [fe80::1]/x is"),
        (NESTED, "backup.example.com/mirror/ipv6__1-2-3/x", "8 groups"),
        (FLAT, "docker.io/myorg/docker.io", "no source path"),
        (FLAT, "docker.io/myorg/a.b_c_d/e", "a flat backup name is one path component"),
        (FLAT, "docker.io/myorg", "not under the backup prefix"),
        (FLAT, "docker.io/other/docker.io_library_nginx", "not under the backup prefix"),
        (FLAT, "docker.io/myorg/docker.io_nginx", "write 'library/nginx'"),
        (FLAT, "docker.io/myorg/team_app", "Docker Hub namespace"),
        (FLAT, "docker.io/myorg/docker.io__library_nginx", "not a flat name component"),
        (BARE_FLAT, "registry.local:5000/a.io_x/y", "a flat backup name is one path component"),
        (BARE_FLAT, "registry.local:5000/a.io", "no source path"),
        (BARE_NESTED, "registry.local:5000/app", "no source path"),
    ],
)
def test_source_of_refuses_what_no_source_maps_to(naming: TargetNaming, text: str, reason: str) -> None:
    target = parse_reference(text)
    with pytest.raises(ValueError, match=re.escape(reason)):
        naming.source_of(target)
    assert not naming.is_target(target)


# --- object names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "readable"),
    [
        ("nginx:1.25", "nginx-1.25"),
        ("nginx", "nginx-latest"),
        ("bitnami/redis:7.2", "bitnami-redis-7.2"),
        ("ghcr.io/org/app:V1_RC", "ghcr.io-org-app-v1-rc"),
        (f"ghcr.io/org/app@{D256}", "ghcr.io-org-app-sha256-0123456789ab"),
        (f"nginx:1@{D256}", "nginx-1-sha256-0123456789ab"),
        ("localhost:5000/a__b.c--d:x", "localhost-5000-a-b.c-d-x"),
        ("[::1]:5000/a:1", "1-5000-a-1"),
        (
            "registry.example.com/" + "/".join(["abcdefghij"] * 8),
            "registry.example.com-abcdefghij-abcdefghij-abcdefghi",
        ),
    ],
)
def test_object_names(source: str, readable: str) -> None:
    name = backup_object_name(parse_reference(source))
    assert re.fullmatch(rf"{re.escape(readable)}-[0-9a-f]{{10}}", name), name
    assert len(name) <= 63
    assert DNS_SUBDOMAIN.fullmatch(name)


def test_object_name_is_deterministic_and_latest_means_untagged() -> None:
    assert backup_object_name(parse_reference("nginx")) == backup_object_name(parse_reference("nginx:latest"))
    assert backup_object_name(parse_reference("nginx")) == backup_object_name(
        parse_reference("docker.io/library/nginx")
    )
    assert backup_object_name(parse_reference("nginx:1")) != backup_object_name(parse_reference("nginx:2"))
    assert backup_object_name(parse_reference("nginx:1")) != backup_object_name(
        parse_reference(f"nginx:1@{D256}")
    )


# --- properties ---------------------------------------------------------------------------------


@given(references(), st.sampled_from(NAMINGS + ECR_NAMINGS))
def test_source_of_inverts_target(source: ImageReference, naming: TargetNaming) -> None:
    try:
        target = naming.target(source)
    except ValueError as error:
        assert "ECR refuses" in str(error)  # __, -- and IPv6 hosts cannot live in ECR
        return
    assert naming.source_of(target) == source
    assert parse_reference(str(target)) == target
    assert naming.is_target(target) and not naming.is_target(source)


@given(st.lists(references("ab"), unique=True, max_size=40), st.sampled_from(NAMINGS))
def test_distinct_sources_have_distinct_targets(sources: list[ImageReference], naming: TargetNaming) -> None:
    mapped: dict[ImageReference, ImageReference] = {}
    for source in sources:
        try:
            mapped[source] = naming.target(source)
        except ValueError:
            continue
    assert len(set(mapped.values())) == len(mapped)


@given(references("ab"), st.sampled_from(NAMINGS))
def test_any_name_in_the_backup_registry_is_a_target_or_refused(
    ref: ImageReference, naming: TargetNaming
) -> None:
    """A name under the prefix built from arbitrary parts: source_of either refuses it or inverts it."""
    repository = f"{naming.prefix}/{ref.repository}" if naming.prefix else ref.repository
    candidate = ImageReference(naming.registry, repository, ref.tag, ref.digest)
    try:
        source = naming.source_of(candidate)
    except ValueError:
        return
    assert naming.target(source) == candidate


@given(st.lists(references("ab"), unique_by=lambda r: r.with_default_tag(), max_size=40))
def test_object_names_are_valid_and_distinct(sources: list[ImageReference]) -> None:
    names = [backup_object_name(s) for s in sources]
    assert all(len(n) <= 63 and DNS_SUBDOMAIN.fullmatch(n) for n in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("Registry.Example.com/app:1", "'registry.example.com'"),
        ("[2001:DB8::1]:5000/app:1", "'[2001:db8::1]:5000'"),
        ("registry.example.com:05000/app:1", "'registry.example.com:5000'"),
        ("ex_ample.com/app:1", "empty registry host"),
    ],
)
def test_a_registry_not_in_normal_form_is_refused_not_merged(source: str, hint: str) -> None:
    """References keep hosts as written (Go's distribution/reference); two spellings of one host must
    not share one backup, and a backup name must map back to its source."""
    with pytest.raises(ValueError, match=re.escape(hint)):
        TargetNaming("backup.example.com", "mirror").target(parse_reference(source))
