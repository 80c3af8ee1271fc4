"""The `irc` command line: `irc manager` runs the controllers; `irc scan` shows what a policy would
detect in ECR without a cluster; `irc crds` prints the CRDs; `irc rbac` the RBAC the controllers
need; `irc --version`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from irc import __version__
from irc.api import GROUP, KINDS
from irc.api.durations import parse_duration
from irc.api.secrets import SecretRef
from irc.api.workloads import DEFAULT_KINDS, REWRITABLE
from irc.images import TargetNaming, parse_reference
from irc.runtime import labels, rbac_manifests
from irc.runtime.errors import ReconcileError

# The reconcilers, the manager, aiobotocore and aiohttp are imported by the commands that use them,
# so `irc --version` and `irc crds` start without them (docs/performance.md, "Import weight").
if TYPE_CHECKING:
    from irc.ecr import ScanResult
    from irc.reconcilers.settings import Settings

log = logging.getLogger("irc.manager")


_ENDPOINT_FLAG = "--aws-endpoint-url"
_ENDPOINT_HELP = "ECR and STS endpoint instead of AWS's (a VPC endpoint, or a local emulator)"
_DIGITS = re.compile(r"[0-9]+")
_VERSION = f"irc {__version__}"


class UsageError(Exception):
    pass


def select_controllers(
    spec: Sequence[str], known: Collection[str], off_by_default: Collection[str] = ()
) -> list[str]:
    """kube-controller-manager's --controllers grammar: `*` every controller that is on by default,
    `name` that one (also one that is off by default), `-name` not that one (wins over `*` and
    `name`). Unknown names are a UsageError."""
    items = [s.strip() for part in spec for s in part.split(",") if s.strip()]
    unknown = sorted({i.lstrip("-") for i in items} - {"*"} - set(known))
    if unknown:
        valid = ", ".join(sorted(known)) or "none yet"
        raise UsageError(f"unknown controller(s) {', '.join(unknown)}; valid: {valid}")
    chosen = set(items)
    return [
        name
        for name in sorted(known)
        if f"-{name}" not in chosen and (name in chosen or ("*" in chosen and name not in off_by_default))
    ]


def build_settings(args: argparse.Namespace) -> Settings:
    """Settings from the manager's flags; UsageError naming the flag when one is malformed."""
    from irc.ecr.match import compile_glob
    from irc.images.auth import RegistryOptions
    from irc.reconcilers.settings import Settings
    from irc.runtime.manager import pod_namespace

    try:
        backup = (
            TargetNaming.from_location(args.backup_registry, mode=args.backup_naming)
            if args.backup_registry
            else None
        )
    except ValueError as e:
        raise UsageError(f"--backup-registry: {e}") from None
    try:
        credentials = SecretRef.parse(args.backup_credentials) if args.backup_credentials else None
    except ValueError as e:
        raise UsageError(f"--backup-credentials: {e}") from None
    try:
        retention = parse_duration(args.backup_retention, "--backup-retention")
        recheck = parse_duration(args.backup_recheck_interval, "--backup-recheck-interval")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if recheck <= 0:
        raise UsageError("--backup-recheck-interval must be positive")
    options: dict[str, RegistryOptions] = {}
    for host in args.registry_plain_http:
        options[host] = RegistryOptions(plain_http=True)
    for host in args.registry_insecure:
        options[host] = RegistryOptions(insecure=True)
    for value in args.registry_ca:
        host, sep, path = value.partition("=")
        if not sep or not host or not Path(path).is_file():
            raise UsageError(f"--registry-ca expects HOST=PATH to a PEM file, got {value!r}")
        options[host] = RegistryOptions(ca_file=path)
    check_concurrency("--ecr-concurrency", args.ecr_concurrency)
    check_concurrency("--registry-concurrency", args.registry_concurrency)
    kinds = tuple(k.strip() for k in args.rewrite_kinds.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(REWRITABLE))
    if unknown or not kinds:
        known = ", ".join(REWRITABLE)
        raise UsageError(f"--rewrite-kinds: unknown {', '.join(unknown) or 'none given'}; known: {known}")
    try:
        excluded_images = tuple(compile_glob(g, "--exclude-images") for g in args.exclude_images)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.exclude_namespace_selector:
        try:
            labels.parse(args.exclude_namespace_selector)
        except ValueError as e:
            raise UsageError(f"--exclude-namespace-selector: {e}") from None
    if args.revert_limit < 1:
        raise UsageError(f"--revert-limit must be at least 1, got {args.revert_limit}")
    try:
        revert_window = parse_duration(args.revert_window, "--revert-window")
    except ValueError as e:
        raise UsageError(str(e)) from None
    return Settings(
        backup=backup,
        backup_credentials=credentials,
        backup_retention=retention,
        recheck_interval=recheck,
        registries=options,
        registry_concurrency=args.registry_concurrency,
        aws_endpoint_url=args.aws_endpoint_url or None,  # empty (an unset ConfigMap key): AWS's
        ecr_concurrency=args.ecr_concurrency,
        rewrite_kinds=kinds,
        rewrite_when=args.rewrite_when,
        pin_digest=args.pin_digest,
        exclude_images=excluded_images,
        exclude_namespaces=tuple(n.strip() for n in args.exclude_namespaces.split(",") if n.strip()),
        exclude_namespace_selector=args.exclude_namespace_selector,
        manager_namespace=args.manager_namespace or pod_namespace(),
        backup_pull_secret=args.backup_pull_secret,
        backup_pull_secret_per_namespace=args.backup_pull_secret_per_namespace,
        revert_limit=args.revert_limit,
        revert_window=revert_window,
        git_work_dir=args.git_work_dir,
        git_insecure_skip_host_key_check=args.git_insecure_skip_host_key_check,
    )


