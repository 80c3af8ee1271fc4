"""Go values as the Go template engine sees them, and the conversions text/template applies to them.

Go's text/template works on ``reflect.Value``s, and several observable behaviours depend on Go types, so
this module keeps the few distinctions that show in the output:

=====================  ==========================================================================
Python                 Go
=====================  ==========================================================================
``MISSING``            the invalid ``reflect.Value``: a missing map key, or nil after a pipeline;
                       prints ``<no value>``
``None``               a nil ``interface{}`` inside a map or slice (``print`` shows ``<nil>``)
``str``                string (its bytes are UTF-8; a byte that is no valid UTF-8, as ``"\\x80"``
                       makes, is a surrogate-escaped code point)
``bool``               bool
``int``                int (64-bit): number literals, ``len``
``Int64``              int64: sprig's arithmetic results; not assignable to an ``int`` parameter
``Uint8``              uint8: a byte of a string (``index "abc" 0``)
``float``              float64
``list``               ``[]interface{}``; ``GoList`` a typed slice such as ``[]string``
``dict``               ``map[string]interface{}``; ``StrMap`` is ``map[string]string``
``GoStruct``           a struct (the seed's ``TemplateVars``): a field it lacks is an error
=====================  ==========================================================================

``assign`` is text/template's ``validateType`` for a function parameter of a given Go type.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

__all__ = [
    "MISSING",
    "ExecError",
    "FuncError",
    "GoList",
    "GoStruct",
    "Int64",
    "StrMap",
    "Uint8",
    "assign",
    "from_python",
    "go_bytes",
    "go_str",
    "go_type",
    "is_int",
    "is_letter_or_digit",
    "is_true",
    "normalize_output",
    "wrap_int64",
]


class _Missing:
    """The invalid reflect.Value (a singleton)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class Int64(int):
    """A Go int64 (sprig's add, sub, mul, … return one)."""

    __slots__ = ()


class Uint8(int):
    """A Go uint8: a byte of a string."""

    __slots__ = ()


class GoList(list[object]):
    """A typed Go slice, ``[]<elem>``, such as the ``[]string`` of ``splitList``; ``nil`` marks a nil
    slice (it prints ``[]`` but encodes to JSON ``null``)."""

    def __init__(self, items: Sequence[object] = (), elem: str = "string", nil: bool = False) -> None:
        super().__init__(items)
        self.elem, self.nil = elem, nil


class StrMap(dict[str, object]):
    """A Go ``map[string]string``: a missing key indexes to ``""`` rather than nil."""


class GoStruct:
    """A Go struct: fields in declaration order. Looking up a field it lacks is an execution error."""

    __slots__ = ("fields", "name")

    def __init__(self, fields: Mapping[str, object], name: str = "struct") -> None:
        self.fields = dict(fields)
        self.name = name

    def __repr__(self) -> str:
        return f"GoStruct({self.fields!r})"


class ExecError(Exception):
    """An execution error of the template (text/template's ``state.errorf``)."""


class FuncError(Exception):
    """A template function failed: text/template reports ``error calling <name>: <message>``."""


def wrap_int64(n: int) -> int:
    """Go's two's-complement wrap-around of a 64-bit integer."""
    return (n + 2**63) % 2**64 - 2**63


def is_int(value: object) -> bool:
    """A Go integer (int, int64 or uint8), not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def go_type(value: object) -> str:
    """The Go type name of a value, as ``%T`` and text/template's messages spell it."""
    if value is None or value is MISSING:
        return "interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, Uint8):
        return "uint8"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoList):
        return f"[]{value.elem}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, GoStruct):
        return value.name
    raise TypeError(f"not a Go template value: {type(value).__name__}")


def is_true(value: object) -> bool:
    """text/template's truth: false, 0, nil, and empty strings, slices and maps are false; structs true."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True  # structs


def go_bytes(s: str) -> bytes:
    """A Go string's bytes."""
    return s.encode("utf-8", "surrogateescape")


def go_str(b: bytes) -> str:
    """Bytes as a Go string (invalid UTF-8 kept as surrogate escapes)."""
    return b.decode("utf-8", "surrogateescape")


# Parameter types a template function declares: what text/template's validateType lets through.
_KIND_CHECK = {
    "string": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: is_int(v) and type(v) is int,
    "int64": lambda v: isinstance(v, Int64),
    "float64": lambda v: isinstance(v, float),
    "map": lambda v: type(v) is dict,  # map[string]interface{}
}
_NAMES = {"map": "map[string]interface {}"}


def assign(value: object, typ: str) -> object:
    """text/template's ``validateType``: the value a parameter of Go type ``typ`` receives.

    ``typ`` is ``any`` (``interface{}``), ``value`` (``reflect.Value``, the builtins' parameters: a missing
    value stays ``MISSING``) or one of ``string bool int int64 float64 map``. A missing value becomes nil
    for ``any`` and ``map``, and is an error for the others; a value of another type is an error."""
    if typ == "value":
        return MISSING if value is None else value
    if value is MISSING:
        if typ in ("any", "map"):
            return None
        raise ExecError(f"invalid value; expected {_NAMES.get(typ, typ)}")
    if typ == "any" or _KIND_CHECK[typ](value):
        return value
    raise ExecError(f"wrong type for value; expected {_NAMES.get(typ, typ)}; got {go_type(value)}")


def from_python(value: object, *, top: bool = False) -> object:
    """Plain data (mappings with string keys, sequences, str, bool, int, float, None) as Go template data.

    Mappings become ``map[string]interface{}``; with ``top``, a mapping of strings becomes
    ``map[string]string`` (``StrMap``), as the seed's ``Variables`` field is."""
    if value is None or isinstance(value, (str, bool, int, float, GoStruct)):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"template data keys must be strings, got {key!r}")
            out[key] = from_python(item)
        if top and all(isinstance(v, str) for v in out.values()):
            return StrMap(out)
        return out
    if isinstance(value, Sequence):
        return [from_python(item) for item in value]
    raise TypeError(f"template data must be plain data, got {type(value).__name__}")


def normalize_output(s: str) -> str:
    """Output as UTF-8 text: escaped bytes that form valid UTF-8 together are decoded, each other byte
    that is no valid UTF-8 becomes U+FFFD (Go would write the raw byte; encoding/json, Kubernetes and Git
    tooling read it as U+FFFD)."""
    if not any(0xDC80 <= ord(c) <= 0xDCFF for c in s):
        return s
    text = s.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    return "".join("\ufffd" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text)


def is_letter_or_digit(c: str) -> bool:
    """Go's ``unicode.IsLetter(r) || unicode.IsDigit(r)``."""
    category = unicodedata.category(c)
    return category[0] == "L" or category == "Nd"
