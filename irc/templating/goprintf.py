"""printf for Go templates: ``fmt.Sprintf``'s ``doPrintf`` — parsing the format, then ``gofmt.format_arg``.

The format is read as Go reads it: ``%``, flags ``#0+- ``, an optional ``[n]`` argument index, a width
(digits or ``*``, an int argument; a negative one left-aligns), an optional ``.`` precision (digits or
``*``), another ``[n]``, then the verb (any character). Go's complaints are part of the output:
``%!d(MISSING)`` when the arguments run out, ``%!(EXTRA int=2, string=x)`` for unused ones (not after an
explicit index), ``%!d(BADINDEX)`` for an index out of range or misplaced, ``%!(BADWIDTH)`` and
``%!(BADPREC)`` for a ``*`` whose argument is no int, ``%!(NOVERB)`` for a format ending in a directive.
``%%`` is a percent sign and takes no argument. Widths and precisions stop at Go's limit (a number over
10^6 before its last digit ends the format).
"""

from __future__ import annotations

from collections.abc import Sequence

from .gofmt import Spec, format_arg, format_value, go_syntax
from .gotypes import MISSING, GoStruct, Uint8, go_type, is_int

__all__ = ["sprintf"]

_TOO_LARGE = 1_000_000


def _parsenum(fmt: str, start: int, end: int) -> tuple[int | None, int]:
    """fmt's parsenum: the number at ``start`` (None if none) and where it ends; too large ends it all."""
    if start >= end:
        return None, end
    num, i = 0, start
    while i < end and "0" <= fmt[i] <= "9":
        if num > _TOO_LARGE:
            return None, end
        num = num * 10 + ord(fmt[i]) - ord("0")
        i += 1
    return (num if i > start else None), i


def _int_from_arg(args: Sequence[object], arg_num: int) -> tuple[int, bool, int]:
    """fmt's intFromArg: the argument as a width or precision, whether it is one, the next argument."""
    if arg_num >= len(args):
        return 0, False, arg_num
    value = args[arg_num]
    if is_int(value) and abs(value) <= _TOO_LARGE:  # type: ignore[arg-type]
        return int(value), True, arg_num + 1  # type: ignore[call-overload]
    return 0, False, arg_num + 1


class _Printer:
    def __init__(self, fmt: str, args: Sequence[object]) -> None:
        self.fmt, self.args = fmt, args
        self.arg_num = 0
        self.reordered = False
        self.good_arg_num = True

    def arg_number(self, i: int) -> tuple[int, bool]:
        """fmt's argNumber: an ``[n]`` at ``i`` selects argument n; returns the new position and whether
        an index was there."""
        fmt = self.fmt
        if i >= len(fmt) or fmt[i] != "[":
            return i, False
        self.reordered = True
        index, width, ok = -1, 1, False
        if len(fmt) - i >= 3:
            close = fmt.find("]", i + 1)
            if close >= 0:
                num, after = _parsenum(fmt, i + 1, close)
                width = close - i + 1
                if num is not None and after == close:
                    index, ok = num - 1, True
        if ok and 0 <= index < len(self.args):
            self.arg_num = index
            return i + width, True
        self.good_arg_num = False
        return i + width, ok

    def run(self) -> str:
        fmt, args, out = self.fmt, self.args, []
        end, i = len(fmt), 0
        after_index = False
        while i < end:
            self.good_arg_num = True
            percent = fmt.find("%", i)
            if percent < 0:
                out.append(fmt[i:])
                break
            out.append(fmt[i:percent])
            i = percent + 1
            spec = Spec()
            fast = False
            while i < end:
                c = fmt[i]
                if c in "#0+- ":
                    spec.sharp |= c == "#"
                    spec.zero |= c == "0"
                    spec.plus |= c == "+"
                    spec.minus |= c == "-"
                    spec.space |= c == " "
                    i += 1
                    continue
                if "a" <= c <= "z" and self.arg_num < len(args):  # fmt's fast path
                    out.append(self.print_arg(args[self.arg_num], c, spec))
                    self.arg_num += 1
                    i += 1
                    fast = True
                break
            if fast:
                continue
            i, after_index = self.arg_number(i)
            if i < end and fmt[i] == "*":
                i += 1
                width, ok, self.arg_num = _int_from_arg(args, self.arg_num)
                spec.width = width if ok else None
                if not ok:
                    out.append("%!(BADWIDTH)")
                elif width < 0:
                    spec.width, spec.minus = -width, True
                after_index = False
            else:
                spec.width, i = _parsenum(fmt, i, end)
                if after_index and spec.width is not None:
                    self.good_arg_num = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                i, after_index = self.arg_number(i)
                if i < end and fmt[i] == "*":
                    i += 1
                    prec, ok, self.arg_num = _int_from_arg(args, self.arg_num)
                    ok = ok and prec >= 0
                    spec.prec = prec if ok else None
                    if not ok:
                        out.append("%!(BADPREC)")
                    after_index = False
                else:
                    digits, i = _parsenum(fmt, i, end)
                    spec.prec = digits or 0
            if not after_index:
                i, after_index = self.arg_number(i)
            if i >= end:
                out.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                out.append("%")
            elif not self.good_arg_num:
                out.append(f"%!{verb}(BADINDEX)")
            elif self.arg_num >= len(args):
                out.append(f"%!{verb}(MISSING)")
            else:
                out.append(self.print_arg(args[self.arg_num], verb, spec))
                self.arg_num += 1
        if not self.reordered and self.arg_num < len(args):
            extra = [
                "<nil>" if a is None or a is MISSING else f"{go_type(a)}={format_value(a)}"
                for a in args[self.arg_num :]
            ]
            out.append("%!(EXTRA " + ", ".join(extra) + ")")
        return "".join(out)

    @staticmethod
    def print_arg(value: object, verb: str, spec: Spec) -> str:
        if spec.minus:
            spec.zero = False  # zero padding only ever goes to the left
        if verb == "v":
            spec.plus_v, spec.plus = spec.plus, False
            if spec.sharp:  # %#v, Go syntax: the same as %v for these, but strings are quoted
                if isinstance(value, (list, dict, GoStruct)):
                    return spec.pad(go_syntax(value, spec))
                if isinstance(value, str):
                    spec.sharp = False
                    return format_arg(value, "q", spec)
                spec.sharp = isinstance(value, Uint8)
        return format_arg(value, verb, spec)


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf(fmt, args...)``."""
    return _Printer(fmt, args).run()
