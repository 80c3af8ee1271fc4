"""Evaluating pipelines of Go's text/template (``exec.go``'s ``evalPipeline`` … ``evalArg``).

A pipeline's commands run left to right, the previous value passed as the last argument; after each
command a nil ``interface{}`` becomes the invalid value (``MISSING``), which prints ``<no value>``. A
command is a field chain (a struct field, a map key — missing keys per the ``missingkey`` option — or an
error naming the field), a variable, a function call (arity and Go parameter types checked as
``validateType`` does: ``wrong type for value; expected string; got int``), a parenthesised pipeline or a
literal: ``1`` is an int, ``1.0`` and ``1e3`` float64, ``'a'`` an int, ``0x1e`` an int but ``-0x1e`` a
float64, as Go's ``idealConstant`` types them. ``and``/``or`` evaluate their operands lazily and return
one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .gonodes import Bool, Chain, Command, Dot, Field, Identifier, Nil, Node, Number, Pipe, String, Variable
from .gotypes import MISSING, ExecError, FuncError, GoStruct, Int64, StrMap, assign, go_type, is_true

__all__ = ["NO_FINAL", "Evaluator", "Function", "NodeError"]


@dataclass(frozen=True)
class Function:
    """A template function: Go parameter types (see ``gotypes.assign``), an optional variadic element
    type, and the implementation, which raises ``FuncError`` for Go's returned error."""

    params: tuple[str, ...]
    impl: Callable[..., object]
    variadic: str | None = None


class NodeError(Exception):
    """An execution error at a position of the template text."""

    def __init__(self, message: str, pos: int, context: str) -> None:
        super().__init__(message)
        self.message, self.pos, self.context = message, pos, context


class _NoFinal:
    pass


NO_FINAL = _NoFinal()  # text/template's missingVal: no piped value


