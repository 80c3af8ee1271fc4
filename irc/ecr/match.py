"""Which repositories and tags a policy's globs select (spec.ecrRepository).

Globs follow Go's path.Match, as the seed's do: `*` is any run of characters except `/`, `?` one
such character, `[a-z]` / `[!a-z]` a class; `**` (our addition) also crosses `/`. A glob must match
the whole name. Exactly one of the three patterns is given:

- repositoryPattern: the repository name, e.g. `webapp/*` (webapp/frontend, not webapp/a/b);
- imageNamePattern: its last path segment, e.g. `nginx-*` (team-a/nginx-proxy);
- imagePattern: `repository:tag`, e.g. `team-a/*:v1.*` (the tag glob also filters tags).

`exclude` globs (over repository names) drop repositories the pattern matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def compile_glob(glob: str, field_name: str) -> re.Pattern[str]:
    """A path.Match-style glob as an anchored regex; ValueError naming `field_name` if malformed."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            i = _class(glob, i, out, field_name)
        elif c == "\\":
            if i + 1 == len(glob):
                raise ValueError(f"{field_name}: glob {glob!r} ends with a lone backslash")
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as e:
        raise ValueError(f"{field_name}: invalid glob {glob!r}: {e}") from None


def _class(glob: str, start: int, out: list[str], field_name: str) -> int:
    """Translate the class opening at `start` (`[a-z]`, `[!a-z]`, `[^a-z]`, `\\` escapes inside, as
    path.Match); returns the index of its `]`. Negated classes never match `/`."""
    i = start + 1
    negate = i < len(glob) and glob[i] in "!^"
    i += negate
    items: list[str] = []  # escaped characters and "-" range operators
    while True:
        if i >= len(glob):
            raise ValueError(f"{field_name}: unclosed [ in glob {glob!r}")
        c = glob[i]
        if c == "]" and items:
            break
        if c == "\\":
            i += 1
            if i >= len(glob):
                raise ValueError(f"{field_name}: glob {glob!r} ends with a lone backslash")
            items.append(re.escape(glob[i]))
        elif c == "-":
            ends_range = len(items) >= 2 and items[-2] == "-"  # a-b-c
            if not items or ends_range or i + 1 >= len(glob) or glob[i + 1] == "]":
                raise ValueError(f"{field_name}: dangling - in character class of glob {glob!r}")
            items.append("-")
        elif c == "]":
            raise ValueError(f"{field_name}: empty character class in glob {glob!r}")
        else:
            items.append(re.escape(c))
        i += 1
    out.append(f"[{'^/' if negate else ''}{''.join(items)}]")
    return i


@dataclass(frozen=True)
class RepositoryMatcher:
    """Answers "is this repository in scope" and "is this tag in scope" for one policy."""

    repository: re.Pattern[str] | None = None
    image_name: re.Pattern[str] | None = None
    tag: re.Pattern[str] | None = None
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def parse(cls, ecr_repository: Mapping[str, object]) -> RepositoryMatcher:
        given = [
            k for k in ("repositoryPattern", "imageNamePattern", "imagePattern") if ecr_repository.get(k)
        ]
        if len(given) != 1:
            raise ValueError(
                "ecrRepository: exactly one of repositoryPattern, imageNamePattern and imagePattern "
                f"is required, got {given or 'none'}"
            )
        field_name = given[0]
        glob = str(ecr_repository[field_name])
        exclude = tuple(
            compile_glob(str(g), f"ecrRepository.exclude[{n}]")
            for n, g in enumerate(_strings(ecr_repository.get("exclude"), "ecrRepository.exclude"))
        )
        where = f"ecrRepository.{field_name}"
        if field_name == "repositoryPattern":
            return cls(repository=compile_glob(glob, where), exclude=exclude)
        if field_name == "imageNamePattern":
            if "/" in glob:
                raise ValueError(f"{where}: matches the last path segment only, so it cannot contain /")
            return cls(image_name=compile_glob(glob, where), exclude=exclude)
        repository, sep, tag = glob.rpartition(":")
        if not sep or not repository or not tag or "/" in tag:
            raise ValueError(f"{where}: expected repository-glob:tag-glob, e.g. team-a/*:v1.*, got {glob!r}")
        return cls(repository=compile_glob(repository, where), tag=compile_glob(tag, where), exclude=exclude)

    def repository_matches(self, name: str) -> bool:
        if self.repository is not None and not self.repository.match(name):
            return False
        if self.image_name is not None and not self.image_name.match(name.rpartition("/")[2]):
            return False
        return not any(e.match(name) for e in self.exclude)

    def tag_matches(self, tag: str) -> bool:
        return self.tag is None or self.tag.match(tag) is not None


def _strings(value: object, field_name: str) -> Sequence[str]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field_name}: must be a list of strings")
    return value
