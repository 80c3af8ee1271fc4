"""Typed objects: an informer's cache as read-only msgspec Structs, built from the API server's OpenAPI
v3 schema of the kind, instead of dicts.

A dict per JSON object costs 184 to 272 B and is tracked by the garbage collector; a Struct of the same
fields costs 16 B plus 8 per field and is not tracked (`gc=False`: decoded JSON has no cycles). The
decoder fills the Struct straight from the bytes and skips what the schema has no field for, so
`managedFields` (left out of every ObjectMeta here, as the default transform drops it) is never built.
This is client-go's typed informer in Python: docs/performance.md has the figures.

A `TypedObject` reads like the dict it replaces: `obj["metadata"]["name"]`, `obj.get("status")`,
`"spec" in obj`, `dict(obj)`, iteration over the keys present. It cannot be changed (cached objects must
never be, in client-go too): `to_dict(obj)` gives a plain copy to edit and send.

What the schema does not describe is not kept, exactly as Go's typed structs drop it; a field the
schema leaves open (`x-kubernetes-preserve-unknown-fields`, an object without properties) is kept whole
as plain dicts and lists.

A transform can cache typed objects of its own shape too: `struct(name, fields)` declares one by its
field names (irc.api.workloads.slim does).
"""

from __future__ import annotations

import functools
import keyword
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar, cast

import msgspec
import orjson

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Schemas = Mapping[str, Any]  # components.schemas of an OpenAPI v3 document
OMITTED = frozenset({"managedFields"})  # of every object's metadata: the default transform's job
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_REF = "#/components/schemas/"
_NO_FIELD = "_no_field"  # an attribute no Struct has (field names never start with "_")


class TypedObject(msgspec.Struct, frozen=True, gc=False):
    """The base of every generated Struct: read-only dict access by JSON field name. A field the JSON
    did not have is msgspec.UNSET, which reads as absent."""

    _fields_by_json: ClassVar[dict[str, str]] = {}  # JSON name -> attribute

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, self._fields_by_json.get(key, _NO_FIELD), msgspec.UNSET)
        if value is msgspec.UNSET:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, self._fields_by_json.get(key, _NO_FIELD), msgspec.UNSET)
        return default if value is msgspec.UNSET else value

    def __contains__(self, key: object) -> bool:
        attr = self._fields_by_json.get(key, _NO_FIELD) if isinstance(key, str) else _NO_FIELD
        return getattr(self, attr, msgspec.UNSET) is not msgspec.UNSET

    def __iter__(self) -> Iterator[str]:
        return (k for k, a in self._fields_by_json.items() if getattr(self, a) is not msgspec.UNSET)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        """As a dict's: empty is false. `obj.get("metadata") or {}` is everywhere, so this is a loop,
        which took 40% of the time any() over a generator did."""
        for attr in self._fields_by_json.values():  # noqa: SIM110
            if getattr(self, attr) is not msgspec.UNSET:
                return True
        return False

    def keys(self) -> list[str]:
        return list(self)

    def values(self) -> list[Any]:
        return [self[k] for k in self]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self]


Mapping.register(TypedObject)

S = TypeVar("S", bound=type[TypedObject])


def readable(cls: S) -> S:
    """Make a TypedObject subclass readable by JSON name (its renamed fields too): a class decorator for
    Structs declared by hand (the generated ones get it too)."""
    cls._fields_by_json = dict(zip(cls.__struct_encode_fields__, cls.__struct_fields__, strict=True))
    return cls


def to_dict(obj: Mapping[str, Any] | TypedObject) -> Obj:
    """A plain, editable copy of a cached object, typed or not."""
    if isinstance(obj, TypedObject):
        return cast(Obj, msgspec.to_builtins(obj))
    return cast(Obj, orjson.loads(orjson.dumps(obj)))


def struct(name: str, fields: Iterable[str], module: str) -> Any:
    """A readable TypedObject class of `fields` (JSON names that are attribute names), each of any value
    and absent unless given: the shape of a transform's output, declared by its field names."""
    cls = msgspec.defstruct(
        name,
        [(f, Any, msgspec.UNSET) for f in fields],
        bases=(TypedObject,),
        module=module,
        frozen=True,
        gc=False,
    )
    return readable(cast(type[TypedObject], cls))


class SchemaError(Exception):
    """The OpenAPI document has no usable schema for the kind."""


def object_type(schemas: Schemas, api_version: str, kind: str) -> type[TypedObject]:
    """The Struct for `kind` of `api_version`, from the `components.schemas` of the group version's
    OpenAPI v3 document (GET /openapi/v3/apis/GROUP/VERSION; `Client.object_type` fetches it). Its
    apiVersion and kind default to the kind's own: list items come without them."""
    group, _, version = api_version.rpartition("/")
    gvk = {"group": group, "version": version, "kind": kind}
    name = next(
        (n for n, s in schemas.items() if gvk in (s.get("x-kubernetes-group-version-kind") or [])), None
    )
    if name is None:
        raise SchemaError(f"the OpenAPI document has no schema for {kind} in {api_version}")
    built = _Builder(schemas).struct(name, defaults={"apiVersion": api_version, "kind": kind})
    if not (isinstance(built, type) and issubclass(built, TypedObject)):
        raise SchemaError(f"the schema of {kind} in {api_version} is not an object with properties")
    return built


