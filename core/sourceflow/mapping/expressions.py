"""Data Prep expressions: a tokenizer and a recursive-descent parser to a small syntax tree.

Grammar, lowest precedence first (``and``/``or``/``not``/``eq``/... are JEXL's word forms)::

    expr     := and_expr (("||" | "or") and_expr)*
    and_expr := compare (("&&" | "and") compare)*
    compare  := unary [("==" | "!=" | "<" | "<=" | ">" | ">=" | "eq" | ...) unary]
    unary    := ("!" | "not") unary | "-" NUMBER | postfix
    postfix  := primary ("." NAME "(" args ")" | "." name | "[" INT "]")*
    primary  := STRING | NUMBER | true | false | null | "(" expr ")" | NAME "(" args ")" | name
    name     := NAME | "${" path "}"

A call with only literal arguments to a pure function is evaluated here, once, so its
errors are compile-time errors.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from sourceflow.mapping.errors import EvalError
from sourceflow.mapping.functions import COMPARISONS, FUNCTIONS, Function, show, truth
from sourceflow.mapping.paths import MAX_STEPS, Path, PathError, parse_path

MAX_DEPTH = 32


class ExprError(Exception):
    """A syntax or compile-time error at a 1-based column of the expression text."""

    def __init__(self, message: str, column: int, suffix: str = "") -> None:
        self.message = message
        self.column = column
        self.suffix = suffix
        super().__init__(f"{message} at column {column}{suffix}")


# --- syntax tree ------------------------------------------------------------------------------


@frozen
class Lit:
    value: Any


@frozen
class Field:
    """A source field read from the record root."""

    path: Path
    column: int


@frozen
class Access:
    """A key or index step into a computed value, e.g. ``split(x, ",")[0]``."""

    base: Node
    steps: Path
    column: int


@frozen
class Call:
    fn: Function
    args: tuple[Node, ...]
    column: int


@frozen
class Not:
    operand: Node


@frozen
class Compare:
    op: str
    left: Node
    right: Node
    column: int


@frozen
class Logic:
    """``a && b && c`` (or ``||``): kept flat, so a long chain does not nest."""

    op: str  # "and" | "or"
    operands: tuple[Node, ...]


Node = Lit | Field | Access | Call | Not | Compare | Logic


# --- tokens -----------------------------------------------------------------------------------

# Token kinds: NAME, PATH (${...}), STR, NUM, OP, PUNCT, END.
Token = tuple[str, Any, int]

_WORD_OPS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
# JEXL's other reserved words: a field so named must be written ${name}.
_RESERVED = frozenset(
    {"new", "mod", "break", "var", "for", "while", "continue", "else", "if", "return", "div"}
    | {"empty", "size", "function", "do", "_errors"}
)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b"}
_ESCAPES["f"] = "\f"


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, each with its 1-based column."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch == "$" and text.startswith("${", i):
            i = _braced(text, i, tokens)
        elif _is_name_start(ch):
            j = i + 1
            while j < n and _is_name_char(text[j]):
                j += 1
            word = text[i:j]
            if word in _WORD_OPS:
                tokens.append(("OP", _WORD_OPS[word], col))
            elif word in _LITERALS:
                tokens.append(("LIT", _LITERALS[word], col))
            else:
                tokens.append(("NAME", word, col))
            i = j
        elif ch.isascii() and ch.isdigit():
            i = _number(text, i, tokens)
        elif ch in "\"'":
            i = _string(text, i, tokens)
        elif text.startswith(("==", "!=", "<=", ">=", "&&", "||"), i):
            tokens.append(("OP", text[i : i + 2], col))
            i += 2
        elif ch in "<>!-":
            tokens.append(("OP", ch, col))
            i += 1
        elif ch in "().,[]":
            tokens.append(("PUNCT", ch, col))
            i += 1
        elif ch == "=":
            raise ExprError("'=' is not an operator (compare with '==')", col)
        elif ch in "&|":
            raise ExprError(f"{ch!r} is not an operator (use '{ch}{ch}')", col)
        elif ch in "+*/%":
            raise ExprError(f"arithmetic ({ch!r}) is not supported; use functions", col)
        else:
            raise ExprError(f"unexpected character {ch!r}", col)
    tokens.append(("END", None, n + 1))
    return tokens


def _braced(text: str, i: int, tokens: list[Token]) -> int:
    start = i + 2
    j = start
    while j < len(text) and text[j] != "}":
        j += 2 if text[j] == "\\" else 1
    if j >= len(text):
        raise ExprError("unterminated '${'", i + 1, " (close it with '}')")
    try:
        path = parse_path(text[start:j])
    except PathError as exc:
        raise ExprError(
            f"bad field name {text[i : j + 1]!r}", start + exc.column, f": {exc.reason}"
        ) from None
    tokens.append(("PATH", path, i + 1))
    return j + 1


def _number(text: str, i: int, tokens: list[Token]) -> int:
    n = len(text)
    j = i
    while j < n and text[j].isascii() and text[j].isdigit():
        j += 1
    is_float = False
    if j + 1 < n and text[j] == "." and text[j + 1].isascii() and text[j + 1].isdigit():
        is_float = True
        j += 1
        while j < n and text[j].isascii() and text[j].isdigit():
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isascii() and text[k].isdigit():
            is_float = True
            j = k
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
    if j < n and _is_name_char(text[j]):
        raise ExprError(f"bad number {text[i : j + 1]!r}", i + 1)
    literal = text[i:j]
    value: Any = float(literal) if is_float else int(literal)
    if is_float and value in (float("inf"), float("-inf")):
        raise ExprError(f"number {literal} is too large", i + 1)
    tokens.append(("LIT", value, i + 1))
    return j


def _string(text: str, i: int, tokens: list[Token]) -> int:
    quote = text[i]
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        ch = text[j]
        if ch == quote:
            tokens.append(("LIT", "".join(out), i + 1))
            return j + 1
        if ch == "\\":
            esc = text[j + 1 : j + 2]
            if esc == "u":
                digits = text[j + 2 : j + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise ExprError("bad escape '\\u' (needs four hex digits)", j + 1)
                out.append(chr(int(digits, 16)))
                j += 6
                continue
            if esc not in _ESCAPES:
                shown = f"'\\{esc}'" if esc else "'\\' at the end"
                raise ExprError(f"unknown escape {shown} in string", j + 1)
            out.append(_ESCAPES[esc])
            j += 2
        else:
            out.append(ch)
            j += 1
    raise ExprError("unterminated string", i + 1, f" (close it with {quote})")


# --- parser -----------------------------------------------------------------------------------


def _known() -> str:
    return ", ".join(sorted(FUNCTIONS, key=str.lower))


def _plural(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    def nest(self) -> None:
        # Deep nesting would overflow the parser's stack, then Python's compiler.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"nested more than {MAX_DEPTH} levels deep", self.peek()[2])

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        if tok[0] != "END":
            self.pos += 1
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok[0] == kind and (value is None or tok[1] == value)

    def expect(self, kind: str, value: str, what: str) -> Token:
        if not self.at(kind, value):
            raise self.unexpected(f"expected {what}")
        return self.next()

    def unexpected(self, hint: str = "") -> ExprError:
        kind, _, col = self.peek()
        if kind == "END":
            return ExprError("unexpected end of expression", col, f" ({hint})" if hint else "")
        shown = _shown(self.peek())
        return ExprError(f"unexpected {shown}", col, f" ({hint})" if hint else "")

    # grammar

    def parse(self) -> Node:
        if self.at("END"):
            raise ExprError("empty expression", 1)
        node = self.expr()
        if not self.at("END"):
            raise self.unexpected("expected an operator or the end")
        return node

    def expr(self) -> Node:
        self.nest()
        operands = [self.and_expr()]
        while self.at("OP", "||"):
            self.next()
            operands.append(self.and_expr())
        self.depth -= 1
        return _logic("or", operands)

    def and_expr(self) -> Node:
        operands = [self.compare()]
        while self.at("OP", "&&"):
            self.next()
            operands.append(self.compare())
        return _logic("and", operands)

    def compare(self) -> Node:
        left = self.unary()
        tok = self.peek()
        if tok[0] == "OP" and tok[1] in COMPARISONS:
            self.next()
            right = self.unary()
            nxt = self.peek()
            if nxt[0] == "OP" and nxt[1] in COMPARISONS:
                raise ExprError("comparisons do not chain (use '&&')", nxt[2])
            return _fold_compare(tok[1], left, right, tok[2])
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok[0] == "OP" and tok[1] == "!":
            self.next()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return Lit(not truth(operand.value)) if isinstance(operand, Lit) else Not(operand)
        if tok[0] == "OP" and tok[1] == "-":
            self.next()
            num = self.peek()
            if num[0] != "LIT" or not isinstance(num[1], int | float) or isinstance(num[1], bool):
                raise ExprError(
                    "'-' only makes negative numbers; arithmetic is not supported", tok[2]
                )
            self.next()
            return Lit(-num[1])
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        calls = 0
        while True:
            if self.at("PUNCT", "."):
                dot = self.next()
                name = self.peek()
                if name[0] == "NAME" and self.peek(1)[:2] == ("PUNCT", "("):
                    self.next()
                    self.nest()  # x.lower().trim() nests calls as deeply as trim(lower(x))
                    calls += 1
                    node = self.call(name[1], name[2], receiver=node)
                elif name[0] in ("NAME", "PATH"):
                    self.next()
                    node = _step(node, _name_steps(name), dot[2])
                else:
                    raise self.unexpected("expected a field name after '.'")
            elif self.at("PUNCT", "["):
                bracket = self.next()
                idx = self.peek()
                if idx[0] != "LIT" or type(idx[1]) is not int:
                    raise ExprError("an index is a whole number in brackets, like [0]", bracket[2])
                self.next()
                self.expect("PUNCT", "]", "']'")
                node = _step(node, (idx[1],), bracket[2])
            else:
                self.depth -= calls
                return node

    def primary(self) -> Node:
        kind, value, col = self.peek()
        if kind == "LIT":
            self.next()
            return Lit(value)
        if kind == "PATH":
            self.next()
            return Field(value, col)
        if kind == "NAME":
            self.next()
            if self.at("PUNCT", "("):
                return self.call(value, col)
            if value in _RESERVED:
                raise ExprError(
                    f"{value!r} is a reserved word; write a field so named as ${{{value}}}", col
                )
            return Field((value,), col)
        if kind == "PUNCT" and value == "(":
            self.next()
            node = self.expr()
            self.expect("PUNCT", ")", "')'")
            return node
        raise self.unexpected("expected a value, a field or a function call")

    def call(self, name: str, col: int, receiver: Node | None = None) -> Node:
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ExprError(f"unknown function {name!r}", col, f" (known: {_known()})")
        self.expect("PUNCT", "(", "'('")
        args: list[Node] = [] if receiver is None else [receiver]
        if not self.at("PUNCT", ")"):
            args.append(self.expr())
            while self.at("PUNCT", ","):
                self.next()
                args.append(self.expr())
        self.expect("PUNCT", ")", "')' or ','")
        count = len(args)
        if count < fn.min_args or (fn.max_args is not None and count > fn.max_args):
            if fn.max_args == fn.min_args:
                wanted = f"exactly {_plural(fn.min_args)}"
            elif fn.max_args is None:
                wanted = f"at least {_plural(fn.min_args)}"
            else:
                wanted = f"{fn.min_args} to {fn.max_args} arguments"
            raise ExprError(f"{name}() takes {wanted}, got {count}", col, f": {fn.signature}")
        if fn.pure and all(isinstance(a, Lit) for a in args):
            try:
                return Lit(fn.impl(*(a.value for a in args if isinstance(a, Lit))))
            except EvalError as exc:
                raise ExprError(f"{exc.call}: {exc.reason}", col) from None
        return Call(fn, tuple(args), col)


def _shown(tok: Token) -> str:
    kind, value, _ = tok
    if kind == "LIT":
        return "value " + show(value)
    if kind == "NAME":
        return f"name {value!r}"
    if kind == "PATH":
        return "field"
    return repr(value)


def _name_steps(tok: Token) -> Path:
    return tok[1] if tok[0] == "PATH" else (tok[1],)


def _step(node: Node, steps: Path, col: int) -> Node:
    so_far = (
        node.path if isinstance(node, Field) else node.steps if isinstance(node, Access) else ()
    )
    if len(so_far) + len(steps) > MAX_STEPS:
        raise ExprError(f"a path deeper than {MAX_STEPS} steps", col)
    if isinstance(node, Field):
        return Field(node.path + steps, node.column)
    if isinstance(node, Access):
        return Access(node.base, node.steps + steps, node.column)
    return Access(node, steps, col)


def _logic(op: str, operands: list[Node]) -> Node:
    if len(operands) == 1:
        return operands[0]
    if all(isinstance(x, Lit) for x in operands):
        values = [truth(x.value) for x in operands if isinstance(x, Lit)]
        return Lit(all(values) if op == "and" else any(values))
    return Logic(op, tuple(operands))


def _fold_compare(op: str, left: Node, right: Node, col: int) -> Node:
    if isinstance(left, Lit) and isinstance(right, Lit):
        try:
            return Lit(COMPARISONS[op](left.value, right.value))
        except EvalError as exc:
            raise ExprError(f"{exc.call}: {exc.reason}", col) from None
    return Compare(op, left, right, col)


def parse_expression(text: str) -> Node:
    """Parse a Data Prep expression, or raise :class:`ExprError` with its column."""
    return _Parser(text).parse()


def parse_static(text: str) -> Any:
    """The value of a STATIC rule: a quoted string, a number, true/false/null, else the text.

    Text that starts with a quote must be one well-formed string literal.
    """
    stripped = text.strip()
    if not stripped.startswith(("'", '"')):
        try:
            tokens = tokenize(stripped)
        except ExprError:
            return text
        if len(tokens) == 2 and tokens[0][0] == "LIT":
            return tokens[0][1]
        if len(tokens) == 3 and tokens[0][:2] == ("OP", "-") and tokens[1][0] == "LIT":
            value = tokens[1][1]
            if isinstance(value, int | float) and not isinstance(value, bool):
                return -value
        return text
    offset = len(text) - len(text.lstrip())
    try:
        tokens = tokenize(stripped)
    except ExprError as exc:
        raise ExprError(exc.message, exc.column + offset, exc.suffix) from None
    if len(tokens) != 2:
        raise ExprError("a static value is one literal; unexpected text", tokens[1][2] + offset)
    return tokens[0][1]
