"""Pick one tag from a repository's tags with Flux ImagePolicy semantics, plus the seed's tag prefixes.

``select_tag(policy, tags, filter_tags)`` runs in three steps:

1. Signature, attestation and SBOM tags (``sha256-<64 hex>.sig|.att|.sbom``, as cosign writes them) are
   dropped unless ``include_signature_tags``.
2. ``filter_tags = {"pattern": regex, "extract": template}`` keeps the tags the regex finds a match in
   (unanchored, as Go's ``FindStringSubmatchIndex``) and gives each a *key*: the template expanded on the
   match with Go's ``Regexp.ExpandString`` rules (``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; a name
   is the longest run of letters, digits and ``_``, so ``$1x`` is group ``1x``; unknown or unmatched groups
   expand to ""; a malformed ``$`` stays literal). An empty or missing extract keys the tag by itself, as
   does an absent filter. The pattern is a Go (RE2) regexp, translated by ``irc.tags.goregex``.
3. The policy compares keys and the *original* tag of the winner is returned:

   - ``{"semver": {"range": r}}``: keys that Flux's ``version.ParseVersion`` takes for versions
     (``parse_flux_version``: two dots, then Masterminds' loose parsing, so ``v2025.07.03`` and ``01.2.3``
     count while ``1.2`` and ``1`` are skipped) and satisfy the Masterminds range; the highest precedence
     wins.
   - ``{"alphabetical": {"order": "asc"|"desc"}}``: code-point order (Go's byte-wise ``sort.Strings`` on
     UTF-8); ``asc`` (the default) picks the greatest key, ``desc`` the least. The seed's inverted ``asc``
     is a bug.
   - ``{"numerical": {"order": "asc"|"desc"}}``: keys that are decimal numbers (``[+-]`` digits, optional
     fraction and exponent, ASCII only); ``asc`` (the default) picks the greatest, ``desc`` the least.
     Unlike Flux, a non-numeric key is skipped instead of failing the policy, values compare exactly at any
     length and any exponent below 10**18 (``1e1000000``, 40-digit builds; Flux's float64 merges integers
     above 2**53 and overflows past ~1e308), and ``NaN``, ``Inf`` and Go's hex floats are not numbers. Only
     ``Decimal`` comparisons are used (never its arithmetic, which rounds and overflows): no key can raise.

Ties (equal precedence such as ``1.0.0``/``v1.0.0``/``1.0.0+b``, equal numbers such as ``1``/``1.0``, or
several tags extracting the same key, such as ``x-1.2`` and ``x-1.2-debug``) go to the shortest original
tag, then the lexically smallest, whatever the input order. Flux has no rule: its semver policy keeps the
first seen, numerical the last seen, and filterTags the last tag per key, handed on in map order, so its
answer depends on the registry's listing order (docs/tags.md says why this rule).

No qualifying tag gives None, never "every tag" (the seed's fallback). An invalid policy or filter raises
``ValueError`` naming the field. ``Policy.parse`` and ``TagFilter.parse`` validate once for callers that
select repeatedly.

The seed's ``pattern: {regex, extractPrefix}`` is one rule, used everywhere: ``tag_prefix`` returns the first
capture group of the regex's (unanchored) match in the tag, ``group_by_prefix`` buckets tags by it, and
``select_per_prefix`` applies a policy within each bucket (dev, staging, prod …).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, Protocol, TypeVar

from .goregex import compile_go_regex, go_group_names
from .semver import Constraint, Version, parse_flux_version

__all__ = [
    "Policy",
    "TagFilter",
    "compile_go_regex",
    "group_by_prefix",
    "is_signature_tag",
    "select_per_prefix",
    "select_tag",
    "tag_prefix",
]

_SIGNATURE_TAG = re.compile(r"sha256-[0-9a-f]{64}\.(?:sig|att|sbom)")
"""Tags cosign and friends push next to an image: signatures, attestations, SBOMs."""

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_KINDS = ("semver", "alphabetical", "numerical")
_SEED_KEYS = frozenset({"perRepository", "pattern"})  # seed fields beside the policy, handled by the caller

Order = Literal["asc", "desc"]


def is_signature_tag(tag: str) -> bool:
    """Whether ``tag`` is a ``sha256-<hex>.sig|.att|.sbom`` supply-chain artifact tag."""
    return _SIGNATURE_TAG.fullmatch(tag) is not None


def _go_template_name(template: str, start: int) -> tuple[str, int] | None:
    """The ``$name``/``${name}`` at ``template[start]`` (a ``$``) and the index after it, or None."""
    brace = template.startswith("{", start + 1)
    i = start + (2 if brace else 1)
    j = i
    while j < len(template) and (
        template[j] == "_" or template[j].isalpha() or unicodedata.category(template[j]) == "Nd"
    ):
        j += 1
    if j == i:
        return None
    if brace:
        if j >= len(template) or template[j] != "}":
            return None
        return template[i:j], j + 1
    return template[i:j], j


def _group(match: re.Match[str], name: str) -> str:
    """What Go's expand puts for ``$name``: group number ``name`` (ASCII digits, no leading zero, under
    10**9), else the first group named ``name`` that took part; "" if there is none."""
    if name.isascii() and name.isdigit() and len(name) <= 9 and (name == "0" or name[0] != "0"):
        index = int(name)
        return (match.group(index) or "") if index <= match.re.groups else ""
    for index, group_name in enumerate(go_group_names(match.re)):
        if group_name == name and match.start(index) >= 0:
            return match.group(index)
    return ""


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString(nil, template, src, match)``."""
    out: list[str] = []
    i = 0
    while (dollar := template.find("$", i)) >= 0:
        out.append(template[i:dollar])
        if template.startswith("$$", dollar):
            out.append("$")
            i = dollar + 2
            continue
        parsed = _go_template_name(template, dollar)
        if parsed is None:
            out.append("$")
            i = dollar + 1
            continue
        name, i = parsed
        out.append(_group(match, name))
    out.append(template[i:])
    return "".join(out)


