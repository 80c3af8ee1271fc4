"""irc.templating.variables: the variables for one detected image, with the seed's meanings."""

from __future__ import annotations

import pytest

from irc.templating import VARIABLE_NAMES, TemplateError, image_variables, render

DETECTED = {
    "imageName": "webapp-frontend",
    "imageTag": "v1.2.3",
    "imageDigest": "sha256:abc123",
    "fullImageName": "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3",
    "tagPrefix": "v",
}
TEMPLATE = {
    "gitRepository": {"url": "https://github.com/org/manifests.git"},
    "variables": {"environment": "prod", "ImageTag": "shadowed"},
}


def test_seed_example() -> None:
    variables = image_variables(DETECTED, None, TEMPLATE)
    assert variables == {
        "ImageTag": "v1.2.3",
        "ImageDigest": "sha256:abc123",
        "RepositoryName": "webapp/frontend",
        "Registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "Region": "us-east-1",
        "AccountID": "123456789012",
        "FullImageName": "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend:v1.2.3",
        "Namespace": "webapp",
        "ServiceName": "frontend",
        "K8sCompatibleName": "webapp-frontend",
        "TagPrefix": "v",
        "Variables": {"environment": "prod", "ImageTag": "shadowed"},
        "ImageName": "webapp-frontend",
        "ImageRepository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/webapp/frontend",
        "GitRepoURL": "https://github.com/org/manifests.git",
        "environment": "prod",  # user variables at the top too, unless they shadow one of the above
    }
    assert list(variables)[: len(VARIABLE_NAMES)] == list(VARIABLE_NAMES)


@pytest.mark.parametrize(
    ("full_name", "repository", "namespace", "service", "k8s"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/nginx:1", "nginx", "", "nginx", "nginx"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/a/b/my_svc.v2:1",
            "a/b/my_svc.v2",
            "a/b",
            "my_svc.v2",
            "a-b-my-svc-v2",
        ),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + "x" * 70 + ":1", "x" * 70, "", "x" * 70, "x" * 63),
        ("registry.example/" + "a" * 61 + "/b:1", "a" * 61 + "/b", "a" * 61, "b", "a" * 61 + "-b"),
        (
            "registry.example/" + "a" * 62 + "/b:1",
            "a" * 62 + "/b",
            "a" * 62,
            "b",
            "a" * 62,
        ),  # cut, then "-" trimmed
    ],
)
def test_repository_parts(full_name: str, repository: str, namespace: str, service: str, k8s: str) -> None:
    variables = image_variables({**DETECTED, "fullImageName": full_name})
    assert variables["RepositoryName"] == repository
    assert (variables["Namespace"], variables["ServiceName"], variables["K8sCompatibleName"]) == (
        namespace,
        service,
        k8s,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("__", "unnamed"), ("", "unnamed"), ("-My.App-", "my-app"), ("İstanbul", "istanbul"), ("a/b", "a-b")],
)
def test_k8s_name(name: str, expected: str) -> None:
    assert render("{{ k8sName .N }}", {"N": name}) == expected


def test_other_registries_and_the_policy_region() -> None:
    detected = {"imageTag": "1.0", "fullImageName": "localhost:5000/team/app:1.0"}
    variables = image_variables(detected, {"ecrRepository": {"region": "eu-central-1"}})
    assert variables["Registry"] == "localhost:5000"
    assert (variables["Region"], variables["AccountID"]) == ("eu-central-1", "")
    assert (variables["ImageDigest"], variables["TagPrefix"], variables["GitRepoURL"]) == ("", "", "")
    assert variables["ImageName"] == "team-app"  # from the repository when the spec has no imageName
    assert variables["Variables"] == {}


def test_overrides() -> None:
    variables = image_variables(DETECTED, None, TEMPLATE, overrides={"environment": "dev", "extra": "1"})
    assert variables["Variables"] == {"environment": "dev", "ImageTag": "shadowed", "extra": "1"}
    assert (variables["environment"], variables["extra"], variables["ImageTag"]) == ("dev", "1", "v1.2.3")


def test_invalid_image() -> None:
    with pytest.raises(TemplateError) as caught:
        image_variables({**DETECTED, "fullImageName": "UPPER/Case:tag!"})
    assert caught.value.reason == "InvalidImage"


def test_both_engines_see_the_same_variables() -> None:
    variables = image_variables(DETECTED, None, TEMPLATE)
    go = render("{{ .K8sCompatibleName }}/{{ .environment }}/{{ .Variables.environment }}", variables)
    jinja = render("{{ K8sCompatibleName }}/{{ environment }}/{{ Variables.environment }}", variables)
    assert go == jinja == "webapp-frontend/prod/prod"
