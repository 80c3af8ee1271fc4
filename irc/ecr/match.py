"""Which repositories and tags a policy's globs select (spec.ecrRepository).

Globs follow Go's path.Match exactly (checked against it by e2e/test_go_oracle_glob.py): `*` is any
run of characters except `/`, `?` one such character, `[a-z]` / `[^a-z]` a class (which may match
`/`; `!` is not a negation), `\\` escapes; `**` (our addition) also crosses `/`. A glob must match the
whole name. A malformed glob raises ValueError up front, where path.Match reports ErrBadPattern.
Exactly one of the three patterns is given:

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
    """A path.Match-style glob as an anchored regex; ValueError naming `field_name` if malformed.

    path.Match does not backtrack into an earlier `*`: once the text after a `*` (up to the next `*`)
    matches, it commits to the shortest such match, which only matters when a class matches `/`
    (`*[^a]*` does not match `ba/a`). Atomic groups reproduce that; `**` backtracks freely."""
    pieces: list[str | int] = []  # regexes of single characters, and runs of stars (their length)
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            j = i
            while j < len(glob) and glob[j] == "*":
                j += 1
            pieces.append(j - i)
            i = j
            continue
        if c == "?":
            pieces.append("[^/]")
        elif c == "[":
            i = _class(glob, i, pieces, field_name)
        elif c == "\\":
            if i + 1 == len(glob):
                raise ValueError(f"{field_name}: glob {glob!r} ends with a lone backslash")
            i += 1
            pieces.append(re.escape(glob[i]))
        else:
            pieces.append(re.escape(c))
        i += 1
    out: list[str] = []
    for n, piece in enumerate(pieces):
        if isinstance(piece, str):
            continue
        end = next((k for k in range(n + 1, len(pieces)) if isinstance(pieces[k], int)), len(pieces))
        chunk = "".join(str(p) for p in pieces[n + 1 : end])
        if piece >= 2:
            out.append("(?s:.*)" + chunk)
        elif end == len(pieces):
            out.append("[^/]*" + chunk)
        else:
            out.append(f"(?>[^/]*?{chunk})")
    first = next((k for k, p in enumerate(pieces) if isinstance(p, int)), len(pieces))
    try:
        return re.compile("".join(str(p) for p in pieces[:first]) + "".join(out) + r"\Z")
    except re.error as e:
        raise ValueError(f"{field_name}: invalid glob {glob!r}: {e}") from None


def _class(glob: str, start: int, out: list[str | int], field_name: str) -> int:
    """Translate the class opening at `start` as path.Match reads it; returns the index of its `]`.

    `[^a-z]` negates (`!` is an ordinary character, as in Go); `\\` escapes; `-` and `]` must be escaped
    except as a range's `-`; a class may match `/`; a reversed range such as `z-a` matches nothing."""
    i = start + 1
    negate = glob.startswith("^", i)
    i += negate
    items: list[str] = []
    count = 0
    while True:
        if glob.startswith("]", i) and count:
            break
        lo, i = _class_char(glob, i, field_name)
        hi = lo
        if glob[i] == "-":
            hi, i = _class_char(glob, i + 1, field_name, range_end=True)
        count += 1
        if lo <= hi:
            items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    if items:
        out.append(f"[{'^' if negate else ''}{''.join(items)}]")
    else:
        out.append("(?s:.)" if negate else "(?!)")
    return i


def _class_char(glob: str, i: int, field_name: str, range_end: bool = False) -> tuple[str, int]:
    """path.Match's getEsc: the (possibly escaped) character at `i` and the index after it."""
    if i >= len(glob):
        raise ValueError(f"{field_name}: unclosed [ in glob {glob!r}")
    if glob[i] == "-" or (glob[i] == "]" and range_end):
        raise ValueError(f"{field_name}: dangling - in character class of glob {glob!r}")
    if glob[i] == "]":
        raise ValueError(f"{field_name}: empty character class (or unescaped ]) in glob {glob!r}")
    if glob[i] == "\\":
        i += 1
        if i >= len(glob):
            raise ValueError(f"{field_name}: glob {glob!r} ends with a lone backslash")
    if i + 1 >= len(glob):
        raise ValueError(f"{field_name}: unclosed [ in glob {glob!r}")
    return glob[i], i + 1


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
