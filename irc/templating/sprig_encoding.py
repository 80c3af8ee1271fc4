"""Sprig v3's encoding, hashing, regular-expression and path functions (sprig v3.3.0).

- ``b64enc b64dec`` (``base64.StdEncoding``; an invalid input decodes to Go's error text, as sprig returns
  it: ``illegal base64 data at input byte 4``), ``sha1sum sha256sum sha512sum adler32sum``;
- regular expressions in Go's RE2 syntax, translated by ``irc.tags.goregex``: ``regexMatch regexFind
  regexFindAll regexReplaceAll regexReplaceAllLiteral regexSplit regexQuoteMeta``. An invalid pattern is
  an error (sprig's ``MustCompile`` panics), except in ``regexMatch``, which is then false. Matching
  repeats as Go's ``allMatches`` and ``ReplaceAllString`` do: an empty match right after a match is
  skipped (``regexReplaceAll "x*" "abc" "-"`` is ``-a-b-c-``, where Python's ``re.sub`` gives more), and
  ``$1``/``${name}`` expand as ``Regexp.Expand``;
- paths (Go's ``path``, always ``/``): ``base dir ext clean isAbs``, and ``osBase`` … (``path/filepath``,
  the same on Linux);
- the ``must`` variants of the regular-expression functions.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from functools import lru_cache

from ..tags.goregex import translate
from ..tags.select import _expand as go_expand
from .goexec import Function
from .gofmt import quote
from .gotypes import FuncError, GoList, go_bytes, go_str

__all__ = ["ENCODING_FUNCS", "clean_path"]


def _b64dec(v: str) -> str:
    """base64.StdEncoding.DecodeString, or its error's text."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    src, out, si = go_bytes(v), bytearray(), 0
    while si < len(src):
        quantum: list[int] = []
        dlen = 4
        error = None
        while len(quantum) < 4:
            if si == len(src):
                if not quantum:
                    return go_str(bytes(out))
                return f"illegal base64 data at input byte {si - len(quantum)}"
            c = src[si]
            si += 1
            if (index := alphabet.find(chr(c))) >= 0 and c < 0x80:
                quantum.append(index)
                continue
            if c in (10, 13):
                continue
            if c != ord("=") or len(quantum) < 2:
                return f"illegal base64 data at input byte {si - 1}"
            if len(quantum) == 2:
                while si < len(src) and src[si] in (10, 13):
                    si += 1
                if si == len(src):
                    return f"illegal base64 data at input byte {len(src)}"
                if src[si] != ord("="):
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < len(src) and src[si] in (10, 13):
                si += 1
            if si < len(src):
                error = f"illegal base64 data at input byte {si}"
            dlen = len(quantum)
            break
        value = 0
        for k in range(4):
            value = value << 6 | (quantum[k] if k < len(quantum) else 0)
        out += value.to_bytes(3, "big")[: dlen - 1]
        if error:
            return error
    return go_str(bytes(out))


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(translate(pattern)[0])
    except (ValueError, re.error) as err:
        raise FuncError(f"regexp: Compile({quote(pattern)}): {err}") from None


def _matches(regex: re.Pattern[str], s: str, n: int) -> list[re.Match[str]]:
    """Go's allMatches: successive non-overlapping matches; an empty match right after one is skipped."""
    out: list[re.Match[str]] = []
    if n < 0:
        n = len(s) + 1
    pos, prev_end = 0, -1
    while len(out) < n and pos <= len(s):
        m = regex.search(s, pos)
        if m is None:
            break
        accept = True
        if m.end() == pos:
            if m.start() == prev_end:
                accept = False
            pos += 1
        else:
            pos = m.end()
        prev_end = m.end()
        if accept:
            out.append(m)
    return out


def _regex_match(regex: str, s: str) -> bool:
    try:
        return _regex(regex).search(s) is not None
    except FuncError:
        return False


def _regex_find(regex: str, s: str) -> str:
    m = _regex(regex).search(s)
    return m.group(0) if m else ""


