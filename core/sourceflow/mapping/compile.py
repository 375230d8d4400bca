"""Compile a mapping set into one generated Python function.

Every rule is parsed once; the whole set then becomes the source of a function, compiled with
:func:`compile` and called per record. The function reads each source path with plain
subscripts inside one ``try`` (free in Python 3.11 when nothing is raised), reads a prefix
shared by several paths (``visitor`` in ``visitor.UUID`` and ``visitor.email``) once and, when
every value is present, returns the nested row as one dict display. A missing key sends the
record, and the next few, to a twin function that reads each step with a type check instead of
raising (an exception costs more than the whole mapping); both then check identities and build
the row leaving out what has no value.

Data Prep functions are inlined where the argument types are known: the fields that string
functions read are checked once to be ``str``, and then ``lower(trim(x))`` is
``x.strip().lower()``; otherwise the generic helpers of :mod:`sourceflow.mapping.functions`
run, which check types and raise the errors users read. ``inline=False`` compiles the helpers
only: the reference the inlined code is tested against.

Safety: user text never reaches the generated source except as ``repr()`` of a ``str`` or ``int``
key. Literals, functions and error context are bound in the function's globals under generated
names.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast, runtime_checkable

from sourceflow.mapping.errors import EvalError, MappingError, RecordError
from sourceflow.mapping.expressions import (
    Access,
    Call,
    Compare,
    ExprError,
    Field,
    Lit,
    Logic,
    Node,
    Not,
    parse_expression,
    parse_static,
)
from sourceflow.mapping.functions import COMPARISONS, kind, truth
from sourceflow.mapping.paths import Path, PathError, format_path, parse_path
from sourceflow.model import MappingSet

Transform = Callable[[Any], dict[str, Any]]

_MISS = (KeyError, IndexError, TypeError)
_EMPTY: dict[str, Any] = {}  # read with .get() only, never written
_CAREFUL_RUN = 64
_OPS = {"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}

# What the generator knows of a value's type: a str, a bool, or anything.
_STR, _BOOL, _ANY = "str", "bool", "any"
# Data Prep functions that are one str method when their argument is a str.
_STR_METHODS = {
    "lower": "lower",
    "lcase": "lower",
    "upper": "upper",
    "ucase": "upper",
    "trim": "strip",
    "ltrim": "lstrip",
    "rtrim": "rstrip",
}
_PLAIN_CODE = re.compile(r"[\w.()]+")
# Functions that are inlined when their field arguments are str: those fields are guarded.
_STR_ARGS = frozenset({*_STR_METHODS, "concat", "equals"})


@runtime_checkable
class CompiledMapping(Protocol):
    """A mapping set compiled to a function: ``compiled(record) -> row``.

    Calling it maps one record (a parsed JSON object) to a new nested row; it raises
    :class:`RecordError` naming the rule when the record cannot be mapped. Values are not
    copied: an object or array in the record is shared with the row.

    ``source_paths`` lists the source paths the rules read, in rule order; ``destinations`` the
    destination paths; ``python_source`` is the generated code, for debugging.
    """

    source_paths: list[str]
    destinations: list[str]
    python_source: str

    def __call__(self, record: Any, /) -> dict[str, Any]: ...


# --- the destination tree ---------------------------------------------------------------------


class _Tree:
    """An object (``is_list`` False) or array in the row; children are trees or rule indexes."""

    def __init__(self, is_list: bool, owner: int) -> None:
        self.is_list = is_list
        self.owner = owner
        self.children: dict[str | int, _Tree | int] = {}

    def items(self) -> list[tuple[str | int, _Tree | int]]:
        if self.is_list:
            return sorted(self.children.items(), key=lambda kv: cast(int, kv[0]))
        return list(self.children.items())


class _Rule:
    def __init__(self, index: int, node: Node, dest: Path, dest_text: str, source: str) -> None:
        self.index = index
        self.node = node
        self.dest = dest
        self.dest_text = dest_text
        self.source = source
        self.identity = False


def _place(root: _Tree, rule: _Rule, rules: dict[int, _Rule]) -> str | None:
    """Put a rule's leaf in the tree, or say why it collides with another rule."""
    tree = root
    steps = rule.dest
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        child = tree.children.get(step)
        if last:
            if child is None:
                tree.children[step] = rule.index
                return None
            if isinstance(child, int):
                return f"{rule.dest_text!r} is already mapped by mappings[{child}]"
            other = rules[child.owner]
            return (
                f"{rule.dest_text!r} holds fields that mappings[{other.index}] maps "
                f"({other.dest_text!r}); map either the object or its fields"
            )
        wants_list = isinstance(steps[depth + 1], int)
        if child is None:
            child = _Tree(wants_list, rule.index)
            tree.children[step] = child
        elif isinstance(child, int):
            other = rules[child]
            return (
                f"{rule.dest_text!r} goes inside {other.dest_text!r}, which mappings[{child}] "
                "maps to a value; map either the object or its fields"
            )
        elif child.is_list != wants_list:
            other = rules[child.owner]
            prefix = format_path(steps[: depth + 1])
            shape = "an array" if child.is_list else "an object"
            return f"{prefix!r} is {shape} in mappings[{other.index}] ({other.dest_text!r})"
        tree = child
    return None