def check_concurrency(flag: str, value: int) -> int:
    """The one rule for concurrency flags (--ecr-concurrency, scan's --concurrency): at least 1.
    A UsageError naming the flag otherwise: 0 would do nothing at all, and silently."""
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return value


def parse_workers(values: Sequence[str], known: Collection[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, sep, count = value.partition("=")
        # ASCII digits only: str.isdigit() also takes '²' and '٣', which int() rejects or misreads.
        if not sep or not _DIGITS.fullmatch(count) or int(count) < 1:
            raise UsageError(f"--max-concurrent-reconciles expects name=N with N >= 1, got {value!r}")
        if name not in known:
            raise UsageError(f"--max-concurrent-reconciles: unknown controller {name!r}")
        out[name] = int(count)
    return out


def _add_controllers_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controllers",
        action="append",
        default=[],
        metavar="LIST",
        help="comma-separated: '*' all on by default (every one but workload-rewrite), 'name' one, "
        "'-name' not that one (default '*')",
    )


def chosen_controllers(args: argparse.Namespace, default: Sequence[str] = ("*",)) -> list[str]:
    """The controllers `--controllers` selects (`default` when the flag is absent)."""
    from irc.reconcilers import CONTROLLERS

    off = [name for name, shipped in CONTROLLERS.items() if not shipped.on_by_default]
    return select_controllers(args.controllers or default, CONTROLLERS, off)


def build_parser() -> argparse.ArgumentParser:
    from irc.ecr.scan import DEFAULT_CONCURRENCY  # botocore: main answers --version before this

    parser = argparse.ArgumentParser(
        prog="irc", description="Image automation and image backup for Kubernetes."
    )
    parser.add_argument("--version", action="version", version=_VERSION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    m = commands.add_parser("manager", help="run the controllers", description="Run the irc controllers.")
    _add_controllers_flag(m)
    m.add_argument(
        "--kubeconfig", help="path to a kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)"
    )
    m.add_argument("--context", help="kubeconfig context to use")
    m.add_argument(
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        help="watch only this namespace (repeatable; default all)",
    )
    m.add_argument("--leader-elect", action="store_true", help="hold a Lease while reconciling")
    m.add_argument("--leader-election-id", default="irc-manager", help="the Lease name (default irc-manager)")
    m.add_argument(
        "--leader-election-namespace",
        help="the Lease namespace (default: the pod's namespace in a cluster, else 'default')",
    )
    m.add_argument("--metrics-bind-address", default=":8080", help="'0' disables (default :8080)")
    m.add_argument(
        "--metrics-secure",
        action="store_true",
        help="serve /metrics over HTTPS, to bearer tokens a TokenReview authenticates and a "
        "SubjectAccessReview allows get on /metrics (the shipped manifests turn it on)",
    )
    m.add_argument(
        "--metrics-cert-dir",
        metavar="DIR",
        help="tls.crt and tls.key for --metrics-secure (default: a self-signed certificate made at start)",
    )
    m.add_argument("--health-probe-bind-address", default=":8081", help="'0' disables (default :8081)")
    m.add_argument(
        "--max-concurrent-reconciles",
        action="append",
        default=[],
        metavar="NAME=N",
        help="workers for one controller (repeatable)",
    )
    m.add_argument(
        "--kube-api-qps",
        type=float,
        default=-1.0,
        help="client-side request rate limit; <= 0 leaves it to the server (default)",
    )
    m.add_argument("--kube-api-burst", type=int, default=10)
    b = m.add_argument_group("image backup")
    b.add_argument(
        "--backup-registry",
        metavar="HOST[/PREFIX]",
        help="where image-backup copies images, e.g. registry.example.com/mirror",
    )
    b.add_argument(
        "--backup-naming",
        choices=["nested", "flat"],
        default="nested",
        help="nested keeps <host>/<path> under the prefix; flat makes one path component",
    )
    b.add_argument(
        "--backup-credentials",
        metavar="NAMESPACE/NAME",
        help="a dockerconfigjson Secret with push credentials for the backup registry",
    )
    b.add_argument(
        "--backup-retention",
        default="168h",
        help="delete ImageBackups no workload has used for this long (default 168h)",
    )
    b.add_argument(
        "--backup-recheck-interval",
        default="1h",
        help="how often a completed ImageBackup is checked again: its copy still there, its retention "
        "(default 1h)",
    )
    b.add_argument(
        "--registry-plain-http",
        action="append",
        default=[],
        metavar="HOST",
        help="speak plain HTTP to this registry or token realm host (repeatable; never implied)",
    )
    b.add_argument(
        "--registry-insecure",
        action="append",
        default=[],
        metavar="HOST",
        help="skip TLS verification for this registry or token realm host (repeatable)",
    )
    b.add_argument(
        "--registry-ca",
        action="append",
        default=[],
        metavar="HOST=PATH",
        help="trust this PEM bundle for the registry (repeatable)",
    )
    b.add_argument(
        "--registry-concurrency",
        type=int,
        default=4,
        metavar="N",
        help="copies from or to one registry host at a time; more wait their turn (default 4)",
    )
    w = m.add_argument_group("workload rewrite (off unless --controllers names workload-rewrite)")
    w.add_argument(
        "--rewrite-kinds",
        default=",".join(DEFAULT_KINDS),
        metavar="KINDS",
        help=f"workload kinds to back up and switch, CronJob if listed (default {','.join(DEFAULT_KINDS)})",
    )
    w.add_argument(
        "--rewrite-when",
        choices=["healthy", "always"],
        default="healthy",
        help="switch once the workload is healthy (default), or as soon as its backups are complete",
    )
    w.add_argument("--pin-digest", action="store_true", help="write backup images as tag@digest")
    w.add_argument(
        "--exclude-images",
        action="append",
        default=[],
        metavar="GLOB",
        help="never back up images whose normalised reference matches (Go path.Match; repeatable)",
    )
    w.add_argument(
        "--exclude-namespaces",
        default="",
        metavar="NAMES",
        help="comma-separated namespaces never touched, besides kube-system and the manager's own",
    )
    w.add_argument(
        "--exclude-namespace-selector",
        metavar="SELECTOR",
        help="a label selector: workloads in namespaces it matches are never touched",
    )
    w.add_argument(
        "--manager-namespace",
        help="the manager's own namespace, never touched (default: the pod's, or $POD_NAMESPACE)",
    )
    w.add_argument(
        "--backup-pull-secret",
        metavar="NAME",
        help="append this pull Secret (for the backup registry) to switched pod templates",
    )
    w.add_argument(
        "--backup-pull-secret-per-namespace",
        action="store_true",
        help="copy no --backup-pull-secret: each namespace brings its own; one without it is not switched",
    )
    w.add_argument(
        "--revert-limit",
        type=int,
        default=3,
        metavar="N",
        help="after N reverts of a switch within --revert-window, leave the workload alone (default 3)",
    )
    w.add_argument("--revert-window", default="1h", help="how long reverts are counted (default 1h)")
    g = m.add_argument_group("creation (Git)")
    g.add_argument(
        "--git-work-dir",
        default="/tmp/irc-git",
        metavar="DIR",
        help="where cached clones live (a volume in a cluster; default /tmp/irc-git)",
    )
    g.add_argument(
        "--git-insecure-skip-host-key-check",
        action="store_true",
        help="accept any SSH host key when a Git Secret has no known_hosts (logged on every write)",
    )
    d = m.add_argument_group("ECR detection")
    d.add_argument(_ENDPOINT_FLAG, metavar="URL", help=_ENDPOINT_HELP)
    d.add_argument(
        "--ecr-concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"repositories one scan describes at a time (default {DEFAULT_CONCURRENCY})",
    )
    m.add_argument("--log-format", choices=["json", "console"], default="console")
    m.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    sc = commands.add_parser(
        "scan",
        help="show what ImageResourcePolicies would detect in ECR (dry run, no cluster)",
        description="Scan ECR as the detection controller would and print each policy's selections. "
        "Credentials come from the default AWS chain (spec.aws.secretRef needs a cluster and is "
        "not read); spec.aws.roleArn is assumed.",
    )
    sc.add_argument("-f", "--filename", required=True, type=Path, help="YAML with ImageResourcePolicies")
    sc.add_argument(_ENDPOINT_FLAG, "--endpoint-url", metavar="URL", help=_ENDPOINT_HELP)
    sc.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N")
    sc.add_argument("-o", "--output", choices=["table", "json"], default="table")
    rd = commands.add_parser(
        "render",
        help="render a ResourceTemplate for an image (no cluster); with --repo, the diff against Git",
        description="Print the files a ResourceTemplate renders for an image, as the creation controller "
        "would write them under gitRepository.path. With --repo, compare with that repository's branch "
        "and print a unified diff instead; nothing is committed.",
    )
    rd.add_argument("-f", "--filename", required=True, type=Path, help="YAML with a ResourceTemplate")
    rd.add_argument("--image", required=True, help="the detected image, e.g. registry/team/app:v1.2.3")
    rd.add_argument("--prefix", help="its tag prefix (TagPrefix), as a policy with extractPrefix would give")
    rd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a template variable")
    rd.add_argument("--repo", metavar="URL", help="diff against this Git repository (dry run)")
    rd.add_argument("--secret", type=Path, help="a Secret manifest with the repository's credentials")
    c = commands.add_parser(
        "crds",
        help="print irc's CustomResourceDefinitions",
        description="Print the CRDs as YAML, or write one file per CRD.",
    )
    c.add_argument("--output-dir", type=Path, help="write <plural>.<group>.yaml and kustomization.yaml here")
    r = commands.add_parser(
        "rbac",
        help="print the RBAC the controllers need",
        description="Print a ServiceAccount, a least-privilege ClusterRole with the rules the selected "
        "controllers and the manager declare, a ClusterRoleBinding between them, and a Role (with "
        "RoleBinding) for the leader-election Lease in its namespace, as YAML. Without --controllers: "
        "every controller, workload-rewrite included.",
    )
    _add_controllers_flag(r)
    r.add_argument("--namespace", default="irc-system", help="the ServiceAccount's (default irc-system)")
    r.add_argument("--service-account", default="irc", help="its name (default irc)")
    r.add_argument("--name", default="irc-manager", help="the ClusterRole(Binding)'s (default irc-manager)")
    r.add_argument(
        "--leader-election-namespace",
        help="where the manager's Lease is, for the leader-election Role (default: --namespace)",
    )
    r.add_argument("--output", type=Path, help="write to this file instead")
    return parser


def write_crds(output_dir: Path | None) -> int:
    documents = {f"{kind.plural}.{GROUP}.yaml": yaml.safe_dump(kind.crd(), sort_keys=False) for kind in KINDS}
    if output_dir is None:
        sys.stdout.write("---\n".join(documents.values()))
        return 0
    output_dir.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `irc crds` from irc/api; do not edit.\n"
    for name, text in documents.items():
        (output_dir / name).write_text(header + text)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(documents),
    }
    (output_dir / "kustomization.yaml").write_text(header + yaml.safe_dump(kustomization, sort_keys=False))
    return 0


def write_rbac(
    names: Sequence[str],
    *,
    namespace: str,
    service_account: str,
    name: str,
    output: Path | None,
    leader_election_namespace: str | None = None,
) -> int:
    from irc.reconcilers import rules

    documents = rbac_manifests(
        name,
        rules(names),
        namespace=namespace,
        service_account=service_account,
        labels={"app.kubernetes.io/part-of": "irc"},
        leader_election_namespace=leader_election_namespace,
    )
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)
    if output is None:
        sys.stdout.write(text)
    else:
        controllers = ",".join(names) or "none"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"# Generated by `irc rbac` (controllers: {controllers}); do not edit.\n{text}")
    return 0


