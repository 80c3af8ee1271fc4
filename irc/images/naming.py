"""Where a source image is kept in the backup registry, the way back, and the ImageBackup name.

The mapping is a bijection between normalised source references and backup names: every source has
one target, `source_of` recovers the source from it, and `source_of` refuses any name that is not
exactly the target of some source. Tags and digests pass through unchanged (`tag@digest` keeps both;
a digest-only source stays digest-only). The source registry host is always kept, so `nginx` from
Docker Hub and `nginx` from a mirror never meet, and nothing of the path is dropped (the seeds lost
the org, `bitnami/redis` → `redis`, and joined with `_`, so `a/b:c` and `a_b:c` collided).

Host encoding H, shared by both modes; its result is one valid path component:

    docker.io, ghcr.io, registry.k8s.io   unchanged (DNS names are valid path components)
    localhost:5000                        localhost_5000         ':' → '_' (no host contains '_')
    [fe80::1]:5000                        ipv6__fe80-0-0-0-0-0-0-1_5000   8 groups, '__' marks IPv6

Nested mode (default) — `<registry>/<prefix>/<H(host)>/<path>`:

    nginx:1.25                  backup.example.com/mirror/docker.io/library/nginx:1.25
    localhost:5000/team/app@sha256:…  backup.example.com/mirror/localhost_5000/team/app@sha256:…

Flat mode — for registries with one path component under a namespace (Docker Hub, Quay):
`<registry>/<prefix>/<E(H(host))>_<E(c1)>_…_<E(cn)>`. Single `_` joins the components; E rewrites
each component so it has no `_` at all, by turning every separator into `.` or a dash run whose
length says what it was:

    source separator   .    -    _     __     n dashes (n ≥ 2)
    flat               .    -    --    ---    n + 2 dashes

Every dash run of length 1, 2, 3 or ≥ 4 decodes to exactly one source separator, letters and digits
are never touched, and a `_` in the flat name is always a `/`; that is why no two sources share a
flat name and why it reads back. The common names use only single separators, which Docker Hub,
ECR and every other registry accept:

    nginx:1.25            docker.io/myorg/docker.io_library_nginx:1.25
    a/b:c                 docker.io/myorg/docker.io_a_b:c
    a-b:c                 docker.io/myorg/docker.io_library_a-b:c
    a_b:c                 docker.io/myorg/docker.io_library_a--b:c
    x/a__b--c             docker.io/myorg/docker.io_x_a---b----c:…
    localhost:5000/app    docker.io/myorg/localhost--5000_app

Limits, checked by `target` (ValueError names the limit): the whole name (`registry/repository`) at
most 255 characters; in flat mode the flat component at most `max_component_length` (Docker Hub
documents 2-255); for an ECR backup registry each component matches ECR's stricter grammar (one
`.`, `_` or `-` between letters and digits). A Docker Hub backup registry needs flat mode and a
one-component prefix (the namespace).

ImageBackup object name — `backup_object_name(source)`: `<readable>-<hash>`, a DNS-1123 subdomain
of at most 63 characters (so it is also a valid label value). `hash` is the first 10 hex digits of
sha256 over the full normalised reference (`latest` filled in when neither tag nor digest is
written, since that is what a runtime pulls, so `nginx` and `nginx:latest` share one ImageBackup).
`readable` is the familiar name, the tag and the digest's algorithm and first 12 hex digits, lowercased,
each run of other characters turned into one '-' (a lone '.' stays), cut to 52 characters:

    nginx:1.25                         nginx-1.25-<hash>
    ghcr.io/org/app@sha256:0123…       ghcr.io-org-app-sha256-0123456789ab-<hash>

Different images differ in the hash (40 bits; about one chance in 10^5 of any clash among 5000
images), and nearly always in the readable part too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from irc.images.reference import (
    DOCKER_HUB,
    NAME_TOTAL_LENGTH_MAX,
    ImageReference,
    check_path,
    ecr_registry,
    normalize_registry,
)

__all__ = ["OBJECT_NAME_MAX", "NamingMode", "TargetNaming", "backup_object_name"]

NamingMode = Literal["nested", "flat"]
OBJECT_NAME_MAX = 63
_HASH_LENGTH = 10
_DIGEST_SHOWN = 12

_IPV6_MARK = "ipv6__"
_SEPARATOR = re.compile(r"[._-]+")
_FLAT_PIECE = re.compile(r"[a-z0-9]+(?:(?:\.|-+)[a-z0-9]+)*")
_FLAT_ESCAPE = {".": ".", "-": "-", "_": "--", "__": "---"}
_FLAT_UNESCAPE = {".": ".", "-": "-", "--": "_", "---": "__"}
_ECR_COMPONENT = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_NOT_DNS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class TargetNaming:
    """How source images are named in the backup registry (see the module docstring)."""

    registry: str
    """The backup registry host[:port]; normalised like a reference's registry."""
    prefix: str = ""
    """Path under which every backup lives (`mirror`, `team/backups`); the namespace on Docker Hub.
    Defaults to none."""
    mode: NamingMode = "nested"
    """`nested` keeps the source path as path components; `flat` makes it one component.
    Defaults to `nested`."""
    max_component_length: int = 255
    """Flat mode: the longest path component the backup registry accepts. Defaults to 255."""

    def __post_init__(self) -> None:
        try:
            registry = normalize_registry(self.registry)
        except ValueError as error:
            raise ValueError(f"backup registry: {error}") from None
        object.__setattr__(self, "registry", registry)
        prefix = self.prefix.strip("/")
        object.__setattr__(self, "prefix", prefix)
        if prefix:
            try:
                check_path(prefix)
            except ValueError as error:
                raise ValueError(f"backup prefix: {error}") from None
        if self.mode not in ("nested", "flat"):
            raise ValueError(f"naming mode {self.mode!r} is neither 'nested' nor 'flat'")
        if self.max_component_length < 2:
            raise ValueError(f"max_component_length {self.max_component_length} is below 2")
        if registry == DOCKER_HUB and (self.mode != "flat" or not prefix or "/" in prefix):
            raise ValueError(
                "Docker Hub holds only <namespace>/<repository>: use mode='flat' with the namespace "
                f"as the prefix (got mode={self.mode!r}, prefix={prefix!r})"
            )
        if ecr_registry(registry) is not None and prefix:
            self._check_ecr(prefix, "the backup prefix")

    @classmethod
    def from_location(
        cls, location: str, mode: NamingMode = "nested", max_component_length: int = 255
    ) -> TargetNaming:
        """Naming for a location written `registry[/prefix]`, e.g. `backup.example.com/mirror`."""
        registry, _, prefix = location.partition("/")
        return cls(registry, prefix, mode, max_component_length)

    @property
    def location(self) -> str:
        """`registry/prefix`, or the registry alone without a prefix."""
        return f"{self.registry}/{self.prefix}" if self.prefix else self.registry

    def target(self, source: ImageReference) -> ImageReference:
        """The backup of `source`; ValueError when a limit is exceeded, `source` is a backup already,
        or its registry is not written in normal form: references keep the host as written (as Go's
        distribution/reference does), and `Registry.IO` and `registry.io` must not share one backup
        under two sources, nor a host the backup name cannot give back (`source_of`)."""
        try:
            normal = normalize_registry(source.registry)
        except ValueError as error:
            raise ValueError(f"{source} cannot be backed up: {error}") from None
        if normal != source.registry:
            raise ValueError(
                f"{source} cannot be backed up: write its registry {source.registry!r} as {normal!r}"
            )
        if self.is_target(source):
            raise ValueError(f"{source} is already a backup image (of {self.source_of(source)})")
        return self._target(source)

    def source_of(self, target: ImageReference) -> ImageReference:
        """The source whose backup `target` is; ValueError when `target` is no backup name."""
        if target.registry != self.registry:
            raise ValueError(f"{target} is not in the backup registry {self.registry}")
        rest = target.repository
        if self.prefix:
            if not rest.startswith(self.prefix + "/"):
                raise ValueError(f"{target} is not under the backup prefix {self.location}/")
            rest = rest[len(self.prefix) + 1 :]
        try:
            if self.mode == "nested":
                host, slash, path = rest.partition("/")
                if not slash:
                    raise ValueError("there is no source path after the source host")
            else:
                if "/" in rest:
                    raise ValueError("a flat backup name is one path component")
                host, *components = (_unflatten(piece) for piece in rest.split("_"))
                if not components:
                    raise ValueError("there is no source path after the source host")
                path = "/".join(components)
            source = ImageReference(_decode_host(host), path, target.tag, target.digest)
        except ValueError as error:
            raise ValueError(f"{target} is not a backup name: {error}") from None
        if self._repository(source) != target.repository:
            raise ValueError(
                f"{target} is not a backup name: the backup of {source} is {self._target(source)}"
            )
        return source

    def is_target(self, reference: ImageReference) -> bool:
        """Whether `reference` is the backup of some source under this naming."""
        try:
            self.source_of(reference)
        except ValueError:
            return False
        return True

    def _repository(self, source: ImageReference) -> str:
        host = _encode_host(source.registry)
        if self.mode == "nested":
            tail = f"{host}/{source.repository}"
        else:
            tail = "_".join(_flatten(part) for part in [host, *source.repository.split("/")])
        return f"{self.prefix}/{tail}" if self.prefix else tail

    def _target(self, source: ImageReference) -> ImageReference:
        repository = self._repository(source)
        name = f"{self.registry}/{repository}"
        if len(name) > NAME_TOTAL_LENGTH_MAX:
            raise ValueError(
                f"the backup name of {source} would be {len(name)} characters, over the limit of "
                f"{NAME_TOTAL_LENGTH_MAX} for registry/repository: {name}"
            )
        if self.mode == "flat":
            flat = repository.rsplit("/", 1)[-1]
            if len(flat) > self.max_component_length:
                raise ValueError(
                    f"the flat backup name of {source} would be {len(flat)} characters, over this "
                    f"registry's limit of {self.max_component_length} per path component: {flat}"
                )
        if ecr_registry(self.registry) is not None:
            self._check_ecr(repository, f"the backup name of {source}")
        return ImageReference(self.registry, repository, source.tag, source.digest)

    def _check_ecr(self, path: str, what: str) -> None:
        for component in path.split("/"):
            if not _ECR_COMPONENT.fullmatch(component):
                raise ValueError(
                    f"{what} has the component {component!r}, which ECR refuses: ECR repository names "
                    "allow exactly one '.', '_' or '-' between letters and digits"
                )


