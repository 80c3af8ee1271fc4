"""Sprig v3's value functions (v3.3.0): defaults, numbers, JSON and types (lists and dicts: sprig_lists).

- defaults: ``default empty coalesce all any ternary`` — "empty" is nil, false, 0, "" or an empty
  list or map (structs never are), so ``default 5 0`` is 5;
- numbers (spf13/cast conversions, 64-bit wrap-around): ``add add1 sub mul div mod max min int int64
  float64 atoi``;
- JSON (Go's encoding/json: sorted keys, ``<>&`` escaped): ``toJson toPrettyJson toRawJson fromJson`` and
  their ``must`` variants, which fail where the plain ones give "" or nil;
- types: ``typeOf typeIs typeIsLike kindOf kindIs``, and ``hello``;
- versions: ``semverCompare`` (Masterminds/semver ranges, through ``irc.tags.semver``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ..tags.semver import Constraint, parse_version
from .goexec import Function
from .gofmt import format_float
from .goliterals import parse_float, parse_uint
from .gotypes import FuncError, GoList, GoStruct, Int64, go_type, is_int, wrap_int64

__all__ = ["DATA_FUNCS", "empty", "go_json", "kind_of", "to_float64", "to_int", "to_int64"]


def empty(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, (bool, int, float)):
        return not v
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    return False


def _default(d: object, *given: object) -> object:
    return d if not given or empty(given[0]) else given[0]


def _coalesce(*values: object) -> object:
    return next((v for v in values if not empty(v)), None)


def _trim_zero_decimal(s: str) -> str:
    found_zero = False
    for i in range(len(s), 0, -1):
        c = s[i - 1]
        if c == ".":
            if found_zero:
                return s[: i - 1]
        elif c == "0":
            found_zero = True
        else:
            return s
    return s


def _parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64)."""
    sign = -1 if s[:1] == "-" else 1
    body = s[1:] if s[:1] in "+-" else s
    value = parse_uint(body) if body else None
    if value is None or value > 2**63 - (sign > 0):
        return None
    return sign * value


def to_int64(v: object) -> int:
    """spf13/cast's ToInt64 (0 when it cannot convert)."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return int(v) if v == v and -(2**63) <= v < 2**63 else -(2**63)
    if isinstance(v, str):
        parsed = _parse_int(_trim_zero_decimal(v))
        return parsed if parsed is not None else 0
    return 0


to_int = to_int64  # Go's int is 64 bits


def to_float64(v: object) -> float:
    """spf13/cast's ToFloat64 (0 when it cannot convert)."""
    if v is None:
        return 0.0
    if isinstance(v, (bool, int, float)):
        return float(v)
    if isinstance(v, str):
        word = v.lstrip("+-").lower()
        if word in ("inf", "infinity", "nan"):
            return float(v.lower().replace("infinity", "inf"))
        parsed = parse_float(v)
        return parsed if parsed is not None else 0.0
    return 0.0


def _atoi(s: str) -> int:
    body = s[1:] if s[:1] in "+-" else s
    if not body or not all("0" <= c <= "9" for c in body):
        return 0
    value = int(s)
    return value if -(2**63) <= value < 2**63 else 0


def _div(a: object, b: object) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise FuncError("runtime error: integer divide by zero")
    q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
    return Int64(wrap_int64(q))


def _mod(a: object, b: object) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise FuncError("runtime error: integer divide by zero")
    q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
    return Int64(x - y * q)


def _mul(a: object, *rest: object) -> Int64:
    value = to_int64(a)
    for b in rest:
        value = wrap_int64(value * to_int64(b))
    return Int64(value)


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_string(s: str, escape_html: bool) -> str:
    out = ['"']
    for c in s:
        code = ord(c)
        if c in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[c])
        elif code < 0x20 or (escape_html and c in "<>&") or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(c)
    return "".join(out) + '"'


def go_json(v: object, escape_html: bool = True, indent: str | None = None, level: int = 0) -> str:
    """Go's json.Marshal (json.MarshalIndent with ``indent``); ValueError for NaN and infinities."""
    if v is None or (isinstance(v, GoList) and v.nil):
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_int(v):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("json: unsupported value")
        if v != 0 and (abs(v) < 1e-6 or abs(v) >= 1e21):
            text = format_float(v, "e")
            mantissa, _, exp = text.partition("e")
            return f"{mantissa}e{exp[0]}{exp[1:].lstrip('0') or '0'}" if exp[0] == "-" else text
        return format_float(v, "f")
    if isinstance(v, str):
        return _json_string(v, escape_html)
    if isinstance(v, GoStruct):
        v = v.fields
        pairs = list(v.items())
    elif isinstance(v, dict):
        pairs = sorted(v.items())
    else:
        assert isinstance(v, list)
        if not v:
            return "[]"
        items = [go_json(i, escape_html, indent, level + 1) for i in v]
        return _join("[", items, "]", indent, level)
    if not pairs:
        return "{}"
    sep = ": " if indent is not None else ":"
    items = [
        _json_string(k, escape_html) + sep + go_json(x, escape_html, indent, level + 1) for k, x in pairs
    ]
    return _join("{", items, "}", indent, level)


def _join(open_: str, items: list[str], close: str, indent: str | None, level: int) -> str:
    if indent is None:
        return open_ + ",".join(items) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(items) + "\n" + indent * level + close


