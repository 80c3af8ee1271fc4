"""The creation reconciler (controller name `creation`): turns each ImageDetected into manifests
committed to Git, unless the cluster already runs the image (or, with a tag prefix, its
environment).

    ImageDetected ──▶ spec.sourcePolicy ──▶ the policy's templateRef ──▶ ResourceTemplate
        │
        ├─ a workload runs this very image ─────────────────────────▶ Skipped (AlreadyDeployed)
        ├─ with a tag prefix: one runs the repository with a tag of
        │  that prefix (the policy's own extraction rule) ──────────▶ Skipped (PrefixDeployed)
        ▼
    render (Go template + sprig or Jinja2, irc.templating) ──▶ YAML documents checked
        ▼
    commit and push (irc.gitops: under gitRepository.path, only when content changed, never
    forced, batched with other ImageDetected objects writing the same branch)
        ▼
    status: phase Completed, resourceCreated, gitCommitSHA, processedAt, Ready=True (Committed)

What the cluster runs comes from informers on Deployments, StatefulSets, DaemonSets, Jobs and
CronJobs (cached through irc.api.workloads.slim) indexed by image repository, so the check is a
dict read on data the watches keep current; a workload change brings back the ImageDetected
objects of its repositories that are not done. A Completed or Skipped object is not processed
again unless its spec changes; identical content already in Git completes with the existing
commit (a restart commits nothing twice). Failures set phase Failed and Ready=False with the reason:
PolicyNotFound, TemplateNotFound, SecretNotFound, SecretInvalid (retried: Secrets are not watched),
the templating reasons (TemplateSyntax, UnknownVariable, InvalidOutput, ...: terminal until the
template changes, which is watched) and the Git reasons (GitAuthFailed, PushRejected, ...).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from irc.api import API_VERSION, GROUP, IMAGE_DETECTED, IMAGE_RESOURCE_POLICY, RESOURCE_TEMPLATE
from irc.api.conditions import rfc3339, set_condition
from irc.api.workloads import KINDS, containers, slim
from irc.ecr.select import ScanSpec
from irc.gitops import GitAuth, RepoSpec, Signature
from irc.gitops.batch import BatchWriter
from irc.images import ImageReference, parse_reference
from irc.reconcilers.settings import Settings
from irc.runtime import (
    ApiClient,
    Clock,
    ControllerBuilder,
    EnqueueMapped,
    EventRecorder,
    Index,
    Manager,
    Obj,
    PolicyRule,
    Reader,
    ReconcileError,
    Request,
    Result,
    errors,
    summarize,
)
from irc.templating import Engine, TemplateError, image_variables, render, split_documents

NAME = "creation"
KIND, POLICY, TEMPLATE = "ImageDetected", "ImageResourcePolicy", "ResourceTemplate"
WORKLOAD_INDEX = "creationImageRepository"  # workload → the repositories its containers run
DETECTED_INDEX = "creationRepository"  # ImageDetected → its image's repository
DONE = ("Completed", "Skipped")
RETRY_MISSING = 300.0  # a policy, template or Secret that does not exist yet


@dataclass(frozen=True)
class Metrics:
    commits: Counter
    retries: Counter
    skipped: Counter
    duration: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Metrics:
        skipped = Counter(
            "irc_creation_skipped_total",
            "ImageDetected skipped as deployed, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in ("AlreadyDeployed", "PrefixDeployed"):
            skipped.labels(reason)
        return cls(
            Counter("irc_git_commits_total", "Commits pushed by the creation controller", registry=registry),
            Counter("irc_git_push_retries_total", "Pushes retried after the branch moved", registry=registry),
            skipped,
            Histogram(
                "irc_creation_duration_seconds",
                "Time from an ImageDetected's reconcile start to its commit or skip",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                registry=registry,
            ),
        )


def _repository(image: str) -> ImageReference | None:
    """The parsed image (parse_reference keeps its parses: the index and every duplicate check parse
    the same images, and a parse would be most of a lookup's time), or None."""
    try:
        return parse_reference(image)
    except ValueError:
        return None


def workload_repositories(obj: Obj) -> list[str]:
    """Index function: the `registry/repository` of every image a workload's containers run."""
    kind = KINDS.get(obj.get("kind", ""))
    if kind is None:
        return []
    found = (_repository(c.image) for c in containers(kind, obj, ephemeral=True))
    return [ref.name for ref in found if ref is not None]


def detected_repository(obj: Obj) -> list[str]:
    """Index function: the `registry/repository` of an ImageDetected's image."""
    ref = _repository(str((obj.get("spec") or {}).get("fullImageName", "")))
    return [ref.name] if ref is not None else []


class CreationReconciler:
    """`writer` commits (shared by every reconcile, so writes to one branch batch); `settings` gives
    the Git options (host-key opt-out)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        reader: Reader,
        recorder: EventRecorder,
        clock: Clock,
        metrics: Metrics,
        settings: Settings,
        writer: BatchWriter,
    ) -> None:
        self.client, self.cache, self.recorder, self.clock = client, reader, recorder, clock
        self.metrics, self.settings, self.writer = metrics, settings, writer

    async def reconcile(self, request: Request) -> Result | None:
        try:
            detected = self.cache.get(API_VERSION, KIND, request.name, request.namespace)
        except errors.NotFound:
            return None
        meta, status = detected["metadata"], detected.get("status") or {}
        if meta.get("deletionTimestamp"):
            return None
        if status.get("phase") in DONE and status.get("observedGeneration") == meta.get("generation"):
            return None
        started = self.clock.now()
        try:
            policy = self._policy(detected)
            deployed = self._deployed(detected, policy)  # needs no template: a skip never renders
            if deployed is not None:
                reason, workloads = deployed
                await self._skip(detected, reason, workloads)
                self.metrics.duration.observe(self.clock.now() - started)
                return None
            template = self._template(policy)
            variables = image_variables(detected.get("spec") or {}, policy.get("spec"), template.get("spec"))
            repo, files, message, author = render_template(template.get("spec") or {}, variables)
            auth, auth_key = await self._auth(template)
            result = await self.writer.write(repo, files, message, author, auth=auth, auth_key=auth_key)
        except ReconcileError as e:
            await self._fail(detected, e)
            if e.terminal:
                return None  # until the spec or the template changes (both watched)
            if e.reason in ("PolicyNotFound", "TemplateNotFound", "SecretNotFound", "SecretInvalid"):
                return Result(requeue_after=RETRY_MISSING)
            raise
        self.metrics.duration.observe(self.clock.now() - started)
        await self._complete(detected, result.commit, result.changed, sorted(files), repo)
        return None

    # ---- lookups

    def _policy(self, detected: Obj) -> Obj:
        """The policy that detected the image, from the cache."""
        namespace = detected["metadata"]["namespace"]
        ref = (detected.get("spec") or {}).get("sourcePolicy") or {}
        policy_ns = ref.get("namespace") or namespace
        try:
            return self.cache.get(API_VERSION, POLICY, str(ref.get("name", "")), policy_ns)
        except (errors.NotFound, LookupError):
            message = f"ImageResourcePolicy {policy_ns}/{ref.get('name')} (spec.sourcePolicy) not found"
            raise ReconcileError("PolicyNotFound", message) from None

    def _template(self, policy: Obj) -> Obj:
        """The ResourceTemplate the policy names, from the cache."""
        template_ref = (policy.get("spec") or {}).get("templateRef") or {}
        template_ns = template_ref.get("namespace") or policy["metadata"]["namespace"]
        try:
            return self.cache.get(API_VERSION, TEMPLATE, str(template_ref.get("name", "")), template_ns)
        except (errors.NotFound, LookupError):
            name = f"{template_ns}/{template_ref.get('name')}"
            message = f"ResourceTemplate {name} (the policy's templateRef) not found"
            raise ReconcileError("TemplateNotFound", message) from None

    def _deployed(self, detected: Obj, policy: Obj) -> tuple[str, list[str]] | None:
        """(reason, workloads) when the cluster already runs the image, or its tag prefix."""
        spec = detected.get("spec") or {}
        wanted = _repository(str(spec.get("fullImageName", "")))
        if wanted is None:
            return None
        same, prefixed = [], []
        prefix = spec.get("tagPrefix") or None
        rule = _prefix_rule(policy) if prefix else None
        for workload in self._workloads(wanted.name):
            kind = KINDS[workload["kind"]]
            for container in containers(kind, workload, ephemeral=True):
                running = _repository(container.image)
                if running is None or running.name != wanted.name:
                    continue
                where = (
                    f"{workload['kind']} {workload['metadata']['namespace']}/{workload['metadata']['name']}"
                )
                if _same_image(running, wanted, str(spec.get("imageDigest") or "")):
                    same.append(where)
                elif rule is not None and running.tag is not None and rule.prefix_of(running.tag) == prefix:
                    prefixed.append(where)
        if same:
            return "AlreadyDeployed", sorted(set(same))
        if prefixed:
            return "PrefixDeployed", sorted(set(prefixed))
        return None

    def _workloads(self, repository: str) -> list[Obj]:
        out: list[Obj] = []
        for kind in KINDS.values():
            out += self.cache.by_index(kind.api_version, kind.kind, WORKLOAD_INDEX, repository)
        return out

    async def _auth(self, template: Obj) -> tuple[GitAuth | None, tuple[str, ...]]:
        """Credentials from the template's Secrets (in its own namespace), and a key naming them."""
        namespace = template["metadata"]["namespace"]
        git = (template.get("spec") or {}).get("gitRepository") or {}
        data, key = {}, ["anonymous"]
        ca_bundle = None
        for field in ("secretRef", "caSecretRef"):
            ref = git.get(field)
            if not ref:
                continue
            secret = await self._secret(namespace, ref, field)
            key = [*key, f"{secret['metadata']['name']}@{secret['metadata'].get('resourceVersion', '')}"]
            decoded = _decoded(secret, field)
            if field == "secretRef":
                data = decoded
            else:
                ca_bundle = decoded.get("ca.crt")
        if not data and ca_bundle is None:
            return None, tuple(key)
        auth = GitAuth.from_secret_data(
            data,
            ca_bundle=ca_bundle,
            insecure_skip_host_key_check=self.settings.git_insecure_skip_host_key_check,
        )
        return auth, tuple(key)

    async def _secret(self, namespace: str, ref: Mapping[str, Any], field: str) -> Obj:
        if (ref.get("namespace") or namespace) != namespace:
            message = (
                f"spec.gitRepository.{field}: a ResourceTemplate may only use Secrets of its own namespace"
            )
            raise ReconcileError("CrossNamespaceSecretRef", message, terminal=True)
        try:
            return await self.client.get("v1", "Secret", str(ref["name"]), namespace)
        except errors.NotFound:
            message = f"Secret {namespace}/{ref['name']} (spec.gitRepository.{field}) not found"
            raise ReconcileError("SecretNotFound", message) from None

    # ---- status

    async def _complete(
        self, detected: Obj, commit: str, changed: bool, files: list[str], repo: RepoSpec
    ) -> None:
        where = f"{repo.url} {repo.push_branch or repo.branch}"
        message = (
            f"committed {commit[:12]} to {where}: {summarize(files)}"
            if changed
            else f"already in {where} at {commit[:12]}: {summarize(files)}"
        )
        reason = "Committed" if changed else "UpToDate"
        await self._write(
            detected, "Completed", "True", reason, message, resourceCreated=True, gitCommitSHA=commit
        )
        self.recorder.event(detected, "Normal", reason, message)

    async def _skip(self, detected: Obj, reason: str, workloads: list[str]) -> None:
        message = f"already running in the cluster: {summarize(workloads)}"
        self.metrics.skipped.labels(reason).inc()
        await self._write(detected, "Skipped", "True", reason, message, resourceCreated=False)
        self.recorder.event(detected, "Normal", reason, message)

    async def _fail(self, detected: Obj, error: ReconcileError) -> None:
        await self._write(detected, "Failed", "False", error.reason, str(error))
        self.recorder.event(detected, "Warning", error.reason, str(error))

    async def _write(
        self,
        detected: Obj,
        phase: str,
        ready: Literal["True", "False"],
        reason: str,
        message: str,
        **fields: Any,
    ) -> None:
        meta = detected["metadata"]
        generation = meta.get("generation")
        status = copy.deepcopy(detected.get("status") or {})
        status.update(phase=phase, message=message, observedGeneration=generation, **fields)
        now = self.clock.wall()
        if phase in DONE:
            status["processedAt"] = rfc3339(now)
        set_condition(status, "Ready", ready, reason, message, observed_generation=generation, now=now)
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
        with contextlib.suppress(errors.NotFound):  # deleted meanwhile: nothing to report on
            await self.client.patch(
                API_VERSION, KIND, meta["name"], patch, namespace=meta["namespace"], subresource="status"
            )


def render_template(
    spec: Mapping[str, Any], variables: Mapping[str, object]
) -> tuple[RepoSpec, dict[str, bytes], str, Signature | None]:
    """A ResourceTemplate spec rendered for one image: where to commit, the files (paths under
    gitRepository.path → content, each checked to be Kubernetes objects), the commit message and
    the author. The creation controller and `irc render` both use it."""
    engine: Engine = (
        "go" if spec.get("engine") == "go" else "jinja" if spec.get("engine") == "jinja" else "auto"
    )
    git = spec.get("gitRepository") or {}
    files: dict[str, bytes] = {}
    items = spec.get("multiFiles") or [
        {"name": spec.get("filePath") or _default_file(variables), "template": spec.get("template") or ""}
    ]
    for item in items:
        name = render(str(item["name"]), variables, engine).strip()
        relative = render(str(item.get("relativePath") or ""), variables, engine).strip()
        path = relative if relative and not relative.endswith("/") else posixpath.join(relative, name)
        text = render(str(item["template"]), variables, engine)
        split_documents(text)  # every document an object: apiVersion, kind, metadata.name
        if path in files and files[path] != text.encode():
            raise TemplateError("InvalidOutput", f"two files render to the same path {path}")
        files[path] = text.encode()
    if git.get("commitMessage"):
        message = render(str(git["commitMessage"]), variables, engine).strip()
    else:  # the seed's, whatever the engine
        message = f"feat: Add Kubernetes resources for {variables['ImageName']}:{variables['ImageTag']}"
    push_branch = git.get("pushBranch")
    repo = RepoSpec(
        url=str(git.get("url", "")),
        branch=str(git.get("branch") or "main"),
        path=str(git.get("path") or ""),
        push_branch=render(str(push_branch), variables, engine).strip() if push_branch else None,
    )
    author = git.get("author")
    try:
        signature = Signature(str(author["name"]), str(author.get("email", ""))) if author else None
    except ValueError as e:
        raise ReconcileError("InvalidAuthor", f"spec.gitRepository.author: {e}", terminal=True) from None
    return repo, files, message, signature


def _prefix_rule(policy: Obj) -> ScanSpec | None:
    try:
        return ScanSpec.from_policy(policy.get("spec") or {})
    except ValueError:
        return None  # the policy controller reports it; no prefix rule to compare with


def _same_image(running: ImageReference, wanted: ImageReference, digest: str) -> bool:
    if running.digest is not None:
        return running.digest in (wanted.digest, digest)
    return (running.tag or "latest") == (wanted.tag or "latest")


def _default_file(variables: Mapping[str, object]) -> str:
    """The seed's file name: <ImageName>[-<TagPrefix>].yaml."""
    prefix = variables.get("TagPrefix")
    return f"{variables['ImageName']}-{prefix}.yaml" if prefix else f"{variables['ImageName']}.yaml"


def _decoded(secret: Obj, field: str) -> dict[str, bytes]:
    try:
        return {k: base64.b64decode(v, validate=True) for k, v in (secret.get("data") or {}).items()}
    except (binascii.Error, ValueError):
        message = f"Secret {secret['metadata']['name']} (spec.gitRepository.{field}): data is not base64"
        raise ReconcileError("SecretInvalid", message) from None  # Secrets are not watched: retried


def _detected_for(reader: Reader) -> EnqueueMapped:
    """A workload event → the ImageDetected objects of its repositories that are not done yet."""

    def fn(workload: Obj) -> Iterable[Request]:
        out = []
        for repository in workload_repositories(workload):
            for detected in reader.by_index(API_VERSION, KIND, DETECTED_INDEX, repository):
                if (detected.get("status") or {}).get("phase") not in DONE:
                    out.append(Request.for_object(detected))
        return out

    return EnqueueMapped(fn)


def _detected_using(reader: Reader, template: bool) -> EnqueueMapped:
    """A ResourceTemplate (or policy) change → the ImageDetected objects that are not done and use it."""

    def fn(obj: Obj) -> Iterable[Request]:
        meta = obj["metadata"]
        out = []
        # A template may serve policies of other namespaces; template changes are rare: look at all.
        for detected in reader.list(API_VERSION, KIND, None if template else meta["namespace"]):
            if (detected.get("status") or {}).get("phase") in DONE:
                continue
            ref = (detected.get("spec") or {}).get("sourcePolicy") or {}
            if template or ref.get("name") == meta["name"]:
                out.append(Request.for_object(detected))
        return out

    return EnqueueMapped(fn)


INDEXES = (
    *(Index(k.api_version, k.kind, WORKLOAD_INDEX, workload_repositories) for k in KINDS.values()),
    Index(API_VERSION, KIND, DETECTED_INDEX, detected_repository),
)

RULES = (
    PolicyRule((GROUP,), (IMAGE_DETECTED.plural,), ("list", "watch")),
    PolicyRule((GROUP,), (f"{IMAGE_DETECTED.plural}/status",), ("patch",)),
    PolicyRule((GROUP,), (IMAGE_RESOURCE_POLICY.plural, RESOURCE_TEMPLATE.plural), ("list", "watch")),
    PolicyRule(("apps",), ("daemonsets", "deployments", "statefulsets"), ("list", "watch")),
    PolicyRule(("batch",), ("cronjobs", "jobs"), ("list", "watch")),
    PolicyRule(("",), ("secrets",), ("get",)),  # the template's Git credentials
)


def setup(mgr: Manager, settings: Settings) -> None:
    from irc.gitops import GitWriter, GitWriterOptions, WriteResult

    for index in INDEXES:
        mgr.add_index(index)
    for kind in KINDS.values():
        mgr.set_transform(kind.api_version, kind.kind, slim)
    metrics = Metrics.register(mgr.metrics.registry)

    def counted(result: WriteResult) -> None:  # once per commit, not per ImageDetected in it
        metrics.commits.inc(result.commits)
        metrics.retries.inc(result.retries)

    writer = BatchWriter(GitWriter(settings.git_work_dir, GitWriterOptions(), clock=mgr.clock), counted)
    reconciler = CreationReconciler(
        client=mgr.client,
        reader=mgr.cache,
        recorder=mgr.recorder(NAME),
        clock=mgr.clock,
        metrics=metrics,
        settings=settings,
        writer=writer,
    )
    builder = (
        ControllerBuilder(mgr, NAME)
        .for_(API_VERSION, KIND)
        .watches(API_VERSION, TEMPLATE, _detected_using(mgr.cache, template=True))
        .watches(API_VERSION, POLICY, _detected_using(mgr.cache, template=False))
        .with_options(max_concurrent_reconciles=4)  # writes to one branch batch while one is pushed
    )
    for kind in KINDS.values():
        builder.watches(kind.api_version, kind.kind, _detected_for(mgr.cache))
    builder.complete(reconciler)
