"""RBAC from the code: rules merge into a normalised ClusterRole, `irc rbac` prints the selected
controllers' rules (and the manager's), and each overlay's rbac.yaml (manifests/overlays/) is committed
in step with the controllers its manager runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from irc.cli import build_parser, chosen_controllers, main, write_rbac
from irc.reconcilers import CONTROLLERS
from irc.runtime import PolicyRule, cluster_role, merge_rules
from irc.runtime.rbac import MANAGER_RULES

OVERLAYS = Path(__file__).resolve().parent.parent / "manifests" / "overlays"


def overlay_controllers(overlay: Path) -> list[str]:
    """The controllers an overlay's manager runs: its patch's `--controllers=` flag, as the CLI reads it."""
    patches = yaml.safe_load((overlay / "kustomization.yaml").read_text())["patches"]
    (flag,) = [
        op["value"] for p in patches for op in yaml.safe_load(p["patch"]) if "--controllers" in op["value"]
    ]
    return chosen_controllers(build_parser().parse_args(["manager", flag]))


@pytest.mark.parametrize("overlay", sorted(p.name for p in OVERLAYS.iterdir()))
def test_each_overlays_rbac_grants_what_its_controllers_need(overlay: str, tmp_path: Path) -> None:
    generated = tmp_path / "rbac.yaml"
    controllers = overlay_controllers(OVERLAYS / overlay)
    write_rbac(
        controllers, namespace="irc-system", service_account="irc", name="irc-manager", output=generated
    )
    committed = (OVERLAYS / overlay / "rbac.yaml").read_text()
    assert committed == generated.read_text(), "run `make manifests` and commit manifests/overlays/"


def test_the_overlays_run_every_controller_between_them() -> None:
    assert overlay_controllers(OVERLAYS / "all") == sorted(CONTROLLERS)
    assert overlay_controllers(OVERLAYS / "detection") == ["creation", "detection", "policy"]
    assert overlay_controllers(OVERLAYS / "backup") == ["image-backup", "workload-rewrite"]


def test_merge_unions_verbs_and_groups_resources_with_the_same_verbs() -> None:
    rules = [
        PolicyRule(("g",), ("b",), ("watch", "list")),
        PolicyRule(("",), ("secrets",), ("get",)),
        PolicyRule(("g",), ("a", "b"), ("list", "get")),
        PolicyRule(("g",), ("a",), ("watch",)),
        PolicyRule(("g", "h"), ("c",), ("patch",)),
        PolicyRule(("",), ("secrets",), ("get",)),
    ]
    expected = [
        PolicyRule(("",), ("secrets",), ("get",)),
        PolicyRule(("g",), ("a", "b"), ("get", "list", "watch")),
        PolicyRule(("g",), ("c",), ("patch",)),
        PolicyRule(("h",), ("c",), ("patch",)),
    ]
    assert merge_rules(rules) == expected
    assert merge_rules(reversed(rules)) == expected
    assert cluster_role("r", rules, {"k": "v"})["rules"][1] == {
        "apiGroups": ["g"],
        "resources": ["a", "b"],
        "verbs": ["get", "list", "watch"],
    }


@pytest.mark.parametrize(
    ("groups", "resources", "verbs"),
    [((), ("pods",), ("get",)), (("",), (), ("get",)), (("",), ("pods",), ()), (("",), ("pods",), ("*",))],
)
def test_a_rule_names_groups_resources_and_known_verbs(
    groups: tuple[str, ...], resources: tuple[str, ...], verbs: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        PolicyRule(groups, resources, verbs)


def test_a_string_is_not_taken_for_a_tuple() -> None:
    with pytest.raises(TypeError):
        PolicyRule(("",), ("secrets"), ("get",))  # type: ignore[arg-type]


def rbac(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["rbac", *args]) == 0
    return list(yaml.safe_load_all(capsys.readouterr().out))


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_rbac_grants_exactly_the_selected_controllers_and_the_managers_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    account, role, binding, _, _ = rbac(
        capsys, "--controllers=*,-image-backup", "--namespace=ops", "--service-account=op"
    )
    assert account["metadata"] == {
        "name": "op",
        "namespace": "ops",
        "labels": {"app.kubernetes.io/part-of": "irc"},
    }
    assert (
        binding["roleRef"]["name"] == role["metadata"]["name"] == binding["metadata"]["name"] == "irc-manager"
    )
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]
    # `*` is every controller on by default: workload-rewrite is not.
    on = ("creation", "policy", "detection")
    declared = [*MANAGER_RULES, *(rule for name in on for rule in CONTROLLERS[name].rules)]
    assert granted(role) == granted({"rules": [r.to_dict() for r in declared]})
    assert ("automation.gitops.io", "imagebackups", "list") not in granted(role)
    assert ("", "events", "create") in granted(role)

    _, alone, _, _, _ = rbac(capsys, "--controllers=image-backup")
    assert ("automation.gitops.io", "imagebackups/status", "patch") in granted(alone)
    assert not {r for _, r, _ in granted(alone)} & {
        "imageresourcepolicies",
        "imagedetecteds",
        "resourcetemplates",
    }


@pytest.mark.parametrize(
    ("flags", "lease_namespace"),
    [((), "ops"), (("--leader-election-namespace=elections",), "elections")],
)
def test_leases_are_granted_by_a_role_in_the_lease_namespace_only(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], lease_namespace: str
) -> None:
    _, cluster_wide, _, role, binding = rbac(capsys, "--namespace=ops", "--service-account=op", *flags)
    assert not {r for _, r, _ in granted(cluster_wide)} & {"leases"}
    assert (role["kind"], binding["kind"]) == ("Role", "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == lease_namespace
    assert granted(role) == {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]


def test_rbac_of_an_unknown_controller_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rbac", "--controllers=no-such-controller"])
    assert exit_info.value.code == 2
    assert "unknown controller(s) no-such-controller" in capsys.readouterr().err
