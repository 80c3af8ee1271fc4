"""Image references: `[registry/]repository[:tag][@digest]`, parsed exactly as distribution/reference does.

`parse_reference` is `ParseNormalizedNamed` of distribution/reference v0.6.0, the parser containerd,
CRI-O and Docker use, so a reference means here what it means to the kubelet; its registry,
repository, tag, digest, `str` and `with_default_tag` are Go's `Domain`, `Path`, tag, digest,
`String` and `ParseDockerRef` (e2e/test_go_oracle_reference.py checks them against the library)::

    reference  := name [":" tag] ["@" digest]
    name       := [registry "/"] path         the path at most 255 characters
    registry   := host [":" port]             port := [0-9]+
    host       := label ("." label)* | "[" [0-9A-Fa-f:]+ "]"
    label      := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
    path       := component ("/" component)*
    component  := [a-z0-9]+ (separator [a-z0-9]+)*
    separator  := "." | "_" | "__" | "-"+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := "sha256:" hex{64} | "sha384:" hex{96} | "sha512:" hex{128}    (lowercase hex)

Normalisation follows normalize.go, and nothing more:

- the text before the first "/" names the registry when it is `localhost`, contains "." or ":", or
  has an uppercase letter (`Team/app` is the registry `Team`); otherwise, or without a "/", the
  registry is Docker Hub (`user/app`; `localhost:5000` alone is `docker.io/library/localhost` tagged
  `5000`);
- exactly `index.docker.io` becomes `docker.io`, and a one-component Docker Hub path gets `library/`
  (`nginx` → `docker.io/library/nginx`);
- hosts keep their spelling: `Registry.example.com`, `example.com:05000` and `[::0001]` are other
  references than `registry.example.com`, `example.com:5000` and `[::1]`, and any digits are a port;
- when the text before the first "/" was taken for a host but is none, while the whole name is a
  valid path (`a_b.example/app`), Go reads it as a path without registry: `registry` is then "" and
  no registry can serve the image;
- a tag and a digest may both be written and are both kept (`nginx:1.25@sha256:…`);
- digests name one of the algorithms go-digest registers (sha256, sha384, sha512);
- a 64-character lowercase hex string alone is an image ID, not a reference.

One deliberate difference: `familiar` keeps the full name where Go's `FamiliarString` would name
another image (`docker.io/example.com/app`, which Go shortens to `example.com/app`, a reference to
the registry `example.com`), so `parse_reference(r.familiar) == r` always holds.

`ImageReference` holds only what `parse_reference` can return (its constructor checks), so
`parse_reference(str(r)) == r` for every instance. `normalize_registry` is stricter, for the hosts irc
is configured with (the backup registry): it lowercases, wants ports 1-65535 and writes them without
leading zeros, and writes IPv6 literals in RFC 5952 form.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import NoReturn

__all__ = [
    "DEFAULT_TAG",
    "DOCKER_HUB",
    "NAME_TOTAL_LENGTH_MAX",
    "EcrRegistry",
    "ImageReference",
    "check_path",
    "ecr_registry",
    "normalize_registry",
    "parse_reference",
]

DOCKER_HUB = "docker.io"
LEGACY_DOCKER_HUB = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255
"""The longest repository path (distribution/reference's RepositoryNameTotalLengthMax)."""
TAG_LENGTH_MAX = 128

# distribution/reference's regexp.go, written out; Python's backtracking picks the same submatches as
# Go's leftmost-first RE2 for these patterns.
_LABEL_PATTERN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_PATTERN = rf"(?:{_LABEL_PATTERN}(?:\.{_LABEL_PATTERN})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_COMPONENT_PATTERN = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_PATTERN = rf"{_COMPONENT_PATTERN}(?:/{_COMPONENT_PATTERN})*"
_TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST_PATTERN = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_HOST_PATTERN}/)?{_PATH_PATTERN})(?::(?P<tag>{_TAG_PATTERN}))?(?:@(?P<digest>{_DIGEST_PATTERN}))?"
)
_NAME = re.compile(rf"(?:(?P<registry>{_HOST_PATTERN})/)?(?P<path>{_PATH_PATTERN})")
_REGISTRY = re.compile(_HOST_PATTERN)

_COMPONENT = re.compile(_COMPONENT_PATTERN)
_LABEL = re.compile(_LABEL_PATTERN)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_HEX = re.compile(r"[0-9a-fA-F]+")
_IDENTIFIER = re.compile(r"[0-9a-f]{64}")
_PORT = re.compile(r"[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]+")
# go-digest's registered algorithms and their hex lengths; it refuses every other as unsupported.
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/")

