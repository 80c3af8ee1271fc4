"""What the reconcilers are configured with: one frozen dataclass filled from `irc manager`'s flags
(or by a library user), passed to every `setup(mgr, settings)`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from irc.api.secrets import SecretRef
from irc.images import TargetNaming
from irc.images.auth import RegistryOptions


@dataclass(frozen=True)
class Settings:
    backup: TargetNaming | None = None
    """Where backups go and how they are named (--backup-registry, --backup-naming). Required by
    image-backup when an ImageBackup has no explicit target."""
    backup_credentials: SecretRef | None = None
    """A dockerconfigjson Secret for the backup registry (--backup-credentials namespace/name)."""
    backup_retention: float = 7 * 86400.0
    """Delete ImageBackups no workload has referenced for this long (--backup-retention). 7 days."""
    registries: Mapping[str, RegistryOptions] = field(default_factory=dict)
    """Per-host TLS/plain-HTTP options (--registry-ca, --registry-insecure, --registry-plain-http)."""
    recheck_interval: float = 3600.0
    """How often a completed ImageBackup is checked again (target present, retention). 1 hour."""
    aws_endpoint_url: str | None = None
    """ECR and STS endpoint instead of AWS's (--aws-endpoint-url): a VPC endpoint, or a local emulator."""
    ecr_concurrency: int = 8
    """Repositories one scan describes at a time (--ecr-concurrency)."""
    progress_interval: float = 2.0
    """Seconds between status writes while copying, so progress shows without a write storm."""

    def registry_options(self, host: str) -> RegistryOptions:
        return self.registries.get(host, RegistryOptions())
