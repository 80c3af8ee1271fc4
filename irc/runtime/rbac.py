"""RBAC generated from the code, as kubebuilder's `+kubebuilder:rbac` markers feed controller-gen: each
reconciler declares the `PolicyRule`s its own calls need next to its setup, the runtime declares
its own (`MANAGER_RULES`), and `cluster_role` unions them into one least-privilege ClusterRole.
Leader election's Lease rights go in a Role of the Lease's namespace instead.

Informers need list and watch; cache reads need nothing more; every `client` call needs its verb
on its resource, a status write its `<plural>/status` subresource. Discovery needs no rule: the
default `system:discovery` role grants it to every authenticated user."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    | {"bind", "escalate", "impersonate", "use", "approve", "sign"}
)
"""Kubernetes' verbs. No "*": a rule names what the code does."""


@dataclass(frozen=True)
class PolicyRule:
    """One rbac.authorization.k8s.io/v1 PolicyRule: `verbs` on `resources` of `api_groups` ("" is core)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def __post_init__(self) -> None:
        if any(isinstance(f, str) for f in (self.api_groups, self.resources, self.verbs)):
            raise TypeError(f"{self}: tuples of strings, not strings (mind the comma in a 1-tuple)")
        if not self.api_groups or not self.resources or not self.verbs:
            raise ValueError(f"{self}: api_groups, resources and verbs must each name at least one")
        if unknown := sorted(set(self.verbs) - VERBS):
            raise ValueError(f"{self}: unknown verb(s) {', '.join(unknown)}")

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }


LEADER_ELECTION_RULES: tuple[PolicyRule, ...] = (
    # leaderelection.py: read, take and renew (or release) the Lease.
    PolicyRule(("coordination.k8s.io",), ("leases",), ("get", "create", "update")),
)
"""What leader election needs, in the Lease's namespace only: `rbac_manifests` grants it by a Role,
as kubebuilder's leader-election Role does, not cluster-wide."""

MANAGER_RULES: tuple[PolicyRule, ...] = (
    # events.py: core/v1 Events, created and then patched as their count grows, in the namespace of
    # the object they are about (any namespace).
    PolicyRule(("",), ("events",), ("create", "patch")),
    # metrics_auth.py (--metrics-secure, on in the shipped manifests): a scraper's token reviewed, and
    # whether it may get /metrics. Granted always: `irc rbac` cannot know the flag.
    PolicyRule(("authentication.k8s.io",), ("tokenreviews",), ("create",)),
    PolicyRule(("authorization.k8s.io",), ("subjectaccessreviews",), ("create",)),
)
"""What the Manager itself does cluster-wide: the Event recorder, the metrics' authorization."""


def merge_rules(rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    """The union of `rules`, normalised: verbs merged per (group, resource), then the resources of a
    group with the same verbs in one rule. Sorted throughout, so equal unions give equal output."""
    verbs: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                verbs[group, resource].update(rule.verbs)
    resources: defaultdict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), vs in verbs.items():
        resources[group, tuple(sorted(vs))].append(resource)
    merged = [PolicyRule((group,), tuple(sorted(rs)), vs) for (group, vs), rs in resources.items()]
    return sorted(merged, key=lambda r: (r.api_groups, r.resources))


def cluster_role(name: str, rules: Iterable[PolicyRule], labels: Mapping[str, str]) -> dict[str, Any]:
    return _role("ClusterRole", name, None, rules, labels)


def _role(
    kind: str, name: str, namespace: str | None, rules: Iterable[PolicyRule], labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _metadata(name, namespace, labels),
        "rules": [r.to_dict() for r in merge_rules(rules)],
    }


def _binding(
    kind: str, name: str, namespace: str | None, subject: dict[str, str], labels: Mapping[str, str]
) -> dict[str, Any]:
    role = kind.removesuffix("Binding")
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _metadata(name, namespace, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role, "name": name},
        "subjects": [subject],
    }


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name} | ({"namespace": namespace} if namespace else {}) | {"labels": dict(labels)}


def rbac_manifests(
    name: str,
    rules: Iterable[PolicyRule],
    *,
    namespace: str,
    service_account: str,
    labels: Mapping[str, str],
    leader_election_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """A ServiceAccount; a ClusterRole `name` with the union of `rules` and a ClusterRoleBinding
    granting it; a Role `<name>-leader-election` with LEADER_ELECTION_RULES in
    `leader_election_namespace` (default: the ServiceAccount's, which is the manager's default Lease
    namespace in a cluster) and its RoleBinding."""
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    lease_namespace, election = leader_election_namespace or namespace, f"{name}-leader-election"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _metadata(service_account, namespace, labels),
        },
        cluster_role(name, rules, labels),
        _binding("ClusterRoleBinding", name, None, subject, labels),
        _role("Role", election, lease_namespace, LEADER_ELECTION_RULES, labels),
        _binding("RoleBinding", election, lease_namespace, subject, labels),
    ]