@dataclass(frozen=True)
class TagFilter:
    """Flux's ``filterTags``: keep tags the pattern matches, keyed by the expanded ``extract`` template."""

    pattern: str = ""
    extract: str = ""
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_go_regex(self.pattern, "filterTags.pattern"))
        if not isinstance(self.extract, str):
            raise ValueError(f"filterTags.extract: must be a string, got {type(self.extract).__name__}")

    @classmethod
    def parse(cls, spec: Mapping[str, object]) -> TagFilter:
        """Build from the ``{"pattern": …, "extract": …}`` mapping of a spec."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"filterTags: must be a mapping, got {type(spec).__name__}")
        unknown = set(spec) - {"pattern", "extract"}
        if unknown:
            raise ValueError(f"filterTags: unknown field(s) {sorted(unknown)}")
        pattern, extract = spec.get("pattern") or "", spec.get("extract") or ""
        return cls(pattern, extract)  # type: ignore[arg-type]  # __post_init__ checks the types

    def key(self, tag: str) -> str | None:
        """The value the policy compares for ``tag``, or None when the pattern does not match it."""
        match = self.regex.search(tag)
        if match is None:
            return None
        return _expand(self.extract, match) if self.extract else tag


def _order(spec: object, kind: str) -> Order:
    if spec is None:
        return "asc"
    if not isinstance(spec, Mapping):
        raise ValueError(f"policy.{kind}: must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - {"order"}
    if unknown:
        raise ValueError(f"policy.{kind}: unknown field(s) {sorted(unknown)}")
    order = spec.get("order") or "asc"
    if not isinstance(order, str) or order.lower() not in ("asc", "desc"):
        raise ValueError(f"policy.{kind}.order: must be 'asc' or 'desc', got {order!r}")
    return "asc" if order.lower() == "asc" else "desc"


@dataclass(frozen=True)
class Policy:
    """A validated selection policy: ``kind`` is semver, alphabetical or numerical."""

    kind: Literal["semver", "alphabetical", "numerical"]
    constraint: Constraint | None = None
    """The range, for semver."""
    order: Order = "asc"
    """For alphabetical and numerical: asc selects the greatest, desc the least."""

    @classmethod
    def parse(cls, spec: Mapping[str, object]) -> Policy:
        """Build from a ``{"semver": {"range": …}}``-style mapping; the seed's ``perRepository`` and
        ``pattern`` keys may sit beside it and are ignored here."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"policy: must be a mapping, got {type(spec).__name__}")
        unknown = set(spec) - set(_KINDS) - _SEED_KEYS
        if unknown:
            raise ValueError(f"policy: unknown field(s) {sorted(unknown)}")
        kinds = [k for k in _KINDS if spec.get(k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"policy: exactly one of semver, alphabetical, numerical is required, got {kinds}"
            )
        kind = kinds[0]
        if kind != "semver":
            return cls(
                "alphabetical" if kind == "alphabetical" else "numerical", order=_order(spec[kind], kind)
            )
        semver = spec["semver"]
        if not isinstance(semver, Mapping):
            raise ValueError(f"policy.semver: must be a mapping, got {type(semver).__name__}")
        unknown = set(semver) - {"range"}
        if unknown:
            raise ValueError(f"policy.semver: unknown field(s) {sorted(unknown)}")
        text = semver.get("range")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"policy.semver.range: a non-empty string is required, got {text!r}")
        try:
            return cls("semver", constraint=Constraint(text))
        except ValueError as err:
            raise ValueError(f"policy.semver.range: {err}") from None

    def select(self, candidates: Iterable[tuple[str, str]]) -> str | None:
        """The winning original tag among ``(key, original)`` pairs, or None."""
        best: tuple[object, int, _Reversed[str]] | None = None
        for key, original in candidates:
            entry = self.preference(key, original)
            if entry is not None and (best is None or entry > best):
                best = entry
        return None if best is None else best[2].value

    def preference(self, key: str, original: str) -> tuple[object, int, _Reversed[str]] | None:
        """A value whose greatest instance among the candidates wins, ties broken as the module docstring
        says: the rank of ``key``, then the shorter ``original``, then the lexically smaller one. None when
        ``key`` does not qualify."""
        rank = self.rank(key)
        if rank is None:
            return None
        return preference(rank, original)

    def rank(self, key: str) -> object | None:
        """A value whose greatest instance wins, or None when ``key`` does not qualify; never raises.

        Ranks of one policy compare with each other (``==``, ``<``, ``>``): semver precedence, the key, or
        the ``Decimal``; desc orders wrap them in ``_Reversed``.
        """
        if self.kind == "semver":
            try:
                version: Version = parse_flux_version(key)
            except ValueError:
                return None
            assert self.constraint is not None
            return version.precedence if self.constraint.matches(version) else None
        if self.kind == "alphabetical":
            return key if self.order == "asc" else _Reversed(key)
        if _DECIMAL.fullmatch(key) is None:
            return None
        try:
            number = Decimal(key)
        except ArithmeticError:  # an exponent past Decimal's (10**18 and more): no real tag
            return None
        # Decimal comparisons are exact at any length and exponent; its arithmetic (negation
        # included) rounds to 28 digits and overflows, so desc reverses the comparison instead.
        return number if self.order == "asc" else _Reversed(number)


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


