"""The CRD kinds of irc (group automation.gitops.io, version v1beta1): their schemas, the one
source of truth from which manifests/crds/ is generated, typed views of their specs, and
condition helpers."""

from irc.api.crd import API_VERSION as API_VERSION
from irc.api.crd import GROUP as GROUP
from irc.api.crd import Kind as Kind
from irc.api.imagebackup import IMAGE_BACKUP as IMAGE_BACKUP
from irc.api.imagepolicy import IMAGE_DETECTED as IMAGE_DETECTED
from irc.api.imagepolicy import IMAGE_RESOURCE_POLICY as IMAGE_RESOURCE_POLICY
from irc.api.imagepolicy import RESOURCE_TEMPLATE as RESOURCE_TEMPLATE

KINDS: tuple[Kind, ...] = (IMAGE_BACKUP, IMAGE_RESOURCE_POLICY, IMAGE_DETECTED, RESOURCE_TEMPLATE)

__all__ = [
    "API_VERSION",
    "GROUP",
    "IMAGE_BACKUP",
    "IMAGE_DETECTED",
    "IMAGE_RESOURCE_POLICY",
    "KINDS",
    "RESOURCE_TEMPLATE",
    "Kind",
]
