"""Auth forms from a source's connection spec: fields, rendering, coercion and validation.

A connection spec carries JSON schemas: one per auth spec (the base connection's
``auth.params``) and the source spec (the source connection's ``params``). A host application
renders a form from each, turns what the user typed into JSON values, and checks them against
the same schema before it calls anything, so a mistake is named next to its field instead of
coming back as a 400 from the platform.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from sourceflow.hooktypes import Source
from sourceflow.redact import MASK, is_secret_key

FormKind = Literal["auth", "source"]

# The whole form, not one field: a schema rule that is not about a single property.
FORM_LEVEL = "(form)"


@dataclass(frozen=True)
class Field:
    """One input of a form, read from one property of the schema."""

    name: str
    type: str
    required: bool
    secret: bool
    description: str = ""
    enum: tuple[Any, ...] = ()
    default: Any = None
    format: str | None = None


@dataclass(frozen=True)
class Form:
    """The form for one schema of one source.

    :param kind: ``auth`` (an auth spec: the base connection's credentials) or ``source``
        (the source spec: the source connection's params).
    :param name: the auth spec's name (``specName`` on the wire), or the source spec's.
    """

    source: str
    title: str
    kind: FormKind
    name: str
    description: str
    schema: Mapping[str, Any]
    fields: tuple[Field, ...] = field(default=())

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError if the form has none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.source} form {self.name!r} has no field {name!r}")


def is_secret(name: str, prop: Mapping[str, Any]) -> bool:
    """Whether a property holds a secret.

    Adobe's own specs mark some secrets with ``format: password``; JSON Schema has
    ``writeOnly``; the sourceflow plugins rely on names (``clientSecret``, ``accessToken``),
    which is what the core's redactor masks in logs, so the form masks the same fields.
    """
    return prop.get("format") == "password" or prop.get("writeOnly") is True or is_secret_key(name)


def _fields(schema: Mapping[str, Any]) -> tuple[Field, ...]:
    required = set(schema.get("required") or ())
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        kind = prop.get("type", "string")
        out.append(
            Field(
                name=name,
                # A union type (["string", "null"]) is shown as its first member.
                type=kind[0] if isinstance(kind, list) else str(kind),
                required=name in required,
                secret=is_secret(name, prop),
                description=str(prop.get("description", "")),
                enum=tuple(prop.get("enum") or ()),
                default=prop.get("default"),
                format=prop.get("format"),
            )
        )
    return tuple(out)


def forms_for(source: Source) -> list[Form]:
    """Every form a source asks for: one per auth spec, then its source spec.

    Sources with a base connection authenticate with one of their auth specs (the user picks
    one). Generic streaming sources (Chatlio, Shopify) have no base connection: what they need
    is the source spec, even when it has no fields, so every source gets at least one form.
    """
    spec = source.connection_spec
    auth_specs = (spec.auth_spec or []) if source.needs_base_connection else []
    forms = [
        Form(
            source=source.name,
            title=source.title,
            kind="auth",
            name=auth.name,
            description=auth.description or str(auth.spec.get("description", "")),
            schema=auth.spec,
            fields=_fields(auth.spec),
        )
        for auth in auth_specs
    ]
    params = spec.source_spec.spec if spec.source_spec is not None else None
    if params is not None:
        forms.append(
            Form(
                source=source.name,
                title=source.title,
                kind="source",
                name=(spec.source_spec.name if spec.source_spec else None) or source.title,
                description=str(params.get("description", "")),
                schema=params,
                fields=_fields(params),
            )
        )
    return forms


# --- rendering ----------------------------------------------------------------------------------


def render_text(form: Form) -> str:
    """The form as text, one line per field; secret inputs are shown masked."""
    heading = "credentials" if form.kind == "auth" else "source connection params"
    lines = [f"{form.title} — {heading}: {form.name}"]
    if form.description:
        lines.append(f"  {form.description}")
    if not form.fields:
        lines.append("  (nothing to fill in)")
    for f in form.fields:
        marks = ["required" if f.required else "optional"]
        if f.secret:
            marks.append("secret")
        if f.format:
            marks.append(f"format {f.format}")
        line = f"  {f.name} ({f.type}, {', '.join(marks)})"
        if f.enum:
            line += " one of: " + " | ".join(map(str, f.enum))
        if f.default is not None:
            line += f" [default: {_json_text(f.default)}]"
        # What an input box would show: never the secret, only that one goes there.
        line += f"  [{MASK}]" if f.secret else "  [____]"
        lines.append(line)
        if f.description:
            lines.append(f"      {f.description}")
    return "\n".join(lines)


def render_html(form: Form) -> str:
    """The form as an HTML ``<form>``: password inputs for secrets, selects for enums."""
    e = html.escape
    rows = [
        f'<form class="sourceflow-form" data-source="{e(form.source)}" data-kind="{form.kind}">'
    ]
    rows.append(f"<fieldset><legend>{e(form.title)}: {e(form.name)}</legend>")
    for f in form.fields:
        # Ids are unique on a page that shows every form (two Stripe forms share fields).
        ident = e(re.sub(r"[^A-Za-z0-9_-]+", "-", f"{form.source}-{form.name}-{f.name}"))
        attrs = f'id="{ident}" name="{e(f.name)}"' + (" required" if f.required else "")
        if f.enum:
            options = "".join(
                f"<option{' selected' if v == f.default else ''}>{e(str(v))}</option>"
                for v in f.enum
            )
            control = f"<select {attrs}>{options}</select>"
        elif f.type == "boolean":
            control = f'<input type="checkbox" {attrs}{" checked" if f.default is True else ""}>'
        elif f.secret:
            # Never pre-filled; autocomplete=off: a browser should not offer to keep an API key.
            control = f'<input type="password" {attrs} autocomplete="off">'
        else:
            value = "" if f.default is None else f' value="{e(str(f.default))}"'
            control = f'<input type="{_input_type(f)}" {attrs}{value}>'
        hint = f"<small>{e(f.description)}</small>" if f.description else ""
        rows.append(f'<p><label for="{ident}">{e(f.name)}</label> {control} {hint}</p>')
    rows.append("</fieldset></form>")
    return "\n".join(rows)


def _input_type(f: Field) -> str:
    if f.type in ("number", "integer"):
        return "number"
    return "url" if f.format == "uri" else "text"


def masked(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` safe to show or log: the form's secret fields (and secret-named extras)
    replaced by the mask."""
    secret = {f.name for f in form.fields if f.secret}
    return {
        k: MASK if (k in secret or is_secret_key(k)) and v not in (None, "") else v
        for k, v in values.items()
    }


# --- input --------------------------------------------------------------------------------------


def coerce(form: Form, typed: Mapping[str, str]) -> dict[str, Any]:
    """What the user typed (all text) as JSON values of the schema's types.

    Blank optional fields are left out rather than sent as ``""``. A value that does not read
    as its type stays text, so that validation names the field instead of this function
    guessing.
    """
    types = {f.name: f for f in form.fields}
    out: dict[str, Any] = {}
    for name, text in typed.items():
        f = types.get(name)
        if f is None:
            out[name] = text  # not ours to judge here: validation reports unknown fields
            continue
        if text == "" and not f.required:
            continue
        out[name] = _as_type(f.type, text)
    return out


def _as_type(kind: str, text: str) -> Any:
    if kind == "boolean" and text.strip().lower() in ("true", "false", "on", "off", "1", "0"):
        return text.strip().lower() in ("true", "on", "1")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    return text


def validate(form: Form, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Check ``values`` against the form's JSON schema; problems by field name.

    An empty answer means the values are valid. Messages name the rule, never the value,
    because the value may be a secret (jsonschema's own messages quote it). Problems that
    belong to no single field are listed under :data:`FORM_LEVEL`.
    """
    cls = jsonschema.validators.validator_for(form.schema, default=jsonschema.Draft7Validator)
    # format "uri" and friends are only checked when a format checker is passed.
    validator = cls(form.schema, format_checker=cls.FORMAT_CHECKER)
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, [])
        if message not in problems[name]:
            problems[name].append(message)

    for error in validator.iter_errors(dict(values)):
        if error.validator == "required" and not error.path:
            for name in error.validator_value:
                if name not in values:
                    add(name, "is required")
        elif error.validator == "additionalProperties" and not error.path:
            known = set(form.schema.get("properties") or ())
            for name in values:
                if name not in known:
                    add(name, "is not a field of this form")
        else:
            name = str(error.path[0]) if error.path else FORM_LEVEL
            add(name, _rule(error))
    return problems


def _rule(error: Any) -> str:
    v, expected = error.validator, error.validator_value
    if v == "type":
        return f"must be of type {expected}"
    if v == "enum":
        return "must be one of: " + ", ".join(map(str, expected))
    if v == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if v == "maxLength":
        return f"must be at most {expected} characters"
    if v == "pattern":
        return f"must match {expected}"
    if v == "format":
        return f"must be a valid {expected}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "greater than",
            "exclusiveMaximum": "less than",
        }
        return f"must be {words[v]} {expected}"
    return f"breaks the {v!r} rule"


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
