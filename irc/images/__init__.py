"""irc.images: image references and where their backups live.

    "nginx:1.25" ──parse_reference──▶ ImageReference(docker.io, library/nginx, tag 1.25)
                                          │ TargetNaming.target            ▲ TargetNaming.source_of
                                          ▼                                │
                     backup.example.com/mirror/docker.io/library/nginx:1.25
                                          │ backup_object_name
                                          ▼
                     ImageBackup "nginx-1.25-<hash>"

`reference` holds the distribution/reference grammar and Docker Hub normalisation; `naming` the
collision-free, reversible backup naming (nested or flat) and the ImageBackup object name. Both are
pure: no I/O, no imports from the rest of irc.
"""

from irc.images.naming import OBJECT_NAME_MAX as OBJECT_NAME_MAX
from irc.images.naming import NamingMode as NamingMode
from irc.images.naming import TargetNaming as TargetNaming
from irc.images.naming import backup_object_name as backup_object_name
from irc.images.reference import DEFAULT_TAG as DEFAULT_TAG
from irc.images.reference import DOCKER_HUB as DOCKER_HUB
from irc.images.reference import NAME_TOTAL_LENGTH_MAX as NAME_TOTAL_LENGTH_MAX
from irc.images.reference import EcrRegistry as EcrRegistry
from irc.images.reference import ImageReference as ImageReference
from irc.images.reference import ecr_registry as ecr_registry
from irc.images.reference import normalize_registry as normalize_registry
from irc.images.reference import parse_reference as parse_reference

__all__ = [
    "DEFAULT_TAG",
    "DOCKER_HUB",
    "NAME_TOTAL_LENGTH_MAX",
    "OBJECT_NAME_MAX",
    "EcrRegistry",
    "ImageReference",
    "NamingMode",
    "TargetNaming",
    "backup_object_name",
    "ecr_registry",
    "normalize_registry",
    "parse_reference",
]
