"""Sprig v3's list and dict functions (sprig v3.3.0).

- lists: ``list tuple first last rest initial append push prepend concat reverse uniq compact has without
  slice until untilStep join split splitList splitn toStrings sortAlpha deepEqual``. ``has``, ``uniq``
  and ``without`` compare as Go's ``reflect.DeepEqual`` (``1`` and ``int64 1`` differ); ``rest`` and
  ``initial`` of an empty list and ``concat`` of nothing are nil slices (``[]`` printed, ``null`` in
  JSON); ``split`` gives a ``map[string]string`` keyed ``_0``, ``_1``, …; ``sortAlpha`` sorts bytewise;
- dicts: ``dict get set unset hasKey pluck pick omit keys``. ``keys`` returns the keys sorted, where Go's map
  order is random (so only ``keys … | sortAlpha`` is reproducible in Go anyway). These take a
  ``map[string]interface{}``: the seed's ``map[string]string`` ``.Variables`` is a type error there, as in
  Go. ``set`` changes the map in place, as Go's maps are references.

The ``must`` variants (``mustFirst`` …) return as an error what the plain functions panic with; to a
template both are the same failure.
"""

from __future__ import annotations

from .goexec import Function
from .gotypes import FuncError, GoList, GoStruct, StrMap, go_bytes, go_type
from .sprig_data import empty, kind_of, to_int
from .sprig_strings import strval

__all__ = ["LIST_FUNCS", "deep_equal"]


def deep_equal(a: object, b: object) -> bool:
    """Go's reflect.DeepEqual on template values."""
    if a is None or b is None:
        return a is b
    if go_type(a) != go_type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        if (isinstance(a, GoList) and a.nil) != (isinstance(b, GoList) and b.nil):
            return False  # a nil slice is not DeepEqual to an empty one
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, GoStruct) and isinstance(b, GoStruct):
        return deep_equal(a.fields, b.fields)
    return a == b


def _list_items(v: object, what: str) -> list[object]:
    if isinstance(v, list):
        return list(v)
    raise FuncError(f"Cannot {what} on type {kind_of(v)}")


def _first(v: object) -> object:
    items = _list_items(v, "find first")
    return items[0] if items else None


def _last(v: object) -> object:
    items = _list_items(v, "find last")
    return items[-1] if items else None


def _rest(v: object) -> list[object]:
    items = _list_items(v, "find rest")
    return items[1:] if items else GoList(elem="interface {}", nil=True)


def _initial(v: object) -> list[object]:
    items = _list_items(v, "find initial")
    return items[:-1] if items else GoList(elem="interface {}", nil=True)


def _concat(*lists: object) -> list[object]:
    out: list[object] = GoList(elem="interface {}", nil=True)
    for v in lists:
        out.extend(_list_items(v, "concat"))
    if out:
        return list(out)
    return out


