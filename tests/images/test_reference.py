"""The reference table (accept and reject), normal form, familiar names, ECR hosts, and round trips."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import irc.images
from irc.images import DOCKER_HUB, EcrRegistry, ImageReference, normalize_registry, parse_reference

HEX64 = "0123456789abcdef" * 4
D256 = f"sha256:{HEX64}"
D384 = "sha384:" + "ab" * 48
D512 = "sha512:" + "cd" * 64
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
LONG_TAG = "t" * 128
PATH_255 = "a/" + "b" * 253

# Each difference e2e/test_go_oracle_reference.py found between irc and distribution/reference v0.6.0,
# now read as Go reads it: (name, text, registry, repository, tag, digest).
GO_FINDINGS: list[tuple[str, str, str, str, str | None, str | None]] = [
    # a first component with an uppercase letter names a host, even without "." or ":"
    ("uppercase-first-component-is-a-host", "User/app", "User", "app", None, None),
    ("uppercase-localhost-is-kept", "LOCALHOST:5000/app", "LOCALHOST:5000", "app", None, None),
    ("capitalised-localhost-is-kept", "Localhost/app", "Localhost", "app", None, None),
    # hosts keep their spelling: no lowercasing, no port or IPv6 rewriting, no port range
    ("host-case-is-kept", "Registry.Example.com/app", "Registry.Example.com", "app", None, None),
    ("only-docker-io-is-docker-hub", "Docker.io/app", "Docker.io", "app", None, None),
    ("only-index-docker-io-is-hub", "Index.Docker.IO/user/app", "Index.Docker.IO", "user/app", None, None),
    ("port-leading-zero-is-kept", "example.com:05000/app", "example.com:05000", "app", None, None),
    ("port-zero-is-a-port", "example.com:0/a", "example.com:0", "a", None, None),
    ("port-above-65535-is-a-port", "example.com:65536/a", "example.com:65536", "a", None, None),
    ("ipv6-spelling-is-kept", "[2001:DB8::0001]:443/app", "[2001:DB8::0001]:443", "app", None, None),
    ("ipv6-uncompressed-is-kept", "[fe80:0:0:0:0:0:0:1]/x", "[fe80:0:0:0:0:0:0:1]", "x", None, None),
    ("ipv6-is-hex-and-colons-only", "[1:2:3]/a", "[1:2:3]", "a", None, None),
    ("ipv6-double-double-colon", "[::1::2]/a", "[::1::2]", "a", None, None),
    ("ipv6-overlong-group", "[12345::1]/a", "[12345::1]", "a", None, None),
    # a first component taken for a host that is none, in a name that is a valid path: no registry
    ("no-host-reads-as-path", "ex_ample.com/a", "", "ex_ample.com/a", None, None),
    ("no-host-reads-as-path-tagged", "a__b.c/d/e:1", "", "a__b.c/d/e", "1", None),
    # the 255-character limit counts the path only, not the registry
    ("length-limit-is-the-path", "a/" + "b" * 244, "docker.io", "a/" + "b" * 244, None, None),
    ("length-limit-ignores-the-registry", "ghcr.io/" + PATH_255, "ghcr.io", PATH_255, None, None),
]  # fmt: skip
# ... and those it found irc accepting: digests whose algorithm go-digest does not register.
GO_FINDINGS_REJECTED: list[tuple[str, str, str]] = [
    ("unregistered-digest-algorithm", "app@blake3:" + HEX64, "'blake3' is not supported"),
    ("unregistered-digest-with-tag", "app:1@a.b:" + HEX64 * 2, "'a.b' is not supported"),
    ("tarsum-digest", "app@tarsum.v1+sha256:" + "AbCd" * 8, "'tarsum.v1+sha256' is not supported"),
    ("encoding-suffixed-digest", "app@sha256+b64:" + HEX64, "'sha256+b64' is not supported"),
]

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
    ("localhost:5000/app", "localhost:5000", "app", None, None),
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", None),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None),
    ("[::1]/app", "[::1]", "app", None, None),
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
    # length: a path of exactly the limit, and a long registry, which the limit does not count
    (PATH_255, "docker.io", PATH_255, None, None),
    ("r" * 60 + ".example.com/" + PATH_255, "r" * 60 + ".example.com", PATH_255, None, None),
]

REJECT: list[tuple[str, str]] = [
    ("", "empty reference"),
    (" nginx", "whitespace"),
    ("nginx ", "whitespace"),
    ("a b", "whitespace"),
    ("NGINX", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("ghcr.io/Org/app", "must be lowercase"),
    ("Ex_ample.com/app", "contains '_'"),
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
    ("nginx@blake3:" + "0" * 31, "'blake3' is not supported"),
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
    ("-example.com/a", "starts or ends with '-'"),
    ("example..com/a", "empty label"),
    ("[::1/a", "closing ']'"),
    ("[::1]x:5000/a", "unexpected 'x:5000'"),
    ("[fe80::1%eth0]/a", "hexadecimal form"),
    ("a/" + "b" * 254, "256 characters, more than the 255"),
    ("r.io/" + "a" * 256, "256 characters, more than the 255"),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), ACCEPT)
def test_accept(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    _check_accepted(text, registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [pytest.param(*row[1:], id=row[0]) for row in GO_FINDINGS],
)
def test_go_findings(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    _check_accepted(text, registry, repository, tag, digest)


def _check_accepted(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref == ImageReference(registry, repository, tag, digest)
    assert ref.name == (f"{registry}/{repository}" if registry else repository)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref


@pytest.mark.parametrize(("text", "reason"), REJECT)
def test_reject(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid image reference") as caught:
        parse_reference(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("text", "reason"), [pytest.param(*row[1:], id=row[0]) for row in GO_FINDINGS_REJECTED]
)
def test_go_findings_rejected(text: str, reason: str) -> None:
    test_reject(text, reason)


def test_tables_are_large_enough() -> None:
    assert len(ACCEPT) >= 40
    assert len(REJECT) >= 30


FAMILIAR = [
    ("nginx", "nginx", "docker.io/library/nginx"),
    ("nginx:1.25", "nginx:1.25", "docker.io/library/nginx:1.25"),
    (f"nginx@{D256}", f"nginx@{D256}", f"docker.io/library/nginx@{D256}"),
    (f"nginx:1@{D256}", f"nginx:1@{D256}", f"docker.io/library/nginx:1@{D256}"),
    ("user/app:tag", "user/app:tag", "docker.io/user/app:tag"),
    ("docker.io/library/a/b", "library/a/b", "docker.io/library/a/b"),
    ("docker.io/library/a.b", "a.b", "docker.io/library/a.b"),
    # distribution/reference prints these as `example.com/app`, which names another registry
    ("docker.io/example.com/app", "docker.io/example.com/app", "docker.io/example.com/app"),
    ("docker.io/localhost/app", "docker.io/localhost/app", "docker.io/localhost/app"),
    ("docker.io/a_b.c/app", "docker.io/a_b.c/app", "docker.io/a_b.c/app"),
    ("ghcr.io/x/y:1", "ghcr.io/x/y:1", "ghcr.io/x/y:1"),
    (f"ghcr.io/x/y@{D256}", f"ghcr.io/x/y@{D256}", f"ghcr.io/x/y@{D256}"),
    ("localhost:5000/a", "localhost:5000/a", "localhost:5000/a"),
    ("Team/app", "Team/app", "Team/app"),
    ("a_b.c/app:1", "a_b.c/app:1", "a_b.c/app:1"),
]


@pytest.mark.parametrize(("text", "familiar", "full"), FAMILIAR)
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
        ("index.docker.io", "library/nginx", None, None, "reads as 'docker.io'"),
        ("team", "app", None, None, "Docker Hub namespace"),
        ("", "app", None, None, "empty registry"),
        ("", "a.b/app", None, None, "empty registry"),  # a.b is a host
        ("", "a_b.c", None, None, "empty registry"),  # one component is a Docker Hub name
        ("ex ample.com", "app", None, None, "contains ' '"),
        ("example.com:x", "app", None, None, "must be a decimal number"),
        ("[::1", "app", None, None, "closing ']'"),
        ("ghcr.io", "a" * 256, None, None, "more than the 255"),
        ("ghcr.io", "Org/app", None, None, "lowercase"),
        ("ghcr.io", "", None, None, "empty repository"),
        ("ghcr.io", "app", "", None, "empty tag"),
        ("ghcr.io", "app", None, "sha256:abc", "exactly 64"),
    ],
)
def test_constructor_insists_on_what_parsing_returns(
    registry: str, repository: str, tag: str | None, digest: str | None, reason: str
) -> None:
    with pytest.raises(ValueError, match="invalid image reference") as caught:
        ImageReference(registry, repository, tag, digest)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        ("Registry.Example.com", "registry.example.com"),
        ("example.com:05000", "example.com:5000"),
        ("LOCALHOST:5000", "localhost:5000"),
        ("Index.Docker.IO", "docker.io"),
        ("[2001:DB8::0001]:443", "[2001:db8::1]:443"),
        ("[fe80:0:0:0:0:0:0:1]", "[fe80::1]"),
        ("[1:0:0:2:0:0:0:3]", "[1:0:0:2::3]"),
    ],
)
def test_normalize_registry(host: str, normal: str) -> None:
    """Configured hosts get one spelling, although references keep theirs."""
    assert normalize_registry(host) == normal
    assert parse_reference(f"{host}/app").registry == host


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("example.com:0", "outside 1-65535"),
        ("example.com:65536", "outside 1-65535"),
        ("ex_ample.com", "contains '_'"),
        ("[1:2:3]", "8 groups"),
        ("[::1::2]", "more than one '::'"),
        ("[12345::1]", "overlong group"),
        ("[fe80::1%eth0]", "hexadecimal form"),
        ("", "empty registry host"),
    ],
)
def test_normalize_registry_rejects(host: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        normalize_registry(host)


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


def written_hosts() -> st.SearchStrategy[str]:
    """Registry hosts as people write them: any case, any port digits, IPv6 in any spelling."""
    label = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?", fullmatch=True)
    domain = st.lists(label, min_size=2, max_size=3).map(".".join)
    capitalised = st.from_regex(r"[A-Z][a-zA-Z0-9]{0,5}", fullmatch=True)
    ipv6 = st.from_regex(r"\[[0-9a-fA-F]{0,4}:[0-9a-fA-F:]{0,10}\]", fullmatch=True)
    port = st.one_of(st.just(""), st.from_regex(r":[0-9]{1,6}", fullmatch=True))
    host = st.one_of(domain, capitalised, ipv6, st.just("localhost"))
    return st.builds(lambda h, p: h + p, host, port)


@given(written_hosts(), st.lists(components(), min_size=1, max_size=3))
def test_hosts_are_kept_as_written(host: str, path: list[str]) -> None:
    ref = parse_reference(f"{host}/{'/'.join(path)}")
    assert ref.registry == (DOCKER_HUB if host == "index.docker.io" else host)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.familiar) == ref


@given(st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8))
def test_ipv6_text_is_rfc5952(groups: list[int]) -> None:
    exploded = ":".join(format(g, "04x") for g in groups)
    address = ipaddress.IPv6Address(exploded)
    host = normalize_registry(f"[{exploded}]")
    assert ipaddress.IPv6Address(host[1:-1]) == address
    if address.ipv4_mapped is None:  # newer Pythons print those with a dotted quad
        assert host == f"[{address.compressed}]"


def test_a_reference_parsed_again_is_the_one_kept_and_a_refused_one_is_refused_again() -> None:
    """Parses are kept (reconcilers parse a workload's images on every reconcile); a refusal is not."""
    assert parse_reference("nginx:1.25") is parse_reference("nginx:1.25")
    text, reason = REJECT[0]
    for _ in range(2):
        with pytest.raises(ValueError, match=re.escape(reason)):
            parse_reference(text)
