"""What the reconcilers are configured with: one frozen dataclass filled from `irc manager`'s flags
(or by a library user), passed to every `setup(mgr, settings)`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from irc.api.secrets import SecretRef
from irc.api.workloads import DEFAULT_KINDS
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
    """How often a completed ImageBackup is checked again (target present, retention;
    --backup-recheck-interval). 1 hour."""
    aws_endpoint_url: str | None = None
    """ECR and STS endpoint instead of AWS's (--aws-endpoint-url): a VPC endpoint, or a local emulator."""
    ecr_concurrency: int = 8
    """Repositories one scan describes at a time (--ecr-concurrency)."""
    registry_concurrency: int = 4
    """Copies from or to one registry host at a time, across this manager (--registry-concurrency):
    a copy whose source or target has that many in progress waits its turn."""
    progress_interval: float = 2.0
    """Seconds between status writes while copying, so progress shows without a write storm."""
    copy_lease: float = 60.0
    """Seconds another manager honours a copy's claim (status.claim) without seeing it renewed; the
    holder renews it at least every quarter of that. 1 minute."""

    rewrite_kinds: tuple[str, ...] = DEFAULT_KINDS
    """Workload kinds workload-rewrite watches (--rewrite-kinds; CronJob may be added)."""
    rewrite_when: Literal["healthy", "always"] = "healthy"
    """Switch a workload only once it is healthy, or as soon as its backups are complete (--rewrite-when)."""
    pin_digest: bool = False
    """Write backup images as tag@digest (--pin-digest)."""
    exclude_images: tuple[re.Pattern[str], ...] = ()
    """Images never backed up: Go path.Match globs on the normalised reference (--exclude-images)."""
    exclude_namespaces: tuple[str, ...] = ()
    """Namespaces whose workloads are never touched, besides kube-system (--exclude-namespaces)."""
    exclude_namespace_selector: str | None = None
    """A label selector: namespaces it matches are never touched (--exclude-namespace-selector)."""
    manager_namespace: str | None = None
    """The manager's own namespace, never touched (in a cluster: the pod's namespace)."""
    backup_pull_secret: str | None = None
    """A pull Secret for the backup registry appended to switched pod templates (--backup-pull-secret)."""
    backup_pull_secret_per_namespace: bool = False
    """Each namespace brings its own backup_pull_secret, none is copied from the manager's namespace,
    and a namespace without one is not switched (--backup-pull-secret-per-namespace): so that each
    namespace's credentials can be limited, at the registry, to the copies it may pull."""
    revert_limit: int = 3
    """Reverts of a switch within revert_window after which a workload is left alone (--revert-limit)."""
    revert_window: float = 3600.0
    """Seconds over which reverts are counted (--revert-window). 1 hour."""
    access_ttl: float = 600.0
    """Seconds a namespace's right to pull a source image is remembered. 10 minutes."""

    git_work_dir: str = "/tmp/irc-git"
    """Where the creation controller keeps its cached clones (--git-work-dir): a volume in a cluster."""
    git_insecure_skip_host_key_check: bool = False
    """Accept any SSH host key when a Git Secret has no known_hosts (--git-insecure-skip-host-key-check):
    an explicit opt-out, logged on every write. Off: a missing known_hosts is KnownHostsMissing."""

    def registry_options(self, host: str) -> RegistryOptions:
        return self.registries.get(host, RegistryOptions())
