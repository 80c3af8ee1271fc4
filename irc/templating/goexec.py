"""The executor of Go's text/template (``text/template/exec.go``'s ``walk``) over ``gotypes`` values.

It walks the tree of ``goparse`` and writes what Go writes: text, each action's value (``<no value>`` for
a missing one, else ``fmt.Sprint``'s form), ``if``/``with`` by text/template's truth, ``range`` over
slices, maps (in sorted key order), integers (Go 1.22) and nothing (a missing value ranges like an empty
map), with ``$i, $v :=`` or ``$i, $v =``, ``break``, ``continue`` and ``else``; variables scoped to their
block; ``template``/``block`` calls with a new ``$``. Evaluating pipelines is ``goeval``'s part.

Missing keys follow the ``missingkey`` option: ``default`` (Go's default and the seed's: a missing map key
is "no value", ``<no value>`` when printed, nil when passed to a function), ``zero`` or ``error`` (an
error naming the key). A field a struct lacks is always an error, as in Go.

Two guards Go does not have: ``max_output`` characters of output and ``max_steps`` evaluated nodes; past
either the template fails (``LimitError``). Nested ``template`` calls stop at depth 200 (Go: 100000).
"""

from __future__ import annotations

from collections.abc import Mapping

from .goeval import Evaluator, Function, NodeError
from .gofmt import format_value
from .gonodes import Action, Break, Continue, Control, ListNode, Node, TemplateCall, Text
from .gotypes import MISSING, is_int, is_true, normalize_output

__all__ = ["Function", "LimitError", "NodeError", "execute"]

_MAX_DEPTH = 200


class LimitError(Exception):
    pass


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State(Evaluator):
    def __init__(
        self,
        text: str,
        trees: Mapping[str, ListNode],
        funcs: Mapping[str, Function],
        missing_key: str,
        max_output: int,
        max_steps: int,
    ) -> None:
        super().__init__()
        self.text, self.trees, self.funcs, self.missing_key = text, trees, funcs, missing_key
        self.out: list[str] = []
        self.size, self.max_output = 0, max_output
        self.steps, self.max_steps = 0, max_steps
        self.depth = 0

    def write(self, s: str) -> None:
        self.size += len(s)
        if self.size > self.max_output:
            raise LimitError(f"the output exceeds {self.max_output} characters")
        self.out.append(s)

    def walk(self, dot: object, node: Node) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise LimitError(f"the template takes more than {self.max_steps} steps")
        self.node = node
        if isinstance(node, Text):
            self.write(node.text)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.node = node
                self.write("<no value>" if value is MISSING else format_value(value))
        elif isinstance(node, Control):
            mark = len(self.vars)
            try:
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    value = self.eval_pipeline(dot, node.pipe)
                    if is_true(value):
                        self.walk(value if node.kind == "with" else dot, node.body)
                    elif node.else_body is not None:
                        self.walk(dot, node.else_body)
            finally:
                del self.vars[mark:]
        elif isinstance(node, TemplateCall):
            self.walk_template(dot, node)
        elif isinstance(node, Break):
            raise _Break
        elif isinstance(node, Continue):
            raise _Continue

    def walk_range(self, dot: object, node: Control) -> None:
        value = self.eval_pipeline(dot, node.pipe)
        decl = node.pipe.decl
        mark = len(self.vars)

        def one(index: object, elem: object) -> None:
            if decl:
                if node.pipe.is_assign:
                    self.set_var(decl[0], index if len(decl) > 1 else elem)
                else:
                    self.vars[-1][1] = elem
            if len(decl) > 1:
                if node.pipe.is_assign:
                    self.set_var(decl[1], elem)
                else:
                    self.vars[-2][1] = index
            try:
                self.walk(elem, node.body)
            except _Continue:
                pass
            finally:
                del self.vars[mark:]

        items: list[tuple[object, object]]
        if is_int(value):
            assert isinstance(value, int)
            if len(decl) > 1:
                self.node = node
                raise self.error(f"can't use {value} to iterate over more than one variable")
            kind = type(value)
            items = [(MISSING, kind(i)) for i in range(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = sorted(value.items())
        elif value is MISSING:
            items = []
        else:
            self.node = node
            raise self.error(f"range can't iterate over {format_value(value)}")
        try:
            for index, elem in items:
                one(index, elem)
        except _Break:
            return
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)

    def walk_template(self, dot: object, node: TemplateCall) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.error(f"template {node.name!r} not defined")
        if self.depth >= _MAX_DEPTH:
            raise self.error(f"exceeded maximum template depth ({_MAX_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved = self.vars
        self.vars, self.depth = [["$", value]], self.depth + 1
        try:
            self.walk(value, tree)
        finally:
            self.vars, self.depth = saved, self.depth - 1

    # evaluation


def execute(
    text: str,
    trees: Mapping[str, ListNode],
    data: object,
    funcs: Mapping[str, Function],
    *,
    missing_key: str = "default",
    max_output: int = 16 << 20,
    max_steps: int = 10_000_000,
    name: str = "resource",
) -> str:
    """Run the template ``name`` of ``trees`` (from ``goparse.parse(text, …, name)``) on ``data``."""
    state = _State(text, trees, funcs, missing_key, max_output, max_steps)
    state.vars.append(["$", data])
    state.walk(data, trees[name])
    return normalize_output("".join(state.out))
