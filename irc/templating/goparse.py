"""The parser of Go's text/template (``text/template/parse/parse.go`` semantics): tokens to a tree.

The grammar, as Go parses it: text and actions; ``if``/``else if``/``else with``/``else``/``end``,
``range`` (``$v :=`` or ``$i, $v :=``, ``else``, ``break``, ``continue``), ``with``, ``define``,
``template``, ``block``; pipelines of commands separated by ``|``, each a function name, a field chain
(``.A.B``, ``$x.A``, ``(pipeline).A``), a variable, a literal or a parenthesised pipeline, with
arguments; declarations ``$x :=`` and assignments ``$x =``. Go's parse-time errors are parse-time
errors here too: an undefined function or variable, ``break`` outside ``range``, a literal as a later
pipeline stage, a bad number or string literal, ``{{end}}`` without a block, an unclosed action.
Complex number literals (``1i``) are not supported (a ``ParseError`` where Go accepts them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .golex import Item, T, lex
from .goliterals import ParseError, number, unquote
from .gonodes import (
    Action,
    Bool,
    Break,
    Chain,
    Command,
    Continue,
    Control,
    Dot,
    Else,
    End,
    Field,
    Identifier,
    ListNode,
    Nil,
    Node,
    Number,
    Pipe,
    String,
    TemplateCall,
    Text,
    Variable,
)

__all__ = ["ParseError", "parse"]


_TERM_START = {
    T.BOOL, T.CHAR_CONSTANT, T.COMPLEX, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER, T.NIL, T.RAW_STRING,
    T.STRING, T.VARIABLE, T.LEFT_PAREN,
}  # fmt: skip


class _Parser:
    def __init__(self, items: list[Item], has_function: Callable[[str], bool]) -> None:
        self.items, self.i = items, 0
        self.has_function = has_function
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.trees: dict[str, ListNode] = {}

    # token stream
    def next(self) -> Item:
        item = self.items[self.i]
        if item.typ not in (T.EOF, T.ERROR):
            self.i += 1
        return item

    def peek(self) -> Item:
        return self.items[self.i]

    def next_non_space(self) -> Item:
        item = self.next()
        while item.typ is T.SPACE:
            item = self.next()
        return item

    def peek_non_space(self) -> Item:
        while self.items[self.i].typ is T.SPACE:
            self.i += 1
        return self.items[self.i]

    def backup(self, item: Item) -> None:
        if item.typ not in (T.EOF, T.ERROR):
            self.i -= 1

    def error(self, message: str, item: Item) -> ParseError:
        return ParseError(message, item.pos)

    def unexpected(self, item: Item, context: str) -> ParseError:
        if item.typ is T.ERROR:
            return self.error(item.val, item)
        return self.error(f"unexpected {_describe(item)} in {context}", item)

    def expect(self, typ: T, context: str) -> Item:
        item = self.next_non_space()
        if item.typ is not typ:
            raise self.unexpected(item, context)
        return item

    # structure
    def parse(self, name: str) -> dict[str, ListNode]:
        root = ListNode(0)
        while self.peek().typ is not T.EOF:
            if self.peek().typ is T.LEFT_DELIM:
                mark = self.i
                self.next()
                if self.next_non_space().typ is T.DEFINE:
                    self.definition()
                    continue
                self.i = mark
            node = self.text_or_action()
            if isinstance(node, (End, Else)):
                raise ParseError(f"unexpected {{{{{'end' if isinstance(node, End) else 'else'}}}}}", node.pos)
            root.nodes.append(node)
        self.add(name, root)
        return self.trees

    def add(self, name: str, root: ListNode) -> None:
        existing = self.trees.get(name)
        if existing is None or _is_empty(existing):
            self.trees[name] = root
        elif not _is_empty(root):
            raise ParseError(f"template: multiple definition of template {name!r}", root.pos)

    def definition(self) -> None:
        token = self.next_non_space()
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, "define clause")
        name = unquote(token)
        self.expect(T.RIGHT_DELIM, "define clause")
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        if not isinstance(end, End):
            raise ParseError("unexpected {{else}} in define clause", end.pos)
        self.vars, self.range_depth = saved
        self.add(name, body)

    def item_list(self) -> tuple[ListNode, Node]:
        body = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, (End, Else)):
                return body, node
            body.nodes.append(node)
        raise self.error("unexpected EOF", self.peek())

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ is T.TEXT:
            return Text(token.pos, token.val)
        if token.typ is T.LEFT_DELIM:
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        typ = token.typ
        if typ is T.BLOCK:
            return self.block()
        if typ in (T.BREAK, T.CONTINUE):
            word = "break" if typ is T.BREAK else "continue"
            after = self.next_non_space()
            if after.typ is not T.RIGHT_DELIM:
                raise self.unexpected(after, f"{{{{{word}}}}}")
            if self.range_depth == 0:
                raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", token)
            return Break(token.pos) if typ is T.BREAK else Continue(token.pos)
        if typ is T.ELSE:
            peek = self.peek_non_space()
            if peek.typ in (T.IF, T.WITH):
                return Else(peek.pos)
            return Else(self.expect(T.RIGHT_DELIM, "else").pos)
        if typ is T.END:
            return End(self.expect(T.RIGHT_DELIM, "end").pos)
        if typ in (T.IF, T.RANGE, T.WITH):
            return self.control(typ.name.lower(), token)
        if typ is T.TEMPLATE:
            name_token = self.next_non_space()
            name = self.template_name(name_token, "template clause")
            pipe = None
            after = self.next_non_space()
            if after.typ is not T.RIGHT_DELIM:
                self.backup(after)
                pipe = self.pipeline("template clause", T.RIGHT_DELIM)
            return TemplateCall(name_token.pos, name, pipe)
        self.backup(token)
        return Action(token.pos, self.pipeline("command", T.RIGHT_DELIM))

    def template_name(self, token: Item, context: str) -> str:
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        return unquote(token)

    def block(self) -> Node:
        name_token = self.next_non_space()
        name = self.template_name(name_token, "block clause")
        pipe = self.pipeline("block clause", T.RIGHT_DELIM)
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        if not isinstance(end, End):
            raise ParseError("unexpected {{else}} in block clause", end.pos)
        self.vars, self.range_depth = saved
        self.add(name, body)
        return TemplateCall(name_token.pos, name, pipe)

    def control(self, kind: str, token: Item) -> Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, T.RIGHT_DELIM)
        if kind == "range":
            self.range_depth += 1
        body, next_node = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(next_node, Else):
            follow = self.peek()
            if follow.typ is {"if": T.IF, "with": T.WITH}.get(kind):
                self.next()
                else_body = ListNode(next_node.pos, [self.control(kind, follow)])
            else:
                else_body, end = self.item_list()
                if not isinstance(end, End):
                    raise ParseError("expected end; found {{else}}", end.pos)
        del self.vars[mark:]
        return Control(pipe.pos, kind, pipe, body, else_body)

    def pipeline(self, context: str, end: T) -> Pipe:
        pipe = Pipe(self.peek_non_space().pos)
        while self.peek_non_space().typ is T.VARIABLE:
            mark = self.i
            var = self.next()
            after = self.peek_non_space()
            if after.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = after.typ is T.ASSIGN
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
            elif after.typ is T.CHAR and after.val == ",":
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables", after)
                raise self.error(f"too many declarations in {context}", after)
            else:
                self.i = mark
            break
        while True:
            token = self.next_non_space()
            if token.typ is end:
                if not pipe.cmds:
                    raise self.error(f"missing value for {context}", token)
                for n, cmd in enumerate(pipe.cmds[1:]):
                    if isinstance(cmd.args[0], (Bool, Dot, Nil, Number, String)):
                        raise self.error(f"non executable command in pipeline stage {n + 2}", token)
                return pipe
            if token.typ in _TERM_START:
                self.backup(token)
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> Command:
        cmd = Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ is T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup(token)
            elif token.typ is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command", self.peek())
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ is not T.FIELD:
            return node
        fields = []
        while self.peek().typ is T.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, Field):
            return Field(node.pos, node.idents + fields)
        if isinstance(node, Variable):
            return Variable(node.pos, node.idents + fields)
        if isinstance(node, (Bool, String, Number, Nil, Dot)):
            raise ParseError(f"unexpected . after term {_node_text(node)!r}", node.pos)
        return Chain(node.pos, node, fields)

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ is T.IDENTIFIER:
            if not self.has_function(token.val):
                raise self.error(f"function {token.val!r} not defined", token)
            return Identifier(token.pos, token.val)
        if typ is T.DOT:
            return Dot(token.pos)
        if typ is T.NIL:
            return Nil(token.pos)
        if typ is T.VARIABLE:
            parts = token.val.split(".")
            if parts[0] not in self.vars:
                raise self.error(f"undefined variable {parts[0]!r}", token)
            return Variable(token.pos, parts)
        if typ is T.FIELD:
            return Field(token.pos, [token.val[1:]])
        if typ is T.BOOL:
            return Bool(token.pos, token.val == "true")
        if typ in (T.CHAR_CONSTANT, T.NUMBER, T.COMPLEX):
            literal: Number = number(token, Number)
            return literal
        if typ is T.LEFT_PAREN:
            self.depth += 1
            if self.depth > 10000:
                raise self.error("max expression depth exceeded", token)
            try:
                return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
            finally:
                self.depth -= 1
        if typ in (T.STRING, T.RAW_STRING):
            return String(token.pos, unquote(token))
        self.backup(token)
        return None


def _describe(item: Item) -> str:
    if item.typ is T.EOF:
        return "EOF"
    if item.typ.value > T.VARIABLE.value:  # a keyword
        return f"<{item.val}>"
    return repr(item.val)


def _node_text(node: Node) -> str:
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Number):
        return node.text
    if isinstance(node, String):
        return repr(node.text)
    return "nil" if isinstance(node, Nil) else "."


def _is_empty(body: ListNode) -> bool:
    return all(isinstance(n, Text) and not n.text.strip(" \t\r\n\v\f") for n in body.nodes)


def parse(text: str, functions: Iterable[str], name: str = "resource") -> dict[str, ListNode]:
    """The templates of ``text``: the main one under ``name`` (the seed names it ``resource``), plus one
    per ``define``/``block``. A ``define`` of the main template's own name conflicts with a non-empty main
    template, as in Go."""
    names = set(functions)
    return _Parser(lex(text), names.__contains__).parse(name)
