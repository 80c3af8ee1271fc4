"""The nodes of a parsed Go template (``text/template/parse/node.go``'s tree, reduced to what runs).

A template is a ``ListNode`` of ``Text``, ``Action`` (a ``Pipe`` to print or to declare variables),
``Control`` (``if``, ``range``, ``with`` with a body and an optional else body), ``TemplateCall``,
``Break`` and ``Continue``. A ``Pipe`` holds declared variable names and ``Command``s; a command's first
argument is what runs: a ``Field`` chain (``.A.B``), a ``Variable`` (``$x.A``), an ``Identifier`` (a
function), a ``Chain`` (``(pipeline).A``), a nested ``Pipe`` or a literal (``Bool``, ``Number``,
``String``, ``Nil``, ``Dot``). ``End`` and ``Else`` exist only while parsing. Every node keeps ``pos``,
its offset in the template text, for error lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Action", "Bool", "Break", "Chain", "Command", "Continue", "Control", "Dot", "Else", "End", "Field",
    "Identifier", "ListNode", "Nil", "Node", "Number", "Pipe", "String", "TemplateCall", "Text", "Variable",
]  # fmt: skip


@dataclass
class Node:
    pos: int


@dataclass
class Text(Node):
    text: str


@dataclass
class Dot(Node):
    pass


@dataclass
class Nil(Node):
    pass


@dataclass
class Bool(Node):
    value: bool


@dataclass
class String(Node):
    text: str


@dataclass
class Number(Node):
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    int_value: int = 0
    float_value: float = 0.0


@dataclass
class Field(Node):
    idents: list[str]  # without the dots


@dataclass
class Variable(Node):
    idents: list[str]  # "$x" then fields


@dataclass
class Identifier(Node):
    name: str


@dataclass
class Command(Node):
    args: list[Node] = field(default_factory=list)


@dataclass
class Pipe(Node):
    decl: list[str] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[Command] = field(default_factory=list)


@dataclass
class Chain(Node):
    node: Node
    fields: list[str]


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass
class Action(Node):
    pipe: Pipe


@dataclass
class Control(Node):
    """if, range and with."""

    kind: str
    pipe: Pipe
    body: ListNode
    else_body: ListNode | None


@dataclass
class TemplateCall(Node):
    name: str
    pipe: Pipe | None


@dataclass
class Break(Node):
    pass


@dataclass
class Continue(Node):
    pass


@dataclass
class End(Node):
    """``{{end}}`` while parsing."""

    pass


@dataclass
class Else(Node):
    """``{{else}}`` while parsing."""

    pass
