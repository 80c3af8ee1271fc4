"""The reference table (accept and reject), normal form, familiar names, ECR hosts, and round trips."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

import irc.images
from irc.images import EcrRegistry, ImageReference, normalize_registry, parse_reference

HEX64 = "0123456789abcdef" * 4
D256 = f"sha256:{HEX64}"
D384 = "sha384:" + "ab" * 48
D512 = "sha512:" + "cd" * 64
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
LONG_TAG = "t" * 128
# docker.io/ (10) + 244 = 254 ... a name of exactly 255 characters
NAME_255 = "a/" + "b" * (255 - len("docker.io/a/"))

ACCEPT: list[tuple[str, str, str, str | None, str | None]] = [
    # Docker Hub normalisation
    ("nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("nginx:latest", "docker.io", "library/nginx", "latest", None),
    ("library/nginx", "docker.io", "library/nginx", None, None),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None),
    ("docker.io/library/nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", None),
    ("Index.Docker.IO/user/app", "docker.io", "user/app", None, None),
    ("user/app:tag", "docker.io", "user/app", "tag", None),
    ("docker.io/user/app", "docker.io", "user/app", None, None),
    ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
    ("a/b/c/d", "docker.io", "a/b/c/d", None, None),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar", None, None),
    ("0/1:2", "docker.io", "0/1", "2", None),
    # a single component is always Docker Hub, even when it looks like a host (normalize.go fast path)
    ("localhost:5000", "docker.io", "library/localhost", "5000", None),
    ("example.com", "docker.io", "library/example.com", None, None),
    ("localhost", "docker.io", "library/localhost", None, None),
    ("a" * 63, "docker.io", "library/" + "a" * 63, None, None),
    # other registries
    ("ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", None),
    ("quay.io/coreos/etcd:v3.5", "quay.io", "coreos/etcd", "v3.5", None),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", None),
    ("gcr.io/distroless/static:nonroot", "gcr.io", "distroless/static", "nonroot", None),
    ("localhost/app", "localhost", "app", None, None),
    ("Localhost/app", "localhost", "app", None, None),
    ("localhost:5000/app", "localhost:5000", "app", None, None),
    ("LOCALHOST:5000/app", "localhost:5000", "app", None, None),
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", None),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None),
    ("[::1]/app", "[::1]", "app", None, None),
    ("[2001:DB8::0001]:443/app", "[2001:db8::1]:443", "app", None, None),
    ("[fe80:0:0:0:0:0:0:1]/x", "[fe80::1]", "x", None, None),
    ("[1:0:0:2:0:0:0:3]/x", "[1:0:0:2::3]", "x", None, None),
    ("Registry.Example.com/app", "registry.example.com", "app", None, None),
    ("example.com:05000/app", "example.com:5000", "app", None, None),
    ("sub.example.com:1/x", "sub.example.com:1", "x", None, None),
    ("sub.example.com:65535/x", "sub.example.com:65535", "x", None, None),
    (
        "my-registry.example.com:8443/team/sub/app:1.0",
        "my-registry.example.com:8443",
        "team/sub/app",
        "1.0",
        None,
    ),
    ("xn--80ak6aa92e.com/app", "xn--80ak6aa92e.com", "app", None, None),
    (f"{ECR}/team/app:2024.01", ECR, "team/app", "2024.01", None),
    # separators
    ("a_b/c__d/e.f/g--h---i", "docker.io", "a_b/c__d/e.f/g--h---i", None, None),
    ("ghcr.io/a-b.c_d/x", "ghcr.io", "a-b.c_d/x", None, None),
    # tags
    ("app:_x", "docker.io", "library/app", "_x", None),
    ("app:V1.0-RC_2", "docker.io", "library/app", "V1.0-RC_2", None),
    (f"app:{LONG_TAG}", "docker.io", "library/app", LONG_TAG, None),
    # digests, and tag with digest
    (f"nginx@{D256}", "docker.io", "library/nginx", None, D256),
    (f"nginx:1.25@{D256}", "docker.io", "library/nginx", "1.25", D256),
    (f"ghcr.io/x/y@{D512}", "ghcr.io", "x/y", None, D512),
    (f"ghcr.io/x/y:tag@{D384}", "ghcr.io", "x/y", "tag", D384),
    (f"localhost:5000/a:b@{D256}", "localhost:5000", "a", "b", D256),
    ("app@blake3:" + "0" * 64, "docker.io", "library/app", None, "blake3:" + "0" * 64),
    (
        "app@tarsum.v1+sha256:" + "AbCd" * 8,
        "docker.io",
        "library/app",
        None,
        "tarsum.v1+sha256:" + "AbCd" * 8,
    ),
    # length: exactly the limit
    (NAME_255, "docker.io", NAME_255, None, None),
]

REJECT: list[tuple[str, str]] = [
    ("", "empty reference"),
    (" nginx", "whitespace"),
    ("nginx ", "whitespace"),
    ("a b", "whitespace"),
    ("NGINX", "must be lowercase"),
    ("User/app", "must be lowercase"),
    ("ghcr.io/Org/app", "must be lowercase"),
    ("nginx:", "empty tag"),
    ("nginx:.x", "must start with"),
    ("nginx:-x", "must start with"),
    ("nginx:a+b", "may only contain"),
    ("nginx:" + "a" * 129, "129 characters"),
    ("nginx@", "'algorithm:hex'"),
    ("nginx@sha256", "'algorithm:hex'"),
    ("nginx@sha256:abc", "exactly 64"),
    ("nginx@sha256:" + "A" * 64, "lowercase"),
    ("nginx@sha256:" + "0" * 65, "exactly 64"),
    ("nginx@sha512:" + "0" * 64, "exactly 128"),
    ("nginx@SHA256:" + "0" * 64, "must be written 'sha256'"),
    ("nginx@blake3:" + "0" * 31, "at least 32"),
    ("nginx@1sha:" + "0" * 32, "algorithm '1sha' is not valid"),
    ("nginx@sha256:" + "g" * 64, "hexadecimal"),
    ("a@b@c", "more than one '@'"),
    (f"@{D256}", "no repository name"),
    (":tag", "no repository name"),
    ("a//b", "empty component"),
    ("/a", "empty component"),
    ("a/", "empty component"),
    ("-a", "must start and end"),
    ("a-", "must start and end"),
    ("a..b", "must start and end"),
    ("a___b", "must start and end"),
    ("a/b!c", "contains '!'"),
    ("a/é", "contains 'é'"),
    ("nginx:1.25:extra", "contains ':'"),
    (HEX64, "image ID"),
    ("example.com:/a", "must be a decimal number"),
    ("example.com:abc/a", "must be a decimal number"),
    ("example.com:0/a", "outside 1-65535"),
    ("example.com:65536/a", "outside 1-65535"),
    ("ex_ample.com/a", "contains '_'"),
    ("-example.com/a", "starts or ends with '-'"),
    ("example..com/a", "empty label"),
    ("[::1/a", "closing ']'"),
    ("[::1]x:5000/a", "unexpected 'x:5000'"),
    ("[1:2:3]/a", "8 groups"),
    ("[::1::2]/a", "more than one '::'"),
    ("[fe80::1%eth0]/a", "hexadecimal form"),
    ("[12345::1]/a", "overlong group"),
    ("a/" + "b" * (256 - len("docker.io/a/")), "256 characters, more than the 255"),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), ACCEPT)
def test_accept(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref == ImageReference(registry, repository, tag, digest)
    assert ref.name == f"{registry}/{repository}"
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref


@pytest.mark.parametrize(("text", "reason"), REJECT)
def test_reject(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid image reference") as caught:
        parse_reference(text)
    assert reason in str(caught.value)


def test_tables_are_large_enough() -> None:
    assert len(ACCEPT) >= 40
    assert len(REJECT) >= 30


@pytest.mark.parametrize(
    ("text", "familiar", "full"),
    [
        ("nginx", "nginx", "docker.io/library/nginx"),
        ("nginx:1.25", "nginx:1.25", "docker.io/library/nginx:1.25"),
        (f"nginx@{D256}", f"nginx@{D256}", f"docker.io/library/nginx@{D256}"),
        (f"nginx:1@{D256}", f"nginx:1@{D256}", f"docker.io/library/nginx:1@{D256}"),
        ("user/app:tag", "user/app:tag", "docker.io/user/app:tag"),
        ("docker.io/library/a/b", "library/a/b", "docker.io/library/a/b"),
        # distribution/reference prints these as `example.com/app`, which names another registry
        ("docker.io/example.com/app", "docker.io/example.com/app", "docker.io/example.com/app"),
        ("docker.io/localhost/app", "docker.io/localhost/app", "docker.io/localhost/app"),
        ("ghcr.io/x/y:1", "ghcr.io/x/y:1", "ghcr.io/x/y:1"),
        (f"ghcr.io/x/y@{D256}", f"ghcr.io/x/y@{D256}", f"ghcr.io/x/y@{D256}"),
        ("localhost:5000/a", "localhost:5000/a", "localhost:5000/a"),
    ],
)
def test_familiar_and_str(text: str, familiar: str, full: str) -> None:
    ref = parse_reference(text)
    assert ref.familiar == familiar
    assert str(ref) == full


def test_with_default_tag() -> None:
    untagged = parse_reference("nginx")
    assert untagged.tag is None
    assert str(untagged) == "docker.io/library/nginx"
    assert untagged.with_default_tag() == parse_reference("nginx:latest")
    tagged = parse_reference("nginx:1")
    assert tagged.with_default_tag() is tagged
    digested = parse_reference(f"nginx@{D256}")
    assert digested.with_default_tag() is digested


@pytest.mark.parametrize(
    ("registry", "repository", "tag", "digest", "reason"),
    [
        ("docker.io", "nginx", None, None, "write 'library/nginx'"),
        ("index.docker.io", "library/nginx", None, None, "not in normal form"),
        ("Docker.io", "library/nginx", None, None, "not in normal form"),
        ("localhost:05000", "app", None, None, "not in normal form"),
        ("[::0001]", "app", None, None, "not in normal form"),
        ("team", "app", None, None, "Docker Hub namespace"),
        ("", "app", None, None, "empty registry"),
        ("ghcr.io", "Org/app", None, None, "lowercase"),
        ("ghcr.io", "", None, None, "empty repository"),
        ("ghcr.io", "app", "", None, "empty tag"),
        ("ghcr.io", "app", None, "sha256:abc", "exactly 64"),
    ],
)
def test_constructor_insists_on_normal_form(
    registry: str, repository: str, tag: str | None, digest: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match="invalid image reference") as caught:
        ImageReference(registry, repository, tag, digest)
    assert reason in str(caught.value)


def test_references_are_frozen_and_hashable() -> None:
    ref = parse_reference("nginx:1")
    with pytest.raises(AttributeError):
        ref.tag = "2"  # type: ignore[misc]
    assert {ref, parse_reference("docker.io/library/nginx:1")} == {ref}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (ECR, EcrRegistry("123456789012", "us-east-1", fips=False)),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            EcrRegistry("123456789012", "us-gov-west-1", True),
        ),
        (
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
            EcrRegistry("210987654321", "cn-north-1", False),
        ),
        ("123456789012.dkr-ecr.eu-west-1.on.aws", EcrRegistry("123456789012", "eu-west-1", False)),
        ("123456789012.dkr-ecr-fips.us-east-2.on.aws", EcrRegistry("123456789012", "us-east-2", True)),
        (
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            EcrRegistry("123456789012", "us-iso-east-1", False),
        ),
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),
        (f"{ECR}:443", None),
        (f"{ECR}.example.com", None),
        ("public.ecr.aws", None),
        ("ghcr.io", None),
        ("localhost:5000", None),
    ],
)
def test_is_ecr(host: str, expected: EcrRegistry | None) -> None:
    assert parse_reference(f"{host}/team/app:1").is_ecr() == expected


def test_public_api_is_sorted_and_complete() -> None:
    assert irc.images.__all__ == sorted(irc.images.__all__, key=lambda n: (not n.isupper(), n))
    module = type(irc.images)
    public = {n for n, v in vars(irc.images).items() if not n.startswith("_") and not isinstance(v, module)}
    assert public == set(irc.images.__all__)


# --- properties ---------------------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def components(alphabet: str = ALNUM) -> st.SearchStrategy[str]:
    run = st.text(alphabet, min_size=1, max_size=4)
    separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
    return st.builds(
        lambda first, rest: first + "".join(s + r for s, r in rest),
        run,
        st.lists(st.tuples(separator, run), max_size=3),
    )


def hosts() -> st.SearchStrategy[str]:
    label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,5}[a-z0-9])?", fullmatch=True)
    domain = st.lists(label, min_size=2, max_size=3).map(".".join)
    ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
        lambda groups: "[" + ":".join(format(g, "x") for g in groups) + "]"
    )
    host = st.one_of(st.just("docker.io"), st.just("localhost"), domain, ipv6)
    with_port = st.tuples(host, st.one_of(st.none(), st.integers(1, 65535))).map(
        lambda hp: hp[0] if hp[1] is None else f"{hp[0]}:{hp[1]}"
    )
    return with_port.map(normalize_registry)


def references(alphabet: str = ALNUM) -> st.SearchStrategy[ImageReference]:
    tags = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True))
    digests = st.one_of(
        st.none(),
        st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}"),
        st.text("0123456789abcdef", min_size=128, max_size=128).map(lambda h: f"sha512:{h}"),
    )

    def build(registry: str, path: list[str], tag: str | None, digest: str | None) -> ImageReference:
        if registry == "docker.io" and len(path) == 1:
            path = ["library", *path]
        return ImageReference(registry, "/".join(path), tag, digest)

    return st.builds(build, hosts(), st.lists(components(alphabet), min_size=1, max_size=4), tags, digests)


@given(references())
def test_str_and_familiar_parse_back(ref: ImageReference) -> None:
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref
    assert parse_reference(ref.familiar).familiar == ref.familiar


@given(st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8))
def test_ipv6_text_is_rfc5952(groups: list[int]) -> None:
    exploded = ":".join(format(g, "04x") for g in groups)
    address = ipaddress.IPv6Address(exploded)
    host = normalize_registry(f"[{exploded}]")
    assert ipaddress.IPv6Address(host[1:-1]) == address
    if address.ipv4_mapped is None:  # newer Pythons print those with a dotted quad
        assert host == f"[{address.compressed}]"