def backup_object_name(source: ImageReference) -> str:
    """The deterministic DNS-1123 name of the ImageBackup object for `source` (module docstring)."""
    reference = source.with_default_tag()
    digest = hashlib.sha256(str(reference).encode()).hexdigest()[:_HASH_LENGTH]
    readable = reference.familiar_name
    if reference.tag is not None:
        readable += f"-{reference.tag}"
    if reference.digest is not None:
        algorithm, _, encoded = reference.digest.partition(":")
        readable += f"-{algorithm}-{encoded[:_DIGEST_SHOWN]}"
    readable = _NOT_DNS.sub(lambda m: "." if m[0] == "." else "-", readable.lower()).strip(".-")
    readable = readable[: OBJECT_NAME_MAX - _HASH_LENGTH - 1].rstrip(".-")
    return f"{readable}-{digest}" if readable else digest


def _encode_host(registry: str) -> str:
    if registry.startswith("["):
        literal, _, port = registry[1:].partition("]")
        host = _IPV6_MARK + "-".join(format(group, "x") for group in _ipv6_groups(literal))
        port = port.removeprefix(":")
    else:
        host, _, port = registry.partition(":")
    return f"{host}_{port}" if port else host


def _decode_host(encoded: str) -> str:
    if encoded.startswith(_IPV6_MARK):
        groups, _, port = encoded[len(_IPV6_MARK) :].partition("_")
        host = "[" + groups.replace("-", ":") + "]"
    else:
        host, _, port = encoded.partition("_")
    return normalize_registry(f"{host}:{port}" if port else host)


def _ipv6_groups(literal: str) -> list[int]:
    """The eight groups of an IPv6 address in RFC 5952 form (as normalize_registry writes it)."""
    head, double, tail = literal.partition("::")
    left = [int(group, 16) for group in head.split(":")] if head else []
    right = [int(group, 16) for group in tail.split(":")] if tail else []
    return [*left, *([0] * (8 - len(left) - len(right)) if double else []), *right]


def _flatten(component: str) -> str:
    return _SEPARATOR.sub(lambda m: _FLAT_ESCAPE.get(m[0]) or "-" * (len(m[0]) + 2), component)


def _unflatten(piece: str) -> str:
    if not _FLAT_PIECE.fullmatch(piece):
        raise ValueError(f"{piece!r} is not a flat name component")
    return _SEPARATOR.sub(lambda m: _FLAT_UNESCAPE.get(m[0]) or "-" * (len(m[0]) - 2), piece)
