"""The lexer of Go's text/template (``text/template/parse/lex.go`` semantics), delimiters ``{{`` ``}}``.

Text between actions is one token; ``{{- `` and `` -}}`` (the dash followed or preceded by a space, tab,
CR or newline) trim all such whitespace before/after the action, comments ``{{/* … */}}`` included, which
must close right before the delimiter. Inside an action: spaces, ``:=``, ``=``, ``|``, ``(``, ``)``,
strings (``"…"`` with Go escapes, raw ``\\`…\\```), character constants, numbers (Go literal syntax,
signs, ``0x``/``0o``/``0b``, ``_``, exponents, imaginary ``i``), ``.Field``, ``$var``, identifiers and
keywords, and ``,``. A lexing error ends the token stream with an ``ERROR`` token, which the parser
reports where it meets it, as Go's parser does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from .gotypes import is_letter_or_digit

__all__ = ["KEYWORDS", "Item", "T", "lex"]


class T(Enum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()  # printable ASCII punctuation, such as ","
    CHAR_CONSTANT = auto()
    COMPLEX = auto()
    ASSIGN = auto()
    DECLARE = auto()
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "range": T.RANGE,
    "nil": T.NIL,
    "template": T.TEMPLATE,
    "with": T.WITH,
}

_SPACE = " \t\r\n"
LEFT, RIGHT = "{{", "}}"


@dataclass(frozen=True)
class Item:
    typ: T
    pos: int
    val: str
    line: int


def _alnum(c: str) -> bool:
    return c == "_" or is_letter_or_digit(c)


def _left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and s[i + 1] in _SPACE


def _right_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] in _SPACE and s[i + 1] == "-"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.items: list[Item] = []
        self.pos = 0

    def line_at(self, pos: int) -> int:
        return self.s.count("\n", 0, pos) + 1

    def emit(self, typ: T, start: int, end: int) -> None:
        self.items.append(Item(typ, start, self.s[start:end], self.line_at(start)))

    def error(self, message: str, start: int) -> None:
        self.items.append(Item(T.ERROR, start, message, self.line_at(start)))

    def run(self) -> list[Item]:
        s = self.s
        while True:
            x = s.find(LEFT, self.pos)
            if x < 0:
                if self.pos < len(s):
                    self.emit(T.TEXT, self.pos, len(s))
                self.items.append(Item(T.EOF, len(s), "", self.line_at(len(s))))
                return self.items
            end = x
            if _left_trim(s, x + 2):
                while end > self.pos and s[end - 1] in _SPACE:
                    end -= 1
            if end > self.pos:
                self.emit(T.TEXT, self.pos, end)
            if not self.action(x):
                return self.items

    def at_right(self, i: int) -> tuple[bool, bool]:
        """At a right delimiter (with a trim marker)?"""
        if _right_trim(self.s, i) and self.s.startswith(RIGHT, i + 2):
            return True, True
        return self.s.startswith(RIGHT, i), False

    def action(self, start: int) -> bool:
        s = self.s
        i = start + 2
        trim = _left_trim(s, i)
        after = i + 2 if trim else i
        if s.startswith("/*", after):
            close = s.find("*/", after + 2)
            if close < 0:
                self.error("unclosed comment", start)
                return False
            i = close + 2
            delim, trim_right = self.at_right(i)
            if not delim:
                self.error("comment ends before closing delimiter", start)
                return False
            i += 4 if trim_right else 2
            if trim_right:
                while i < len(s) and s[i] in _SPACE:
                    i += 1
            self.pos = i
            return True
        self.emit(T.LEFT_DELIM, start, start + 2)
        i = after
        depth = 0
        while True:
            delim, trim_right = self.at_right(i)
            if delim:
                if depth:
                    self.error("unclosed left paren", i)
                    return False
                if trim_right:
                    i += 2
                self.emit(T.RIGHT_DELIM, i, i + 2)
                i += 2
                if trim_right:
                    while i < len(s) and s[i] in _SPACE:
                        i += 1
                self.pos = i
                return True
            if i >= len(s):
                self.error("unclosed action", i)
                return False
            c = s[i]
            if c in _SPACE:
                j = i
                while j < len(s) and s[j] in _SPACE:
                    j += 1
                if _right_trim(s, j - 1) and s.startswith(RIGHT, j + 1):
                    j -= 1  # leave the space of " -}}"
                if j > i:
                    self.emit(T.SPACE, i, j)
                i = j
                continue
            if c == "=":
                self.emit(T.ASSIGN, i, i + 1)
                i += 1
            elif c == ":":
                if not s.startswith(":=", i):
                    self.error("expected :=", i)
                    return False
                self.emit(T.DECLARE, i, i + 2)
                i += 2
            elif c == "|":
                self.emit(T.PIPE, i, i + 1)
                i += 1
            elif c in "\"'":
                j = self.quoted(i, c)
                if j < 0:
                    return False
                self.emit(T.STRING if c == '"' else T.CHAR_CONSTANT, i, j)
                i = j
            elif c == "`":
                j = s.find("`", i + 1)
                if j < 0:
                    self.error("unterminated raw quoted string", i)
                    return False
                self.emit(T.RAW_STRING, i, j + 1)
                i = j + 1
            elif c == "$" or (
                c == "." and not (i + 1 < len(s) and s[i + 1].isascii() and s[i + 1].isdigit())
            ):
                j = i + 1
                if not self.at_terminator(j):
                    while j < len(s) and _alnum(s[j]):
                        j += 1
                    if not self.at_terminator(j):
                        self.error(f"bad character {_rune(s[j])}", i)
                        return False
                typ = T.VARIABLE if c == "$" else (T.DOT if j == i + 1 else T.FIELD)
                self.emit(typ, i, j)
                i = j
            elif c in "+-." or (c.isascii() and c.isdigit()):
                j, typ = self.number(i)
                if typ is T.ERROR:
                    self.error(f"bad number syntax: {s[i:j]!r}", i)
                    return False
                self.emit(typ, i, j)
                i = j
            elif _alnum(c):
                j = i
                while j < len(s) and _alnum(s[j]):
                    j += 1
                if not self.at_terminator(j):
                    self.error(f"bad character {_rune(s[j])}", i)
                    return False
                word = s[i:j]
                keyword = KEYWORDS.get(word)
                if keyword is not None and word != ".":
                    typ = keyword
                else:
                    typ = T.BOOL if word in ("true", "false") else T.IDENTIFIER
                self.emit(typ, i, j)
                i = j
            elif c == "(":
                depth += 1
                self.emit(T.LEFT_PAREN, i, i + 1)
                i += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    self.error("unexpected right paren", i)
                    return False
                self.emit(T.RIGHT_PAREN, i, i + 1)
                i += 1
            elif c.isascii() and c.isprintable():
                self.emit(T.CHAR, i, i + 1)
                i += 1
            else:
                self.error(f"unrecognized character in action: {_rune(c)}", i)
                return False

    def at_terminator(self, i: int) -> bool:
        if i >= len(self.s):
            return True
        return self.s[i] in _SPACE or self.s[i] in ".,|:()" or self.s.startswith(RIGHT, i)

    def quoted(self, i: int, quote: str) -> int:
        s, j = self.s, i + 1
        while True:
            c = s[j] if j < len(s) else ""
            if c == "\\":
                j += 1
                c = s[j] if j < len(s) else ""
                if c and c != "\n":
                    j += 1
                    continue
            if c in ("", "\n"):
                what = "quoted string" if quote == '"' else "character constant"
                self.error(f"unterminated {what}", i)
                return -1
            j += 1
            if c == quote:
                return j

    def number(self, i: int) -> tuple[int, T]:
        j, ok = self.scan_number(i)
        if not ok:
            return j, T.ERROR
        if j < len(self.s) and self.s[j] in "+-":
            k, ok = self.scan_number(j)
            if not ok or self.s[k - 1] != "i":
                return k, T.ERROR
            return k, T.COMPLEX
        return j, T.NUMBER

    def scan_number(self, i: int) -> tuple[int, bool]:
        s = self.s

        def accept(j: int, valid: str) -> int:
            return j + 1 if j < len(s) and s[j] in valid else j

        def run(j: int, valid: str) -> int:
            while j < len(s) and s[j] in valid:
                j += 1
            return j

        j = accept(i, "+-")
        digits = "0123456789_"
        if accept(j, "0") > j:
            j += 1
            for marks, d in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"), ("bB", "01_")):
                if accept(j, marks) > j:
                    j, digits = j + 1, d
                    break
        j = run(j, digits)
        if accept(j, ".") > j:
            j = run(j + 1, digits)
        if len(digits) == 11 and accept(j, "eE") > j:
            j = run(accept(j + 1, "+-"), "0123456789_")
        if len(digits) == 23 and accept(j, "pP") > j:
            j = run(accept(j + 1, "+-"), "0123456789_")
        j = accept(j, "i")
        if j < len(s) and _alnum(s[j]):
            return j + 1, False
        return j, True


def _rune(c: str) -> str:
    return f"U+{ord(c):04X} {c!r}"


def lex(text: str) -> list[Item]:
    """All tokens of a template, ending with EOF or an ERROR token."""
    return _Lexer(text).run()
