"""Go regular expressions (RE2 syntax, Go's ``regexp``) translated to Python ``re``.

Flux and the seed take ``filterTags.pattern`` and ``policy.pattern.regex`` as Go regexps, so irc parses
them with Go's grammar (``regexp/syntax`` with its Perl flags) and emits an equivalent Python pattern;
everything Go rejects raises ``ValueError``. What the translation makes exact:

- ``^``/``$`` are the very start/end of the text (``\\A``/``\\z``) unless ``(?m)``; Python's ``$`` would
  also match before a final newline. ``\\Z`` is an error, as in Go.
- ``\\d \\s \\w \\b`` are ASCII (``\\s`` is ``[\\t\\n\\f\\r ]``); POSIX ``[[:digit:]]`` and ``[[:^alpha:]]``
  classes; ``\\pL``, ``\\p{Lu}``, ``\\PN``, ``\\p{^Nd}``, ``\\p{Letter}``, ``Any``, ``Assigned``, ``ASCII``
  (general categories from Python's ``unicodedata``, whose Unicode version may trail Go's by one);
  ``\\Q…\\E``; ``\\x{10FFFF}`` and Go's octal ``\\123``; ``[]a]`` and ``[a-]``.
- Flags ``(?imsU)``, ``(?i-m)``, ``(?s:…)`` are scoped as in Go (to the end of the group, across ``|``);
  ``(?i)`` folds with Unicode simple case folding orbits (``k``, ``K``, ``\u212a``), and ``(?U)`` swaps
  greedy and lazy.
- Named groups ``(?P<name>…)`` and ``(?<name>…)`` with Go's names (``[A-Za-z0-9_]+``, duplicates allowed);
  ``go_group_names`` recovers them, since Python sees ``_<index>_<name>``.
- Go's errors: lookarounds, backreferences, ``(?#…)``, ``(?P=…)``, possessive or stacked repeats (``a**``,
  ``a++``), counts over 1000 (also nested: ``(a{50}){50}``), unknown escapes (``\\Z``, ``\\C``, ``\\é``).
  ``{`` that is not a valid count (``{,2}``, ``{01}``) is a literal, as in Go.

Not supported (``ValueError`` although Go accepts them): Unicode scripts such as ``\\p{Greek}``. Go's
limits on program size and nesting depth (about 1000) are not reproduced.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["compile_go_regex", "go_group_names", "translate"]

_MAX_RUNE = 0x10FFFF
_MAX_REPEAT = 1000
Ranges = list[tuple[int, int]]
_NOT_WORD_BOUNDARY = r"(?:(?<![0-9A-Za-z_])(?![0-9A-Za-z_])|(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_]))"
"""Go's ``\\B``; Python's ``\\B`` never matches in an empty text."""

_PERL = {
    "d": [(0x30, 0x39)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
}
_POSIX = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_CATEGORY_ALIASES = {
    "Cased_Letter": "LC", "Close_Punctuation": "Pe", "Combining_Mark": "M", "Connector_Punctuation": "Pc",
    "Control": "Cc", "Currency_Symbol": "Sc", "Dash_Punctuation": "Pd", "Decimal_Number": "Nd",
    "Enclosing_Mark": "Me", "Final_Punctuation": "Pf", "Format": "Cf", "Initial_Punctuation": "Pi",
    "Letter": "L", "Letter_Number": "Nl", "Line_Separator": "Zl", "Lowercase_Letter": "Ll", "Mark": "M",
    "Math_Symbol": "Sm", "Modifier_Letter": "Lm", "Modifier_Symbol": "Sk", "Nonspacing_Mark": "Mn",
    "Number": "N", "Open_Punctuation": "Ps", "Other": "C", "Other_Letter": "Lo", "Other_Number": "No",
    "Other_Punctuation": "Po", "Other_Symbol": "So", "Paragraph_Separator": "Zp", "Private_Use": "Co",
    "Punctuation": "P", "Separator": "Z", "Space_Separator": "Zs", "Spacing_Mark": "Mc", "Surrogate": "Cs",
    "Symbol": "S", "Titlecase_Letter": "Lt", "Unassigned": "Cn", "Uppercase_Letter": "Lu", "cntrl": "Cc",
    "digit": "Nd", "punct": "P",
}  # fmt: skip


def _canonical(name: str) -> str:
    """Go's canonicalName: first letter upper, the rest lower, no ``_``, ``-`` or spaces."""
    out, first = [], True
    for c in name:
        if c in "_- ":
            continue
        if first:
            c, first = (c.upper() if "a" <= c <= "z" else c), False
        elif "A" <= c <= "Z":
            c = c.lower()
        out.append(c)
    return "".join(out)