# --- code generation --------------------------------------------------------------------------


def _fields(node: Node) -> Iterator[Path]:
    if isinstance(node, Field):
        yield node.path
    elif isinstance(node, Access):
        yield from _fields(node.base)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _fields(arg)
    elif isinstance(node, Not):
        yield from _fields(node.operand)
    elif isinstance(node, Compare):
        yield from _fields(node.left)
        yield from _fields(node.right)
    elif isinstance(node, Logic):
        for operand in node.operands:
            yield from _fields(operand)


def _list_only(value: Any) -> list[Any]:
    # An index step applies to arrays only: "abc"[0] must not read a character.
    if value.__class__ is list:
        return value
    raise TypeError


def _get(value: Any, steps: Path) -> Any:
    try:
        for step in steps:
            value = _list_only(value)[step] if isinstance(step, int) else value[step]
    except _MISS:
        return None
    return value


class _Generator:
    """Writes ``_transform``: fast reads, else careful reads, then the same tail for both.

    The fast reads use plain subscripts in one ``try``; a missing key falls through to the
    careful reads, which type-check each step instead of raising, and the next records go
    there directly. The tail evaluates expressions, returns one dict display when every value
    is present, else checks identities and builds the row leaving out what is missing.
    """

    def __init__(
        self, rules: list[_Rule], tree: _Tree, paths: list[Path], inline: bool = True
    ) -> None:
        self.rules = rules
        self.inline = inline
        self.tree = tree
        self.paths = paths
        self.ns: dict[str, Any] = {
            "_MISS": _MISS,
            "_L": _list_only,
            "_get": _get,
            "_truth": truth,
            "_EvalError": EvalError,
            "_deepcopy": copy.deepcopy,
            "_not_object": _not_object,
            "_EMPTY": _EMPTY,
            "_gaps": [0],  # records left to read carefully; per compiled mapping
            **{name: COMPARISONS[op] for op, name in _OPS.items()},
        }
        self.path_vars: dict[Path, str] = {}
        self.values: dict[int, str] = {}  # rule index -> Python expression of its value
        self.maybe_none: set[int] = set()
        self.identity_checks: dict[int, str] = {}
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, value: Any, prefix: str = "_c") -> str:
        name = self.name(prefix)
        self.ns[name] = value
        return name

    def var(self, path: Path) -> str:
        known = self.path_vars.get(path)
        if known is None:
            known = self.path_vars[path] = self.name("p")
        return known

    # source paths

    def fast_reads(self, out: list[str]) -> None:
        users: dict[Path, int] = {}
        for path in self.paths:
            for k in range(1, len(path) + 1):
                users[path[:k]] = users.get(path[:k], 0) + 1
        # A prefix read by several paths (visitor in visitor.UUID, visitor.email) is read once.
        wanted = {p for p, count in users.items() if count > 1} | set(self.paths)
        done: set[Path] = set()

        def read(path: Path) -> None:
            base, k = "r", 0
            for j in range(len(path) - 1, 0, -1):
                if path[:j] in wanted:
                    if path[:j] not in done:
                        read(path[:j])
                    base, k = self.var(path[:j]), j
                    break
            code = base
            for step in path[k:]:
                code = f"_L({code})[{step!r}]" if isinstance(step, int) else f"{code}[{step!r}]"
            out.append(f"        {self.var(path)} = {code}")
            done.add(path)

        out.append("    try:")
        for path in self.paths:
            if path not in done:
                read(path)
        out.append("    except _MISS:")
        out.append(f"        _gaps[0] = {_CAREFUL_RUN}")

    def careful_reads(self, out: list[str]) -> None:
        # Each parent is type-checked once into a view: a dict (or an empty one) for its key
        # children, a list (or an empty tuple) for its index children; no exception is raised.
        key_parents: set[Path] = set()
        index_parents: set[Path] = set()
        for path in self.paths:
            for k in range(1, len(path)):
                (index_parents if isinstance(path[k], int) else key_parents).add(path[:k])
        done: set[Path] = set()
        for path in self.paths:
            for k in range(1, len(path) + 1):
                prefix = path[:k]
                if prefix in done:
                    continue
                done.add(prefix)
                step, var = prefix[-1], self.var(prefix)
                if k == 1:
                    out.append(f"    {var} = r.get({step!r})")
                elif isinstance(step, int):
                    view = f"{self.var(prefix[:-1])}_l"
                    out.append(f"    {var} = {view}[{step!r}] if len({view}) > {step!r} else None")
                else:
                    out.append(f"    {var} = {self.var(prefix[:-1])}_d.get({step!r})")
                if prefix in key_parents:
                    out.append(f"    {var}_d = {var} if isinstance({var}, dict) else _EMPTY")
                if prefix in index_parents:
                    out.append(f"    {var}_l = {var} if {var}.__class__ is list else ()")

    # expressions

    def expr(self, node: Node) -> str:
        if isinstance(node, Lit):
            return self.literal(node.value)
        if isinstance(node, Field):
            return self.var(node.path)
        if isinstance(node, Access):
            return f"_get({self.expr(node.base)}, {self.bind(node.steps)})"
        if isinstance(node, Call):
            args = [self.expr(a) for a in node.args]
            if node.fn.name == "iif":
                return f"({args[1]} if _truth({args[0]}) else {args[2]})"
            return f"{self.bind(node.fn.impl, '_f')}({', '.join(args)})"
        if isinstance(node, Not):
            return f"(not _truth({self.expr(node.operand)}))"
        if isinstance(node, Compare):
            return f"{_OPS[node.op]}({self.expr(node.left)}, {self.expr(node.right)})"
        joiner = " and " if node.op == "and" else " or "
        return "(" + joiner.join(f"_truth({self.expr(x)})" for x in node.operands) + ")"

    # typed expressions: Data Prep functions inlined where the argument types are known

    def inlined(self, node: Node) -> str:
        """The value of an expression, with what its types allow inlined.

        Fields that string functions read (``x`` in ``lower(trim(x))``) are guarded: when
        every one is a ``str`` the expression is direct str operations (``x.strip().lower()``),
        else the generic helpers, which check types and raise the errors a user reads. Both
        give the same values and errors; the guard only picks the cheaper one.
        """
        plain, _ = self.typed(node, frozenset())
        guarded = sorted(_guarded_fields(node, self.var))
        if not guarded:
            return plain
        fast, _ = self.typed(node, frozenset(guarded))
        if fast == plain:
            return plain
        guard = " and ".join(f"{var}.__class__ is str" for var in guarded)
        return f"({fast} if {guard} else {plain})"

    def typed(self, node: Node, strs: frozenset[str]) -> tuple[str, str]:
        """Code for a node and its known type, taking the variables in ``strs`` as str."""
        if isinstance(node, Lit):
            value = node.value
            known = _STR if value.__class__ is str else _BOOL if value.__class__ is bool else _ANY
            return self.literal(value), known
        if isinstance(node, Field):
            var = self.var(node.path)
            return var, _STR if var in strs else _ANY
        if isinstance(node, Access):
            return f"_get({self.typed(node.base, strs)[0]}, {self.bind(node.steps)})", _ANY
        if isinstance(node, Not):
            return f"(not {self.truth(*self.typed(node.operand, strs))})", _BOOL
        if isinstance(node, Logic):
            joiner = " and " if node.op == "and" else " or "
            parts = (self.truth(*self.typed(x, strs)) for x in node.operands)
            return "(" + joiner.join(parts) + ")", _BOOL
        if isinstance(node, Compare):
            return self.compare(node, strs), _BOOL
        return self.call(node, strs)

    def compare(self, node: Compare, strs: frozenset[str]) -> str:
        left, left_type = self.typed(node.left, strs)
        right, right_type = self.typed(node.right, strs)
        if node.op in ("==", "!="):
            # x == null holds only for null, whatever x is (the null literal has no effects).
            test = "is" if node.op == "==" else "is not"
            if _is_null(node.right):
                return f"({left} {test} None)"
            if _is_null(node.left):
                return f"({right} {test} None)"
        if left_type == right_type == _STR:
            return f"({left} {node.op} {right})"
        return f"{_OPS[node.op]}({left}, {right})"

    def call(self, node: Call, strs: frozenset[str]) -> tuple[str, str]:
        name = node.fn.name
        args = [self.typed(a, strs) for a in node.args]
        if name == "iif":
            (cond, cond_type), (yes, yes_type), (no, no_type) = args
            known = yes_type if yes_type == no_type else _ANY
            return f"({yes} if {self.truth(cond, cond_type)} else {no})", known
        if name in _STR_METHODS and args[0][1] == _STR:
            return f"{args[0][0]}.{_STR_METHODS[name]}()", _STR
        if name == "equals" and all(t == _STR for _, t in args):
            return f"({args[0][0]} == {args[1][0]})", _BOOL
        if name == "concat":
            # concat leaves nulls out: a null literal is dropped, every other part a str.
            parts = [a for a, n in zip(args, node.args, strict=True) if not _is_null(n)]
            if parts and all(t == _STR for _, t in parts):
                if len(parts) == 1:
                    return parts[0][0], _STR
                codes = [code for code, _ in parts]
                # An f-string of strs builds the result in one allocation, + each step; its
                # fields may hold no quote (3.11), so only names and method calls go there.
                if all(_PLAIN_CODE.fullmatch(code) for code in codes):
                    return "f'" + "".join(f"{{{code}}}" for code in codes) + "'", _STR
                return "(" + " + ".join(codes) + ")", _STR
        call = f"{self.bind(node.fn.impl, '_f')}({', '.join(code for code, _ in args)})"
        return call, _ANY

    def truth(self, code: str, known: str) -> str:
        """A value as a condition (JEXL's truth), inlined for a bool or a str."""
        if known == _BOOL:
            return code
        if known == _STR:
            if not code.isidentifier():
                var = self.name("w")
                return f"(({var} := {code}) != '' and {var} != 'false')"
            return f"({code} != '' and {code} != 'false')"
        return f"_truth({code})"

    def literal(self, value: Any) -> str:
        if value is None or value is True or value is False:
            return repr(value)
        name = self.bind(value)
        # A folded constant such as split("a,b", ",") must not be shared between rows.
        return f"_deepcopy({name})" if isinstance(value, list | dict) else name

    # the shared tail

    def prepare(self) -> list[str]:
        """Give every rule its value expression; return the lines evaluating expressions."""
        lines: list[str] = []
        for rule in self.rules:
            node = rule.node
            if isinstance(node, Field):
                self.values[rule.index] = self.var(node.path)
                self.maybe_none.add(rule.index)
            elif isinstance(node, Lit):
                self.values[rule.index] = self.literal(node.value)
            else:
                var = self.name("v")
                lines.append("    try:")
                code = self.inlined(node) if self.inline else self.expr(node)
                lines.append(f"        {var} = {code}")
                lines.append("    except _EvalError as e:")
                lines.append(f"        raise {self.bind(_failure(rule), '_fail')}(e) from None")
                lines.append("    except Exception as e:")
                lines.append(f"        raise {self.bind(_crash(rule), '_crash')}(e) from None")
                self.values[rule.index] = var
                self.maybe_none.add(rule.index)
        for rule in self.rules:
            if rule.identity and rule.index in self.maybe_none:
                self.identity_checks[rule.index] = self.bind(_identity_missing(rule), "_idm")
        return lines

    def tail(self, out: list[str], expressions: list[str], careful: bool, indent: str = "") -> None:
        lines: list[str] = []
        self._tail(lines, expressions, careful)
        out.extend(indent + line for line in lines)

    def _tail(self, out: list[str], expressions: list[str], careful: bool) -> None:
        out.extend(expressions)
        checks = [f"{self.values[i]} is not None" for i in sorted(self.maybe_none)]
        if not checks:
            out.append(f"    return {self.display(self.tree)}")
            return
        out.append(f"    if {' and '.join(checks)}:")
        if careful:
            out.append("        if _gaps[0]:")
            out.append("            _gaps[0] -= 1")
        out.append(f"        return {self.display(self.tree)}")
        if careful:
            out.append(f"    _gaps[0] = {_CAREFUL_RUN}")
        # Something is missing: check identities, then leave out what has no value.
        maybe_none = set(self.maybe_none)
        for index, raiser in self.identity_checks.items():
            out.append(f"    if {self.values[index]} is None:")
            out.append(f"        raise {raiser}()")
            maybe_none.discard(index)  # present from here on
        self.build(self.tree, "t0", out, maybe_none)
        out.append("    return t0")

    def display(self, tree: _Tree) -> str:
        parts = []
        for key, child in tree.items():
            value = self.values[child] if isinstance(child, int) else self.display(child)
            parts.append(value if tree.is_list else f"{key!r}: {value}")
        body = ", ".join(parts)
        return f"[{body}]" if tree.is_list else f"{{{body}}}"

    def build(self, tree: _Tree, var: str, out: list[str], maybe_none: set[int]) -> None:
        out.append(f"    {var} = {'[]' if tree.is_list else '{}'}")
        for key, child in tree.items():
            if isinstance(child, int):
                value = self.values[child]
                if child in maybe_none:
                    out.append(f"    if {value} is not None:")
                    out.append(f"        {_put(tree, var, key, value)}")
                else:
                    out.append(f"    {_put(tree, var, key, value)}")
            else:
                sub = self.name("t")
                self.build(child, sub, out, maybe_none)
                out.append(f"    if {sub}:")
                out.append(f"        {_put(tree, var, key, sub)}")

    def generate(self) -> str:
        expressions = self.prepare()
        lines: list[str] = ["def _transform(r):"]
        if not self.paths:
            lines += ["    if not isinstance(r, dict):", "        raise _not_object(r)"]
            self.tail(lines, expressions, careful=False)
            return "\n".join(lines) + "\n"
        # After a record with gaps the next ones skip the fast reads: a missing key there
        # costs an exception, more than reading carefully.
        fast: list[str] = []
        self.fast_reads(fast)
        fast.append("    else:")
        self.tail(fast, expressions, careful=False, indent="    ")
        lines += ["    if not _gaps[0]:", *("    " + line for line in fast)]
        lines += ["    if not isinstance(r, dict):", "        raise _not_object(r)"]
        self.careful_reads(lines)
        self.tail(lines, expressions, careful=True)
        return "\n".join(lines) + "\n"


