"""The variables a ResourceTemplate renders with, for one detected image (``image_variables``).

The seed's ``TemplateVars`` (internal/template/processor.go, ``BuildTemplateVarsWithPrefix``) has twelve
fields; irc keeps them with the seed's meaning and order and adds the three the seed's README uses but
its code lacks. For ``fullImageName`` =
``123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3``:

=================  ===================================================  =============================
variable           rule                                                 example
=================  ===================================================  =============================
ImageTag           ImageDetected ``spec.imageTag``                      ``v1.2.3``
ImageDigest        ``spec.imageDigest`` ("" when absent)                ``sha256:abc…``
RepositoryName     the repository path of ``spec.fullImageName``        ``webapp/frontend``
Registry           its registry host (with port, if any)                ``123….dkr.ecr.….amazonaws.com``
Region             the ECR host's region; else the policy's             ``us-east-1``
                   ``spec.ecrRepository.region``; else ""
AccountID          the ECR host's 12-digit account; else ""             ``123456789012``
FullImageName      ``spec.fullImageName``                               the whole reference
Namespace          the repository path without its last segment ("" if  ``webapp``
                   it has one segment) — the *ECR* namespace, not a
                   Kubernetes namespace
ServiceName        the repository path's last segment                   ``frontend``
K8sCompatibleName  ``k8sName(Namespace + "-" + ServiceName)``, or       ``webapp-frontend``
                   ``k8sName(ServiceName)`` without a Namespace: lower
                   case, ``[^a-z0-9-]`` to ``-``, trimmed, ≤ 63 bytes
TagPrefix          ``spec.tagPrefix`` ("" when absent)                  ``dev``
Variables          the ResourceTemplate's ``spec.variables`` (strings)  ``{environment: prod}``
ImageName          ``spec.imageName`` (the repository, ``/`` → ``-``)   ``webapp-frontend``
ImageRepository    the image without tag or digest (registry/path)      ``123…amazonaws.com/webapp/frontend``
GitRepoURL         the ResourceTemplate's ``spec.gitRepository.url``    ``https://github.com/org/repo.git``
=================  ===================================================  =============================

Every entry of ``Variables`` is also a variable of its own (``{{ .environment }}``, ``{{ environment }}``)
unless its name is one of the above, which win. The seed accepts only ECR image names (anything else
fails its template step); irc reads any image reference and leaves Region and AccountID "" for other
registries. An unparseable ``fullImageName`` raises ``TemplateError(InvalidImage)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..images.reference import ecr_registry, parse_reference
from .errors import INVALID_IMAGE, TemplateError
from .sprig_strings import k8s_name

__all__ = ["VARIABLE_NAMES", "image_variables"]

VARIABLE_NAMES = (
    "ImageTag",
    "ImageDigest",
    "RepositoryName",
    "Registry",
    "Region",
    "AccountID",
    "FullImageName",
    "Namespace",
    "ServiceName",
    "K8sCompatibleName",
    "TagPrefix",
    "Variables",
    "ImageName",
    "ImageRepository",
    "GitRepoURL",
)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def image_variables(
    detected: Mapping[str, Any],
    policy: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    *,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The template variables for an ImageDetected ``spec`` (``detected``), the ImageResourcePolicy's
    ``spec`` (``policy``) and the ResourceTemplate's ``spec`` (``template``); ``overrides`` (e.g. the
    CLI's ``--set k=v``) replace or add entries of ``Variables``."""
    full_name = _text(detected.get("fullImageName"))
    try:
        reference = parse_reference(full_name)
    except ValueError as err:
        raise TemplateError(INVALID_IMAGE, f"spec.fullImageName: {err}") from None
    repository = reference.repository
    namespace, _, service = repository.rpartition("/")
    ecr = ecr_registry(reference.registry.split(":", 1)[0]) if reference.registry else None
    policy_region = ((policy or {}).get("ecrRepository") or {}).get("region")
    spec = template or {}
    user = {str(k): v if isinstance(v, str) else str(v) for k, v in (spec.get("variables") or {}).items()}
    user.update(overrides or {})
    variables: dict[str, object] = {
        "ImageTag": _text(detected.get("imageTag")),
        "ImageDigest": _text(detected.get("imageDigest")),
        "RepositoryName": repository,
        "Registry": reference.registry,
        "Region": ecr.region if ecr else _text(policy_region),
        "AccountID": ecr.account if ecr else "",
        "FullImageName": full_name,
        "Namespace": namespace,
        "ServiceName": service,
        "K8sCompatibleName": k8s_name(f"{namespace}-{service}" if namespace else service),
        "TagPrefix": _text(detected.get("tagPrefix")),
        "Variables": dict(user),
        "ImageName": _text(detected.get("imageName")) or repository.replace("/", "-"),
        "ImageRepository": reference.name,
        "GitRepoURL": _text((spec.get("gitRepository") or {}).get("url")),
    }
    for name, value in user.items():
        variables.setdefault(name, value)
    return variables
