"""Go's fmt and strconv formatting of template values: what ``{{ . }}``, print, printf and quote write.

- ``sprint`` is ``fmt.Sprint`` (operands joined, with a space between two that are both non-strings),
  ``sprintln`` is ``fmt.Sprintln``; every value prints as ``%v``: slices ``[a b]``, maps ``map[k:v]`` in
  key order, structs ``{a b}``, nil ``<nil>``, floats as strconv's shortest ``%g`` (``1e+06``, ``0.1``).
- ``format_arg`` is fmt's ``printArg`` for one printf operand (``goprintf`` parses the format): the
  flags ``+ - space 0 #`` (``#`` only with ``%b %o %x %X``), width and precision, and the verbs
  ``%v %s %d %q %t %f %F %e %E %g %G %x %X %o %O %b %c %U %T``; a verb that does not fit the value gives
  Go's ``%!d(string=a)`` or ``%!s(<nil>)``. Not supported (a ``FuncError``): ``%#v`` and other ``#``
  forms, ``%p`` of a list or map (an address), ``%x``/``%X`` of a float with a precision, ``%x`` with the
  space or ``#`` flag on a string.
- ``quote`` is ``strconv.Quote`` (``%q``): Go's escapes, printable Unicode kept.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .gotypes import MISSING, FuncError, GoStruct, Uint8, go_bytes, go_type, is_int

__all__ = [
    "Spec",
    "format_arg",
    "format_float",
    "format_value",
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
        if spec.sharp:
            raise FuncError("printf: %#U is not supported")
        return spec.pad(f"U+{n:04X}" if n >= 0 else f"U+{n & 0xFFFFFFFFFFFFFFFF:X}")
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
    if spec.sharp:
        if verb not in "dboxX":
            raise FuncError(f"printf: %#{verb} is not supported")
        prefix = {"d": "", "b": "0b", "o": "" if body.startswith("0") else "0", "x": "0x", "X": "0X"}[verb]
        body = prefix + body
    if verb == "O":
        body = "0o" + body
    sign = "-" if n < 0 else "+" if spec.plus else " " if spec.space else ""
    return spec.pad(sign + body, zero_ok=False)


def _fmt_float(f: float, verb: str, spec: Spec) -> str:
    if spec.sharp:
        raise FuncError(f"printf: %#{verb} is not supported")
    go_verb = "g" if verb == "v" else verb
    prec = spec.prec if spec.prec is not None else (6 if go_verb in "eEfF" else -1)
    num = format_float(f, go_verb, prec)
    if not num.startswith(("-", "+")):
        num = "+" + num
    if spec.space and num[0] == "+" and not spec.plus:
        num = " " + num[1:]
    if spec.plus or num[0] != "+":
        if spec.zero and not spec.minus and spec.width is not None and spec.width > len(num):
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return spec.pad(num)
    return spec.pad(num[1:])


def _fmt_float_binary(f: float, verb: str, spec: Spec) -> str:
    """``%b`` (``4503599627370496p-52``) and shortest ``%x``/``%X`` (``0x1.8p+01``) of a float64."""
    if spec.sharp or (spec.prec is not None and verb != "b"):
        raise FuncError(f"printf: %{verb} with '#' or a precision is not supported on floats")
    if f != f or f in (float("inf"), float("-inf")):
        return _fmt_float(f, "g", spec)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    a = abs(f)
    if verb == "b":
        if a < 2.2250738585072014e-308:  # zero and subnormals
            num = f"{int(math.ldexp(a, 1074))}p-1074"
        else:
            m, e = math.frexp(a)
            num = f"{int(math.ldexp(m, 53))}p{e - 53:+d}"
    elif a == 0:
        num = "0x0p+00"
    else:
        m, e = math.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
        bits = int(math.ldexp(m, 53)) - 2**52  # the 52 bits after the leading 1
        digits = f"{bits:013x}".rstrip("0")
        exp = e - 1
        num = f"0x1{'.' + digits if digits else ''}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
        if verb == "X":
            num = num.upper()
    num = sign + num if sign else ("+" + num if spec.plus else " " + num if spec.space else num)
    if spec.zero and not spec.minus and spec.width is not None and num[:1] in "+- " and len(num) < spec.width:
        return num[0] + "0" * (spec.width - len(num)) + num[1:]
    return spec.pad(num)


def _fmt_str(s: str, verb: str, spec: Spec) -> str:
    if verb in "xX":
        if spec.sharp or spec.space:
            raise FuncError(f"printf: %{verb} with the '#' or ' ' flag is not supported on strings")
        data = go_bytes(s)[: spec.prec]
        return spec.pad(data.hex().upper() if verb == "X" else data.hex())
    if spec.prec is not None:
        s = s[: spec.prec]
    if verb in "vs":
        return spec.pad(s)
    if verb == "q" and spec.sharp:
        raise FuncError("printf: %#q is not supported")
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
            return _fmt_float_binary(value, verb, spec)
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


def format_arg(value: object, verb: str, spec: Spec) -> str:
    """One printf operand: ``printArg(value, verb)`` with the flags, width and precision of ``spec``."""
    if verb == "T":
        return _fmt_str("<nil>" if value is None or value is MISSING else go_type(value), "s", spec)
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
