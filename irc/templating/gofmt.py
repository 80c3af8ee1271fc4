"""Go's fmt and strconv formatting of template values: what ``{{ . }}``, print, printf and quote write.

- ``sprint`` is ``fmt.Sprint`` (operands joined, with a space between two that are both non-strings),
  ``sprintln`` is ``fmt.Sprintln``; every value prints as ``%v``: slices ``[a b]``, maps ``map[k:v]`` in
  key order, structs ``{a b}``, nil ``<nil>``, floats as strconv's shortest ``%g`` (``1e+06``, ``0.1``).
- ``format_arg`` is fmt's ``printArg`` for one printf operand (``goprintf`` parses the format): the
  flags ``+ - space 0 #``, width and precision, and the verbs
  ``%v %s %d %q %t %f %F %e %E %g %G %x %X %o %O %b %c %U %T``; a verb that does not fit the value gives
  Go's ``%!d(string=a)`` or ``%!s(<nil>)``. ``go_syntax`` is ``%#v`` of a slice, map or struct
  (``[]interface {}{1, "a"}``). Not supported (a ``FuncError``): ``%p`` of a list or map (an address),
  ``%x``/``%X`` of a float with a precision.
- ``quote`` is ``strconv.Quote`` (``%q``): Go's escapes, printable Unicode kept.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .gotypes import MISSING, FuncError, GoList, GoStruct, Uint8, go_bytes, go_type, is_int

__all__ = [
    "Spec",
    "format_arg",
    "format_float",
    "format_value",
    "go_syntax",
    "is_print",
    "quote",
    "quote_rune",
    "sprint",
    "sprintln",
]

_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def is_print(c: str) -> bool:
    """Go's ``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return c == " " or unicodedata.category(c)[0] in "LMNPS"


def _escape_rune(c: str, quote_char: str, ascii_only: bool) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of invalid UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if c in (quote_char, "\\"):
        return "\\" + c
    if (code < 0x80 or not ascii_only) and is_print(c):
        return c
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def quote(s: str, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``)."""
    return '"' + "".join(_escape_rune(c, '"', ascii_only) for c in s) + '"'


def quote_rune(code: int, ascii_only: bool = False) -> str:
    """``strconv.QuoteRune``: an invalid rune quotes as U+FFFD."""
    if code > 0x10FFFF or code < 0 or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return "'" + _escape_rune(chr(code), "'", ascii_only) + "'"


def _digits(f: float) -> tuple[str, int]:
    """The shortest decimal digits of abs(f) and the decimal point position: 0.<digits> x 10**point."""
    text = repr(abs(f))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + (int(exponent) if exponent else 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if not digits:
        return "0", 1
    return digits, point


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat(f, verb, prec, 64)`` for verbs e E f F g G (``prec`` -1: shortest)."""
    if f != f or f in (float("inf"), float("-inf")):
        return "NaN" if f != f else ("+Inf" if f > 0 else "-Inf")
    if prec >= 0:
        return f"{f:.{prec}{'f' if verb == 'F' else verb}}"  # C's rules, which Go's match
    sign = "-" if str(f).startswith("-") else ""
    digits, point = _digits(f)
    if verb in "fF":
        return sign + _fixed(digits, point)
    exp = point - 1
    if verb in "eE" or exp < -4 or exp >= 6:
        e = "e" if verb in "eg" else "E"
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + _fixed(digits, point)