@functools.cache
def _categories() -> dict[str, Ranges]:
    """General category (two letters, one letter, LC) -> ranges, from unicodedata."""
    points: dict[str, list[int]] = {}
    for cp in range(_MAX_RUNE + 1):
        points.setdefault(unicodedata.category(chr(cp)), []).append(cp)
    out: dict[str, Ranges] = {}
    for cat, cps in points.items():
        ranges = _from_points(cps)
        for key in (cat, cat[0]) + (("LC",) if cat in ("Lu", "Ll", "Lt") else ()):
            out.setdefault(key, []).extend(ranges)
    return {k: _normalize(v) for k, v in out.items()}


def _unicode_table(name: str) -> tuple[Ranges, bool] | None:
    """(ranges, negate) for a ``\\p{name}``, or None if Go does not know the name."""
    name = _canonical(name)
    if name == "Any":
        return [(0, _MAX_RUNE)], False
    if name == "Assigned":
        return _categories()["Cn"], True
    if name == "Ascii":
        return [(0, 0x7F)], False
    if name == "Lc":
        name = "LC"
    aliases = {_canonical(k): v for k, v in _CATEGORY_ALIASES.items()}
    if name in ("C", "L", "LC", "M", "N", "P", "S", "Z") or (
        len(name) == 2 and name[1].islower() and name in _categories()
    ):
        return _categories().get(name, []), False
    if name in aliases:
        return _categories().get(aliases[name], []), False
    return None


@functools.cache
def _fold_table() -> tuple[list[int], dict[int, tuple[int, ...]]]:
    """Unicode simple case folding orbits (what Go's ``unicode.SimpleFold`` walks): sorted code points
    that have another case, and each one's orbit."""
    groups: dict[int, set[int]] = {}
    for cp in range(_MAX_RUNE + 1):
        c = chr(cp)
        key = c.casefold()  # the C (common) mapping when it is one character
        if len(key) != 1:
            lower = c.lower()  # S (simple) mappings of characters whose full folding is longer: ẞ -> ß
            key = lower if len(lower) == 1 else c
        if key != c:
            groups.setdefault(ord(key), {ord(key)}).add(cp)
    orbits: dict[int, tuple[int, ...]] = {}
    for members in groups.values():
        orbit = tuple(sorted(members))
        for cp in orbit:
            orbits[cp] = orbit
    return sorted(orbits), orbits


def _fold(ranges: Ranges) -> Ranges:
    keys, orbits = _fold_table()
    out = list(ranges)
    for lo, hi in ranges:
        for cp in keys[bisect.bisect_left(keys, lo) : bisect.bisect_right(keys, hi)]:
            out.extend((o, o) for o in orbits[cp])
    return _normalize(out)


