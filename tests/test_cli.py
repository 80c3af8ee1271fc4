import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from irc import __version__
from irc.api.durations import parse_duration
from irc.cli import (
    UsageError,
    build_parser,
    build_settings,
    check_concurrency,
    load_policies,
    main,
    parse_workers,
    select_controllers,
)

KNOWN = ["creation", "detection", "image-backup", "policy", "workload-rewrite"]


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"irc {__version__}"


def test_python_dash_m_runs_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "irc", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"irc {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "manager" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["*"], KNOWN),
        (["policy"], ["policy"]),
        (["policy,detection"], ["detection", "policy"]),
        (["policy", "detection"], ["detection", "policy"]),
        (["*,-creation"], ["detection", "image-backup", "policy", "workload-rewrite"]),
        (["-creation,*"], ["detection", "image-backup", "policy", "workload-rewrite"]),
        (["creation,-creation"], []),
        ([" policy , "], ["policy"]),
        ([""], []),
    ],
)
def test_controllers_grammar_is_kube_controller_managers(spec: list[str], expected: list[str]) -> None:
    assert select_controllers(spec, KNOWN) == expected


def test_star_leaves_out_controllers_off_by_default_unless_named() -> None:
    off = ["workload-rewrite"]
    assert select_controllers(["*"], KNOWN, off) == ["creation", "detection", "image-backup", "policy"]
    assert select_controllers(["*,workload-rewrite"], KNOWN, off) == KNOWN
    assert select_controllers(["image-backup,workload-rewrite"], KNOWN, off) == [
        "image-backup",
        "workload-rewrite",
    ]


def test_unknown_controller_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown controller\(s\) nope; valid: creation, detection"):
        select_controllers(["policy,-nope"], KNOWN)
    with pytest.raises(UsageError, match="valid: none yet"):
        select_controllers(["policy"], [])


def test_unknown_controller_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", "--controllers=nope"])
    assert exit_info.value.code == 2
    assert "unknown controller(s) nope" in capsys.readouterr().err


def test_max_concurrent_reconciles_parsing() -> None:
    assert parse_workers(["policy=4", "detection=1"], KNOWN) == {"policy": 4, "detection": 1}
    for bad in ["policy", "policy=0", "policy=x", "=3", "policy=\u00b2", "policy=\u0663", "policy= 3"]:
        with pytest.raises(UsageError):
            parse_workers([bad], KNOWN)
    with pytest.raises(UsageError, match="unknown controller"):
        parse_workers(["nope=2"], KNOWN)


@pytest.mark.parametrize("count", ["\u00b2", "\u0663"])  # '²' passes str.isdigit() but not int(); '٣' is 3
def test_non_ascii_digit_workers_exit_2_naming_the_flag(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", f"--max-concurrent-reconciles=policy={count}"])
    assert exit_info.value.code == 2
    assert "error: --max-concurrent-reconciles expects name=N" in capsys.readouterr().err


def test_unknown_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", "--no-such-flag"])
    assert exit_info.value.code == 2


def _manager_args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["manager", *flags])


def test_backup_flags_become_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = build_settings(
        _manager_args(
            "--backup-registry=registry.example.com/mirror",
            "--backup-naming=flat",
            "--backup-credentials=irc-system/push",
            "--backup-retention=36h",
            "--backup-recheck-interval=10m",
            "--registry-plain-http=127.0.0.1:5000",
            "--registry-insecure=self.signed",
            f"--registry-ca=corp.example={ca}",
        )
    )
    assert settings.backup is not None
    assert (settings.backup.registry, settings.backup.prefix, settings.backup.mode) == (
        "registry.example.com",
        "mirror",
        "flat",
    )
    assert (settings.backup_credentials.namespace, settings.backup_credentials.name) == ("irc-system", "push")  # type: ignore[union-attr]
    assert settings.backup_retention == 36 * 3600
    assert settings.recheck_interval == 600
    assert settings.registry_options("127.0.0.1:5000").plain_http
    assert settings.registry_options("self.signed").insecure
    assert settings.registry_options("corp.example").ca_file == str(ca)
    assert settings.registry_options("elsewhere.example") == type(settings.registry_options("x"))()