def _uniq(v: object) -> list[object]:
    out: list[object] = []
    for item in _list_items(v, "find uniq"):
        if not any(deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _without(v: object, *omit: object) -> list[object]:
    return [i for i in _list_items(v, "find without") if not any(deep_equal(i, o) for o in omit)]


def _has(needle: object, haystack: object) -> bool:
    if haystack is None:
        return False
    return any(deep_equal(needle, item) for item in _list_items(haystack, "find has"))


def _slice(v: object, *indices: object) -> object:
    items = _list_items(v, "slice")
    if not items:
        return None
    start = to_int(indices[0]) if indices else 0
    end = to_int(indices[1]) if len(indices) >= 2 else len(items)
    if not 0 <= start <= end <= len(items):
        raise FuncError(f"reflect: slice index out of range [{start}:{end}]")
    part = v[start:end]  # type: ignore[index]
    return GoList(part, v.elem) if isinstance(v, GoList) else list(part)


def _strslice(v: object) -> GoList:
    if isinstance(v, GoList) and v.elem == "string":
        return v
    if isinstance(v, list):
        return GoList([strval(i) for i in v if i is not None])
    return GoList() if v is None else GoList([strval(v)])


def _sort_alpha(v: object) -> GoList:
    if isinstance(v, list):
        return GoList(sorted(_strslice(v), key=lambda s: go_bytes(str(s))))
    return GoList([strval(v)])


def _split_parts(orig: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(orig)
        return chars if n < 0 or n >= len(chars) else [*chars[: n - 1], "".join(chars[n - 1 :])]
    return orig.split(sep, n - 1 if n > 0 else -1)


def _split(sep: str, orig: str) -> StrMap:
    return StrMap({f"_{i}": part for i, part in enumerate(_split_parts(orig, sep))})


def _splitn(sep: str, n: int, orig: str) -> StrMap:
    return StrMap({f"_{i}": part for i, part in enumerate(_split_parts(orig, sep, n))})


def _until_step(start: int, stop: int, step: int) -> GoList:
    if stop < start:
        return GoList(range(start, stop, step) if step < 0 else [], "int")
    return GoList(range(start, stop, step) if step > 0 else [], "int")


def _dict(*args: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for i in range(0, len(args), 2):
        out[strval(args[i])] = args[i + 1] if i + 1 < len(args) else ""
    return out


def _writable(d: object) -> dict[str, object]:
    if d is None:
        raise FuncError("assignment to entry in nil map")
    assert isinstance(d, dict)
    return d


def _set(d: object, key: str, value: object) -> object:
    _writable(d)[key] = value
    return d


def _unset(d: object, key: str) -> object:
    if d is not None:
        _writable(d).pop(key, None)
    return d


def _get(d: object, key: str) -> object:
    return d.get(key, "") if isinstance(d, dict) else ""


def _pick(d: object, *keys: str) -> dict[str, object]:
    source = d if isinstance(d, dict) else {}
    return {k: source[k] for k in keys if k in source}


def _omit(d: object, *keys: str) -> dict[str, object]:
    source = d if isinstance(d, dict) else {}
    return {k: v for k, v in source.items() if k not in keys}


def _keys(*dicts: object) -> GoList:
    return GoList(sorted(k for d in dicts if isinstance(d, dict) for k in d))


def _pluck(key: str, *dicts: object) -> list[object]:
    return [d[key] for d in dicts if isinstance(d, dict) and key in d]


_A = ("any",)
LIST_FUNCS: dict[str, Function] = {
    "list": Function((), lambda *v: list(v), variadic="any"),
    "tuple": Function((), lambda *v: list(v), variadic="any"),
    "first": Function(_A, _first),
    "last": Function(_A, _last),
    "rest": Function(_A, _rest),
    "initial": Function(_A, _initial),
    "append": Function(("any", "any"), lambda v, x: [*_list_items(v, "push"), x]),
    "push": Function(("any", "any"), lambda v, x: [*_list_items(v, "push"), x]),
    "prepend": Function(("any", "any"), lambda v, x: [x, *_list_items(v, "prepend")]),
    "concat": Function((), _concat, variadic="any"),
    "reverse": Function(_A, lambda v: _list_items(v, "find reverse")[::-1]),
    "uniq": Function(_A, _uniq),
    "compact": Function(_A, lambda v: [i for i in _list_items(v, "compact") if not empty(i)]),
    "has": Function(("any", "any"), _has),
    "without": Function(_A, _without, variadic="any"),
    "slice": Function(_A, _slice, variadic="any"),
    "until": Function(("int",), lambda n: _until_step(0, n, 1 if n >= 0 else -1)),
    "untilStep": Function(("int", "int", "int"), _until_step),
    "join": Function(("string", "any"), lambda sep, v: sep.join(_strslice(v))),
    "split": Function(("string", "string"), _split),
    "splitList": Function(("string", "string"), lambda sep, orig: GoList(_split_parts(orig, sep))),
    "splitn": Function(("string", "int", "string"), _splitn),
    "toStrings": Function(_A, _strslice),
    "deepEqual": Function(("any", "any"), deep_equal),
    "sortAlpha": Function(_A, _sort_alpha),
    "dict": Function((), _dict, variadic="any"),
    "get": Function(("map", "string"), _get),
    "set": Function(("map", "string", "any"), _set),
    "unset": Function(("map", "string"), _unset),
    "hasKey": Function(("map", "string"), lambda d, k: isinstance(d, dict) and k in d),
    "pluck": Function(("string",), _pluck, variadic="map"),
    "pick": Function(("map",), _pick, variadic="string"),
    "omit": Function(("map",), _omit, variadic="string"),
    "keys": Function((), _keys, variadic="map"),
}

# sprig's must* variants return as an error what the plain ones panic with: the same to a template.
for _name in ("append", "push", "prepend", "first", "last", "rest", "initial", "reverse", "uniq", "without"):
    LIST_FUNCS["must" + _name[0].upper() + _name[1:]] = LIST_FUNCS[_name]
for _name in ("has", "compact", "slice"):
    LIST_FUNCS["must" + _name[0].upper() + _name[1:]] = LIST_FUNCS[_name]
