"""text/template's builtin functions (``text/template/funcs.go`` semantics).

``and or not len index eq ne lt le gt ge print printf println html js urlquery call``. ``slice`` is
sprig's here, since sprig's function map replaces the builtin of that name. Comparisons follow Go:
integers compare with integers (signed with unsigned too), floats with floats, strings with strings;
anything else is an "incompatible types" error, and ``eq`` treats a missing value as nil (``eq .X nil``
is true, ``eq .X ""`` false). ``len`` and ``index`` count and index strings in bytes.
"""

from __future__ import annotations

from urllib.parse import quote_plus

from .goexec import Function
from .gofmt import format_value, is_print, sprint, sprintln
from .goprintf import sprintf
from .gotypes import MISSING, FuncError, GoList, GoStruct, StrMap, Uint8, go_bytes, go_type, is_int, is_true

__all__ = ["BUILTINS"]


def _not(arg: object) -> bool:
    return not is_true(arg)


def _len(item: object) -> int:
    if isinstance(item, str):
        return len(go_bytes(item))
    if isinstance(item, (list, dict)):
        return len(item)
    if item is MISSING:
        raise FuncError("len of nil pointer")
    raise FuncError(f"len of type {go_type(item)}")


def _index_arg(index: object, cap: int) -> int:
    if index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    if not is_int(index):
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    assert isinstance(index, int)
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item: object, *indexes: object) -> object:
    if item is MISSING:
        raise FuncError("index of untyped nil")
    for index in indexes:
        if item is None or item is MISSING:
            raise FuncError("index of nil pointer")
        if isinstance(item, str):
            data = go_bytes(item)
            position = _index_arg(index, len(data))
            if position >= len(data):
                raise FuncError(f"reflect: string index out of range: {position}")
            item = Uint8(data[position])
        elif isinstance(item, list):
            position = _index_arg(index, len(item))
            if position >= len(item):
                raise FuncError(f"reflect: slice index out of range: {position}")
            item = item[position]
        elif isinstance(item, dict):
            if index is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FuncError(f"value has type {go_type(index)}; should be string")
            item = item.get(index, "" if isinstance(item, StrMap) else None)
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _kind(v: object) -> str:
    """text/template's basicKind: bool, int, uint, float, string, or "" (not comparable by kind)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Uint8):
        return "uint"
    if is_int(v):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return ""


def _reflect_kind(v: object) -> str:
    if v is MISSING:
        return "invalid"
    if isinstance(v, list):
        return "slice"
    if isinstance(v, dict):
        return "map"
    return "struct" if isinstance(v, GoStruct) else _kind(v)


def _eq(arg1: object, *args: object) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if {k1, k2} == {"int", "uint"}:
                truth = arg1 == arg
            elif arg1 is not MISSING and arg is not MISSING:
                raise FuncError(f"incompatible types for comparison: {go_type(arg1)} and {go_type(arg)}")
            else:
                truth = False
        elif k1:
            truth = arg1 == arg
        else:
            r1, r2 = _reflect_kind(arg1), _reflect_kind(arg)
            if r1 != r2 and "invalid" not in (r1, r2):
                raise FuncError(f"non-comparable types {format_value(arg1)}: {go_type(arg1)}, {go_type(arg)}")
            if _is_nil(arg1) or _is_nil(arg):
                truth = _is_nil(arg1) == _is_nil(arg)
            elif r2 != "struct" or any(isinstance(v, (list, dict)) for v in _fields(arg) + _fields(arg1)):
                raise FuncError(f"non-comparable type {format_value(arg)}: {go_type(arg)}")
            else:
                assert isinstance(arg1, GoStruct) and isinstance(arg, GoStruct)
                truth = arg1.fields == arg.fields
        if truth:
            return True
    return False


def _is_nil(v: object) -> bool:
    return v is MISSING or (isinstance(v, GoList) and v.nil)


def _fields(v: object) -> list[object]:
    return list(v.fields.values()) if isinstance(v, GoStruct) else []


def _ne(arg1: object, arg2: object) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: object, arg2: object) -> bool:
    k1, k2 = _kind(arg1), _kind(arg2)
    if not k1 or not k2:
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if {k1, k2} == {"int", "uint"}:
            return bool(arg1 < arg2)  # type: ignore[operator]
        raise FuncError(f"incompatible types for comparison: {go_type(arg1)} and {go_type(arg2)}")
    if k1 == "bool":
        raise FuncError("invalid type for comparison")
    if k1 == "string":
        assert isinstance(arg1, str) and isinstance(arg2, str)
        return go_bytes(arg1) < go_bytes(arg2)
    return bool(arg1 < arg2)  # type: ignore[operator]


def _le(arg1: object, arg2: object) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: object, arg2: object) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: object, arg2: object) -> bool:
    return not _lt(arg1, arg2)


def _eval_args(args: tuple[object, ...]) -> str:
    """text/template's evalArgs: one string as is, else fmt.Sprint with nil shown as <no value>."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is None or a is MISSING else a for a in args])


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _html(*args: object) -> str:
    return "".join(_HTML.get(c, c) for c in _eval_args(args))


def _js_char(c: str) -> str:
    if c in _JS:
        return _JS[c]
    code = ord(c)
    if code < 0x20:
        return f"\\u00{code:02X}"
    # A byte of invalid UTF-8 decodes as U+FFFD, which is printable, so Go copies the byte as it is.
    if code < 0x80 or is_print(c) or 0xDC80 <= code <= 0xDCFF:
        return c
    return f"\\u{code:04X}"


def _js(*args: object) -> str:
    return "".join(_js_char(c) for c in _eval_args(args))


def _urlquery(*args: object) -> str:
    return quote_plus(go_bytes(_eval_args(args)), safe="-_.~")


def _call(*args: object) -> object:
    raise FuncError("call of a value that is not a function (template data holds no functions)")


def _print(*args: object) -> str:
    return sprint(args)


def _printf(fmt: str, *args: object) -> str:
    return sprintf(fmt, args)


def _println(*args: object) -> str:
    return sprintln(args)


def _unreachable(*args: object) -> object:
    raise AssertionError("and/or are evaluated by the executor")


BUILTINS: dict[str, Function] = {
    "and": Function(("value",), _unreachable, variadic="value"),
    "or": Function(("value",), _unreachable, variadic="value"),
    "not": Function(("value",), _not),
    "len": Function(("value",), _len),
    "index": Function(("value",), _index, variadic="value"),
    "eq": Function(("value",), _eq, variadic="value"),
    "ne": Function(("value", "value"), _ne),
    "lt": Function(("value", "value"), _lt),
    "le": Function(("value", "value"), _le),
    "gt": Function(("value", "value"), _gt),
    "ge": Function(("value", "value"), _ge),
    "print": Function((), _print, variadic="any"),
    "printf": Function(("string",), _printf, variadic="any"),
    "println": Function((), _println, variadic="any"),
    "html": Function((), _html, variadic="any"),
    "js": Function((), _js, variadic="any"),
    "urlquery": Function((), _urlquery, variadic="any"),
    "call": Function(("value",), _call, variadic="value"),
}
