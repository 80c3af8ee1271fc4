"""irc.gitops.paths: every way out of the repository directory is refused with a reason, and
branch names follow git check-ref-format."""

from __future__ import annotations

import pytest

from irc.gitops import InvalidBranchName, PathConflict, PathEscapesRepository
from irc.gitops.paths import check_branch, plan_files, split_directory, split_file


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", ()),
        (".", ()),
        ("./", ()),
        ("./applications", ("applications",)),
        ("clusters/prod/", ("clusters", "prod")),
        ("clusters//prod/./apps", ("clusters", "prod", "apps")),
        ("ünïcode dir", ("ünïcode dir",)),
    ],
)
def test_directory_components(path: str, expected: tuple[str, ...]) -> None:
    assert split_directory(path) == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc", "absolute"),
        ("../sibling", "'..'"),
        ("apps/../../out", "'..'"),
        ("apps/../apps", "'..'"),  # even one that would resolve back inside
        (".git", ".git directory"),
        ("apps/.GIT/hooks", ".git directory"),
        ("apps\\..\\x", "backslash"),
        ("a\0b", "NUL"),
        ("a\nb", "newline"),
    ],
)
def test_a_directory_outside_the_repository_is_refused(path: str, reason: str) -> None:
    with pytest.raises(PathEscapesRepository, match=reason) as caught:
        split_directory(path)
    assert caught.value.reason == "PathEscapesRepository" and caught.value.terminal


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        (".", "is empty"),
        ("a/.", "names a directory"),
        ("apps/", "names a directory"),
        ("/abs.yaml", "absolute"),
        ("../x.yaml", "'..'"),
        ("a/../../x.yaml", "'..'"),
        (".git/config", ".git directory"),
        ("sub/.Git/HEAD", ".git directory"),
        ("C:\\x.yaml", "backslash"),
    ],
)
def test_a_file_outside_the_directory_is_refused(path: str, reason: str) -> None:
    with pytest.raises(PathEscapesRepository, match=reason):
        split_file(path)


def test_files_go_under_the_directory() -> None:
    planned = plan_files("./apps", {"web/deploy.yaml": b"a", "./svc.yaml": b"b", ".gitignore": b"c"})
    assert planned == {
        ("apps", "web", "deploy.yaml"): b"a",
        ("apps", "svc.yaml"): b"b",
        ("apps", ".gitignore"): b"c",  # only `.git` itself is Git's
    }


def test_two_names_for_one_file_must_agree() -> None:
    assert plan_files("", {"a.yaml": b"x", "./a.yaml": b"x"}) == {("a.yaml",): b"x"}
    with pytest.raises(PathConflict, match="same file with different content"):
        plan_files("", {"a.yaml": b"x", "./a.yaml": b"y"})


def test_a_file_cannot_also_be_a_directory() -> None:
    with pytest.raises(PathConflict, match="'a' is a file"):
        plan_files("d", {"a": b"x", "a/b.yaml": b"y"})


def test_content_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        plan_files("", {"a.yaml": "text"})  # type: ignore[dict-item]


@pytest.mark.parametrize("name", ["main", "release/1.2", "irc/webapp-v1.2.3", "feature_x", "a.b"])
def test_valid_branch_names(name: str) -> None:
    assert check_branch(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "refs/heads/main",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "@{x",
        "-x",
        "/x",
        "x/",
        "x.lock",
        ".x",
        "a/.b",
        "a/b.lock/c",
        "@",
        "a//b",
        "x.",
    ],
)
def test_invalid_branch_names(name: str) -> None:
    with pytest.raises(InvalidBranchName) as caught:
        check_branch(name)
    assert caught.value.terminal