def _is_null(node: Node) -> bool:
    return isinstance(node, Lit) and node.value is None


def _guarded_fields(node: Node, var: Callable[[Path], str]) -> set[str]:
    """The variables of the fields that string functions or string comparisons read."""
    found: set[str] = set()
    if isinstance(node, Call):
        if node.fn.name in _STR_ARGS:
            found.update(var(a.path) for a in node.args if isinstance(a, Field))
        for arg in node.args:
            found |= _guarded_fields(arg, var)
    elif isinstance(node, Compare):
        for one, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(one, Field) and isinstance(other, Lit) and other.value.__class__ is str:
                found.add(var(one.path))
        found |= _guarded_fields(node.left, var) | _guarded_fields(node.right, var)
    elif isinstance(node, Access):
        found = _guarded_fields(node.base, var)
    elif isinstance(node, Not):
        found = _guarded_fields(node.operand, var)
    elif isinstance(node, Logic):
        for operand in node.operands:
            found |= _guarded_fields(operand, var)
    return found


def _put(tree: _Tree, var: str, key: str | int, value: str) -> str:
    return f"{var}.append({value})" if tree.is_list else f"{var}[{key!r}] = {value}"


def _where(rule: _Rule) -> str:
    return f"in mappings[{rule.index}] -> {rule.dest_text}"