# ECR registry hosts: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (and the ISO partitions),
# and the dual-stack <account>.dkr-ecr[-fips].<region>.on.aws / .on.amazonwebservices.com.cn.
_ECR = re.compile(
    r"(?P<account>[0-9]{12})\."
    r"(?:dkr\.ecr(?P<fips>-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r"\.(?:amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov)"
    r"|dkr-ecr(?P<fips2>-fips)?\.(?P<region2>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r"\.on\.(?:aws|amazonwebservices\.com\.cn))"
)


@dataclass(frozen=True, slots=True)
class EcrRegistry:
    """The parts of an Amazon ECR registry host."""

    account: str
    """The 12-digit AWS account ID."""
    region: str
    """The AWS region, e.g. `us-east-1`."""
    fips: bool
    """Whether the host is a FIPS endpoint (`dkr.ecr-fips`)."""


def ecr_registry(registry: str) -> EcrRegistry | None:
    """The account and region of an ECR registry host (no port), or None for any other registry."""
    match = _ECR.fullmatch(registry)
    if match is None:
        return None
    return EcrRegistry(
        account=match["account"],
        region=match["region"] or match["region2"],
        fips=bool(match["fips"] or match["fips2"]),
    )


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference; construct it with `parse_reference` or with the parts it would return."""

    registry: str
    """Registry host with optional port, as written: `docker.io`, `localhost:5000`, `[::1]:5000`; ""
    for a name Go reads without one (see the module docstring)."""
    repository: str
    """Path within the registry: `library/nginx` (never just `nginx` on Docker Hub)."""
    tag: str | None = None
    """The tag as written, or None when none was written (the runtime then pulls `latest`)."""
    digest: str | None = None
    """`algorithm:hex` as written, or None."""

    def __post_init__(self) -> None:
        try:
            _check_registry(self.registry, self.repository)
            _check_name(self.registry, self.repository)
            if self.tag is not None:
                _check_tag(self.tag)
            if self.digest is not None:
                _check_digest(self.digest)
        except ValueError as error:
            raise ValueError(f"invalid image reference {str(self)!r}: {error}") from None

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest (the repository alone without a registry)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def familiar_name(self) -> str:
        """The name as Docker prints it: `nginx`, `user/app`, `ghcr.io/x/y`."""
        if self.registry != DOCKER_HUB:
            return self.name
        path = self.repository
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX) :]:
            return path[len(OFFICIAL_PREFIX) :]
        if _names_registry(path.split("/", 1)[0]):
            # `docker.io/example.com/app` written as `example.com/app` would name another registry
            # (distribution/reference shortens it anyway, and its result no longer parses back).
            return self.name
        return path

    @property
    def familiar(self) -> str:
        """The short form Docker prints: `nginx:1.25`, `user/app:tag`, `ghcr.io/x/y@sha256:…`."""
        return self._suffixed(self.familiar_name)

    def with_default_tag(self) -> ImageReference:
        """This reference, tagged `latest` when it has neither tag nor digest (what a runtime pulls)."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self

    def is_ecr(self) -> EcrRegistry | None:
        """The ECR account and region when the registry is Amazon ECR, else None (falsy)."""
        return ecr_registry(self.registry)

    def __str__(self) -> str:
        return self._suffixed(self.name)

    def _suffixed(self, name: str) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"{name}{tag}{digest}"