def _to_json(v: object) -> str:
    try:
        return go_json(v)
    except ValueError:
        return ""


def _must(encode: Callable[[object], str]) -> Callable[[object], str]:
    def must(v: object) -> str:
        try:
            return encode(v)
        except ValueError as err:
            raise FuncError(str(err)) from None

    return must


class _OutOfRange:
    """A JSON number float64 cannot hold: Go leaves nil there and reports an error."""


def _number(text: str) -> object:
    value = float(text)
    return _OutOfRange() if value in (float("inf"), float("-inf")) else value


def _reject(word: str) -> object:
    raise ValueError(word)


def _parse_json(s: str) -> tuple[object, bool]:
    """Go's json.Unmarshal into interface{}: numbers are float64; one out of range becomes nil and makes
    the result an error (Go completes the rest). ValueError when the text is no JSON."""
    out_of_range = False

    def fix(v: object) -> object:
        nonlocal out_of_range
        if isinstance(v, _OutOfRange):
            out_of_range = True
            return None
        if isinstance(v, list):
            return [fix(i) for i in v]
        if isinstance(v, dict):
            return {k: fix(i) for k, i in v.items()}
        return v

    try:
        value = json.loads(s, parse_int=_number, parse_float=_number, parse_constant=_reject)
    except RecursionError:
        raise ValueError("too deeply nested") from None
    return fix(value), out_of_range


def _must_from_json(s: str) -> object:
    try:
        value, out_of_range = _parse_json(s)
    except ValueError as err:
        raise FuncError(f"invalid JSON: {err}") from None
    if out_of_range:
        raise FuncError("json: cannot unmarshal a number out of float64's range")
    return value


def _to_json_indent(v: object) -> str:
    try:
        return go_json(v, indent="  ")
    except ValueError:
        return ""


def _to_raw_json(v: object) -> str:
    try:
        return go_json(v, escape_html=False)
    except ValueError as err:
        raise FuncError(str(err)) from None


def _from_json(s: str) -> object:
    try:
        return _parse_json(s)[0]
    except ValueError:
        return None


def kind_of(v: object) -> str:
    if v is None:
        return "invalid"
    if isinstance(v, list):
        return "slice"
    if isinstance(v, dict):
        return "map"
    return "struct" if isinstance(v, GoStruct) else go_type(v)


def _type_of(v: object) -> str:
    return "<nil>" if v is None else go_type(v)


def _semver_compare(constraint: str, version: str) -> bool:
    try:
        return Constraint(constraint).matches(parse_version(version))
    except ValueError as err:
        raise FuncError(str(err)) from None


_A = ("any",)
DATA_FUNCS: dict[str, Function] = {
    "default": Function(_A, _default, variadic="any"),
    "empty": Function(_A, empty),
    "coalesce": Function((), _coalesce, variadic="any"),
    "all": Function((), lambda *v: all(not empty(x) for x in v), variadic="any"),
    "any": Function((), lambda *v: any(not empty(x) for x in v), variadic="any"),
    "ternary": Function(("any", "any", "bool"), lambda t, f, c: t if c else f),
    "add": Function((), lambda *v: Int64(wrap_int64(sum(to_int64(x) for x in v))), variadic="any"),
    "add1": Function(_A, lambda v: Int64(wrap_int64(to_int64(v) + 1))),
    "sub": Function(("any", "any"), lambda a, b: Int64(wrap_int64(to_int64(a) - to_int64(b)))),
    "mul": Function(_A, _mul, variadic="any"),
    "div": Function(("any", "any"), _div),
    "mod": Function(("any", "any"), _mod),
    "max": Function(_A, lambda a, *r: Int64(max([to_int64(a), *map(to_int64, r)])), variadic="any"),
    "biggest": Function(_A, lambda a, *r: Int64(max([to_int64(a), *map(to_int64, r)])), variadic="any"),
    "min": Function(_A, lambda a, *r: Int64(min([to_int64(a), *map(to_int64, r)])), variadic="any"),
    "int": Function(_A, to_int),
    "int64": Function(_A, lambda v: Int64(to_int64(v))),
    "float64": Function(_A, to_float64),
    "atoi": Function(("string",), _atoi),
    "toJson": Function(_A, _to_json),
    "toPrettyJson": Function(_A, _to_json_indent),
    "toRawJson": Function(_A, _to_raw_json),
    "fromJson": Function(("string",), _from_json),
    "mustToJson": Function(_A, _must(go_json)),
    "mustToPrettyJson": Function(_A, _must(lambda v: go_json(v, indent="  "))),
    "mustToRawJson": Function(_A, _must(lambda v: go_json(v, escape_html=False))),
    "mustFromJson": Function(("string",), _must_from_json),
    "typeOf": Function(_A, _type_of),
    "typeIs": Function(("string", "any"), lambda t, v: t == _type_of(v)),
    "typeIsLike": Function(("string", "any"), lambda t, v: _type_of(v) in (t, "*" + t)),
    "kindOf": Function(_A, kind_of),
    "hello": Function((), lambda: "Hello!"),
    "kindIs": Function(("string", "any"), lambda t, v: t == kind_of(v)),
    "semverCompare": Function(("string", "string"), _semver_compare),
}
