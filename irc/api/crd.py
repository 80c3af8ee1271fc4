"""Building CustomResourceDefinitions from the kinds' schemas: the schemas in irc/api are the one
source of truth, `irc crds` prints them and manifests/crds/ holds the generated copies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

GROUP = "automation.gitops.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    scope: str  # Namespaced | Cluster
    spec: dict[str, Any]
    status: dict[str, Any]
    short_names: Sequence[str] = ()
    categories: Sequence[str] = ("irc",)
    printer_columns: Sequence[dict[str, Any]] = ()
    rules: Sequence[dict[str, str]] = field(default_factory=tuple)  # CEL x-kubernetes-validations on spec

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def crd(self) -> dict[str, Any]:
        spec = dict(self.spec)
        if self.rules:
            spec["x-kubernetes-validations"] = list(self.rules)
        schema = {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec,
                "status": self.status,
            },
        }
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{self.plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "irc"}},
            "spec": {
                "group": GROUP,
                "scope": self.scope,
                "names": {
                    "kind": self.kind,
                    "listKind": f"{self.kind}List",
                    "plural": self.plural,
                    "singular": self.singular,
                    "shortNames": list(self.short_names),
                    "categories": list(self.categories),
                },
                "versions": [
                    {
                        "name": VERSION,
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": [
                            *self.printer_columns,
                            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                        ],
                        "schema": {"openAPIV3Schema": schema},
                    }
                ],
            },
        }
