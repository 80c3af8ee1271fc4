"""An ECR (and STS) endpoint on loopback: moto in server mode, reached through `endpoint_url`,
with a fixture set of repositories and tagged images that have distinct digests and push times.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from hack.testbed import procs

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# moto accepts any credentials; these only have to be present so no real chain is consulted.
CREDENTIALS = {"aws_access_key_id": "testbed", "aws_secret_access_key": "testbed-secret"}

# repository → tags, pushed in this order (push times increase in the same order).
FIXTURE_IMAGES: Mapping[str, Sequence[str]] = {
    "team-a/api": ("1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "2.0.0", "latest"),
    "team-a/envs": ("dev-1.3.0", "staging-1.2.0", "prod-1.1.0", "dev-1.4.0", "prod-1.2.0"),
    "team-a/worker": ("1", "2", "9", "10", "v11", "sha256-" + "ab" * 32 + ".sig"),
    "team-b/web": ("20240101", "20240215", "20231231"),
}


@dataclass
class ECR:
    endpoint: str
    process: procs.Process
    region: str = REGION

    def client(self, service: str = "ecr") -> Any:
        """A boto3 client for `service` (ecr, sts, ...) on this endpoint."""
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region, **CREDENTIALS)

    @property
    def processes(self) -> list[procs.Process]:
        return [self.process]

    def stop(self) -> None:
        self.process.stop()

    def env(self) -> dict[str, str]:
        return {"IRC_TESTBED_ECR_ENDPOINT": self.endpoint, "IRC_TESTBED_ECR_REGION": self.region}

    def inject_fault(
        self,
        action: str,
        *,
        status: int = 400,
        code: str | None = "ThrottlingException",
        count: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `count` ECR calls of `action` (e.g. "DescribeImages"; "*" = any) with
        this error instead of serving them, after `delay` seconds; with `code` None, serve them
        after the delay. Replaces an earlier fault for the same action."""
        spec = {"action": action, "status": status, "code": code, "count": count, "delay": delay}
        self._control("POST", "faults", spec)

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def calls(self) -> dict[str, int]:
        """ECR and STS requests received so far (faulted ones too), by action."""
        calls: dict[str, int] = self._control("GET", "calls")
        return calls

    def reset_calls(self) -> None:
        self._control("DELETE", "calls")

    def seed(self, repositories: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
        """What `populate` does, written into moto's backend in-process: fast enough for benchmark
        sizes (100k images). Creates missing repositories; returns repository → tag → digest."""
        body = {"region": self.region, "repositories": {r: list(t) for r, t in repositories.items()}}
        seeded: dict[str, dict[str, str]] = self._control("POST", "seed", body)
        return seeded

    def _control(self, method: str, path: str, body: object = None) -> Any:
        request = urllib.request.Request(
            f"{self.endpoint}/irc-testbed/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"test bed ECR {method} {path}: {e.code} {e.read().decode()}") from None


def manifest(repository: str, tag: str) -> str:
    """A distinct, valid image manifest for repository:tag (ECR digests its bytes, moto its layers)."""
    seed = hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1000,
                "digest": f"sha256:{seed}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 2000,
                    "digest": f"sha256:{hashlib.sha256(seed.encode()).hexdigest()}",
                }
            ],
        },
        sort_keys=True,
    )


def populate(ecr: ECR, images: Mapping[str, Sequence[str]] = FIXTURE_IMAGES) -> dict[str, dict[str, str]]:
    """Create the repositories and push the images; returns repository → tag → digest."""
    client = ecr.client()
    out: dict[str, dict[str, str]] = {}
    for repository, tags in images.items():
        client.create_repository(repositoryName=repository)
        out[repository] = {}
        for tag in tags:
            image = client.put_image(
                repositoryName=repository, imageManifest=manifest(repository, tag), imageTag=tag
            )
            out[repository][tag] = image["image"]["imageId"]["imageDigest"]
    return out


def start(directory: Path) -> ECR:
    directory.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = procs.start(
        "ecr-moto",
        [sys.executable, "-m", "hack.testbed.ecrserver", "-H", "127.0.0.1", "-p", str(port)],
        directory,
        procs.http_ok(f"{endpoint}/moto-api/data.json"),
        cwd=Path(__file__).resolve().parents[2],
    )
    return ECR(endpoint, process)