@pytest.mark.parametrize(
    ("flag", "complaint"),
    [
        ("--backup-credentials=no-slash", "--backup-credentials"),
        ("--backup-retention=a week", "--backup-retention"),
        ("--backup-recheck-interval=0s", "--backup-recheck-interval"),
        ("--backup-recheck-interval=soon", "--backup-recheck-interval"),
        ("--registry-ca=host-without-path", "--registry-ca"),
        ("--backup-registry=UPPER.example/Bad", "--backup-registry"),
        ("--ecr-concurrency=0", "--ecr-concurrency"),
    ],
)
def test_bad_backup_flags_exit_2(flag: str, complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["manager", flag])
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err


def test_backup_retention_error_names_the_flag_once() -> None:
    with pytest.raises(UsageError) as error:
        build_settings(_manager_args("--backup-retention=1 week"))
    assert str(error.value).startswith("--backup-retention: invalid duration '1 week', use e.g.")
    assert str(error.value).count("--backup-retention") == 1 and "duration:" not in str(error.value)


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1.5h") == 5400
    # Only ASCII digits, as Go's ParseDuration: '\u0663' is ARABIC-INDIC DIGIT THREE, which \d matches.
    for bad in ["", "1", "1x", "h1", "1h 30m", "\u0663d", "1.\u0665h", "\uff17d", "\u00b2s"]:
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_detection_flags_become_settings() -> None:
    settings = build_settings(
        _manager_args("--aws-endpoint-url=http://127.0.0.1:5000", "--ecr-concurrency=3")
    )
    assert (settings.aws_endpoint_url, settings.ecr_concurrency) == ("http://127.0.0.1:5000", 3)
    assert build_settings(_manager_args()).aws_endpoint_url is None


def test_workload_rewrite_flags_become_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "irc-system")
    settings = build_settings(
        _manager_args(
            "--rewrite-kinds=Deployment,CronJob",
            "--rewrite-when=always",
            "--pin-digest",
            "--exclude-images=docker.io/library/*",
            "--exclude-namespaces=a, b",
            "--exclude-namespace-selector=irc.dev/backup=off",
            "--backup-pull-secret=backup-pull",
            "--revert-limit=5",
            "--revert-window=2h",
        )
    )
    assert settings.rewrite_kinds == ("Deployment", "CronJob")
    assert (settings.rewrite_when, settings.pin_digest) == ("always", True)
    assert [p.fullmatch("docker.io/library/nginx:1.25") is not None for p in settings.exclude_images] == [
        True
    ]
    assert settings.exclude_namespaces == ("a", "b")
    assert settings.exclude_namespace_selector == "irc.dev/backup=off"
    assert settings.manager_namespace == "irc-system"  # from the pod's environment
    assert (settings.backup_pull_secret, settings.revert_limit, settings.revert_window) == (
        "backup-pull",
        5,
        7200,
    )
    defaults = build_settings(_manager_args())
    assert defaults.rewrite_kinds == ("Deployment", "DaemonSet", "StatefulSet")
    assert (defaults.rewrite_when, defaults.revert_limit, defaults.revert_window) == ("healthy", 3, 3600)


@pytest.mark.parametrize(
    ("flag", "complaint"),
    [
        ("--rewrite-kinds=Deployment,Job", "--rewrite-kinds: unknown Job"),
        ("--rewrite-kinds=", "--rewrite-kinds: unknown none given"),
        ("--exclude-images=[a-", "--exclude-images"),
        ("--exclude-namespace-selector=a in (", "--exclude-namespace-selector"),
        ("--revert-limit=0", "--revert-limit must be at least 1"),
        ("--revert-window=soon", "--revert-window"),
    ],
)
def test_bad_workload_rewrite_flags_are_usage_errors(flag: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=re.escape(complaint)):
        build_settings(_manager_args(flag))


