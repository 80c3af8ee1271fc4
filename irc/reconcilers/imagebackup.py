"""The image-backup reconciler (controller name `image-backup`): copies each ImageBackup's source
image into the backup registry, byte for byte, and reports progress in its status.

    ImageBackup ──▶ validate spec ──▶ another manager's claim? ──yes──▶ wait (requeue)
                                            │ no
                                            ▼
                    target already holds the digest? ──yes──▶ Completed (no copy)
                                            │ no
                                            ▼
                    claim + Copying (status: bytes, layers, at most every progress_interval) ──▶ Completed
                                            │ error
                                            ▼
                    Failed, Ready=False with a reason (SourceNotFound, SourceUnauthorized,
                    TargetNotFound, TargetUnauthorized, RateLimited, NetworkError, ...) ──▶ retried
                    with backoff

A bad spec (an unparsable reference, no matching platform) is terminal until the spec changes.
The claim (claim.py) keeps two managers without leader election from copying one image twice.
Registry content is never deleted; an ImageBackup that workloads stopped referencing for the
retention period is (its lastReferencedAt is kept by the workload-rewrite controller).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from irc.api import API_VERSION, GROUP, IMAGE_BACKUP
from irc.api.conditions import rfc3339, set_condition
from irc.api.durations import parse_duration
from irc.api.imagebackup import ImageBackupSpec
from irc.api.secrets import SecretRef, is_secret_name
from irc.ecr.credentials import AwsClients
from irc.ecr.tokens import EcrTokenProvider
from irc.images import ImageReference, ecr_registry, parse_reference
from irc.images.auth import Authenticator, Keychain, normalize_host
from irc.images.copy import (
    BlobLocationCache,
    Progress,
    copy_image,
    failed_side,
)
from irc.images.errors import Denied, NotFound, RateLimited, RegistryError, Unauthorized
from irc.images.registry import RegistryClient
from irc.reconcilers.claim import Claim, ClaimLost, Claims, StatusWriter, Superseded
from irc.reconcilers.settings import Settings
from irc.runtime import (
    ApiClient,
    Clock,
    ControllerBuilder,
    EventRecorder,
    Manager,
    Obj,
    PolicyRule,
    Reader,
    ReconcileError,
    Request,
    Result,
    RunnableFunc,
    errors,
    generation_changed,
)

KIND = "ImageBackup"
NAME = "image-backup"
REGISTRY_ERRORS = (RegistryError, aiohttp.ClientError, OSError, TimeoutError)
# No limit on a whole request here (aiohttp's default of 300 s total would fail any blob that takes
# longer to stream): RegistryClient bounds every request but a blob's body, and the copy's Pace that.
REGISTRY_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
WORKERS = 4
"""image-backup's default workers: copies (and the start-up checks of completed ones) wait on
registries, not on this process; --registry-concurrency bounds each host."""
RELEASE_TIMEOUT = 5.0
"""Seconds a stopping manager spends giving up its claim before leaving it to expire."""
QUEUED_RETRY = 2.0
"""Seconds before a copy that found its registry at --registry-concurrency looks again. Requeued
rather than waiting in its worker: the other workers stay free for other registries' copies."""
# Status that belongs to another writer (workload-rewrite), who may have moved it since this
# reconcile read the object: every status write is a merge patch that leaves it out.
REFERENCED = "lastReferencedAt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metrics:
    copies: Counter
    bytes: Counter
    duration: Histogram
    failures: Counter
    claims: Counter
    in_progress: Gauge

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            Counter(
                "irc_image_backup_copies_total",
                "Image copies finished, by result",
                ["result"],
                registry=registry,
            ),
            Counter(
                "irc_image_backup_bytes_total",
                "Blob bytes streamed into the backup registry",
                registry=registry,
            ),
            Histogram(
                "irc_image_backup_copy_duration_seconds",
                "Wall time of one image copy",
                buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
                registry=registry,
            ),
            Counter(
                "irc_image_backup_failures_total", "Failed copies, by reason", ["reason"], registry=registry
            ),
            Counter(
                "irc_image_backup_claims_total",
                "Claims on copies: acquired, taken_over (from a silent holder), lost (to another manager)",
                ["result"],
                registry=registry,
            ),
            Gauge(
                "irc_image_backup_copies_in_progress",
                "Copies in progress from or to each registry host (at most --registry-concurrency)",
                ["registry"],
                registry=registry,
            ),
        )