def load_documents(path: Path, kind: str, flag: str = "-f") -> list[dict[str, Any]]:
    """The documents of `kind` in a YAML file; UsageError when there are none or the file cannot be
    read as YAML."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
    # ValueError: not UTF-8 (UnicodeDecodeError), a NUL in the path, a YAML timestamp like 2024-13-01
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise UsageError(f"{flag} {path}: {e}") from None
    found = [d for d in documents if d.get("kind") == kind]
    if not found:
        raise UsageError(f"{flag} {path}: no {kind} in it")
    return found


def load_policies(path: Path) -> list[dict[str, Any]]:
    return load_documents(path, "ImageResourcePolicy")


async def run_render(args: argparse.Namespace) -> int:
    """Render a ResourceTemplate for one image and print the files; with --repo, print the diff
    against that repository instead (a dry run: nothing is committed)."""
    import base64
    import dataclasses
    import difflib
    import tempfile

    from irc.gitops import GitAuth, GitWriter, GitWriterOptions
    from irc.reconcilers.creation import render_template
    from irc.templating import image_variables

    template = load_documents(args.filename, "ResourceTemplate")[0]
    overrides = {}
    for value in args.set:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {value!r}")
        overrides[key] = text
    try:
        ref = parse_reference(args.image)
    except ValueError as e:
        raise UsageError(f"--image: {e}") from None
    detected = {
        "fullImageName": args.image,
        "imageTag": ref.tag or "latest",
        "imageDigest": ref.digest or "",
        "imageName": ref.repository.replace("/", "-"),
        "tagPrefix": args.prefix or "",
    }
    try:
        variables = image_variables(detected, None, template.get("spec"), overrides=overrides)
        repo, files, message, _ = render_template(template.get("spec") or {}, variables)
    except ReconcileError as e:
        print(f"{e.reason}: {e}", file=sys.stderr)
        return 1
    base = repo.path.strip("./")
    if not args.repo:
        for path, content in files.items():
            print(
                f"# {base + '/' if base else ''}{path}\n{content.decode()}",
                end="" if content.endswith(b"\n") else "\n",
            )
        return 0
    auth = None
    if args.secret is not None:
        secret = load_documents(args.secret, "Secret", "--secret")[0]
        data: dict[str, bytes] = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        data |= {k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()}
        auth = GitAuth.from_secret_data(data)
    with tempfile.TemporaryDirectory(prefix="irc-render-") as work:
        writer = GitWriter(work, GitWriterOptions(allow_local=True))  # a dry run may read a local clone
        target = dataclasses.replace(repo, url=args.repo)
        try:
            result = await writer.write(target, files, message, auth=auth, dry_run=True)
        except ReconcileError as e:
            print(f"{e.reason}: {e}", file=sys.stderr)
            return 1
    if not result.changed:
        print(f"no change: {args.repo} {repo.branch} already has these files", file=sys.stderr)
        return 0
    by_path = {f"{base}/{p}" if base else p: c for p, c in files.items()}
    for path in result.changed_files:
        old = result.previous.get(path)
        before = old.decode().splitlines(keepends=True) if old is not None else []
        after = by_path.get(path, b"").decode().splitlines(keepends=True)
        source = f"a/{path}" if old is not None else "/dev/null"
        sys.stdout.writelines(difflib.unified_diff(before, after, source, f"b/{path}"))
    return 0


async def run_scan(args: argparse.Namespace, policies: Sequence[dict[str, Any]]) -> int:
    """Scan for each policy and print the selections; 1 if any policy is invalid or its scan failed."""
    from irc.ecr import AwsClients, ScanSpec
    from irc.ecr.credentials import session_name
    from irc.reconcilers.detection import detected_name

    clients, failed = AwsClients(endpoint_url=args.aws_endpoint_url), False
    rows: list[dict[str, str | None]] = []
    for policy in policies:
        meta = policy.get("metadata") or {}
        label = f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"
        aws = (policy.get("spec") or {}).get("aws") or {}
        try:
            spec = ScanSpec.from_policy(policy.get("spec") or {})
            credentials = None
            if aws.get("secretRef"):
                print(
                    f"{label}: spec.aws.secretRef is not read here; using the default chain", file=sys.stderr
                )
            if aws.get("roleArn"):
                credentials = await clients.assume_role(
                    aws["roleArn"], None, spec.region, session_name("scan", meta.get("name", "policy"))
                )
            result = await clients.scan(spec, credentials, concurrency=args.concurrency)
        except ValueError as e:
            print(f"{label}: invalid policy: {e}", file=sys.stderr)
            failed = True
            continue
        except ReconcileError as e:
            print(f"{label}: {e.reason}: {e}", file=sys.stderr)
            failed = True
            continue
        except Exception as e:  # STS refusing the role, an unreachable endpoint: one line, not a traceback
            print(f"{label}: {type(e).__name__}: {e}", file=sys.stderr)
            failed = True
            continue
        print(_summary(label, result), file=sys.stderr)
        rows.extend(
            {
                "policy": label,
                "repository": s.image.repository,
                "tag": s.image.tag,
                "tagPrefix": s.prefix,
                "digest": s.image.digest,
                "fullImageName": s.image.full_name,
                "imageDetected": detected_name(s.image.repository, s.image.tag, s.image.digest),
            }
            for s in result.selections
        )
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        columns = ("policy", "repository", "tag", "tagPrefix", "digest", "imageDetected")
        table = [[c.upper() for c in columns]] + [
            [str(r[c] or "") if c != "digest" else str(r[c])[:19] for c in columns] for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 1 if failed else 0


def _summary(label: str, result: ScanResult) -> str:
    limited = (
        f" (of {result.repositories_matched} matched; maxRepositories)"
        if result.repositories_matched > result.repositories_scanned
        else ""
    )
    return (
        f"{label}: scanned {result.repositories_scanned} repositories{limited}, {result.images_scanned} "
        f"images, {result.api_calls} ECR calls in {result.duration:.2f}s; {len(result.selections)} selected"
    )


async def run_manager(
    args: argparse.Namespace, names: Sequence[str], workers: Mapping[str, int], settings: Settings
) -> int:
    from irc.reconcilers import CONTROLLERS
    from irc.runtime import LeaderElectionLost, LeaderElectionOptions, Manager, ManagerOptions

    options = ManagerOptions(
        namespaces=tuple(args.namespaces),
        metrics_bind_address=args.metrics_bind_address,
        metrics_secure=args.metrics_secure,
        metrics_cert_dir=args.metrics_cert_dir,
        health_probe_bind_address=args.health_probe_bind_address,
        leader_election=LeaderElectionOptions(
            enabled=args.leader_elect, id=args.leader_election_id, namespace=args.leader_election_namespace
        ),
        max_concurrent_reconciles=workers,
    )
    mgr = await Manager.from_kubeconfig(
        args.kubeconfig, args.context, options, qps=args.kube_api_qps, burst=args.kube_api_burst
    )
    for name in names:
        CONTROLLERS[name].setup(mgr, settings)
    log.info("starting manager %s with controllers: %s", __version__, ", ".join(names) or "none")
    try:
        await mgr.run()
    except LeaderElectionLost:
        log.error("leader election lost; exiting")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv)[:1] == ["--version"]:
        # What argparse's version action does, without building the parser (whose defaults import
        # irc.ecr, so botocore); argparse acts on options in order, so nothing after it matters.
        print(_VERSION)
        raise SystemExit(0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "crds":
        return write_crds(args.output_dir)
    if args.command == "rbac":
        from irc.reconcilers import CONTROLLERS

        try:  # without --controllers: every controller, so any of them can be turned on later
            names = chosen_controllers(args, default=tuple(CONTROLLERS))
        except UsageError as e:
            parser.error(str(e))
        return write_rbac(
            names,
            namespace=args.namespace,
            service_account=args.service_account,
            name=args.name,
            output=args.output,
            leader_election_namespace=args.leader_election_namespace,
        )
    if args.command == "render":
        from irc.runtime import logging as irc_logging

        irc_logging.configure("console", "warning")  # stdout is for the files or the diff
        try:
            return asyncio.run(run_render(args))
        except UsageError as e:
            parser.error(str(e))
    if args.command == "scan":
        try:
            check_concurrency("--concurrency", args.concurrency)
            policies = load_policies(args.filename)
        except UsageError as e:
            parser.error(str(e))
        return asyncio.run(run_scan(args, policies))
    from irc.reconcilers import CONTROLLERS
    from irc.runtime import logging as irc_logging

    try:
        names = chosen_controllers(args)
        workers = parse_workers(args.max_concurrent_reconciles, CONTROLLERS)
        settings = build_settings(args)
    except UsageError as e:
        parser.error(str(e))  # exits 2
    irc_logging.configure(args.log_format, args.log_level)
    try:
        return asyncio.run(run_manager(args, names, workers, settings))
    except Exception as e:  # a startup failure (bad kubeconfig, caches not syncing): one clear line
        hint = (
            " (install irc's CRDs: irc crds | kubectl apply --server-side -f -)"
            if "CustomResourceDefinition" in str(e)
            else ""
        )
        log.error("manager failed: %s%s", e, hint, exc_info=args.log_level == "debug")
        return 1


if __name__ == "__main__":
    sys.exit(main())
