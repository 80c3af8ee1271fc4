"""Sprig v3's string functions (github.com/Masterminds/sprig/v3 v3.3.0), plus the seed's own four.

(Encodings, hashes, regular expressions and paths are in sprig_encoding.)

Each follows sprig's Go code and the Go library it calls, argument order included (sprig puts the
subject last so it pipes: ``.ImageTag | replace "." "-"`` is ``replace "." "-" .ImageTag``):

- case and whitespace: ``upper lower title untitle trim trimAll trimPrefix trimSuffix nospace`` (Go's
  per-rune case mapping and ``unicode.IsSpace``; ``nospace`` works on bytes, as goutils does);
- cutting and joining: ``trunc substr abbrev repeat replace indent nindent cat quote squote plural
  contains hasPrefix hasSuffix`` (``trunc``, ``substr`` and ``abbrev`` count bytes);
- ``toString`` (``strval``: a string as is, anything else as ``%v``), ``fail``;
- the seed's functions that sprig lacks: ``toLower toUpper k8sName required`` (``required value
  message``, value first, as the seed defines it — Helm's ``required`` takes the message first).
"""

from __future__ import annotations

from .goexec import Function
from .gofmt import format_value, quote
from .gotypes import MISSING, FuncError, go_bytes, go_str, is_letter_or_digit

__all__ = ["STRING_FUNCS", "go_space", "k8s_name", "strval"]

# unicode.IsSpace
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_LOWER_SPECIAL = {"\u0130": "i"}


def go_space(c: str) -> bool:
    return c in _SPACE


def strval(v: object) -> str:
    """sprig's strval: a string as is, anything else as fmt's %v."""
    if isinstance(v, str):
        return v
    return format_value(None if v is MISSING else v)


def _map_runes(s: str, mapping: str) -> str:
    out = []
    for c in s:
        mapped = getattr(c, mapping)()
        if mapping == "lower" and c in _LOWER_SPECIAL:
            mapped = _LOWER_SPECIAL[c]
        out.append(mapped if len(mapped) == 1 else c)  # Go maps rune to rune (no "ß" -> "SS")
    return "".join(out)


def _upper(s: str) -> str:
    return _map_runes(s, "upper")


def _lower(s: str) -> str:
    return _map_runes(s, "lower")


def _separator(c: str) -> bool:
    """strings.Title's word separator."""
    if ord(c) < 0x80:
        return not (c.isalnum() or c == "_")
    return not is_letter_or_digit(c) and go_space(c)


def _title(s: str) -> str:
    out, prev = [], " "
    for c in s:
        if _separator(prev):
            mapped = c.title()
            out.append(mapped if len(mapped) == 1 else c)
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _untitle(s: str) -> str:
    out, next_lower = [], True
    for c in s:
        if go_space(c):
            next_lower = True
            out.append(c)
        elif next_lower:
            out.append(_lower(c))
            next_lower = False
        else:
            out.append(c)
    return "".join(out)


def _trim(s: str) -> str:
    return s.strip(_SPACE)


def _nospace(s: str) -> str:
    data = go_bytes(s)
    kept = [chr(b) for b in data if not go_space(chr(b))]
    return s if len(kept) == len(data) else "".join(kept)


def _byte_slice(s: str, start: int, end: int | None = None) -> str:
    data = go_bytes(s)
    if start < 0 or start > len(data) or (end is not None and (end < start or end > len(data))):
        raise FuncError(f"runtime error: slice bounds out of range [{start}:{end}]")
    return go_str(data[start:end])


def _trunc(c: int, s: str) -> str:
    n = len(go_bytes(s))
    if c < 0 and n + c > 0:
        return _byte_slice(s, n + c)
    if c >= 0 and n > c:
        return _byte_slice(s, 0, c)
    return s


def _substr(start: int, end: int, s: str) -> str:
    n = len(go_bytes(s))
    if start < 0:
        return _byte_slice(s, 0, end)
    if end < 0 or end > n:
        return _byte_slice(s, start)
    return _byte_slice(s, start, end)


def _abbrev(width: int, s: str) -> str:
    if width < 4 or not s or len(go_bytes(s)) <= width:
        return s
    return _byte_slice(s, 0, width - 3) + "..."


def _repeat(count: int, s: str) -> str:
    if count < 0:
        raise FuncError("strings: negative Repeat count")
    if count * len(s) > 16 << 20:
        raise FuncError("repeat: the result would exceed 16 MiB")
    return s * count


def _indent(spaces: int, v: str) -> str:
    pad = _repeat(spaces, " ")
    return pad + v.replace("\n", "\n" + pad)


def _quote(*args: object) -> str:
    return " ".join(quote(strval(a)) for a in args if a is not None)


def _squote(*args: object) -> str:
    return " ".join(f"'{format_value(a)}'" for a in args if a is not None)


def _cat(*args: object) -> str:
    return " ".join(format_value(a) for a in args if a is not None)


def k8s_name(name: str) -> str:
    """The seed's sanitizeForK8s (its ``k8sName`` function): lowercase, every character outside
    ``[a-z0-9-]`` becomes ``-``, ``-`` trimmed at both ends, at most 63 bytes (trailing ``-`` trimmed
    again after cutting), ``unnamed`` when nothing is left."""
    lowered = _lower(name)
    s = "".join(c if "a" <= c <= "z" or "0" <= c <= "9" or c == "-" else "-" for c in lowered).strip("-")
    if len(s) > 63:
        s = s[:63].rstrip("-")
    return s or "unnamed"


def _required(value: object, message: str) -> object:
    if value is None or value == "":
        raise FuncError(f"required value missing: {message}")
    return value


def _fail(message: str) -> str:
    raise FuncError(message)


_S = ("string",)
STRING_FUNCS: dict[str, Function] = {
    "upper": Function(_S, _upper),
    "lower": Function(_S, _lower),
    "title": Function(_S, _title),
    "untitle": Function(_S, _untitle),
    "trim": Function(_S, _trim),
    "trimAll": Function(("string", "string"), lambda a, b: b.strip(a)),
    "trimall": Function(("string", "string"), lambda a, b: b.strip(a)),
    "trimPrefix": Function(("string", "string"), lambda a, b: b.removeprefix(a)),
    "trimSuffix": Function(("string", "string"), lambda a, b: b.removesuffix(a)),
    "nospace": Function(_S, _nospace),
    "trunc": Function(("int", "string"), _trunc),
    "substr": Function(("int", "int", "string"), _substr),
    "abbrev": Function(("int", "string"), _abbrev),
    "repeat": Function(("int", "string"), _repeat),
    "replace": Function(("string", "string", "string"), lambda old, new, src: src.replace(old, new)),
    "indent": Function(("int", "string"), _indent),
    "nindent": Function(("int", "string"), lambda n, v: "\n" + _indent(n, v)),
    "cat": Function((), _cat, variadic="any"),
    "quote": Function((), _quote, variadic="any"),
    "squote": Function((), _squote, variadic="any"),
    "plural": Function(("string", "string", "int"), lambda one, many, n: one if n == 1 else many),
    "contains": Function(("string", "string"), lambda sub, s: sub in s),
    "hasPrefix": Function(("string", "string"), lambda p, s: s.startswith(p)),
    "hasSuffix": Function(("string", "string"), lambda p, s: s.endswith(p)),
    "fail": Function(_S, _fail),
    "toString": Function(("any",), strval),
    # the seed's own functions (internal/template/processor.go), absent from sprig
    "toLower": Function(_S, _lower),
    "toUpper": Function(_S, _upper),
    "k8sName": Function(_S, k8s_name),
    "required": Function(("any", "string"), _required),
}
