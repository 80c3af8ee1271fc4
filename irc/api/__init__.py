"""The CRD kinds of irc (group automation.gitops.io, version v1beta1): their schemas, the one
source of truth from which manifests/crds/ is generated, typed views of their specs, and
condition helpers."""

from irc.api.crd import API_VERSION as API_VERSION
from irc.api.crd import GROUP as GROUP
from irc.api.crd import Kind as Kind
from irc.api.imagebackup import IMAGE_BACKUP as IMAGE_BACKUP

KINDS: tuple[Kind, ...] = (IMAGE_BACKUP,)

__all__ = ["API_VERSION", "GROUP", "IMAGE_BACKUP", "KINDS", "Kind"]