def _failure(rule: _Rule) -> Callable[[EvalError], RecordError]:
    def fail(exc: EvalError) -> RecordError:
        return RecordError(
            f"{exc.call} {_where(rule)}: {exc.reason}",
            rule_index=rule.index,
            destination=rule.dest_text,
        )

    return fail


def _crash(rule: _Rule) -> Callable[[Exception], RecordError]:
    def crash(exc: Exception) -> RecordError:
        return RecordError(
            f"{rule.source} {_where(rule)}: failed ({type(exc).__name__}: {exc})",
            rule_index=rule.index,
            destination=rule.dest_text,
        )

    return crash


def _identity_missing(rule: _Rule) -> Callable[[], RecordError]:
    def missing() -> RecordError:
        return RecordError(
            f"{rule.source} {_where(rule)}: mandatory identity is missing",
            rule_index=rule.index,
            destination=rule.dest_text,
        )

    return missing


def _not_object(record: Any) -> RecordError:
    return RecordError(
        f"the record is {'an' if kind(record)[0] in 'aeiou' else 'a'} {kind(record)}, "
        "not a JSON object",
        rule_index=None,
        destination=None,
    )


# --- entry point ------------------------------------------------------------------------------


def _parse_rule(source_type: str, source: str) -> Node:
    if source_type == "ATTRIBUTE":
        try:
            return Field(parse_path(source), 1)
        except PathError as exc:
            raise ExprError(f"bad path {source!r}", exc.column, f": {exc.reason}") from None
    if source_type == "EXPRESSION":
        return parse_expression(source)
    return Lit(parse_static(source))