def _from_points(cps: list[int]) -> Ranges:
    out: Ranges = []
    for cp in cps:
        if out and out[-1][1] + 1 == cp:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def _normalize(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _negate(ranges: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in _normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_RUNE:
        out.append((nxt, _MAX_RUNE))
    return out


def _char(cp: int) -> str:
    if chr(cp).isprintable():
        return re.escape(chr(cp))
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def _class(ranges: Ranges) -> str:
    ranges = _normalize(ranges)
    if not ranges:
        return "(?!)"
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _char(ranges[0][0])
    return "[" + "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges) + "]"


class GoRegexError(ValueError):
    """What Go's ``regexp.Compile`` would reject (or irc cannot translate)."""


@dataclass
class _Frame:
    """One group being parsed: its alternatives of translated atoms, and how to open it."""

    opening: str
    flags: str
    alternatives: list[list[str]] = field(default_factory=lambda: [[]])
    weights: list[list[int]] = field(default_factory=lambda: [[]])
    """Per atom, the largest product of ``{n,m}`` counts nested in it (Go's repeatIsValid)."""


@dataclass
class _Parser:
    src: str
    pos: int = 0
    groups: int = 0
    names: list[str] = field(default_factory=lambda: [""])

    def fail(self, what: str) -> GoRegexError:
        return GoRegexError(f"{what} at offset {self.pos}")

    def parse(self) -> str:
        stack = [_Frame("(?:", "")]
        last_repeat = False
        while self.pos < len(self.src):
            frame = stack[-1]
            c, repeat = self.src[self.pos], False
            if c == "(":
                if self.src.startswith("(?", self.pos):
                    pushed = self.perl_flags(frame)
                    if pushed is not None:
                        stack.append(pushed)
                else:
                    self.groups += 1
                    self.names.append("")
                    stack.append(_Frame("(", frame.flags))
                    self.pos += 1
            elif c == "|":
                frame.alternatives.append([])
                frame.weights.append([])
                self.pos += 1
            elif c == ")":
                if len(stack) == 1:
                    raise self.fail("unexpected )")
                done = stack.pop()
                stack[-1].alternatives[-1].append(done.opening + self.join(done) + ")")
                stack[-1].weights[-1].append(max((w for ws in done.weights for w in ws), default=1))
                self.pos += 1
            elif c in "*+?{":
                repeat = self.repetition(frame, last_repeat)
            else:
                self.atom(frame)
            last_repeat = repeat
        if len(stack) != 1:
            raise self.fail("missing )")
        return self.join(stack[0])

    @staticmethod
    def join(frame: _Frame) -> str:
        return "|".join("".join(atoms) for atoms in frame.alternatives)

    def perl_flags(self, frame: _Frame) -> _Frame | None:
        """``(?P<name>``, ``(?<name>``, ``(?flags)`` or ``(?flags:``: a new frame; None for ``(?flags)``."""
        src, start = self.src, self.pos
        if (src.startswith("(?P<", start) and len(src) - start > 4) or src.startswith("(?<", start):
            end = src.find(">", start)
            name = src[start + (4 if src[start + 2] == "P" else 3) : end]
            if end < 0 or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise self.fail("invalid named capture")
            self.groups += 1
            self.names.append(name)
            self.pos = end + 1
            return _Frame(f"(?P<_{self.groups}_{name}>", frame.flags)
        flags, sign, saw, i = set(frame.flags), 1, False, start + 2
        while i < len(src):
            c = src[i]
            i += 1
            if c in "imsU":
                (flags.add if sign > 0 else flags.discard)(c)
                saw = True
            elif c == "-" and sign > 0:
                sign, saw = -1, False
            elif c in ":)" and (sign > 0 or saw):
                self.pos = i
                if c == ")":
                    frame.flags = "".join(sorted(flags))
                    return None
                return _Frame("(?:", "".join(sorted(flags)))
            else:
                break
        self.pos = i
        raise self.fail("invalid or unsupported Perl syntax (no lookarounds, comments, (?P=name) in RE2)")

    def repetition(self, frame: _Frame, last_repeat: bool) -> bool:
        """Apply ``* + ? {n,m}`` (and a trailing ``?``) to the last atom; False if ``{`` was a literal."""
        src, start = self.src, self.pos
        lo, hi = 0, 0
        if src[start] == "{":
            m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(src, start)
            bad = m is None or any(
                g is not None and len(g) > 1 and g[0] == "0" for g in (m.group(1), m.group(3))
            )
            if bad:
                frame.alternatives[-1].append(re.escape("{"))
                frame.weights[-1].append(1)
                self.pos += 1
                return False
            assert m is not None
            lo = int(m.group(1)) if len(m.group(1)) <= 9 else -1
            hi = lo if m.group(2) is None else -1 if not m.group(3) else int(m.group(3)[:10])
            if lo < 0 or lo > _MAX_REPEAT or hi > _MAX_REPEAT or (hi >= 0 and lo > hi):
                self.pos = m.end()
                raise self.fail("invalid repeat count")
            op_end = m.end()
            op = f"{{{lo}}}" if m.group(2) is None else f"{{{lo},{'' if hi < 0 else hi}}}"
        else:
            op_end, op = start + 1, src[start]
        lazy = src.startswith("?", op_end)
        self.pos = op_end + lazy
        if last_repeat:
            raise self.fail("invalid nested repetition operator")
        atoms, weights = frame.alternatives[-1], frame.weights[-1]
        if not atoms:
            raise self.fail("missing argument to repetition operator")
        weight = weights[-1]
        if op[0] == "{":
            count = hi if hi >= 0 else lo
            if (lo >= 2 or hi >= 2) and count > 0 and count * weight > _MAX_REPEAT:
                raise self.fail("invalid repeat count")
            weight = count * weight if count > 0 else 1
        if lazy != ("U" in frame.flags):
            op += "?"
        atoms[-1] = f"(?:{atoms[-1]}){op}"
        weights[-1] = weight
        return True

    def atom(self, frame: _Frame) -> None:
        src, c, flags = self.src, self.src[self.pos], frame.flags
        out = frame.alternatives[-1]
        before = len(out)
        if c == "^":
            out.append("(?m:^)" if "m" in flags else "^")  # Python's ^ is \A without re.M
            self.pos += 1
        elif c == "$":
            out.append("(?m:$)" if "m" in flags else r"\Z")
            self.pos += 1
        elif c == ".":
            out.append("(?s:.)" if "s" in flags else "[^\\n]")
            self.pos += 1
        elif c == "[":
            out.append(_class(self.char_class(flags)))
        elif c == "\\" and src.startswith(("\\A", "\\z", "\\b", "\\B", "\\Q", "\\C"), self.pos):
            kind = src[self.pos + 1]
            if kind == "C":
                raise self.fail("invalid escape \\C")
            if kind == "Q":
                end = src.find("\\E", self.pos + 2)
                text = src[self.pos + 2 : end if end >= 0 else len(src)]
                out.extend(self.literal(ord(ch), flags) for ch in text)
                frame.weights[-1].extend([1] * len(text))
                self.pos = end + 2 if end >= 0 else len(src)
                return
            out.append({"A": r"\A", "z": r"\Z", "b": r"(?a:\b)", "B": _NOT_WORD_BOUNDARY}[kind])
            self.pos += 2
        elif c == "\\":
            group = self.class_escape(flags)
            if group is not None:
                out.append(_class(group))
            else:
                out.append(self.literal(self.escape(), flags))
        else:
            out.append(self.literal(ord(c), flags))
            self.pos += 1
        frame.weights[-1].extend([1] * (len(out) - before))

    @staticmethod
    def literal(cp: int, flags: str) -> str:
        return _class(_fold([(cp, cp)]) if "i" in flags else [(cp, cp)])

    def class_escape(self, flags: str) -> Ranges | None:
        """``\\d``-style or ``\\p``-style group at pos (consumed), folded and negated as Go does."""
        src, i = self.src, self.pos
        kind = src[i + 1] if i + 1 < len(src) else ""
        if kind.lower() in _PERL:
            ranges, negate = _PERL[kind.lower()], kind.isupper()
            self.pos = i + 2
        elif kind in ("p", "P"):
            if i + 2 >= len(src):
                raise self.fail("invalid character class range")
            if src[i + 2] == "{":
                end = src.find("}", i)
                if end < 0:
                    raise self.fail("invalid character class range")
                name, self.pos = src[i + 3 : end], end + 1
            else:
                name, self.pos = src[i + 2], i + 3
            negate = kind == "P"
            if name.startswith("^"):
                negate, name = not negate, name[1:]
            table = _unicode_table(name)
            if table is None:
                if name and re.fullmatch(r"[A-Za-z_ -]+", name):
                    raise self.fail(f"Unicode class \\p{{{name}}} is unknown or a script (not supported)")
                raise self.fail("invalid character class range")
            ranges, tab_negate = table
            negate ^= tab_negate
        else:
            return None
        if "i" in flags:
            ranges = _fold(ranges)
        return _negate(ranges) if negate else list(ranges)

    def escape(self) -> int:
        """A single-character escape at pos (consumed), Go's parseEscape."""
        src, i = self.src, self.pos + 1
        if i >= len(src):
            raise self.fail("trailing backslash at end of expression")
        c = src[i]
        i += 1
        if c.isascii() and not c.isalnum():
            self.pos = i
            return ord(c)
        if c in "01234567" and (c == "0" or (i < len(src) and src[i] in "01234567")):
            m = re.compile("[0-7]{1,3}").match(src, i - 1)
            assert m is not None
            self.pos = m.end()
            return int(m.group(), 8)
        if c == "x":
            m = re.compile(r"\{([0-9A-Fa-f]+)\}|[0-9A-Fa-f]{2}").match(src, i)
            if m is not None and int(m.group(1) or m.group(), 16) <= _MAX_RUNE:
                self.pos = m.end()
                return int(m.group(1) or m.group(), 16)
        elif c in "afnrtv":
            self.pos = i
            return ord({"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}[c])
        self.pos = i
        raise self.fail(f"invalid escape \\{c}")

    def char_class(self, flags: str) -> Ranges:
        """The class opening at pos (consumed), Go's parseClass."""
        src = self.src
        self.pos += 1
        negate = src.startswith("^", self.pos)
        self.pos += negate
        fold = "i" in flags
        ranges: Ranges = []
        first = True
        while first or not src.startswith("]", self.pos):
            if self.pos >= len(src):
                raise self.fail("missing closing ]")
            first = False
            if src.startswith("[:", self.pos) and len(src) - self.pos > 2:
                end = src.find(":]", self.pos + 2)
                if end >= 0:
                    name = src[self.pos + 2 : end]
                    self.pos = end + 2
                    negated = name.startswith("^")
                    group = _POSIX.get(name[negated:])
                    if group is None:
                        raise self.fail("invalid character class range")
                    group = _fold(group) if fold else group
                    ranges.extend(_negate(group) if negated else group)
                    continue
            if src.startswith("\\", self.pos):
                group = self.class_escape(flags)
                if group is not None:
                    ranges.extend(group)
                    continue
            lo = self.class_char()
            hi = lo
            if src.startswith("-", self.pos) and self.pos + 1 < len(src) and src[self.pos + 1] != "]":
                self.pos += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail("invalid character class range")
            ranges.extend(_fold([(lo, hi)]) if fold else [(lo, hi)])
        self.pos += 1
        return _negate(ranges) if negate else ranges

    def class_char(self) -> int:
        if self.pos >= len(self.src):
            raise self.fail("missing closing ]")
        if self.src[self.pos] == "\\":
            return self.escape()
        self.pos += 1
        return ord(self.src[self.pos - 1])


def translate(pattern: str) -> tuple[str, list[str]]:
    """The Python pattern equivalent to Go's ``pattern`` and Go's group names (``""`` when unnamed, index 0
    is the whole match); ``ValueError`` if Go would not compile it."""
    parser = _Parser(pattern)
    return parser.parse(), parser.names


def compile_go_regex(pattern: str, field_name: str) -> re.Pattern[str]:
    """Compile a Go (RE2) regex for Python; ``ValueError`` names ``field_name`` if Go would reject it."""
    if not isinstance(pattern, str):
        raise ValueError(f"{field_name}: must be a string, got {type(pattern).__name__}")
    try:
        return re.compile(translate(pattern)[0])
    except (ValueError, re.error) as err:
        raise ValueError(f"{field_name}: invalid regular expression {pattern!r}: {err}") from None


def go_group_names(regex: re.Pattern[str]) -> list[str]:
    """Go's ``SubexpNames`` for a pattern from ``compile_go_regex``: ``""`` for unnamed groups and index 0."""
    names = [""] * (regex.groups + 1)
    for py_name, index in regex.groupindex.items():
        names[index] = py_name.split("_", 2)[2]
    return names