class _Builder:
    """Struct types from OpenAPI v3 schemas, one per named schema (a recursive one reads as plain data)."""

    def __init__(self, schemas: Schemas) -> None:
        self._schemas = schemas
        self._named: dict[str, Any] = {}
        self._building: set[str] = set()

    def struct(self, name: str, defaults: Mapping[str, str] | None = None) -> Any:
        if name in self._named and not defaults:
            return self._named[name]
        if name in self._building:
            return Any  # a schema that contains itself (JSONSchemaProps)
        schema = self._schemas[name]
        self._building.add(name)
        try:
            built = (
                self._object(name.rsplit(".", 1)[-1], schema, name, defaults or {})
                if schema.get("properties")
                else self.type_of(schema)
            )
        finally:
            self._building.discard(name)
        if not defaults:
            self._named[name] = built
        return built

    def type_of(self, schema: Mapping[str, Any]) -> Any:
        if "$ref" in schema:
            return self.struct(schema["$ref"].removeprefix(_REF))
        if len(schema.get("allOf") or ()) == 1:  # how v3 documents wrap a $ref that has a default
            return self.type_of(schema["allOf"][0])
        if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
            return int | str
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return Any
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                return self._object("Object", schema, None, {})
            extra = schema.get("additionalProperties")
            return dict[str, self.type_of(extra)] if isinstance(extra, Mapping) else Any  # type: ignore[misc]
        if kind == "array":
            return list[self.type_of(schema.get("items") or {})]  # type: ignore[misc]
        return _SCALARS.get(kind, Any)

    def _object(
        self, title: str, schema: Mapping[str, Any], name: str | None, defaults: Mapping[str, str]
    ) -> type[TypedObject]:
        omitted = OMITTED if name == OBJECT_META else frozenset()
        fields: list[tuple[str, Any, Any]] = []
        by_json: dict[str, str] = {}
        taken: set[str] = set()
        for json_name, prop in schema["properties"].items():
            if json_name in omitted:
                continue
            attr = by_json[json_name] = _attribute(json_name, taken)
            taken.add(attr)
            value = self.type_of(prop)
            if json_name in defaults:
                fields.append((attr, value, defaults[json_name]))
            else:  # absent reads as UNSET; null is what Go writes for some empty values
                fields.append(
                    (attr, value if value is Any else value | None | msgspec.UnsetType, msgspec.UNSET)
                )
        struct = cast(
            type[TypedObject],
            msgspec.defstruct(
                title,
                fields,
                bases=(TypedObject,),
                rename={a: j for j, a in by_json.items() if a != j},
                module=__name__,
                frozen=True,
                gc=False,
            ),
        )
        return readable(struct)


_SCALARS: dict[str | None, Any] = {"string": str, "integer": int, "number": int | float, "boolean": bool}
_RESERVED = frozenset(dir(TypedObject)) | frozenset(keyword.kwlist)


def _attribute(json_name: str, taken: set[str]) -> str:
    """A Python attribute for a JSON field name: the name itself when it can be one."""
    attr = re.sub(r"\W", "_", json_name).lstrip("_") or "field"
    if attr[0].isdigit() or attr in _RESERVED:
        attr = f"f_{attr}"
    while attr in taken:
        attr += "_"
    return attr


# ---- decoding


@functools.cache
def _event_decoder(object_type: type[TypedObject]) -> msgspec.json.Decoder[list[Any]]:
    event = msgspec.defstruct("WatchEvent", [("type", str), ("object", object_type)], gc=False)
    return msgspec.json.Decoder(list[event])  # type: ignore[valid-type]


@functools.cache
def _list_decoder(object_type: type[TypedObject]) -> msgspec.json.Decoder[Any]:
    listing = msgspec.defstruct(
        "List",
        [("metadata", dict[str, Any], {}), ("items", list[object_type] | None, None)],  # type: ignore[valid-type]
    )
    return msgspec.json.Decoder(listing)


def decode_events(block: bytes, object_type: type[TypedObject]) -> list[tuple[str, Any]]:
    """A JSON array of watch events, each object as `object_type`. An event whose object does not fit
    (an ERROR's Status; data the schema does not allow) comes as a dict: the array is decoded again."""
    try:
        decoded = [(e.type, e.object) for e in _event_decoder(object_type).decode(block)]
        if all(t != "ERROR" for t, _ in decoded):  # (a Status may fit the type, its fields dropped)
            return decoded
    except msgspec.ValidationError:
        pass
    events = orjson.loads(block)
    return [
        (e["type"], e["object"] if e["type"] == "ERROR" else convert(e.get("object") or {}, object_type))
        for e in events
    ]


def decode_list(body: bytes, object_type: type[TypedObject]) -> tuple[Obj, list[Any]]:
    """A list response: its metadata, and its items as `object_type` (see `convert` for misfits)."""
    try:
        listing = _list_decoder(object_type).decode(body)
        return listing.metadata, listing.items or []
    except msgspec.ValidationError:
        plain = orjson.loads(body)
    return plain.get("metadata") or {}, [convert(item, object_type) for item in plain.get("items") or []]


def convert(obj: Obj, object_type: type[TypedObject]) -> Any:
    """`obj` as `object_type`; if its data breaks the schema, the dict itself (without managedFields),
    with a warning: an object the schema cannot hold is still cached and read alike."""
    try:
        return msgspec.convert(obj, object_type)
    except msgspec.ValidationError as e:
        log.warning("%s %s does not fit its schema (%s); cached as a dict", obj.get("kind"), _name(obj), e)
        (obj.get("metadata") or {}).pop("managedFields", None)
        return obj


def _name(obj: Obj) -> str:
    metadata = obj.get("metadata") or {}
    return "/".join(p for p in (metadata.get("namespace"), metadata.get("name")) if p)
