"""Semantic versions and version ranges with the grammar and semantics of Masterminds/semver v3.

Flux's ImagePolicy and the seed both use ``github.com/Masterminds/semver/v3``; this module reproduces
its ``NewVersion``, ``Version.Compare`` and ``NewConstraint``/``Check`` behaviour (v3.5 rules, checked
against the real library by e2e/test_semver_oracle.py), so a range means the same thing here as in Flux.

Versions (``parse_version``)
    Loose, as ``NewVersion`` (with ``CoerceNewVersion``, the v3.4 default): an optional lowercase ``v``, one
    to three numeric parts (missing ones are 0, leading zeros allowed: ``v1``, ``1.2``, ``01.02.03``), an
    optional ``-prerelease`` and ``+build``. Prerelease identifiers are ``[0-9A-Za-z-]`` and numeric ones
    have no leading zero. Parts must fit an unsigned 64-bit integer, the text at most 256 characters.
    Empty identifiers (``1.2.3-`` or ``1.2.3-a..b``) are rejected, as SemVer 2.0 requires.

Tags (``parse_flux_version``)
    Flux's ImagePolicy parses tags with ``version.ParseVersion`` of fluxcd/pkg/version: the text must
    contain two dots somewhere, then ``NewVersion`` reads it as above. So zero-padded CalVer such as
    ``v2025.07.03`` is 2025.7.3, ``01.2.3`` is 1.2.3, and the dots may sit in a prerelease or build
    (``1.2-rc.1`` is 1.2.0-rc.1, ``1.2+b.c`` is 1.2.0+b.c), while ``1.2``, ``v1`` and ``1.2-rc1`` are no
    versions. e2e/test_go_oracle_version.py checks this against the library.

Precedence (``compare_versions``)
    SemVer 2.0 section 11: numeric major, minor, patch; a prerelease sorts before its release; prerelease
    identifiers compare numerically when all digits, ASCII-wise otherwise, numeric before alphanumeric, and a
    shorter list first when it is a prefix. Build metadata is ignored, so ``1.0.0+a`` equals ``1.0.0+b``.

Ranges (``Constraint``)
    ``text := branch ("||" branch)*``; a branch is one or more comparators separated by a comma or by
    whitespace, all of which must hold (AND); any branch may hold (OR). A comparator is
    ``op? version`` with ``op`` one of ``= != > < >= => <= =< ~ ~> ^`` (none means ``=``), whitespace allowed
    after the operator. A version part may be ``x``, ``X`` or ``*`` and missing parts act as wildcards, so
    ``1.2``, ``1.2.x`` and ``=1.2`` all mean ``>=1.2.0 <1.3.0``. ``A - B`` (whitespace around the hyphen)
    means ``>=A, <=B`` with B's missing parts as wildcards. ``~1.2.3`` is ``>=1.2.3 <1.3.0``, ``~1`` is
    ``<2.0.0``; ``^1.2.3`` is ``>=1.2.3 <2.0.0``, ``^0.2.3`` is ``>=0.2.3 <0.3.0``, ``^0.0.3`` is
    ``=0.0.3``, ``^0.0`` is ``<0.1.0``, ``^0`` is ``<1.0.0``. An empty text is invalid, and so is one
    longer than 512 characters or with more than 32 ``||`` branches.

Prereleases in ranges
    A prerelease version satisfies a branch only if some comparator of that same ``||`` branch carries a
    prerelease (``>=1.2.0-0, <2``, ``^1.x-0``, ``*-0``). Unlike npm, Masterminds does not require that
    comparator to be on the same major.minor.patch: ``>=1.0.0-0`` admits ``2.0.0-rc.1``, and
    ``~1.2.3-beta.2`` admits ``1.2.4-beta.2``. Once admitted, prereleases compare by precedence.

Masterminds quirks kept for parity: ``^*`` and ``^0.0.0`` match only 0.0.0 (``^`` with a zero major and
minor pins the patch); ``<=*`` matches only ``0.0.z``; ``!=*`` excludes only 0.0.0; ``<1.x`` means
``<1.0.0`` while ``<=1.x`` means ``<2.0.0``; ``>1`` means ``>=2.0.0`` and ``>1.1`` means ``>=1.2.0``.
Masterminds' version-part character class is ``[0-9|x|X|\\*]``, so ``|`` is a part character: a part after
a wildcard is never read (``1.x.|`` is ``1.x``), and as hyphen ranges are rewritten before the text is split
on ``||``, in ``0||0 - 0`` the range starts at ``0||0`` and the text means ``>=0 || 0, <=0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Constraint", "Version", "compare_versions", "parse_flux_version", "parse_version"]

_UINT64_MAX = 2**64 - 1
# Masterminds' MaxVersionLen, MaxConstraintLen and MaxConstraintGroups. It counts bytes; a text with a
# non-ASCII character is invalid anyway, so counting characters gives the same answers.
_MAX_VERSION_LEN = 256
_MAX_CONSTRAINT_LEN = 512
_MAX_BRANCHES = 32
_IDENT = r"[0-9A-Za-z-]+"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_LOOSE = re.compile(rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_DOTTED}))?(?:\+({_DOTTED}))?")

# Go's \s is [\t\n\f\r ]; Python's would also accept \v and Unicode spaces.
_WS = r"[\t\n\f\r ]"
# Longest operators first; the version can never start with an operator character, so the choice is the
# same as Go's leftmost-first alternation.
_OP = r"!=|>=|=>|<=|=<|~>|=|>|<|~|\^|"
# Masterminds writes the class as [0-9|x|X|\*], which admits "|" too; see the module docstring.
_PART = r"[0-9xX*|]+"
_CV = rf"v?{_PART}(?:\.{_PART})?(?:\.{_PART})?(?:-{_DOTTED})?(?:\+{_DOTTED})?"
_RANGE = re.compile(rf"{_WS}*({_CV}){_WS}+-{_WS}+({_CV}){_WS}*")
_BRANCH = re.compile(rf"{_WS}*(?:{_OP}){_WS}*{_CV}{_WS}*(?:(?:{_WS}+|,{_WS}*)(?:{_OP}){_WS}*{_CV}{_WS}*)*")
_FIND = re.compile(rf"(?:{_OP}){_WS}*{_CV}")
_COMPARATOR = re.compile(
    rf"{_WS}*(?P<op>{_OP}){_WS}*(?P<version>v?(?P<major>{_PART})(?:\.(?P<minor>{_PART}))?"
    rf"(?:\.(?P<patch>{_PART}))?(?P<pre>-{_DOTTED})?(?:\+{_DOTTED})?){_WS}*"
)
_WILDCARDS = frozenset({"x", "X", "*"})


@dataclass(frozen=True)
class Version:
    """A parsed version; compare with ``compare_versions`` or ``Version.compare`` (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]
    """Dot-separated prerelease identifiers; empty for a release."""
    build: str
    """Build metadata without the ``+``; never part of precedence."""
    original: str
    """The text that was parsed, ``v`` and all."""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")

    @property
    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """A sort key whose order is SemVer 2.0 precedence."""
        ids = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 as this version has lower, equal or higher precedence than ``other``."""
        mine, theirs = self.precedence, other.precedence
        return (mine > theirs) - (mine < theirs)


def _number(text: str, what: str, original: str) -> int:
    value = int(text)
    if value > _UINT64_MAX:
        raise ValueError(f"invalid version {original!r}: {what} {text} does not fit 64 bits")
    return value


def parse_version(text: str) -> Version:
    """Parse ``text`` loosely, as Masterminds' ``NewVersion``; ``ValueError`` says why it is no version."""
    if len(text) > _MAX_VERSION_LEN:
        raise ValueError(f"invalid version {text[:20]!r}...: longer than {_MAX_VERSION_LEN} characters")
    match = _LOOSE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid version {text!r}: expected [v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]")
    major, minor, patch, pre, build = match.groups()
    prerelease = tuple(pre.split(".")) if pre else ()
    for ident in prerelease:
        if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
            raise ValueError(f"invalid version {text!r}: prerelease identifier {ident!r} has a leading zero")
    return Version(
        major=_number(major, "major", text),
        minor=_number(minor or "0", "minor", text),
        patch=_number(patch or "0", "patch", text),
        prerelease=prerelease,
        build=build or "",
        original=text,
    )