def _fixed(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


@dataclass
class Spec:
    minus: bool = False
    plus: bool = False
    space: bool = False
    zero: bool = False
    sharp: bool = False
    plus_v: bool = False
    width: int | None = None
    prec: int | None = None

    def pad(self, s: str, zero_ok: bool = True) -> str:
        if self.width is None or len(s) >= self.width:
            return s
        fill = self.width - len(s)
        if self.minus:
            return s + " " * fill
        return ("0" if self.zero and zero_ok else " ") * fill + s


def _fmt_int(n: int, verb: str, spec: Spec) -> str:
    if verb == "c":
        return spec.pad(chr(n) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd")
    if verb == "q":
        return spec.pad(quote_rune(n, spec.plus))
    if verb == "U":
        text = f"U+{n:04X}" if n >= 0 else f"U+{n & 0xFFFFFFFFFFFFFFFF:X}"
        if spec.sharp and 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF and is_print(chr(n)):
            text += f" '{chr(n)}'"
        return spec.pad(text)
    if verb == "v" and spec.sharp and isinstance(n, Uint8):  # %#v of an unsigned integer: Go syntax, hex
        return spec.pad(f"0x{n:x}")
    base = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}[verb]
    body = {2: f"{abs(n):b}", 8: f"{abs(n):o}", 10: str(abs(n)), 16: f"{abs(n):x}"}[base]
    if verb == "X":
        body = body.upper()
    prec = 0
    if spec.prec is not None:
        prec = spec.prec
        if prec == 0 and n == 0:
            return " " * (spec.width or 0)
    elif spec.zero and not spec.minus and spec.width is not None:
        prec = spec.width - (1 if n < 0 or spec.plus or spec.space else 0)
    body = body.rjust(prec, "0")
    if spec.sharp:  # base 10 takes no prefix; octal gets a leading 0 unless it has one
        octal = "" if body.startswith("0") else "0"
        body = {"b": "0b", "o": octal, "O": octal, "x": "0x", "X": "0X"}.get(verb, "") + body
    if verb == "O":
        body = "0o" + body
    sign = "-" if n < 0 else "+" if spec.plus else " " if spec.space else ""
    return spec.pad(sign + body, zero_ok=False)


def _fmt_float(f: float, verb: str, spec: Spec) -> str:
    go_verb = "g" if verb == "v" else "f" if verb == "F" else verb
    prec = spec.prec if spec.prec is not None else (6 if go_verb in "eEf" else -1)
    num = _binary_float(f, go_verb, prec) if go_verb in "xXb" else format_float(f, go_verb, prec)
    num = num if num.startswith(("-", "+")) else "+" + num
    if spec.space and num[0] == "+" and not spec.plus:
        num = " " + num[1:]
    if num[1] in "IN":  # infinities and NaN are never zero-padded
        if num[1] == "N" and not spec.space and not spec.plus:
            num = num[1:]
        return Spec(minus=spec.minus, width=spec.width).pad(num)
    if spec.sharp and go_verb != "b":
        num = _keep_point(num, go_verb, prec)
    if spec.plus or num[0] != "+":
        if spec.zero and not spec.minus and spec.width is not None and spec.width > len(num):
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return spec.pad(num)
    return spec.pad(num[1:])


def _keep_point(num: str, verb: str, prec: int) -> str:
    """The ``#`` flag on a float: always a decimal point, and %g/%v/%x keep trailing zeros (fmtFloat)."""
    digits = (6 if prec == -1 else prec) if verb in "gGx" else 0
    body, tail, out = num[1:], "", []
    has_point = saw_nonzero = False
    for i, c in enumerate(body):
        if c == ".":
            has_point = True
        elif c in "pP" or (c in "eE" and verb not in "xX"):
            tail = body[i:]
            break
        else:
            saw_nonzero = saw_nonzero or c != "0"
            digits -= saw_nonzero
        out.append(c)
    text = "".join(out)
    if not has_point:
        digits -= text == "0"
        text += "."
    return num[0] + text + "0" * max(digits, 0) + tail


def _binary_float(f: float, verb: str, prec: int = -1) -> str:
    """strconv's ``b`` (``4503599627370496p-52``) and ``x``/``X`` formats (``0x1.8p+01``: shortest
    when `prec` is -1, else `prec` hex digits rounded half to even, as strconv's fmtX)."""
    if f != f or f in (float("inf"), float("-inf")):
        return format_float(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    a = abs(f)
    if verb == "b":
        if a < 2.2250738585072014e-308:  # zero and subnormals
            return f"{sign}{int(math.ldexp(a, 1074))}p-1074"
        m, e = math.frexp(a)
        return f"{sign}{int(math.ldexp(m, 53))}p{e - 53:+d}"
    mant, exp = 0, 0
    if a:
        m, e = math.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
        mant, exp = int(math.ldexp(m, 61)), e - 1  # the leading 1 at bit 60
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & (1 << 60) - 1
        mant >>= 60 - shift
        if (extra | (mant & 1)) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & 1 << 61:  # rounded up to 2: 1 with the next exponent
            mant >>= 1
            exp += 1
    frac, digits = mant & (1 << 60) - 1, list[str]()
    while len(digits) < prec or (prec < 0 and frac):
        digits.append("0123456789abcdef"[frac >> 56])
        frac = (frac << 4) & (1 << 60) - 1
    point = "." + "".join(digits) if digits else ""
    num = f"0x{mant >> 60}{point}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + (num.upper() if verb == "X" else num)


def _fmt_hex_bytes(data: bytes, verb: str, spec: Spec) -> str:
    """fmt's fmtSbx: hex digits per byte; ``#`` adds 0x (before each byte with the space flag), the
    space flag separates the bytes."""
    data = data[: spec.prec]
    prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
    pairs = [f"{b:02x}" if verb == "x" else f"{b:02X}" for b in data]
    if not pairs:
        return spec.pad("")
    text = (" ".join(prefix + p for p in pairs)) if spec.space else prefix + "".join(pairs)
    return spec.pad(text)


def can_backquote(s: str) -> bool:
    """strconv.CanBackquote: one line without control characters (tab allowed), backquotes or BOM."""
    for c in s:
        code = ord(c)
        if (
            code == 0xFEFF
            or 0xDC80 <= code <= 0xDCFF
            or code == 0x7F
            or c == "`"
            or (code < 0x20 and c != "\t")
        ):
            return False
    return True


def _fmt_str(s: str, verb: str, spec: Spec) -> str:
    if verb in "xX":
        return _fmt_hex_bytes(go_bytes(s), verb, spec)
    if spec.prec is not None:
        s = s[: spec.prec]
    if verb in "vs":
        return spec.pad(s)
    if verb == "q" and spec.sharp and can_backquote(s):
        return spec.pad(f"`{s}`")
    return spec.pad(quote(s, spec.plus))


def _bad_verb(value: object, verb: str, spec: Spec) -> str:
    if value is None or value is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={_format(value, 'v', spec, top=True)})"


def _format(value: object, verb: str, spec: Spec, top: bool = True) -> str:
    if value is None or value is MISSING:
        if top and verb != "v":
            return _bad_verb(None, verb, spec)
        return spec.pad("<nil>")
    if isinstance(value, bool):
        return spec.pad("true" if value else "false") if verb in "tv" else _bad_verb(value, verb, spec)
    if is_int(value):
        assert isinstance(value, int)
        if verb in "vdboOxXcqU":
            return _fmt_int(value, verb, spec)
        return _bad_verb(value, verb, spec)
    if isinstance(value, float):
        if verb in "veEfFgG":
            return _fmt_float(value, verb, spec)
        if verb in "xXb":
            return _fmt_float(value, verb, spec)
        return _bad_verb(value, verb, spec)
    if isinstance(value, str):
        return _fmt_str(value, verb, spec) if verb in "vsqxX" else _bad_verb(value, verb, spec)
    if isinstance(value, list):
        if verb in "sqxX" and value and all(isinstance(v, Uint8) for v in value):
            raise FuncError("printf: byte slices are not supported")
        return "[" + " ".join(_format(v, verb, spec, top=False) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return (
            "map["
            + " ".join(
                f"{_format(k, verb, spec, top=False)}:{_format(v, verb, spec, top=False)}" for k, v in items
            )
            + "]"
        )
    if isinstance(value, GoStruct):
        parts = []
        for name, field in value.fields.items():
            shown = _format(field, verb, spec, top=False)
            parts.append(f"{name}:{shown}" if spec.plus_v else shown)
        return "{" + " ".join(parts) + "}"
    raise TypeError(f"not a Go template value: {type(value).__name__}")


def go_syntax(value: object, spec: Spec, top: bool = True) -> str:
    """``%#v`` of a slice, map or struct: Go syntax, as ``[]interface {}{1, "a"}``."""
    if value is None or value is MISSING:
        return "<nil>" if top else "interface {}(nil)"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Uint8):
        return f"0x{value:x}"
    if isinstance(value, (bool, int, float)):
        return _format(value, "v", Spec(), top=False)
    if isinstance(value, list):
        if isinstance(value, GoList) and value.nil:
            return go_type(value) + "(nil)"
        return go_type(value) + "{" + ", ".join(go_syntax(v, spec, False) for v in value) + "}"
    if isinstance(value, dict):
        items = sorted(value.items())
        return (
            go_type(value)
            + "{"
            + ", ".join(f"{quote(k)}:{go_syntax(v, spec, False)}" for k, v in items)
            + "}"
        )
    assert isinstance(value, GoStruct)
    fields = ", ".join(f"{name}:{go_syntax(v, spec, False)}" for name, v in value.fields.items())
    return value.name + "{" + fields + "}"


def format_arg(value: object, verb: str, spec: Spec) -> str:
    """One printf operand: ``printArg(value, verb)`` with the flags, width and precision of ``spec``."""
    if verb == "T":  # nil is padded, never cut to the precision (printArg's padString)
        return spec.pad("<nil>") if value is None or value is MISSING else _fmt_str(go_type(value), "s", spec)
    if verb == "p" and isinstance(value, (list, dict)):
        raise FuncError("printf: %p (a memory address) is not supported")
    return _format(value, verb, spec)


def format_value(value: object) -> str:
    """``fmt.Sprint(value)``: the ``%v`` form."""
    return _format(value, "v", Spec())


def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    """``fmt.Sprintln``: operands separated by spaces, then a newline."""
    return " ".join(format_value(a) for a in args) + "\n"
