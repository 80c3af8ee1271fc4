"""irc.ecr.match: path.Match-style globs and the ecrRepository patterns built on them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from irc.ecr.match import RepositoryMatcher, compile_glob


def matches(glob: str, name: str) -> bool:
    return compile_glob(glob, "field").match(name) is not None


# (glob, name, expected): mostly Go's path.Match table (src/path/match_test.go), plus `**`.
GLOBS = [
    ("abc", "abc", True),
    ("abc", "abcd", False),  # the whole name must match
    ("abc", "xabc", False),
    ("*", "abc", True),
    ("*", "", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),  # `*` does not cross /
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("*x", "xxx", True),
    ("webapp/*", "webapp/frontend", True),
    ("webapp/*", "webapp/a/b", False),
    ("webapp/*", "webapp", False),
    ("a?b", "axb", True),
    ("a?b", "ab", False),
    ("a?b", "a/b", False),  # `?` does not match /
    ("a?b", "a☺b", True),  # one character, not one byte
    ("a???b", "a☺b", False),
    ("a*b", "a/b", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[!c]", "abc", True),  # `!` is no negation in path.Match: the class is {!, c}
    ("ab[!c]", "ab!", True),
    ("ab[!e-g]", "abc", False),
    ("[!]", "!", True),
    ("a[^x]b", "a/b", True),  # a class may match /
    ("a[/]b", "a/b", True),
    ("[z-a]", "z", False),  # a reversed range matches nothing
    ("[^z-a]", "/", True),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a[^a]b", "a☺b", True),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-\u03b6]*", "\u03b1", True),  # zeta, alpha
    ("*[a-\u03b6]", "A", False),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("v[0-9].*", "v1.2", True),
    ("v[0-9].*", "v1x2", False),  # `.` is literal
    ("a+b", "a+b", True),  # regex metacharacters are literal
    ("a+b", "aab", False),
    ("(a|b)", "(a|b)", True),
    ("(a|b)", "a", False),
    ("$^", "$^", True),
    ("a\\*b", "a*b", True),  # backslash escapes
    ("a\\*b", "ab", False),
    ("a\\*b", "axb", False),
    ("\\?", "?", True),
    ("\\?", "x", False),
    ("\\[a]", "[a]", True),
    ("\\[a]", "a", False),
    ("a\\\\b", "a\\b", True),
    ("**", "a/b/c", True),  # `**` crosses /
    ("**", "", True),
    ("team-a/**", "team-a/x", True),
    ("team-a/**", "team-a/x/y/z", True),
    ("team-a/**", "team-b/x", False),
    ("**/api", "a/b/api", True),
    ("**/api", "a/b/api2", False),
    ("a/**/z", "a/b/c/z", True),
    ("a/**/z", "a/b/c/y", False),
]


@pytest.mark.parametrize(("glob", "name", "expected"), GLOBS)
def test_compile_glob(glob: str, name: str, expected: bool) -> None:
    assert matches(glob, name) is expected


@pytest.mark.parametrize(("glob", "name", "expected"), [("[\\]a]", "]", True), ("[\\-x]", "a", False)])
def test_compile_glob_escapes_inside_a_class(glob: str, name: str, expected: bool) -> None:
    assert matches(glob, name) is expected


MALFORMED = [
    ("[", "unclosed ["),
    ("a[", "unclosed ["),
    ("a/b[", "unclosed ["),
    ("[abc", "unclosed ["),
    ("[^bc", "unclosed ["),
    ("[!", "unclosed ["),
    ("[]", "empty character class"),
    ("[]a]", "empty character class"),
    ("[^]", "empty character class"),
    ("\\", "lone backslash"),
    ("abc\\", "lone backslash"),
    ("[-]", "dangling -"),
    ("[x-]", "dangling -"),
    ("[-x]", "dangling -"),
    ("[a-b-c]", "dangling -"),
]


@pytest.mark.parametrize(("glob", "message"), MALFORMED)
def test_compile_glob_rejects_malformed_globs_naming_the_field(glob: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^spec\.someGlob: ") as raised:
        compile_glob(glob, "spec.someGlob")
    assert message in str(raised.value)


META = "*?[\\"
LITERAL = st.text(st.characters(codec="utf-8", exclude_characters=META + "\n"))


@given(LITERAL)
def test_a_glob_without_metacharacters_matches_exactly_itself(text: str) -> None:
    pattern = compile_glob(text, "f")
    assert pattern.match(text)
    assert not pattern.match(text + "x")
    assert not pattern.match("x" + text)
    if text:
        assert not pattern.match(text[:-1])


@given(st.text(st.characters(codec="utf-8", exclude_characters="\n")))
def test_escaping_every_character_gives_a_literal_glob(text: str) -> None:
    glob = "".join("\\" + c for c in text)
    assert compile_glob(glob, "f").match(text)
    assert not compile_glob(glob, "f").match(text + "a")


SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters="/\n"))


@given(st.lists(SEGMENT, min_size=1, max_size=4))
def test_star_matches_one_segment_and_double_star_any_number(segments: list[str]) -> None:
    name = "/".join(segments)
    assert matches("*", name) is (len(segments) == 1)
    assert matches("**", name)
    assert matches("/".join("*" for _ in segments), name)


# ---- RepositoryMatcher


def parse(**ecr: Any) -> RepositoryMatcher:
    return RepositoryMatcher.parse({"region": "us-east-1", **ecr})


REPOSITORIES = [
    ({"repositoryPattern": "webapp/*"}, "webapp/frontend", True),
    ({"repositoryPattern": "webapp/*"}, "webapp/a/b", False),
    ({"repositoryPattern": "webapp/*"}, "other/frontend", False),
    ({"repositoryPattern": "webapp/*"}, "webapp", False),
    ({"repositoryPattern": "team-a/**"}, "team-a/x/y", True),
    ({"repositoryPattern": "nginx"}, "nginx", True),
    ({"repositoryPattern": "nginx"}, "team/nginx", False),
    ({"imageNamePattern": "nginx-*"}, "team-a/nginx-proxy", True),
    ({"imageNamePattern": "nginx-*"}, "nginx-proxy", True),
    ({"imageNamePattern": "nginx-*"}, "a/b/c/nginx-proxy", True),
    ({"imageNamePattern": "nginx-*"}, "nginx-proxy/sidecar", False),  # only the last segment counts
    ({"imageNamePattern": "nginx-*"}, "team-a/nginx", False),
    ({"imageNamePattern": "api"}, "team-a/api", True),
    ({"imageNamePattern": "api"}, "team-a/api-v2", False),
    ({"imagePattern": "team-a/*:v1.*"}, "team-a/api", True),
    ({"imagePattern": "team-a/*:v1.*"}, "team-a/x/api", False),
    ({"imagePattern": "team-a/*:v1.*"}, "team-b/api", False),
    ({"imagePattern": "**:*"}, "any/depth/at/all", True),
    ({"repositoryPattern": "team-a/*", "exclude": ["team-a/legacy-*"]}, "team-a/api", True),
    ({"repositoryPattern": "team-a/*", "exclude": ["team-a/legacy-*"]}, "team-a/legacy-db", False),
    ({"repositoryPattern": "**", "exclude": ["*/tmp", "scratch"]}, "team-a/tmp", False),
    ({"repositoryPattern": "**", "exclude": ["*/tmp", "scratch"]}, "scratch", False),
    ({"repositoryPattern": "**", "exclude": ["*/tmp", "scratch"]}, "team-a/tmp/x", True),
    ({"imageNamePattern": "api", "exclude": ["team-b/**"]}, "team-b/x/api", False),
    ({"imageNamePattern": "api", "exclude": ["team-b/**"]}, "team-a/x/api", True),
    ({"imagePattern": "team-*:*", "exclude": ["team-z"]}, "team-z", False),
    ({"repositoryPattern": "a", "exclude": []}, "a", True),
]


@pytest.mark.parametrize(("ecr", "repository", "expected"), REPOSITORIES)
def test_repository_matches(ecr: dict[str, Any], repository: str, expected: bool) -> None:
    assert parse(**ecr).repository_matches(repository) is expected


TAGS = [
    ({"imagePattern": "team-a/*:v1.*"}, "v1.2.3", True),
    ({"imagePattern": "team-a/*:v1.*"}, "v1.", True),
    ({"imagePattern": "team-a/*:v1.*"}, "v2.0.0", False),
    ({"imagePattern": "team-a/*:v1.*"}, "v1x", False),
    ({"imagePattern": "team-a/*:v1.*"}, "xv1.2", False),
    ({"imagePattern": "app:release-[0-9]*"}, "release-7", True),
    ({"imagePattern": "app:release-[0-9]*"}, "release-x", False),
    ({"imagePattern": "app:latest"}, "latest", True),
    ({"imagePattern": "app:latest"}, "latest2", False),
    ({"repositoryPattern": "app"}, "anything-at-all", True),  # only imagePattern filters tags
    ({"imageNamePattern": "app"}, "anything-at-all", True),
]


@pytest.mark.parametrize(("ecr", "tag", "expected"), TAGS)
def test_tag_matches(ecr: dict[str, Any], tag: str, expected: bool) -> None:
    assert parse(**ecr).tag_matches(tag) is expected


INVALID = [
    ({}, "ecrRepository: exactly one of"),
    ({"repositoryPattern": ""}, "ecrRepository: exactly one of"),  # empty is absent
    ({"repositoryPattern": "a", "imageNamePattern": "b"}, "ecrRepository: exactly one of"),
    ({"repositoryPattern": "a", "imagePattern": "a:b"}, "ecrRepository: exactly one of"),
    ({"imageNamePattern": "b", "imagePattern": "a:b"}, "ecrRepository: exactly one of"),
    ({"repositoryPattern": "a", "imageNamePattern": "b", "imagePattern": "a:b"}, "ecrRepository: exactly"),
    ({"repositoryPattern": "team-[a"}, "ecrRepository.repositoryPattern: unclosed ["),
    ({"repositoryPattern": "team\\"}, "ecrRepository.repositoryPattern: "),
    ({"imageNamePattern": "team-a/nginx"}, "ecrRepository.imageNamePattern: "),
    ({"imageNamePattern": "*/nginx"}, "ecrRepository.imageNamePattern: "),
    ({"imageNamePattern": "[]"}, "ecrRepository.imageNamePattern: empty character class"),
    ({"imagePattern": "team-a/*"}, "ecrRepository.imagePattern: expected repository-glob:tag-glob"),
    ({"imagePattern": ":v1.*"}, "ecrRepository.imagePattern: expected repository-glob:tag-glob"),
    ({"imagePattern": "team-a/*:"}, "ecrRepository.imagePattern: expected repository-glob:tag-glob"),
    ({"imagePattern": "host:5000/app"}, "ecrRepository.imagePattern: expected repository-glob:tag-glob"),
    ({"imagePattern": "team-[a:v1"}, "ecrRepository.imagePattern: unclosed ["),
    ({"imagePattern": "team-a/*:v[1"}, "ecrRepository.imagePattern: unclosed ["),
    ({"repositoryPattern": "a", "exclude": "b"}, "ecrRepository.exclude: must be a list of strings"),
    ({"repositoryPattern": "a", "exclude": ["b", 3]}, "ecrRepository.exclude: must be a list of strings"),
    ({"repositoryPattern": "a", "exclude": ["ok", "[bad"]}, "ecrRepository.exclude[1]: unclosed ["),
    ({"imageNamePattern": "a", "exclude": ["\\"]}, "ecrRepository.exclude[0]: "),
]


@pytest.mark.parametrize(("ecr", "message"), INVALID)
def test_parse_rejects_invalid_patterns_naming_the_field(ecr: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse(**ecr)
    assert str(raised.value).startswith(message)


def test_parse_reports_which_patterns_were_given() -> None:
    with pytest.raises(ValueError, match=r"repositoryPattern.*imagePattern"):
        parse(repositoryPattern="a", imagePattern="a:b")


NAME_SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters=META + "/\n"), min_size=1)


@given(NAME_SEGMENT, st.lists(SEGMENT, max_size=3))
def test_image_name_pattern_only_looks_at_the_last_segment(last: str, parents: list[str]) -> None:
    matcher = parse(imageNamePattern=last)
    assert matcher.repository_matches("/".join([*parents, last]))
    assert not matcher.repository_matches("/".join([*parents, last, last + "x"]))
    assert not matcher.repository_matches("/".join([*parents, last + "x"]))