class Evaluator:
    """The evaluation half of the executor's state: variables, the current node, the functions."""

    text: str
    funcs: Mapping[str, Function]
    missing_key: str

    def __init__(self) -> None:
        self.vars: list[list[object]] = []
        self.node: Node | None = None

    def error(self, message: str) -> NodeError:
        node = self.node
        pos = node.pos if node is not None else 0
        line_end = self.text.find("\n", pos)
        context = self.text[pos : line_end if line_end >= 0 else len(self.text)][:60]
        return NodeError(message, pos, context)

    def set_var(self, name: str, value: object) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.error(f"undefined variable: {name}")

    def var_value(self, name: str) -> object:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(f"undefined variable: {name}")

    def eval_pipeline(self, dot: object, pipe: Pipe) -> object:
        self.node = pipe
        value: object = NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # a nil interface{} becomes the invalid value
                value = MISSING
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append([name, value])
        return value

    def not_a_function(self, args: Sequence[Node], final: object) -> None:
        if len(args) > 1 or final is not NO_FINAL:
            raise self.error(f"can't give argument to non-function {_show(args[0])}")

    def eval_command(self, dot: object, cmd: Command, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first.idents, cmd.args, final)
        if isinstance(first, Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, Identifier):
            return self.eval_function(dot, first, cmd.args, final)
        if isinstance(first, Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, Bool):
            return first.value
        if isinstance(first, Dot):
            return dot
        if isinstance(first, Nil):
            raise self.error("nil is not a command")
        if isinstance(first, Number):
            return self.ideal_constant(first)
        assert isinstance(first, String)
        return first.text

    def ideal_constant(self, n: Number) -> object:
        self.node = n
        text = n.text
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
        if n.is_float and not hex_int and text[0] != "'" and any(c in text for c in ".eEpP"):
            return n.float_value
        if n.is_int:
            return n.int_value
        raise self.error(f"{text} overflows int")

    def eval_chain(self, dot: object, chain: Chain, args: Sequence[Node] | None, final: object) -> object:
        self.node = chain
        if isinstance(chain.node, Nil):
            raise self.error("indirection through explicit nil")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, chain.fields, args, final)

    def eval_variable(self, dot: object, var: Variable, args: Sequence[Node] | None, final: object) -> object:
        self.node = var
        value = self.var_value(var.idents[0])
        if len(var.idents) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var.idents[1:], args, final)

    def eval_field_chain(
        self, dot: object, receiver: object, idents: Sequence[str], args: Sequence[Node] | None, final: object
    ) -> object:
        for name in idents[:-1]:
            receiver = self.eval_field(name, None, NO_FINAL, receiver)
        return self.eval_field(idents[-1], args, final, receiver)

    def eval_field(self, name: str, args: Sequence[Node] | None, final: object, receiver: object) -> object:
        if receiver is MISSING:
            if self.missing_key == "error":
                raise self.error(f"nil data; no entry for key {name!r}")
            return MISSING
        if receiver is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not NO_FINAL
        if isinstance(receiver, GoStruct) and name in receiver.fields:
            if has_args:
                raise self.error(f"{name} has arguments but cannot be invoked as function")
            return receiver.fields[name]
        if isinstance(receiver, dict):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing_key == "error":
                raise self.error(f"map has no entry for key {name!r}")
            if self.missing_key == "zero":
                return "" if isinstance(receiver, StrMap) else None
            return MISSING
        raise self.error(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_function(
        self, dot: object, node: Identifier, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = node
        function = self.funcs.get(node.name)
        if function is None:
            raise self.error(f"{node.name!r} is not a defined function")
        return self.eval_call(dot, function, node, node.name, args, final)

    def eval_call(
        self, dot: object, fn: Function, node: Node, name: str, args: Sequence[Node] | None, final: object
    ) -> object:
        given = list(args[1:]) if args else []
        num_in = len(given) + (final is not NO_FINAL)
        num_fixed = len(given)
        if fn.variadic is not None:
            num_fixed = len(fn.params)
            if num_in < num_fixed:
                raise self.error(
                    f"wrong number of args for {name}: want at least {num_fixed} got {len(given)}"
                )
        elif num_in != len(fn.params):
            raise self.error(f"wrong number of args for {name}: want {len(fn.params)} got {num_in}")
        if name in ("and", "or") and fn.variadic == "value":
            value: object = MISSING
            for arg in given:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value) == (name == "or"):
                    return value
            if final is not NO_FINAL:
                value = assign(final, "value")
            return value
        argv: list[object] = []
        for i, arg in enumerate(given):
            typ = fn.params[i] if i < num_fixed else fn.variadic
            argv.append(self.eval_arg(dot, typ, arg))
        if final is not NO_FINAL:
            if fn.variadic is not None and num_in - 1 >= num_fixed:
                typ = fn.variadic
            else:
                typ = fn.params[num_in - 1]
            self.node = node
            argv.append(self.assign(final, typ))
        self.node = node
        try:
            return fn.impl(*argv)
        except (FuncError, ExecError, ArithmeticError, IndexError, ValueError, TypeError, KeyError) as err:
            raise self.error(f"error calling {name}: {err}") from None

    def assign(self, value: object, typ: str | None) -> object:
        if typ is None:
            return value
        try:
            return assign(value, typ)
        except ExecError as err:
            raise self.error(str(err)) from None

    def eval_arg(self, dot: object, typ: str | None, node: Node) -> object:
        self.node = node
        if isinstance(node, Dot):
            return self.assign(dot, typ)
        if isinstance(node, Nil):
            if typ in ("any", "map", None):
                return None
            if typ == "value":
                return MISSING
            raise self.error(f"cannot assign nil to {typ}")
        if isinstance(node, Field):
            return self.assign(self.eval_field_chain(dot, dot, node.idents, [node], NO_FINAL), typ)
        if isinstance(node, Variable):
            return self.assign(self.eval_variable(dot, node, None, NO_FINAL), typ)
        if isinstance(node, Pipe):
            return self.assign(self.eval_pipeline(dot, node), typ)
        if isinstance(node, Identifier):
            return self.assign(self.eval_function(dot, node, None, NO_FINAL), typ)
        if isinstance(node, Chain):
            return self.assign(self.eval_chain(dot, node, None, NO_FINAL), typ)
        self.node = node
        if typ in ("any", "value", None):
            if isinstance(node, Bool):
                return node.value
            if isinstance(node, Number):
                return self.ideal_constant(node)
            assert isinstance(node, String)
            return node.text
        if typ == "bool" and isinstance(node, Bool):
            return node.value
        if typ == "float64" and isinstance(node, Number) and node.is_float:
            return node.float_value
        if typ in ("int", "int64") and isinstance(node, Number) and node.is_int:
            return Int64(node.int_value) if typ == "int64" else node.int_value
        if typ == "string" and isinstance(node, String):
            return node.text
        expected = {"int": "integer", "int64": "integer", "float64": "float"}.get(typ, typ)
        if typ == "map":
            raise self.error(f"can't handle {_show(node)} for arg of type map[string]interface {{}}")
        raise self.error(f"expected {expected}; found {_show(node)}")


def _show(node: Node) -> str:
    if isinstance(node, Number):
        return node.text
    if isinstance(node, String):
        return repr(node.text)
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Field):
        return "." + ".".join(node.idents)
    if isinstance(node, Variable):
        return ".".join(node.idents)
    if isinstance(node, Identifier):
        return node.name
    return type(node).__name__.lower()