class RegistrySlots:
    """Copies in progress per registry host, at most `limit` each. One event loop: no lock."""

    def __init__(self, limit: int, gauge: Gauge) -> None:
        self.limit, self.gauge = limit, gauge
        self.busy: dict[str, int] = {}

    def take(self, hosts: set[str]) -> bool:
        """Count a copy against each of `hosts`, unless one of them is at the limit."""
        if any(self.busy.get(host, 0) >= self.limit for host in hosts):
            return False
        for host in hosts:
            self.busy[host] = self.busy.get(host, 0) + 1
            self.gauge.labels(host).set(self.busy[host])
        return True

    def give(self, hosts: set[str]) -> None:
        for host in hosts:
            self.busy[host] -= 1
            self.gauge.labels(host).set(self.busy[host])


def _reason(error: BaseException, side: str) -> str:
    """The condition reason for an error met while talking to the Source or the Target registry."""
    if isinstance(error, NotFound):  # the source lacks a manifest or blob; the target a repository
        return f"{side}NotFound"
    if isinstance(error, Unauthorized | Denied):
        return f"{side}Unauthorized"
    if isinstance(error, RateLimited):
        return "RateLimited"
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        return "NetworkError"
    return "RegistryError"


class ImageBackupReconciler:
    """`identity` names this manager in the claims on copies (its leader election identity);
    `aws` fetches ECR tokens for ECR registries without a pull secret; `session` is the HTTP
    session for registries (default: one of its own, opened at the first reconcile and kept, so
    connections to a registry are reused across backups; `close()` closes it)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        reader: Reader,
        recorder: EventRecorder,
        clock: Clock,
        metrics: Metrics,
        settings: Settings,
        aws: AwsClients,
        identity: str,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.client, self.cache, self.recorder, self.clock = client, reader, recorder, clock
        self.metrics, self.settings = metrics, settings
        self.claims = Claims(identity, settings.copy_lease, clock)
        self.blob_cache = BlobLocationCache()
        self.slots = RegistrySlots(settings.registry_concurrency, metrics.in_progress)
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._aws = aws
        # One per ECR registry, kept across reconciles: a token serves 12 hours of copies.
        self._ecr_tokens: dict[str, EcrTokenProvider] = {}

    async def reconcile(self, request: Request) -> Result | None:
        try:
            obj = self.cache.get(API_VERSION, KIND, request.name)
        except errors.NotFound:
            self.claims.forget(request.name)
            return None
        try:
            return await self._converge(obj)
        except Superseded as superseded:  # the cache was behind, or another manager was quicker
            claim = Claim.of(superseded.current)
            if claim is not None and claim.holder != self.claims.identity:
                self.metrics.claims.labels("lost").inc()
            return await self._converge(superseded.current)  # once; a second 409 retries with backoff

    async def _converge(self, obj: Obj) -> Result | None:
        """Reconcile `obj`, as read from the cache or, after a 409, from the API server."""
        if obj["metadata"].get("deletionTimestamp") or await self._expired(obj):
            return None
        spec = ImageBackupSpec.from_object(obj)
        generation = obj["metadata"].get("generation")
        status: dict[str, Any] = copy.deepcopy(obj.get("status") or {})  # cached objects are shared
        writer = StatusWriter(self.client, self.claims, obj, foreign=(REFERENCED,))
        unusable: list[str] = []  # source Secrets skipped, each a reason
        try:
            try:
                source, target, resync = self._parse(spec)
                if (wait := self.claims.held_elsewhere(obj)) is not None:
                    # No status write: the holder's Copying status and progress say it all.
                    holder = status["claim"]["holder"]
                    log.info("%s is being copied by %s: looking again in %.0f s", source, holder, wait)
                    return Result(requeue_after=wait)
                async with self._registries(obj, spec, source, target, unusable) as (src, dst):
                    if await self._up_to_date(obj, status, generation, source, target, src, dst, resync):
                        return self._recheck(resync)
                    hosts = {normalize_host(source.registry), normalize_host(target.registry)}
                    if not self.slots.take(hosts):
                        log.debug(
                            "%s waits: a registry of it has copies in progress", obj["metadata"]["name"]
                        )
                        return Result(requeue_after=QUEUED_RETRY)
                    try:
                        await self._copy(writer, obj, status, generation, spec, source, target, src, dst)
                    finally:
                        self.slots.give(hosts)
            except ReconcileError as e:
                if unusable and e.reason.startswith("Source"):  # what may have made the source refuse
                    e = ReconcileError(e.reason, f"{e}; skipped {'; '.join(unusable)}", terminal=e.terminal)
                await self._fail(writer, obj, status, e.reason, str(e), generation)
                raise e from None
        except ClaimLost as lost:  # whoever took it over copies and reports
            self.metrics.claims.labels("lost").inc()
            log.warning("stopped copying %s: %s", obj["metadata"]["name"], lost)
            return Result(requeue_after=self.claims.lease)
        return self._recheck(resync)

    def _recheck(self, resync: float | None) -> Result:
        """When to look again at a completed backup: its target may vanish, its tag move (resync),
        or workloads stop using it (retention), and none of that is an event on this object."""
        interval = self.settings.recheck_interval
        return Result(requeue_after=min(resync, interval) if resync else interval)

    # ---- steps

    def _parse(self, spec: ImageBackupSpec) -> tuple[ImageReference, ImageReference, float | None]:
        """Source, target and resync interval; InvalidSpec if any of them cannot be made out."""
        try:
            source, target = self._references(spec)
            resync = parse_duration(spec.resync_interval) if spec.resync_interval else None
        except ValueError as e:
            raise ReconcileError("InvalidSpec", str(e), terminal=True) from None
        return source, target, resync

    def _references(self, spec: ImageBackupSpec) -> tuple[ImageReference, ImageReference]:
        source = parse_reference(spec.source)
        if source.tag is None and source.digest is None:
            source = source.with_default_tag()
        if spec.target:
            return source, parse_reference(spec.target)
        if self.settings.backup is None:
            raise ValueError("spec.target is empty and the manager has no --backup-registry")
        return source, self.settings.backup.target(source)

    async def _up_to_date(
        self,
        obj: Obj,
        status: dict[str, Any],
        generation: int | None,
        source: ImageReference,
        target: ImageReference,
        src: RegistryClient,
        dst: RegistryClient,
        resync: float | None,
    ) -> bool:
        """A completed backup of this spec whose target still holds the digest (and, when resyncing,
        whose source tag has not moved) needs no copy."""
        done = (
            status.get("phase") == "Completed"
            and status.get("observedGeneration") == generation
            and status.get("target") == str(target)
            and status.get("targetDigest")
        )
        if not done:
            return False
        try:
            present = await dst.head_manifest(target.repository, status["targetDigest"])
        except REGISTRY_ERRORS as e:
            raise ReconcileError(
                _reason(e, "Target"), f"checking the backup in {target.registry}: {type(e).__name__}: {e}"
            ) from None
        if present is None:
            self.recorder.event(obj, "Warning", "TargetMissing", f"{target} is gone from the backup registry")
            return False
        if resync is None or source.digest is not None:
            return True
        try:
            head = await src.head_manifest(source.repository, source.tag or "latest")
        except REGISTRY_ERRORS as e:
            # The copy is whole and in place: a source that cannot be asked does not make it less
            # usable (workloads run it precisely when the source is gone). Checked again next resync.
            reason = _reason(e, "Source")
            message = f"cannot check {source} for a newer push: {type(e).__name__}: {e}"
            self.recorder.event(obj, "Warning", reason, message)
            return True
        if head is None or head.digest == status.get("sourceDigest"):
            return True
        self.recorder.event(obj, "Normal", "SourceChanged", f"{source} now points at {head.digest}")
        return False

    async def _copy(
        self,
        writer: StatusWriter,
        obj: Obj,
        status: dict[str, Any],
        generation: int | None,
        spec: ImageBackupSpec,
        source: ImageReference,
        target: ImageReference,
        src: RegistryClient,
        dst: RegistryClient,
    ) -> None:
        ref = source.digest or source.tag or "latest"
        try:  # a preflight, so that a refusal of the source can be told apart from the target's
            found = await src.head_manifest(source.repository, ref)
        except REGISTRY_ERRORS as e:
            message = f"source registry {source.registry}: {type(e).__name__}: {e}"
            raise ReconcileError(_reason(e, "Source"), message) from None
        if found is None:
            raise ReconcileError("SourceNotFound", f"{source} does not exist")
        now = self.clock.wall()
        status.update(
            phase="Copying",
            source=str(source),
            target=str(target),
            startedAt=rfc3339(now),
            attempts=int(status.get("attempts") or 0) + 1,
            observedGeneration=generation,
            completedAt=None,
        )
        message = f"copying {source} to {target}"
        set_condition(status, "Ready", "False", "Copying", message, observed_generation=generation, now=now)
        silent = Claim.of(obj)  # held_elsewhere found it stale, if it is another holder's
        try:
            await writer.claim(status)  # the Copying write is the claim: Superseded if another was quicker
            if silent is not None and silent.holder != self.claims.identity:
                self.metrics.claims.labels("taken_over").inc()
                why = f"{silent.holder} did not renew its claim for {self.claims.lease:.0f} s"
                self.recorder.event(obj, "Warning", "CopyTakenOver", f"{why}: copying in its place")
            else:
                self.metrics.claims.labels("acquired").inc()
            self.recorder.event(obj, "Normal", "Copying", message)
            await self._copy_claimed(writer, obj, status, generation, spec, source, target, src, dst)
        except asyncio.CancelledError:
            await self._let_go(writer)
            raise

    async def _copy_claimed(
        self,
        writer: StatusWriter,
        obj: Obj,
        status: dict[str, Any],
        generation: int | None,
        spec: ImageBackupSpec,
        source: ImageReference,
        target: ImageReference,
        src: RegistryClient,
        dst: RegistryClient,
    ) -> None:
        latest: list[Progress] = []  # one slot: the newest progress (the copier reports every chunk)

        def record(progress: Progress) -> None:
            latest[:] = [progress]

        started = self.clock.now()
        copying = asyncio.create_task(
            copy_image(
                src,
                source.repository,
                source.digest or source.tag or "latest",
                dst,
                target.repository,
                target.tag,
                platforms=set(spec.platforms) or None,
                progress=record,
                blob_cache=self.blob_cache,
            ),
            name=f"{NAME} copy",
        )
        reporting = asyncio.create_task(self._report(writer, status, latest), name=f"{NAME} progress")
        try:  # until the copy ends, or the reporter finds the claim lost
            await asyncio.wait((copying, reporting), return_when=asyncio.FIRST_COMPLETED)
        finally:
            copying.cancel()
            reporting.cancel()
            await asyncio.wait((copying, reporting))
        if not reporting.cancelled() and (lost := reporting.exception()) is not None:
            raise lost
        try:
            result = copying.result()
        except REGISTRY_ERRORS as e:  # copy_image marks which registry failed
            side = failed_side(e) or "Target"
            host = source.registry if side == "Source" else target.registry
            raise ReconcileError(
                _reason(e, side), f"{side.lower()} registry {host}: {type(e).__name__}: {e}"
            ) from None
        elapsed = self.clock.now() - started
        self.metrics.duration.observe(elapsed)
        blobs = result.blobs_copied + result.blobs_skipped + result.blobs_mounted
        now = self.clock.wall()
        status.update(
            phase="Completed",
            sourceDigest=result.source_digest,
            targetDigest=result.target_digest,
            mediaType=result.media_type,
            platforms=list(result.platforms),
            bytesTotal=result.bytes_total,
            bytesCopied=result.bytes_total,
            layers=blobs,
            layersCopied=blobs,
            completedAt=rfc3339(now),
        )
        message = (
            f"copied in {elapsed:.1f} s: {result.bytes_copied} of {result.bytes_total} bytes sent "
            f"({result.blobs_copied} blobs sent, {result.blobs_skipped} present, "
            f"{result.blobs_mounted} mounted)"
        )
        set_condition(status, "Ready", "True", "Copied", message, observed_generation=generation, now=now)
        # Counted before the status says Completed: whoever sees Completed sees the bytes counted.
        self.metrics.copies.labels("success").inc()
        self.metrics.bytes.inc(result.bytes_copied)
        await writer.release(status)
        self.recorder.event(obj, "Normal", "Copied", message)

    async def _report(self, writer: StatusWriter, status: dict[str, Any], latest: list[Progress]) -> None:
        """Write the newest progress at most every progress_interval seconds, renewing the claim
        with it; without progress (a stalled or slow request), renew every lease/4 all the same.
        Raises ClaimLost when another manager has taken the claim over."""
        written: Progress | None = None
        renew_every = self.claims.renew_every
        while True:
            await self.clock.sleep(min(self.settings.progress_interval, renew_every))
            moved = bool(latest) and latest[-1] != written
            if not moved and self.clock.now() - writer.renewed_at < renew_every:
                continue
            if moved:
                written = latest[-1]
                status.update(
                    bytesCopied=written.bytes_done,
                    bytesTotal=written.bytes_total,
                    layersCopied=written.blobs_done,
                    layers=written.blobs_total,
                )
            with contextlib.suppress(errors.ApiError):  # the next round writes again
                await writer.write(status)

    async def _let_go(self, writer: StatusWriter) -> None:
        """Cancelled (the manager is stopping): give the claim up, so that another manager need not
        wait out the lease. Bounded, and never raises: at worst the claim expires."""
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT):
                await writer.let_go()
        except ClaimLost:
            pass  # not ours (any more): nothing to give up
        except Exception as e:
            log.warning("could not release the claim on a copy: %s", e)

    async def _fail(
        self,
        writer: StatusWriter,
        obj: Obj,
        status: dict[str, Any],
        reason: str,
        message: str,
        generation: int | None,
    ) -> None:
        now = self.clock.wall()
        status.update(phase="Failed", observedGeneration=generation)
        set_condition(status, "Ready", "False", reason, message, observed_generation=generation, now=now)
        await writer.release(status)  # a failed copy is nobody's: whoever retries first claims it
        self.recorder.event(obj, "Warning", reason, message)
        self.metrics.copies.labels("failure").inc()
        self.metrics.failures.labels(reason).inc()

    async def _expired(self, obj: Obj) -> bool:
        referenced = (obj.get("status") or {}).get("lastReferencedAt")
        if not referenced:
            return False  # not managed by the workload controller: kept until deleted by hand
        last = datetime.datetime.fromisoformat(referenced.replace("Z", "+00:00")).timestamp()
        if self.clock.wall() - last < self.settings.backup_retention:
            return False
        self.recorder.event(obj, "Normal", "Expired", f"no workload has used this image since {referenced}")
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                API_VERSION,
                KIND,
                obj["metadata"]["name"],
                resource_version=obj["metadata"]["resourceVersion"],
            )
        return True

    # ---- registries and credentials

    @contextlib.asynccontextmanager
    async def _registries(
        self,
        obj: Obj,
        spec: ImageBackupSpec,
        source: ImageReference,
        target: ImageReference,
        unusable: list[str],
    ) -> AsyncIterator[tuple[RegistryClient, RegistryClient]]:
        """Clients for the two registries. A source Secret that is missing or unreadable is skipped
        (a Warning, and `unusable` says why), as the kubelet skips such imagePullSecrets: the list is
        shared by every namespace whose workloads use the image, and one namespace's dangling
        reference must not stop the copy the others' Secrets allow. Target Secrets are the
        operator's own: a missing one fails the copy."""
        source_keys = Keychain()
        for ref in spec.source_credentials:
            try:
                source_keys.extend(await self._keychain(ref))
            except ReconcileError as e:
                unusable.append(e.message)
                self.recorder.event(obj, "Warning", e.reason, f"{e.message}: not used for the source")
        target_keys = Keychain()
        default = self.settings.backup_credentials
        target_ref = spec.target_credentials or default
        if target_ref is not None:
            target_keys.extend(await self._keychain(target_ref))
        session = self._registry_session()
        yield (
            self._client(session, source.registry, source_keys),
            self._client(session, target.registry, target_keys),
        )

    def _registry_session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._own_session is None or self._own_session.closed:
            # No cookies: a registry's cookie must not follow another backup's credentials.
            self._own_session = aiohttp.ClientSession(
                timeout=REGISTRY_TIMEOUT, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._own_session

    async def close(self) -> None:
        """Close the registry session this reconciler opened (not one it was given)."""
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None

    def _client(self, session: aiohttp.ClientSession, host: str, keys: Keychain) -> RegistryClient:
        ecr, credentials = ecr_registry(host), keys.lookup(host)
        if ecr is not None and credentials is None:  # ECR without a pull secret: the AWS default chain
            provider = self._ecr_tokens.get(host)
            if provider is None:
                provider = self._ecr_tokens[host] = EcrTokenProvider(
                    region=ecr.region, clients=self._aws, registry_ids=[ecr.account], clock=self.clock
                )
            auth = Authenticator(host, provider, clock=self.clock)
        else:
            auth = Authenticator(host, credentials, clock=self.clock)
        return RegistryClient(
            session,
            host,
            auth=auth,
            options=self.settings.registry_options(host),
            realm_options=self.settings.registry_options,
        )

    async def _keychain(self, ref: SecretRef) -> Keychain:
        if not is_secret_name(ref.name):
            raise ReconcileError("CredentialsNotFound", f"secret {ref.namespace}/{ref.name!r} cannot exist")
        try:
            secret = await self.client.get("v1", "Secret", ref.name, ref.namespace)
        except errors.NotFound:
            raise ReconcileError(
                "CredentialsNotFound", f"secret {ref.namespace}/{ref.name} not found"
            ) from None
        try:
            return Keychain.from_secret_data(secret.get("data") or {})
        except ValueError as e:
            raise ReconcileError("InvalidCredentials", f"secret {ref.namespace}/{ref.name}: {e}") from None


RULES = (
    # delete: past retention; get: the current object after a 409 on a claim
    PolicyRule((GROUP,), (IMAGE_BACKUP.plural,), ("delete", "get", "list", "watch")),
    PolicyRule((GROUP,), (f"{IMAGE_BACKUP.plural}/status",), ("patch",)),
    PolicyRule(("",), ("secrets",), ("get",)),  # registry credentials
)


def setup(mgr: Manager, settings: Settings) -> None:
    # Spec changes only: our own status writes (and lastReferencedAt's) must not trigger a reconcile
    # that reads a cache not yet showing them; completed backups are re-checked on a timer instead.
    reconciler = ImageBackupReconciler(
        client=mgr.client,
        reader=mgr.cache,
        recorder=mgr.recorder(NAME),
        clock=mgr.clock,
        metrics=Metrics.register(mgr.metrics.registry),
        settings=settings,
        aws=AwsClients(endpoint_url=settings.aws_endpoint_url, clock=mgr.clock),
        identity=mgr.options.leader_election.identity,  # unique per manager, elected or not
    )
    builder = ControllerBuilder(mgr, NAME).for_(API_VERSION, KIND, generation_changed())
    builder.with_options(max_concurrent_reconciles=WORKERS).complete(reconciler)

    async def close_when_stopped() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await reconciler.close()

    mgr.add(RunnableFunc(close_when_stopped))