PARSES_KEPT = 65536
"""Distinct image references whose parse is kept, the least recently used dropped first."""


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise an image reference; ValueError says what is wrong with an invalid one."""
    return _parsed(text)


@functools.lru_cache(maxsize=PARSES_KEPT)
def _parsed(text: str) -> ImageReference:
    """Kept: a cluster runs few distinct images many times, and every reconcile of a workload, and
    creation's index and duplicate check, parse them again (18,000 parses, about a tenth of the
    manager's CPU, when 1,000 Deployments were switched). An ImageReference cannot be changed, so one
    serves every caller; a refused text raises again each time (exceptions are not kept)."""
    try:
        registry, repository, tag, digest = _parse(text)
    except ValueError as error:
        raise ValueError(f"invalid image reference {text!r}: {error}") from None
    return ImageReference(registry, repository, tag, digest)


def normalize_registry(registry: str) -> str:
    """Validate a configured registry `host[:port]` and return its normal form (module docstring).

    Stricter than a reference's registry: lowercase, a port of 1-65535 without leading zeros, IPv6 in
    RFC 5952 form, `index.docker.io` as `docker.io`; ValueError says why a host is refused.
    """
    if not registry:
        raise ValueError("empty registry host")
    if registry.startswith("["):
        literal, bracket, rest = registry[1:].partition("]")
        if not bracket:
            raise ValueError(f"registry {registry!r}: IPv6 literal lacks its closing ']'")
        host = f"[{_ipv6(literal)}]"
        if rest and not rest.startswith(":"):
            raise ValueError(f"registry {registry!r}: unexpected {rest!r} after the IPv6 literal")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = registry.partition(":")
        host = _domain(host.lower(), registry)
        port = port_text if colon else None
    if port is not None:
        _check_port(port, registry)
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"registry {registry!r}: port {port} is outside 1-65535")
        host = f"{host}:{int(port)}"
    return DOCKER_HUB if host == LEGACY_DOCKER_HUB else host


def _parse(text: str) -> tuple[str, str, str | None, str | None]:
    """ParseNormalizedNamed: registry, repository, tag and digest, or ValueError saying why not."""
    if not text:
        raise ValueError("empty reference")
    if _IDENTIFIER.fullmatch(text):
        raise ValueError("a 64-character hexadecimal string is an image ID, not a reference")
    # Go also refuses an uppercase letter before the first ":" of the remainder; that is always in the
    # path or the digest algorithm, which the grammar and _check_digest refuse anyway.
    registry, remainder = _split_registry(text)
    match = _REFERENCE.fullmatch(f"{registry}/{remainder}")
    if match is None:
        _explain(text)
    name = _NAME.fullmatch(match["name"])
    assert name is not None  # _REFERENCE's name is exactly _NAME
    if match["digest"] is not None:
        _check_digest(match["digest"])
    registry, repository = name["registry"] or "", name["path"]
    _check_name(registry, repository)
    return registry, repository, match["tag"], match["digest"]


def _split_registry(text: str) -> tuple[str, str]:
    """splitDockerDomain: the registry the text names and the rest, `library/` added on Docker Hub."""
    first, slash, rest = text.partition("/")
    if not slash:
        return DOCKER_HUB, OFFICIAL_PREFIX + text
    if first == LEGACY_DOCKER_HUB:
        registry = DOCKER_HUB
    elif _names_registry(first):
        registry = first
    else:
        registry, rest = DOCKER_HUB, text
    if registry == DOCKER_HUB and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return registry, rest


def _names_registry(component: str) -> bool:
    """Whether the first component of a name is taken for a registry host (normalize.go)."""
    return component == "localhost" or "." in component or ":" in component or component != component.lower()


def _explain(text: str) -> NoReturn:
    """Raise ValueError naming the first rule `text` breaks; called only when the grammar refuses it."""
    if any(c.isspace() for c in text):
        raise ValueError("contains whitespace")
    rest, at, digest = text.partition("@")
    if at:
        if "@" in digest:
            raise ValueError("more than one '@'")
        _check_digest(digest)
    if not rest:
        raise ValueError("no repository name")
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        _check_tag(tag)
        if not rest:
            raise ValueError("no repository name before the tag")
    first, has_slash, remainder = rest.partition("/")
    if has_slash and _names_registry(first) and first != LEGACY_DOCKER_HUB:
        _check_host(first)
        rest = remainder
    check_path(rest)
    raise ValueError("not a valid reference")


def _check_registry(registry: str, repository: str) -> None:
    """Raise ValueError unless `registry` is what parsing `registry/repository` gives back."""
    if not registry:
        first, slash, _ = repository.partition("/")
        if not (slash and "." in first and not _REGISTRY.fullmatch(first)):
            raise ValueError(
                "empty registry: only a name whose first component contains '.' but is no host "
                "(`a_b.example/app`) has none"
            )
        return
    if registry == LEGACY_DOCKER_HUB:
        raise ValueError(f"registry {registry!r} reads as {DOCKER_HUB!r}; use parse_reference()")
    if not _names_registry(registry):
        raise ValueError(
            f"registry {registry!r} would read as a Docker Hub namespace: a registry host contains "
            "'.' or ':', has an uppercase letter or is 'localhost'"
        )
    if not _REGISTRY.fullmatch(registry):
        _check_host(registry)
        raise ValueError(f"registry {registry!r} is not a valid host")


def _check_host(registry: str) -> None:
    """Raise ValueError saying why `registry` breaks the `host[:port]` grammar, if it does."""
    if registry.startswith("["):
        literal, bracket, rest = registry[1:].partition("]")
        if not bracket:
            raise ValueError(f"registry {registry!r}: IPv6 literal lacks its closing ']'")
        if not _IPV6.fullmatch(literal):
            raise ValueError(f"registry {registry!r}: {literal!r} is not an IPv6 address in hexadecimal form")
        if rest and not rest.startswith(":"):
            raise ValueError(f"registry {registry!r}: unexpected {rest!r} after the IPv6 literal")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = registry.partition(":")
        _domain(host, registry)
        port = port_text if colon else None
    if port is not None:
        _check_port(port, registry)


def _check_port(port: str, registry: str) -> None:
    if not _PORT.fullmatch(port):
        raise ValueError(f"registry {registry!r}: port {port!r} must be a decimal number")


def _check_name(registry: str, repository: str) -> None:
    check_path(repository)
    if registry == DOCKER_HUB and "/" not in repository:
        raise ValueError(f"a Docker Hub repository has a namespace: write 'library/{repository}'")
    if len(repository) > NAME_TOTAL_LENGTH_MAX:
        raise ValueError(
            f"repository path {repository[:40]}… is {len(repository)} characters, "
            f"more than the {NAME_TOTAL_LENGTH_MAX} allowed"
        )


def check_path(path: str) -> None:
    """Raise ValueError, saying why, unless `path` is a valid repository path (`library/nginx`)."""
    if not path:
        raise ValueError("empty repository path")
    for char in path:
        if char not in _PATH_CHARS:
            if "A" <= char <= "Z":
                raise ValueError(f"repository path {path!r} must be lowercase")
            raise ValueError(
                f"repository path {path!r} contains {char!r}; "
                "only a-z, 0-9, '/' and the separators '.', '_', '-' are allowed"
            )
    for component in path.split("/"):
        if not component:
            raise ValueError(
                f"repository path {path!r} has an empty component (a leading, trailing or double '/')"
            )
        if not _COMPONENT.fullmatch(component):
            raise ValueError(
                f"repository path component {component!r} must start and end with a letter or digit, "
                "with one '.', one or two '_', or any number of '-' between them"
            )


def _check_tag(tag: str) -> None:
    if not tag:
        raise ValueError("empty tag after ':'")
    if len(tag) > TAG_LENGTH_MAX:
        raise ValueError(f"tag is {len(tag)} characters, more than the {TAG_LENGTH_MAX} allowed")
    if not _TAG.fullmatch(tag):
        if _TAG.fullmatch("x" + tag[1:]):
            raise ValueError(f"tag {tag!r} must start with a letter, digit or '_'")
        raise ValueError(f"tag {tag!r} may only contain letters, digits, '_', '.' and '-'")


def _check_digest(digest: str) -> None:
    algorithm, colon, encoded = digest.partition(":")
    if not colon or not algorithm or not encoded:
        raise ValueError(f"digest {digest!r} must be 'algorithm:hex', e.g. 'sha256:<64 hex digits>'")
    if not _ALGORITHM.fullmatch(algorithm):
        raise ValueError(f"digest algorithm {algorithm!r} is not valid")
    if algorithm.lower() in _DIGEST_LENGTHS and algorithm != algorithm.lower():
        raise ValueError(f"digest algorithm {algorithm!r} must be written {algorithm.lower()!r}")
    if not _HEX.fullmatch(encoded):
        raise ValueError(f"digest {digest!r}: the encoded part must be hexadecimal")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise ValueError(
            f"digest algorithm {algorithm!r} is not supported; go-digest knows {', '.join(_DIGEST_LENGTHS)}"
        )
    if len(encoded) != length or encoded != encoded.lower():
        raise ValueError(
            f"a {algorithm} digest has exactly {length} lowercase hex digits, not {len(encoded)}"
            + ("" if encoded == encoded.lower() else " with uppercase")
        )


def _domain(host: str, registry: str) -> str:
    if not host:
        raise ValueError(f"registry {registry!r} has an empty host")
    for label in host.split("."):
        if not _LABEL.fullmatch(label):
            if not label:
                raise ValueError(f"registry host {host!r} has an empty label")
            bad = next((c for c in label if not (c.isascii() and (c.isalnum() or c == "-"))), None)
            if bad is not None:
                raise ValueError(f"registry host {host!r} contains {bad!r}")
            raise ValueError(f"registry host {host!r}: label {label!r} starts or ends with '-'")
    return host


def _ipv6(literal: str) -> str:
    """The RFC 5952 text of an IPv6 address written in hex-and-colon form (no zone, no dotted quad)."""
    if not _IPV6.fullmatch(literal):
        raise ValueError(f"{literal!r} is not an IPv6 address in hexadecimal form")
    head, double, tail = literal.partition("::")
    if "::" in tail:
        raise ValueError(f"IPv6 address {literal!r} has more than one '::'")
    left = head.split(":") if head else []
    right = tail.split(":") if tail else []
    missing = 8 - len(left) - len(right)
    if (double and missing < 1) or (not double and missing != 0):
        raise ValueError(f"IPv6 address {literal!r} does not have 8 groups")
    groups = [*left, *(["0"] * missing), *right]
    if not all(1 <= len(group) <= 4 for group in groups):
        raise ValueError(f"IPv6 address {literal!r} has an empty or overlong group")
    values = [int(group, 16) for group in groups]
    # RFC 5952: compress the longest run (the first of equals) of two or more zero groups.
    best_start, best_length, start = -1, 1, None
    for index, value in enumerate([*values, 1]):
        if value == 0 and start is None:
            start = index
        elif value != 0 and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    text = [format(value, "x") for value in values]
    if best_start < 0:
        return ":".join(text)
    return ":".join(text[:best_start]) + "::" + ":".join(text[best_start + best_length :])
