"""Real, deterministic fixture images: built as an OCI image layout (skopeo's `dir:` layout for
Docker media types), pushed with skopeo.

Every byte (layer tarballs, gzip headers, configs, manifests) is derived from the image's name,
so the digests are the same on every machine and run. The set covers what irc must copy:
single-platform and multi-arch (linux/amd64 + linux/arm64), OCI and Docker schema-2 media types,
several layers, and one image of about 50 MB for benchmarks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hack.testbed import procs
from hack.testbed.registries import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MEDIA_TYPES = {
    "oci": (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER),
    "docker": (DOCKER_MANIFEST, DOCKER_LIST, DOCKER_CONFIG, DOCKER_LAYER),
}


@dataclass(frozen=True)
class Spec:
    """What to build: `repository:tag` with these platforms, layers of these sizes, in this format."""

    repository: str
    tag: str
    format: str = "oci"  # "oci" | "docker"
    platforms: tuple[str, ...] = ("linux/amd64",)
    layer_sizes: tuple[int, ...] = (4096,)
    index: bool = False  # an index/list even for one platform


@dataclass(frozen=True)
class Built:
    spec: Spec
    digest: str  # of the top-level manifest or index
    media_type: str
    manifests: dict[str, str]  # platform → manifest digest
    blob_bytes: int  # total size of all distinct blobs (configs and layers)

    def reference(self, registry: Registry) -> str:
        return f"{registry.host}/{self.spec.repository}:{self.spec.tag}"


FIXTURES: tuple[Spec, ...] = (
    Spec("testbed/oci-single", "1.0.0"),
    Spec("testbed/oci-multiarch", "1.0.0", platforms=("linux/amd64", "linux/arm64")),
    Spec("testbed/docker-single", "1.0.0", format="docker"),
    Spec("testbed/docker-multiarch", "1.0.0", format="docker", platforms=("linux/amd64", "linux/arm64")),
    Spec("testbed/multilayer", "1.0.0", layer_sizes=(1024, 65536, 300_000, 2048)),
    Spec("public/oci-single", "1.0.0"),
)
LARGE = Spec("testbed/large", "1.0.0", layer_sizes=(40_000_000, 10_000_000, 1024))


class Layout:
    """Where built images go before skopeo pushes them: an OCI image layout (blobs/sha256, index.json)."""

    transport = "oci"

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self.refs: list[dict[str, object]] = []

    def _write(self, digest_hex: str, data: bytes, media_type: str) -> None:
        (self.path / "blobs" / "sha256" / digest_hex).write_bytes(data)

    def blob(self, data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        self._write(digest, data, media_type)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def json_blob(self, obj: object, media_type: str) -> dict[str, object]:
        return self.blob(json.dumps(obj, indent=2, sort_keys=True).encode(), media_type)

    def tag(self, descriptor: dict[str, object], ref: str) -> str:
        """Record `descriptor` as the image named `ref`; returns skopeo's source reference for it."""
        self.refs.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": ref}})
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        (self.path / "index.json").write_text(json.dumps(index, indent=2))
        return f"oci:{self.path}:{ref}"


class DirLayout(Layout):
    """skopeo's `dir:` layout, for Docker media types, which its OCI layout reader (1.9) refuses.

    One directory per image: blobs named by digest hex, child manifests as `<hex>.manifest.json`,
    the top-level manifest or list as `manifest.json`.
    """

    transport = "dir"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        (path / "version").write_text("Directory Transport Version: 1.1\n")

    def _write(self, digest_hex: str, data: bytes, media_type: str) -> None:
        manifest = media_type in (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX)
        (self.path / (f"{digest_hex}.manifest.json" if manifest else digest_hex)).write_bytes(data)

    def tag(self, descriptor: dict[str, object], ref: str) -> str:
        digest = str(descriptor["digest"]).removeprefix("sha256:")
        (self.path / "manifest.json").write_bytes((self.path / f"{digest}.manifest.json").read_bytes())
        return f"dir:{self.path}"


def _layer(seed: str, size: int) -> tuple[bytes, str]:
    """A gzipped tarball holding one file of `size` seeded random bytes; returns (blob, diff_id)."""
    content = random.Random(seed).randbytes(size)
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{hashlib.sha256(seed.encode()).hexdigest()[:12]}")
        info.size, info.mtime, info.mode = size, 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    raw = tar_buf.getvalue()
    gz_buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buf, mtime=0, compresslevel=1) as gz:
        gz.write(raw)
    return gz_buf.getvalue(), f"sha256:{hashlib.sha256(raw).hexdigest()}"


def build(spec: Spec, layout: Layout) -> tuple[str, Built]:
    """Write `spec` into `layout`; returns skopeo's source reference and what was built."""
    manifest_type, index_type, config_type, layer_type = MEDIA_TYPES[spec.format]
    manifests: dict[str, dict[str, object]] = {}
    blobs: dict[object, int] = {}
    for platform in spec.platforms:
        os_, arch = platform.split("/")
        layers, diff_ids = [], []
        for i, size in enumerate(spec.layer_sizes):
            data, diff_id = _layer(f"{spec.repository}:{spec.tag}/{platform}/{i}", size)
            layers.append(layout.blob(data, layer_type))
            diff_ids.append(diff_id)
        config = layout.json_blob(
            {
                "architecture": arch,
                "os": os_,
                "created": "2024-01-01T00:00:00Z",
                "config": {"Labels": {"org.opencontainers.image.title": spec.repository}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            },
            config_type,
        )
        for d in (config, *layers):
            blobs[d["digest"]] = int(str(d["size"]))
        manifest = layout.json_blob(
            {"schemaVersion": 2, "mediaType": manifest_type, "config": config, "layers": layers},
            manifest_type,
        )
        manifests[platform] = {**manifest, "platform": {"os": os_, "architecture": arch}}
    if len(spec.platforms) > 1 or spec.index:
        top = layout.json_blob(
            {"schemaVersion": 2, "mediaType": index_type, "manifests": list(manifests.values())}, index_type
        )
    else:
        top = {k: v for k, v in next(iter(manifests.values())).items() if k != "platform"}
    source = layout.tag(top, f"{spec.repository}:{spec.tag}".replace("/", "_"))
    return source, Built(
        spec=spec,
        digest=str(top["digest"]),
        media_type=str(top["mediaType"]),
        manifests={p: str(m["digest"]) for p, m in manifests.items()},
        blob_bytes=sum(blobs.values()),
    )


def push(specs: tuple[Spec, ...], registry: Registry, workdir: Path) -> dict[str, Built]:
    """Build `specs` into layouts under `workdir` and copy each, digests preserved, to `registry`."""
    oci = Layout(workdir / "oci-layout")
    built: dict[str, Built] = {}
    for spec in specs:
        layout = oci if spec.format == "oci" else DirLayout(workdir / "dir" / spec.repository / spec.tag)
        source, image = build(spec, layout)
        procs.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--all",
                "--preserve-digests",
                *registry.skopeo_flags("dest"),
                source,
                f"docker://{image.reference(registry)}",
            ]
        )
        built[f"{spec.repository}:{spec.tag}"] = image
    return built
