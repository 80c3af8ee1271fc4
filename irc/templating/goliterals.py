"""Go literals in templates: strings (``strconv.Unquote``), character constants and numbers.

Numbers follow text/template's ``NumberNode``: the text is tried as ``strconv.ParseUint(text, 0, 64)``,
``ParseInt`` and ``ParseFloat`` (Go literal syntax: ``0x``/``0o``/``0b`` prefixes, a leading ``0`` for octal,
``_`` between digits, hexadecimal floats with ``p`` exponents), and records which of int, uint and float it
can be: ``1.0`` is an int too, ``08`` is an "integer overflow" (as Go reports it), ``1e3`` a float that is
also an int. Complex literals (``1i``) are not supported. Strings keep bytes that are no valid UTF-8
(``"\\xff"``) as surrogate escapes.
"""

from __future__ import annotations

from typing import Any

from .golex import Item, T
from .gotypes import go_str

__all__ = ["ParseError", "number", "parse_float", "parse_uint", "unquote"]


class ParseError(Exception):
    def __init__(self, message: str, pos: int, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message, self.pos, self.unsupported = message, pos, unsupported


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39, '"': 34}


def _unescape(body: str, quote: str, token: Item) -> list[int | str]:
    """Go's strconv.UnquoteChar over ``body``, one unit per character or escape: an int for a byte
    (``\\x41``, ``\\101``), a str for a character."""
    units: list[int | str] = []
    i = 0
    bad = ParseError(f"invalid syntax: {token.val}", token.pos)
    while i < len(body):
        c = body[i]
        if c != "\\":
            if c == quote:
                raise bad
            units.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e and e in _SIMPLE_ESCAPES:
            if e in "'\"" and e != quote:
                raise bad
            units.append(chr(_SIMPLE_ESCAPES[e]))
            i += 2
        elif e and e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise bad
            value = int(digits, 16)
            if e == "x":
                units.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise bad
            else:
                units.append(chr(value))
            i += 2 + n
        elif e and e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise bad
            units.append(int(digits, 8))
            i += 4
        else:
            raise bad
    return units


def unquote(token: Item) -> str:
    text = token.val
    if token.typ is T.RAW_STRING:
        return text[1:-1].replace("\r", "")
    data = bytearray()
    for unit in _unescape(text[1:-1], '"', token):
        data += bytes([unit]) if isinstance(unit, int) else unit.encode("utf-8", "surrogateescape")
    return go_str(bytes(data))


def parse_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64)."""
    body = text
    base = 10
    if len(body) >= 2 and body[0] == "0" and body[1] in "xXoObB":
        base = {"x": 16, "o": 8, "b": 2}[body[1].lower()]
        body = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if "_" in text and not _underscore_ok(text):
        return None
    body = body.replace("_", "")
    if not body or any(c not in "0123456789abcdef"[:base] for c in body.lower()):
        return None
    value = int(body, base)
    return value if value < 2**64 else None


def _underscore_ok(s: str) -> bool:
    """Go's strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw, i = "^", 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for c in s[i:]:
        if c.isascii() and (c.isdigit() or (hexa and c.lower() in "abcdef")):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for the texts the lexer produces (no inf/nan)."""
    if not text.isascii() or any(c.isspace() for c in text) or ("_" in text and not _underscore_ok(text)):
        return None
    body = text.replace("_", "")
    sign = -1.0 if body.startswith("-") else 1.0
    body = body[1:] if body[:1] in ("+", "-") else body
    try:
        if body[:2].lower() == "0x":
            if "p" not in body.lower():
                return None
            value = float.fromhex(body)
        elif not body or body[0] not in "0123456789.":
            return None
        else:
            value = float(body)
    except (ValueError, OverflowError):
        return None
    return None if value == float("inf") else sign * value  # out of range: ErrRange


def number(token: Item, node_type: Any) -> Any:
    """The Number node (of ``node_type``) for a NUMBER, CHAR_CONSTANT or COMPLEX token."""
    text = token.val
    node = node_type(token.pos, text)
    if token.typ is T.COMPLEX or (text.endswith("i") and not text.lower().startswith(("0x", "-0x", "+0x"))):
        raise ParseError(f"complex number literals are not supported: {text}", token.pos, unsupported=True)
    if token.typ is T.CHAR_CONSTANT:
        units = _unescape(text[1:-1], "'", token)
        if len(units) != 1:
            raise ParseError(f"malformed character constant: {text}", token.pos)
        value = units[0] if isinstance(units[0], int) else ord(units[0])
        node.is_int = node.is_uint = node.is_float = True
        node.int_value, node.float_value = value, float(value)
        return node
    unsigned = parse_uint(text) if text[:1] not in "+-" else None
    digits = text[1:] if text[:1] in "+-" else text
    signed = parse_uint(digits)
    if signed is not None and text.startswith("-"):
        signed = -signed
    if signed is not None and -(2**63) <= signed < 2**63:
        node.is_int, node.int_value = True, signed
        if signed == 0:
            node.is_uint = True
    if unsigned is not None:
        node.is_uint = True
    if node.is_int:
        node.is_float, node.float_value = True, float(node.int_value)
    elif node.is_uint:
        assert unsigned is not None
        node.is_float, node.float_value, node.int_value = True, float(unsigned), unsigned
    else:
        f = parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ParseError(f"integer overflow: {text!r}", token.pos)
            node.is_float, node.float_value = True, f
            if f.is_integer() and -(2**63) <= f < 2**63:
                node.is_int, node.int_value = True, int(f)
            if f.is_integer() and 0 <= f < 2**64:
                node.is_uint = True
    if not (node.is_int or node.is_uint or node.is_float):
        raise ParseError(f"illegal number syntax: {text!r}", token.pos)
    return node