def _regex_find_all(regex: str, s: str, n: int) -> GoList:
    found = [m.group(0) for m in _matches(_regex(regex), s, n)]
    return GoList(found, nil=not found)  # Go's FindAllString: nil when nothing matches


def _replace_all(regex: str, s: str, repl: str, literal: bool) -> str:
    compiled, out, last, search = _regex(regex), [], 0, 0
    while search <= len(s):
        m = compiled.search(s, search)
        if m is None:
            break
        out.append(s[last : m.start()])
        if m.end() > last or m.start() == 0:
            out.append(repl if literal else go_expand(repl, m))
        last = m.end()
        search = search + 1 if search + 1 > m.end() else m.end()
    out.append(s[last:])
    return "".join(out)


def _regex_split(regex: str, s: str, n: int) -> GoList:
    compiled = _regex(regex)  # sprig compiles first: a bad pattern fails even with n == 0
    if n == 0:
        return GoList(nil=True)
    if regex and not s:
        return GoList([""])
    parts, begin, end = GoList(), 0, 0
    for m in _matches(compiled, s, n):
        if n > 0 and len(parts) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            parts.append(s[begin:end])
        begin = m.end()
    if end != len(s):
        parts.append(s[begin:])
    return parts


def _quote_meta(s: str) -> str:
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in s)


def clean_path(path: str) -> str:
    """Go's path.Clean."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = ("/" if rooted else "") + "/".join(parts)
    return out or "."


def _base(path: str) -> str:
    if not path:
        return "."
    path = path.rstrip("/")
    if "/" in path:
        path = path[path.rindex("/") + 1 :]
    return path or "/"


def _dir(path: str) -> str:
    return clean_path(path[: path.rfind("/") + 1])


def _ext(path: str) -> str:
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "/":
            break
        if path[i] == ".":
            return path[i:]
    return ""


_S = ("string",)
ENCODING_FUNCS: dict[str, Function] = {
    "b64enc": Function(_S, lambda v: base64.b64encode(go_bytes(v)).decode()),
    "b64dec": Function(_S, _b64dec),
    "sha1sum": Function(_S, lambda v: hashlib.sha1(go_bytes(v)).hexdigest()),
    "sha256sum": Function(_S, lambda v: hashlib.sha256(go_bytes(v)).hexdigest()),
    "adler32sum": Function(_S, lambda v: str(zlib.adler32(go_bytes(v)))),
    "regexMatch": Function(("string", "string"), _regex_match),
    "regexFind": Function(("string", "string"), _regex_find),
    "regexFindAll": Function(("string", "string", "int"), _regex_find_all),
    "regexReplaceAll": Function(_S * 3, lambda r, s, repl: _replace_all(r, s, repl, False)),
    "regexReplaceAllLiteral": Function(_S * 3, lambda r, s, repl: _replace_all(r, s, repl, True)),
    "regexSplit": Function(("string", "string", "int"), _regex_split),
    "regexQuoteMeta": Function(_S, _quote_meta),
    "base": Function(_S, _base),
    "dir": Function(_S, _dir),
    "ext": Function(_S, _ext),
    "clean": Function(_S, clean_path),
    "isAbs": Function(_S, lambda p: p.startswith("/")),
    "sha512sum": Function(_S, lambda v: hashlib.sha512(go_bytes(v)).hexdigest()),
}

# must* variants: the error instead of a panic (the same to a template); regexMatch's must variant
# reports an invalid pattern, where regexMatch says false.
for _name in ("regexFind", "regexFindAll", "regexReplaceAll", "regexReplaceAllLiteral", "regexSplit"):
    ENCODING_FUNCS["must" + _name[0].upper() + _name[1:]] = ENCODING_FUNCS[_name]
ENCODING_FUNCS["mustRegexMatch"] = Function(
    ("string", "string"), lambda r, s: _regex(r).search(s) is not None
)
# filepath's functions, which on Linux are path's
for _name in ("base", "dir", "ext", "clean", "isAbs"):
    ENCODING_FUNCS["os" + _name[0].upper() + _name[1:]] = ENCODING_FUNCS[_name]