def compile_mapping(mapping_set: MappingSet, *, inline: bool = True) -> CompiledMapping:
    """Compile a mapping set once into a fast record transform.

    :param mapping_set: the Data Prep mapping set; its rules are ATTRIBUTE paths, EXPRESSION
        Data Prep expressions or STATIC values, each to a dotted XDM destination path.
    :param inline: compile Data Prep functions to direct operations where the argument types
        are known (the default); False calls the generic helper of every function, the
        reference the inlined code is checked against. Both map every record alike.
    :return: a :class:`CompiledMapping`; call it with a record to get the row.
    :raises MappingError: listing every rule that cannot compile, each with its index, field
        and column.
    """
    problems: list[str] = []
    rules: list[_Rule] = []
    by_index: dict[int, _Rule] = {}
    tree = _Tree(False, -1)
    for i, spec in enumerate(mapping_set.mappings):
        where = f"mappings[{i}]"
        source, dest_text = spec.source_attribute, spec.destination_xdm_path
        node: Node | None = None
        if spec.source_type not in ("ATTRIBUTE", "EXPRESSION", "STATIC"):
            problems.append(
                f"{where}.sourceType: must be ATTRIBUTE, EXPRESSION or STATIC "
                f"(got {spec.source_type!r})"
            )
        elif not isinstance(source, str):
            problems.append(f"{where}.sourceAttribute: must be a string")
        else:
            try:
                node = _parse_rule(spec.source_type, source)
            except ExprError as exc:
                problems.append(f"{where}.sourceAttribute: {exc}")
        dest: Path | None = None
        if not isinstance(dest_text, str):
            problems.append(f"{where}.destinationXdmPath: must be a string")
        else:
            try:
                dest = parse_path(dest_text)
            except PathError as exc:
                problems.append(
                    f"{where}.destinationXdmPath: bad path {dest_text!r} at column "
                    f"{exc.column}: {exc.reason}"
                )
        if node is None or dest is None:
            continue
        rule = _Rule(i, node, dest, dest_text, source)
        rule.identity = bool(spec.identity)
        if isinstance(node, Lit) and node.value is None:
            if rule.identity:
                problems.append(f"{where}.sourceAttribute: a mandatory identity is always null")
            continue  # a null constant maps nothing
        by_index[i] = rule
        clash = _place(tree, rule, by_index)
        if clash is not None:
            problems.append(f"{where}.destinationXdmPath: {clash}")
            continue
        rules.append(rule)
    if problems:
        raise MappingError(problems)

    paths: list[Path] = []
    seen: set[Path] = set()
    for rule in rules:
        for path in _fields(rule.node):
            if path not in seen:
                seen.add(path)
                paths.append(path)
    gen = _Generator(rules, tree, paths, inline)
    source_code = gen.generate()
    try:
        code = compile(source_code, "<sourceflow mapping>", "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        # The parser's limits should make this unreachable; say so rather than crash.
        raise MappingError([f"mappings: too large to compile ({type(exc).__name__})"]) from None
    # The generated source holds no user text but repr()'d keys: see the module docstring.
    exec(code, gen.ns)  # noqa: S102
    # The generated function itself is the CompiledMapping: a class with __call__ would add
    # 60 to 130 ns per record, a fifth of a small mapping's whole cost.
    fn = gen.ns["_transform"]
    fn.__name__ = fn.__qualname__ = "compiled_mapping"
    fn.__doc__ = f"Map one record with {len(rules)} compiled rules; see CompiledMapping."
    fn.source_paths = [format_path(p) for p in paths]
    fn.destinations = [r.dest_text for r in rules]
    fn.python_source = source_code
    return cast(CompiledMapping, fn)