def test_scan_reads_only_the_policies_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(
        "kind: ResourceTemplate\nmetadata: {name: t}\n---\n"
        "kind: ImageResourcePolicy\nmetadata: {name: a}\n---\n"
        "# an empty document\n---\n"
        "kind: ImageResourcePolicy\nmetadata: {name: b}\n"
    )
    assert [p["metadata"]["name"] for p in load_policies(path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("kind: ResourceTemplate\n", "no ImageResourcePolicy"),
        ("kind: [unclosed\n", "-f "),
        (None, "-f "),
        (b"kind: ImageResourcePolicy\nmetadata: {name: caf\xe9}\n", "can't decode byte 0xe9"),  # Latin-1
        ("kind: ImageResourcePolicy\nmetadata: {name: p}\nspec: {at: 2024-13-01}\n", "month must be"),
    ],
)
def test_scan_input_errors_exit_2(
    text: str | bytes | None, complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "-f", str(path)])
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err


def test_scan_of_an_invalid_policy_fails_without_calling_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "kind: ImageResourcePolicy\nmetadata: {name: p, namespace: ns}\n"
        "spec: {ecrRepository: {region: us-east-1, repositoryPattern: 'a/*'},\n"
        "       policy: {semver: {range: '<<1'}}}\n"
    )
    # An endpoint nothing listens on: reaching it would fail differently than the parse does.
    assert main(["scan", "-f", str(path), "--aws-endpoint-url", "http://127.0.0.1:9", "-o", "json"]) == 1
    out = capsys.readouterr()
    assert "ns/p: invalid policy: policy.semver.range" in out.err and out.out.strip() == "[]"


def test_concurrency_flags_share_one_rule() -> None:
    assert check_concurrency("--concurrency", 1) == 1
    for bad in (0, -3):
        with pytest.raises(UsageError, match=f"^--concurrency must be at least 1, got {bad}$"):
            check_concurrency("--concurrency", bad)


@pytest.mark.parametrize("concurrency", ["0", "-1"])
def test_scan_with_a_concurrency_below_1_exits_2(
    concurrency: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "kind: ImageResourcePolicy\nmetadata: {name: p, namespace: ns}\n"
        "spec: {ecrRepository: {region: us-east-1, repositoryPattern: 'a/*'}}\n"
    )
    # Before the fix this scanned nothing and exited 0; an endpoint nothing listens on keeps AWS out of it.
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "scan",
                "-f",
                str(path),
                "--aws-endpoint-url",
                "http://127.0.0.1:9",
                "--concurrency",
                concurrency,
            ]
        )
    assert exit_info.value.code == 2
    assert f"error: --concurrency must be at least 1, got {concurrency}" in capsys.readouterr().err


TEMPLATE = """apiVersion: automation.gitops.io/v1beta1
kind: ResourceTemplate
metadata: {name: t}
spec:
  template: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ .ServiceName }}-{{ .environment }}
    data:
      image: {{ .FullImageName }}
  gitRepository: {url: "https://git.invalid/x.git", path: ./apps}
  variables: {environment: dev}
"""


def irc_render(*args: str) -> subprocess.CompletedProcess[str]:
    """`irc render` in its own process: it configures logging, which must not leak into this one."""
    return subprocess.run([sys.executable, "-m", "irc", "render", *args], capture_output=True, text=True)


def test_render_prints_the_files_under_the_repository_path(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)
    done = irc_render("-f", str(path), "--image", "reg.example/team/web:1.2", "--set", "environment=prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "# apps/team-web.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-prod\n"
        "data:\n  image: reg.example/team/web:1.2\n"
    )


def test_render_with_repo_prints_the_diff_and_commits_nothing(tmp_path: Path) -> None:
    from tests.gitops.conftest import Origin

    origin = Origin(tmp_path / "origin.git")
    origin.commit({"apps/team-web.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-dev\n"})
    head = origin.head()
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)
    done = irc_render("-f", str(path), "--image", "reg.example/team/web:1.2", "--repo", origin.url)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("--- a/apps/team-web.yaml\n+++ b/apps/team-web.yaml\n")
    assert "+data:\n+  image: reg.example/team/web:1.2\n" in out
    assert origin.head() == head


def test_render_of_a_bad_template_names_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE.replace("kind: ConfigMap", "kind: ConfigMap\n    {{ if }}"))
    assert main(["render", "-f", str(path), "--image", "reg.example/team/web:1.2"]) == 1
    assert capsys.readouterr().err.startswith("TemplateSyntax: ")
