"""OCI registries on loopback: the CNCF distribution registry (Debian's `docker-registry`) in the
auth modes irc must handle, plus the token server that the token-auth one sends clients to.

- `source`: anonymous, plain HTTP: the "public" upstream that fixture images are pushed to.
- `backup`: anonymous, plain HTTP.
- `backup-basic`: htpasswd basic auth over TLS with the test bed's CA.
- `backup-token`: Docker token auth (bearer challenge) over plain HTTP.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hack.testbed import procs
from hack.testbed.pki import CA

REGISTRY_BINARY = "docker-registry"
USER, PASSWORD = "irc", "irc-registry-password"
TOKEN_SERVICE = "irc-testbed-registry"
TOKEN_ISSUER = "irc-testbed-token-server"
PUBLIC_PREFIX = "public/"  # anonymous callers may pull these from the token-auth registry


@dataclass(frozen=True)
class Registry:
    name: str
    host: str  # host:port, as written in image references
    auth: str  # "none" | "basic" | "token"
    tls: bool
    ca_cert: Path | None = None
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def skopeo_flags(self, side: str = "") -> list[str]:
        """skopeo's TLS and credential flags for this registry: `--src-*` or `--dest-*` for
        `skopeo copy` (side "src" or "dest"), plain `--creds` etc. for `skopeo inspect`."""
        prefix = f"--{side}-" if side else "--"
        flags = []
        if self.ca_cert is not None:
            flags.append(f"{prefix}cert-dir={self.ca_cert.parent / 'skopeo-certs'}")
        else:
            flags.append(f"{prefix}tls-verify=false")
        if self.username:
            flags.append(f"{prefix}creds={self.username}:{self.password}")
        return flags


@dataclass
class Registries:
    dir: Path
    ca_cert: Path
    by_name: dict[str, Registry] = field(default_factory=dict)
    processes: list[procs.Process] = field(default_factory=list)
    token_realm: str = ""
    """host:port of the token server `backup-token` sends clients to (plain HTTP, like its registry:
    a client must opt this host in too)."""

    def __getitem__(self, name: str) -> Registry:
        return self.by_name[name]

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def env(self) -> dict[str, str]:
        out = {f"IRC_TESTBED_REGISTRY_{n.upper().replace('-', '_')}": r.host for n, r in self.by_name.items()}
        return {
            **out,
            "IRC_TESTBED_REGISTRY_CA": str(self.ca_cert),
            "IRC_TESTBED_REGISTRY_TOKEN_REALM": self.token_realm,
            "IRC_TESTBED_REGISTRY_USER": USER,
            "IRC_TESTBED_REGISTRY_PASSWORD": PASSWORD,
        }


def _config(
    storage: Path, port: int, auth: dict[str, object], tls: dict[str, str] | None
) -> dict[str, object]:
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls:
        http["tls"] = tls
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth:
        config["auth"] = auth
    return config


def start(directory: Path) -> Registries:
    if shutil.which(REGISTRY_BINARY) is None:
        raise FileNotFoundError(f"{REGISTRY_BINARY} not found; run hack/install-packages.sh")
    directory.mkdir(parents=True, exist_ok=True)
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    ca = CA(directory / "pki", "irc-testbed-registry-ca")
    serving = ca.issue("registry", "registry", hosts=("127.0.0.1", "localhost"))
    token_signer = ca.issue("token-signer", TOKEN_ISSUER, client=True, key_type="rsa")
    # skopeo and containers/image read a CA for a registry from a directory of *.crt files.
    (directory / "pki" / "skopeo-certs").mkdir()
    shutil.copy(ca.cert_path, directory / "pki" / "skopeo-certs" / "ca.crt")

    htpasswd = directory / "htpasswd"
    hashed = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True)
    htpasswd.write_text(hashed.stdout)
    users = directory / "token-users.json"
    users.write_text(json.dumps({USER: PASSWORD}))

    bed = Registries(directory, ca.cert_path)
    try:
        token_port = procs.free_port()
        bed.token_realm = f"127.0.0.1:{token_port}"
        bed.processes.append(
            procs.start(
                "token-server",
                [
                    sys.executable,
                    "-m",
                    "hack.testbed.tokenserver",
                    f"--port={token_port}",
                    f"--cert={token_signer.cert}",
                    f"--key={token_signer.key}",
                    f"--issuer={TOKEN_ISSUER}",
                    f"--users={users}",
                    f"--public-prefix={PUBLIC_PREFIX}",
                ],
                logs,
                procs.port_open(token_port),
                cwd=Path(__file__).resolve().parents[2],
            )
        )

        specs: list[tuple[str, str, bool, dict[str, object]]] = [
            ("source", "none", False, {}),
            ("backup", "none", False, {}),
            ("backup-basic", "basic", True, {"htpasswd": {"realm": "irc-testbed", "path": str(htpasswd)}}),
            (
                "backup-token",
                "token",
                False,
                {
                    "token": {
                        "realm": f"http://127.0.0.1:{token_port}/token",
                        "service": TOKEN_SERVICE,
                        "issuer": TOKEN_ISSUER,
                        "rootcertbundle": str(ca.cert_path),
                    }
                },
            ),
        ]
        for name, auth, tls, auth_config in specs:
            port = procs.free_port()
            config_path = directory / f"{name}.yml"
            tls_config = {"certificate": str(serving.cert), "key": str(serving.key)} if tls else None
            # JSON is YAML; the registry's parser reads it.
            config_path.write_text(
                json.dumps(_config(directory / name, port, auth_config, tls_config), indent=2)
            )
            bed.processes.append(
                procs.start(
                    f"registry-{name}",
                    [REGISTRY_BINARY, "serve", str(config_path)],
                    logs,
                    procs.port_open(port),
                )
            )
            bed.by_name[name] = Registry(
                name=name,
                host=f"127.0.0.1:{port}",
                auth=auth,
                tls=tls,
                ca_cert=ca.cert_path if tls else None,
                username=USER if auth != "none" else None,
                password=PASSWORD if auth != "none" else None,
            )
    except BaseException:
        bed.stop()
        raise
    return bed
