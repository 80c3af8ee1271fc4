"""The fixture image builder (hack/testbed/images.py) is deterministic and writes what it claims."""

import hashlib
import json
from pathlib import Path

from hack.testbed import images


def _build_all(directory: Path) -> dict[str, images.Built]:
    layout = images.Layout(directory / "oci")
    out = {}
    for spec in images.FIXTURES:
        target = layout if spec.format == "oci" else images.DirLayout(directory / "dir" / spec.repository)
        out[spec.repository] = images.build(spec, target)[1]
    return out


def test_digests_are_the_same_on_every_build(tmp_path: Path) -> None:
    first, second = _build_all(tmp_path / "a"), _build_all(tmp_path / "b")
    assert {k: v.digest for k, v in first.items()} == {k: v.digest for k, v in second.items()}
    assert len({v.digest for v in first.values()}) == len(first)


def test_multiarch_index_lists_each_platform_manifest(tmp_path: Path) -> None:
    layout = images.Layout(tmp_path)
    spec = images.Spec("x/multi", "1", platforms=("linux/amd64", "linux/arm64"))
    source, built = images.build(spec, layout)
    assert source == f"oci:{tmp_path}:x_multi:1"
    index = json.loads((tmp_path / "blobs" / "sha256" / built.digest.removeprefix("sha256:")).read_bytes())
    assert index["mediaType"] == images.OCI_INDEX == built.media_type
    assert {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]} == {
        "amd64": built.manifests["linux/amd64"],
        "arm64": built.manifests["linux/arm64"],
    }
    for digest in built.manifests.values():
        manifest = json.loads((tmp_path / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes())
        config_blob = tmp_path / "blobs" / "sha256" / manifest["config"]["digest"].removeprefix("sha256:")
        assert json.loads(config_blob.read_bytes())["architecture"] in ("amd64", "arm64")


def test_docker_format_uses_docker_media_types_in_a_dir_layout(tmp_path: Path) -> None:
    layout = images.DirLayout(tmp_path)
    spec = images.Spec("x/docker", "1", format="docker", layer_sizes=(10, 20))
    source, built = images.build(spec, layout)
    assert source == f"dir:{tmp_path}"
    top = (tmp_path / "manifest.json").read_bytes()
    assert f"sha256:{hashlib.sha256(top).hexdigest()}" == built.digest
    manifest = json.loads(top)
    assert manifest["mediaType"] == images.DOCKER_MANIFEST
    assert [layer["mediaType"] for layer in manifest["layers"]] == [images.DOCKER_LAYER] * 2
    for blob in (manifest["config"], *manifest["layers"]):
        data = (tmp_path / blob["digest"].removeprefix("sha256:")).read_bytes()
        assert len(data) == blob["size"]


def test_blob_bytes_counts_each_distinct_blob(tmp_path: Path) -> None:
    layout = images.Layout(tmp_path)
    _, built = images.build(images.Spec("x/sizes", "1", layer_sizes=(1000, 2000)), layout)
    blobs = [p for p in (tmp_path / "blobs" / "sha256").iterdir()]
    manifest_size = (tmp_path / "blobs" / "sha256" / built.digest.removeprefix("sha256:")).stat().st_size
    assert built.blob_bytes == sum(p.stat().st_size for p in blobs) - manifest_size