_C = TypeVar("_C", bound=_Ordered)


def preference(rank: object, tag: str) -> tuple[object, int, _Reversed[str]]:
    """`rank` with the tie rule: among equal ranks the shorter tag, then the lexically smaller, is
    greatest (ranks of one policy are mutually comparable). The ECR selector uses it too."""
    return (rank, -len(tag), _Reversed(tag))


@dataclass(frozen=True, order=False)
class _Reversed(Generic[_C]):
    """A value that sorts backwards, so desc orders can keep "greatest wins"."""

    value: _C

    def __lt__(self, other: _Reversed[_C]) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Reversed[_C]) -> bool:
        return self.value < other.value


def _as_policy(policy: Policy | Mapping[str, object]) -> Policy:
    return policy if isinstance(policy, Policy) else Policy.parse(policy)


def _as_filter(filter_tags: TagFilter | Mapping[str, object] | None) -> TagFilter | None:
    if filter_tags is None or isinstance(filter_tags, TagFilter):
        return filter_tags
    return TagFilter.parse(filter_tags)


def select_tag(
    policy: Policy | Mapping[str, object],
    tags: Iterable[str],
    filter_tags: TagFilter | Mapping[str, object] | None = None,
    *,
    include_signature_tags: bool = False,
) -> str | None:
    """The tag ``policy`` selects from ``tags`` after ``filter_tags``, as written; None if none qualifies."""
    chosen, tag_filter = _as_policy(policy), _as_filter(filter_tags)
    candidates: list[tuple[str, str]] = []
    for tag in tags:
        if not include_signature_tags and is_signature_tag(tag):
            continue
        key = tag if tag_filter is None else tag_filter.key(tag)
        if key is not None:
            candidates.append((key, tag))
    return chosen.select(candidates)


def tag_prefix(tag: str, pattern: str | re.Pattern[str]) -> str | None:
    """The seed's tag prefix: the first capture group of ``pattern``'s match in ``tag``.

    None when the pattern does not match or group 1 did not take part; ``ValueError`` when the pattern is
    invalid or has no capture group.
    """
    regex = pattern if isinstance(pattern, re.Pattern) else compile_go_regex(pattern, "pattern.regex")
    if regex.groups < 1:
        raise ValueError(f"pattern.regex: {regex.pattern!r} needs a capture group for the prefix")
    match = regex.search(tag)
    return None if match is None else match.group(1)


def group_by_prefix(tags: Iterable[str], pattern: str | re.Pattern[str]) -> dict[str, list[str]]:
    """Tags bucketed by ``tag_prefix``, in input order; tags without a prefix are left out."""
    regex = pattern if isinstance(pattern, re.Pattern) else compile_go_regex(pattern, "pattern.regex")
    groups: dict[str, list[str]] = {}
    for tag in tags:
        prefix = tag_prefix(tag, regex)
        if prefix is not None:
            groups.setdefault(prefix, []).append(tag)
    return groups


def select_per_prefix(
    policy: Policy | Mapping[str, object],
    tags: Iterable[str],
    pattern: str | re.Pattern[str],
    filter_tags: TagFilter | Mapping[str, object] | None = None,
    *,
    include_signature_tags: bool = False,
) -> dict[str, str]:
    """``select_tag`` within each prefix bucket; prefixes where nothing qualifies are absent."""
    chosen, tag_filter = _as_policy(policy), _as_filter(filter_tags)
    selected: dict[str, str] = {}
    for prefix, members in group_by_prefix(tags, pattern).items():
        tag = select_tag(chosen, members, tag_filter, include_signature_tags=include_signature_tags)
        if tag is not None:
            selected[prefix] = tag
    return selected