def parse_flux_version(text: str) -> Version:
    """Parse a tag as Flux's ``version.ParseVersion``: two dots at least, then ``parse_version``.

    Raises ``ValueError`` with the reason when Flux would not take ``text`` for a version.
    """
    if text.count(".") < 2:
        raise ValueError(f"invalid version {text!r}: Flux wants MAJOR.MINOR.PATCH, with two dots at least")
    return parse_version(text)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` has lower, equal or higher SemVer precedence than ``b`` (loose parsing).

    Raises ``ValueError`` if either is not a version.
    """
    return parse_version(a).compare(parse_version(b))


@dataclass(frozen=True)
class _Comparator:
    """One ``op version`` term; ``dirty`` when a part was a wildcard or missing, as Masterminds tracks it."""

    op: str
    version: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        con, op = self.version, self.op
        cmp = v.compare(con)
        if op in ("", "="):
            return self._tilde(v, cmp) if self.dirty else cmp == 0
        if op == "!=":
            return self._not_equal(v, cmp)
        if op == ">":
            if not self.dirty:
                return cmp > 0
            if v.major != con.major:
                return v.major > con.major
            if self.minor_dirty:
                return False  # >1 needs 2.0.0 or more
            return v.minor > con.minor if self.patch_dirty else cmp > 0
        if op == "<":
            return cmp < 0
        if op in (">=", "=>"):
            return cmp >= 0
        if op in ("<=", "=<"):
            if not self.dirty:
                return cmp <= 0
            if v.major > con.major:
                return False
            return not (v.major == con.major and v.minor > con.minor and not self.minor_dirty)
        if op in ("~", "~>"):
            return self._tilde(v, cmp)
        return self._caret(v, cmp)

    def _tilde(self, v: Version, cmp: int) -> bool:
        con = self.version
        if cmp < 0:
            return False
        if (con.major, con.minor, con.patch) == (0, 0, 0) and not self.minor_dirty and not self.patch_dirty:
            return True
        return v.major == con.major and (v.minor == con.minor or self.minor_dirty)

    def _caret(self, v: Version, cmp: int) -> bool:
        con = self.version
        if cmp < 0:
            return False
        if con.major > 0 or self.minor_dirty:
            return v.major == con.major
        if v.major > 0:
            return False
        if con.minor > 0 or self.patch_dirty:
            return v.minor == con.minor
        return v.minor == 0 and v.patch == con.patch

    def _not_equal(self, v: Version, cmp: int) -> bool:
        con = self.version
        if self.dirty:
            if con.major != v.major:
                return True
            if con.minor != v.minor and not self.minor_dirty:
                return True
            if self.minor_dirty:
                return False
            if con.patch != v.patch and not self.patch_dirty:
                return True
            if self.patch_dirty:
                return v.prerelease != con.prerelease
        return cmp != 0


def _parse_comparator(text: str) -> _Comparator:
    match = _COMPARATOR.fullmatch(text)
    if match is None:  # _BRANCH accepted the branch, so this is only a safety net
        raise ValueError(f"improper constraint: {text!r}")
    major, minor, patch = match["major"], match["minor"], match["patch"]
    pre = match["pre"] or ""
    dirty = minor_dirty = patch_dirty = False
    if major in _WILDCARDS:
        dirty, version = True, f"0.0.0{pre}"
    elif minor is None or minor in _WILDCARDS:
        dirty = minor_dirty = True
        version = f"{major}.0.0{pre}"
    elif patch is None or patch in _WILDCARDS:
        dirty = patch_dirty = True
        version = f"{major}.{minor}.0{pre}"
    else:
        version = match["version"]
    try:
        parsed = parse_version(version)
    except ValueError as err:
        raise ValueError(f"improper constraint {text.strip()!r}: {err}") from None
    return _Comparator(match["op"], parsed, dirty, minor_dirty, patch_dirty)


def _rewrite_hyphen_ranges(text: str) -> str:
    return _RANGE.sub(lambda m: f">= {m[1]}, <= {m[2]} ", text)


class Constraint:
    """A Masterminds v3 range such as ``>=1.2 <2 || ^3.0.0-0``; see the module docstring for the grammar.

    Raises ``ValueError`` naming the offending part when ``text`` is not a valid range.
    """

    __slots__ = ("_branches", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        if len(text) > _MAX_CONSTRAINT_LEN:
            raise ValueError(f"improper constraint: longer than {_MAX_CONSTRAINT_LEN} characters")
        texts = _rewrite_hyphen_ranges(text).split("||")
        if len(texts) > _MAX_BRANCHES:
            raise ValueError(f"improper constraint: more than {_MAX_BRANCHES} || branches in {text!r}")
        branches: list[tuple[tuple[_Comparator, ...], bool]] = []
        for branch in texts:
            if _BRANCH.fullmatch(branch) is None:
                raise ValueError(f"improper constraint: {branch.strip()!r} in {text!r}")
            comparators = tuple(_parse_comparator(term) for term in _FIND.findall(branch))
            branches.append((comparators, any(c.version.prerelease for c in comparators)))
        self._branches = tuple(branches)

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"

    def matches(self, version: str | Version) -> bool:
        """Whether ``version`` satisfies the range; a string that is not a (loose) version never does."""
        if isinstance(version, str):
            try:
                version = parse_version(version)
            except ValueError:
                return False
        return any(all(c.check(version, pre) for c in comparators) for comparators, pre in self._branches)
