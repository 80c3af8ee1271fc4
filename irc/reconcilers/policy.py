"""The policy reconciler (controller name `policy`): validates each ImageResourcePolicy and says
so in a Ready condition with a precise reason, so a bad policy is visible before any scan.

    Ready=True   Valid             every check passed
    Ready=False  InvalidPolicy     a range, regex or filter does not parse (the message names the field)
                 TemplateNotFound  spec.templateRef names no ResourceTemplate
                 SecretNotFound    spec.aws.secretRef names no Secret
                 SecretInvalid     that Secret lacks accessKeyId or secretAccessKey
    Suspended    True/False        spec.suspend

A policy is re-validated when its spec changes, when a ResourceTemplate it references changes
(mapped watch), and every `REVALIDATE` seconds (Secrets are read, not watched: caching every
Secret of the cluster is not worth it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from irc.api import API_VERSION
from irc.api.conditions import set_condition
from irc.reconcilers.settings import Settings
from irc.runtime import EnqueueMapped, Manager, Request, Result, errors
from irc.runtime.client import Obj
from irc.runtime.predicates import generation_changed
from irc.tags.select import Policy, TagFilter, compile_go_regex

NAME = "policy"
KIND, TEMPLATE = "ImageResourcePolicy", "ResourceTemplate"
TEMPLATE_INDEX = "templateRef"
REVALIDATE = 300.0
AWS_KEYS = ("accessKeyId", "secretAccessKey")


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _template_key(policy: Obj) -> list[str]:
    ref = (policy.get("spec") or {}).get("templateRef") or {}
    namespace = ref.get("namespace") or policy["metadata"].get("namespace", "")
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


def check_selection(spec: dict[str, Any]) -> None:
    """The tag-selection parts of a policy spec; _Invalid naming the field when one does not parse."""
    policy = spec.get("policy") or {}
    try:
        if any(policy.get(k) is not None for k in ("semver", "alphabetical", "numerical")):
            Policy.parse(policy)
        pattern = policy.get("pattern")
        if pattern is not None:
            compiled: re.Pattern[str] = compile_go_regex(pattern.get("regex", ""), "policy.pattern.regex")
            if pattern.get("extractPrefix") and compiled.groups < 1:
                raise ValueError(
                    "policy.pattern.regex: extractPrefix needs a capture group, e.g. ^(dev|prod)-"
                )
        if spec.get("filterTags") is not None:
            TagFilter.parse(spec["filterTags"])
    except ValueError as e:
        raise _Invalid("InvalidPolicy", str(e)) from None


class PolicyReconciler:
    def __init__(self, mgr: Manager) -> None:
        self.client, self.cache, self.clock = mgr.client, mgr.cache, mgr.clock
        self.recorder = mgr.recorder(NAME)

    async def reconcile(self, request: Request) -> Result | None:
        try:
            policy = await self.cache.get(API_VERSION, KIND, request.name, request.namespace)
        except errors.NotFound:
            return None
        spec = policy.get("spec") or {}
        generation = policy["metadata"].get("generation")
        status: dict[str, Any] = copy.deepcopy(policy.get("status") or {})  # cached objects are shared
        now = self.clock.wall()
        try:
            check_selection(spec)
            await self._check_template(policy)
            await self._check_secret(policy)
        except _Invalid as e:
            changed = set_condition(
                status, "Ready", "False", e.reason, str(e), observed_generation=generation, now=now
            )
            if changed:
                self.recorder.event(policy, "Warning", e.reason, str(e))
        else:
            set_condition(
                status,
                "Ready",
                "True",
                "Valid",
                "the policy is valid",
                observed_generation=generation,
                now=now,
            )
        suspended = bool(spec.get("suspend"))
        set_condition(
            status,
            "Suspended",
            "True" if suspended else "False",
            "Suspended" if suspended else "Active",
            "scans are suspended" if suspended else "scans run every interval",
            observed_generation=generation,
            now=now,
        )
        status["observedGeneration"] = generation
        if status != (policy.get("status") or {}):
            await self.client.patch(
                API_VERSION,
                KIND,
                request.name,
                {"status": status},
                namespace=request.namespace,
                subresource="status",
            )
        return Result(requeue_after=REVALIDATE)

    async def _check_template(self, policy: Obj) -> None:
        key = _template_key(policy)[0]
        namespace, _, name = key.partition("/")
        try:
            await self.cache.get(API_VERSION, TEMPLATE, name, namespace)
        except errors.NotFound:
            raise _Invalid(
                "TemplateNotFound", f"ResourceTemplate {key} not found (spec.templateRef)"
            ) from None

    async def _check_secret(self, policy: Obj) -> None:
        ref = ((policy.get("spec") or {}).get("aws") or {}).get("secretRef")
        if not ref:
            return
        namespace = ref.get("namespace") or policy["metadata"]["namespace"]
        try:
            secret = await self.client.get("v1", "Secret", ref["name"], namespace)
        except errors.NotFound:
            raise _Invalid(
                "SecretNotFound", f"Secret {namespace}/{ref['name']} not found (spec.aws.secretRef)"
            ) from None
        missing = [k for k in AWS_KEYS if k not in (secret.get("data") or {})]
        if missing:
            raise _Invalid("SecretInvalid", f"Secret {namespace}/{ref['name']} lacks {', '.join(missing)}")


def _policies_using(mgr: Manager) -> EnqueueMapped:
    """A ResourceTemplate event → the policies whose templateRef names it (from the cache's index)."""

    def fn(template: Obj) -> Iterable[Request]:
        key = f"{template['metadata'].get('namespace', '')}/{template['metadata']['name']}"
        return [
            Request.for_object(p)
            for i in mgr.informers_of(API_VERSION, KIND)
            for p in i.store.by_index(TEMPLATE_INDEX, key)
        ]

    return EnqueueMapped(fn)


def setup(mgr: Manager, settings: Settings) -> None:
    mgr.add_index(API_VERSION, KIND, TEMPLATE_INDEX, _template_key)
    (
        mgr.controller(NAME)
        .for_(API_VERSION, KIND, generation_changed())
        .watches(API_VERSION, TEMPLATE, _policies_using(mgr))
        .complete(PolicyReconciler(mgr))
    )
