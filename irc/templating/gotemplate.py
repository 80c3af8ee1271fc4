"""The Go template engine: ``render_go`` parses and executes a Go text/template with sprig's functions.

It stands for the seed's ``template.New("resource").Funcs(funcs).Parse(text)`` and
``Execute(&buf, vars)``, with ``vars`` a struct (the seed's ``template.TemplateVars``): the data mapping
becomes a Go struct whose fields are its keys, in the mapping's order. So, exactly as in Go:

- a field the struct lacks (``{{ .Foo }}``) is an error, reported as ``UnknownVariable`` naming ``Foo``;
- a missing key of a map field (``{{ .Variables.foo }}``) prints ``<no value>`` and is nil to functions
  (``{{ .Variables.foo | default "x" }}`` is ``x``) under ``missing_key="default"``, Go's default and the
  seed's; ``missing_key="error"`` makes it an ``UnknownVariable`` error, as Go's ``missingkey=error`` does,
  even when piped into ``default``;
- a mapping of strings is a ``map[string]string`` field (the seed's ``Variables``): ``index`` of a missing
  key gives ``""``, and sprig's dict functions (``hasKey``, ``get``) refuse it with a type error.

Beyond the seed, every user variable is also a field of its own (``{{ .environment }}``; Go could not
have lowercase fields, so the seed rejects these), which only makes templates work that fail there.

The functions (``FUNCTIONS``) are text/template's builtins; 136 of the 211 names of sprig v3's
``TxtFuncMap`` (``SPRIG_FUNCTIONS`` lists them all) from ``sprig_strings``, ``sprig_encoding``,
``sprig_lists`` and ``sprig_data`` — not the clock, randomness, environment, network, crypto, date,
float arithmetic, ``merge``/``deepCopy``/``dig``, ``values`` (random order), ``wrap``, ``swapcase``,
``initials``, ``snakecase``/``kebabcase``/``camelcase``, ``seq``, ``chunk``, ``b32*`` or URL ones; and
the seed's own ``toLower``, ``toUpper``, ``k8sName`` and ``required`` (value first, as the seed has it).
Where the seed's functions and sprig's share a name (``default``, ``replace``, ``trim``, ``title``,
``join``, ``ternary``) sprig's are used: they agree on strings, the only values the seed's data has.
The seed's ``toJSON`` (which writes YAML) is not supported. A sprig or Helm function outside the set is
an ``UnsupportedTemplate`` error, never a silently different output.

Go behaviour irc does not reproduce (each an error or a documented difference):
complex number literals, some printf forms (``gofmt``), template recursion deeper than 200, output past
``max_output``; and, from the Python runtime, characters newer than its Unicode tables, which ``%q``,
``js`` and case mapping treat as unassigned. e2e/test_go_oracle_template.py checks the rest against Go's
text/template with the real sprig.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Literal

from .errors import (
    TEMPLATE_EXECUTION,
    TEMPLATE_SYNTAX,
    TEMPLATE_TOO_LARGE,
    UNKNOWN_VARIABLE,
    UNSUPPORTED_TEMPLATE,
    TemplateError,
    line_of,
)
from .gobuiltins import BUILTINS
from .goexec import Function, LimitError, NodeError, execute
from .gonodes import ListNode
from .goparse import ParseError, parse
from .gotypes import GoStruct, from_python
from .sprig_data import DATA_FUNCS
from .sprig_encoding import ENCODING_FUNCS
from .sprig_lists import LIST_FUNCS
from .sprig_strings import STRING_FUNCS

__all__ = ["FUNCTIONS", "SPRIG_FUNCTIONS", "MissingKey", "render_go"]

MissingKey = Literal["default", "zero", "error"]

FUNCTIONS: Mapping[str, Function] = {**BUILTINS, **STRING_FUNCS, **ENCODING_FUNCS, **LIST_FUNCS, **DATA_FUNCS}

# Every name in sprig v3.3.0's TxtFuncMap (functions.go's genericMap), so that an unimplemented one is
# reported as such.
SPRIG_FUNCTIONS = frozenset(
    [
        "abbrev",
        "abbrevboth",
        "add",
        "add1",
        "add1f",
        "addf",
        "adler32sum",
        "ago",
        "all",
        "any",
        "append",
        "atoi",
        "b32dec",
        "b32enc",
        "b64dec",
        "b64enc",
        "base",
        "bcrypt",
        "biggest",
        "buildCustomCert",
        "camelcase",
        "cat",
        "ceil",
        "chunk",
        "clean",
        "coalesce",
        "compact",
        "concat",
        "contains",
        "date",
        "dateInZone",
        "dateModify",
        "date_in_zone",
        "date_modify",
        "decryptAES",
        "deepCopy",
        "deepEqual",
        "default",
        "derivePassword",
        "dict",
        "dig",
        "dir",
        "div",
        "divf",
        "duration",
        "durationRound",
        "empty",
        "encryptAES",
        "env",
        "expandenv",
        "ext",
        "fail",
        "first",
        "float64",
        "floor",
        "fromJson",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "get",
        "getHostByName",
        "has",
        "hasKey",
        "hasPrefix",
        "hasSuffix",
        "hello",
        "htmlDate",
        "htmlDateInZone",
        "htpasswd",
        "indent",
        "initial",
        "initials",
        "int",
        "int64",
        "isAbs",
        "join",
        "kebabcase",
        "keys",
        "kindIs",
        "kindOf",
        "last",
        "list",
        "lower",
        "max",
        "maxf",
        "merge",
        "mergeOverwrite",
        "min",
        "minf",
        "mod",
        "mul",
        "mulf",
        "mustAppend",
        "mustChunk",
        "mustCompact",
        "mustDateModify",
        "mustDeepCopy",
        "mustFirst",
        "mustFromJson",
        "mustHas",
        "mustInitial",
        "mustLast",
        "mustMerge",
        "mustMergeOverwrite",
        "mustPrepend",
        "mustPush",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustRest",
        "mustReverse",
        "mustSlice",
        "mustToDate",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "mustUniq",
        "mustWithout",
        "must_date_modify",
        "nindent",
        "nospace",
        "now",
        "omit",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "pick",
        "pluck",
        "push",
        "plural",
        "prepend",
        "quote",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randBytes",
        "randInt",
        "randNumeric",
        "regexFind",
        "regexFindAll",
        "regexMatch",
        "regexQuoteMeta",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "regexSplit",
        "repeat",
        "replace",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "set",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "shuffle",
        "slice",
        "snakecase",
        "sortAlpha",
        "split",
        "splitList",
        "splitn",
        "squote",
        "sub",
        "subf",
        "substr",
        "swapcase",
        "ternary",
        "title",
        "toDate",
        "toDecimal",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "toString",
        "toStrings",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "trimall",
        "trunc",
        "tuple",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unixEpoch",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "upper",
        "urlJoin",
        "urlParse",
        "uuidv4",
        "values",
        "without",
        "wrap",
        "wrapWith",
    ]
)
_HELM_FUNCTIONS = frozenset(
    ["include", "tpl", "toYaml", "fromYaml", "fromYamlArray", "toToml", "fromJsonArray", "lookup"]
)
_NOT_DEFINED = re.compile(r"^function '([^']*)' not defined$|^function \"([^\"]*)\" not defined$")
_UNKNOWN_FIELD = re.compile(r"can't evaluate field (\S+) in type")
_MISSING_KEY = re.compile(r"(?:map has no entry for key|nil data; no entry for key) '([^']*)'")


def _parse_error(template: str, err: ParseError) -> TemplateError:
    line, text = line_of(template, err.pos)
    match = _NOT_DEFINED.match(err.message)
    if match:
        name = match.group(1) or match.group(2)
        if name in SPRIG_FUNCTIONS:
            message = f"the sprig function {name!r} is not supported by irc's Go template engine"
            return TemplateError(UNSUPPORTED_TEMPLATE, message, line, text)
        if name in _HELM_FUNCTIONS:
            message = f"{name!r} is a Helm function, not part of Go templates or sprig"
            return TemplateError(UNSUPPORTED_TEMPLATE, message, line, text)
    reason = UNSUPPORTED_TEMPLATE if err.unsupported else TEMPLATE_SYNTAX
    return TemplateError(reason, err.message, line, text)


def _exec_error(template: str, err: NodeError) -> TemplateError:
    line, text = line_of(template, err.pos)
    if match := _UNKNOWN_FIELD.search(err.message):
        name = match.group(1)
        message = f"unknown variable {name!r}: {err.message}"
        return TemplateError(UNKNOWN_VARIABLE, message, line, text, variable=name)
    if match := _MISSING_KEY.search(err.message):
        name = match.group(1)
        return TemplateError(
            UNKNOWN_VARIABLE, f"unknown variable {name!r}: {err.message}", line, text, variable=name
        )
    reason = UNSUPPORTED_TEMPLATE if "not supported" in err.message else TEMPLATE_EXECUTION
    return TemplateError(reason, err.message, line, text)


@functools.lru_cache(maxsize=256)
def _parse(template: str, name: str) -> Mapping[str, ListNode]:
    """Parsed templates, cached: the tree is never changed by executing it."""
    return parse(template, FUNCTIONS, name)


def render_go(
    template: str,
    data: Mapping[str, object],
    *,
    missing_key: MissingKey = "default",
    top_level: Literal["struct", "map"] = "struct",
    max_output: int = 16 << 20,
    name: str = "resource",
) -> str:
    """Render a Go template; ``data`` is the struct's fields (``top_level="map"``: a map instead, where
    an unknown ``.Foo`` is ``<no value>``). ``name`` is the template's own name, which ``{{ template }}``
    can call (the seed's is ``resource``). Raises ``TemplateError``."""
    if top_level == "struct":
        root: object = GoStruct(
            {k: from_python(v, top=True) for k, v in data.items()}, "template.TemplateVars"
        )
    else:
        root = from_python(data)
    try:
        trees = _parse(template, name)
    except ParseError as err:
        raise _parse_error(template, err) from None
    except RecursionError:
        raise TemplateError(TEMPLATE_TOO_LARGE, "the template nests too deeply") from None
    try:
        output = execute(
            template, trees, root, FUNCTIONS, missing_key=missing_key, max_output=max_output, name=name
        )
    except NodeError as err:
        raise _exec_error(template, err) from None
    except (LimitError, RecursionError) as err:
        raise TemplateError(TEMPLATE_TOO_LARGE, str(err) or "the template nests too deeply") from None
    return output
