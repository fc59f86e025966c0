"""Rendering an e-mail template for one lead.

Templates are Jinja in a sandbox: only the merge fields below exist, every value is a plain
string, unknown names render empty (the editor warns about them), and the sandbox refuses
attribute tricks. The HTML body is the text body escaped, with web addresses made links, so
nothing a template or a lead's data holds can inject markup.
"""

from __future__ import annotations

import re

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from leadflow.sequences.links import unsubscribe_url

MERGE_FIELDS = {
    "first_name": "Lead's first name",
    "last_name": "Lead's last name",
    "full_name": "Lead's full name",
    "email": "Lead's e-mail address",
    "title": "Lead's job title",
    "organization": "Organization name",
    "owner_name": "Owner's name",
    "owner_email": "Owner's e-mail address",
    "owner_signature": "Owner's signature (name and e-mail)",
    "unsubscribe_url": "Unsubscribe link",
}

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


# A template may print merge fields, pass them through a few text filters and test them with
# {% if %}; nothing else (no loops, calls, arithmetic or attribute access), so no template can
# run for long, use much memory or reach past its merge fields, whatever the sandbox allows.
_ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.If,
                  nodes.Not, nodes.And, nodes.Or, nodes.Compare, nodes.Operand, nodes.Filter)
_ALLOWED_FILTERS = {"upper", "lower", "title", "capitalize", "default", "trim"}


class TemplateError(ValueError):
    """The template does not parse or uses something beyond merge fields: the message says what."""


def _problem(source: str) -> str | None:
    try:
        tree = _ENV.parse(source or "")
    except TemplateSyntaxError as error:
        return f"Line {error.lineno}: {error.message}"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            return (f"Line {node.lineno}: only merge fields such as {{{{ first_name }}}}, a few filters "
                    "(upper, lower, title, capitalize, default, trim) and {% if %} are allowed.")
        if isinstance(node, nodes.Filter) and node.name not in _ALLOWED_FILTERS:
            return f"Line {node.lineno}: the filter “{node.name}” is not available."
    return None


def check_syntax(source: str) -> str | None:
    """None when ``source`` is a usable template, else a message for the editor."""
    return _problem(source)


def unknown_fields(*sources: str) -> list[str]:
    """Names the sources use that are not merge fields (they would render empty)."""
    names: set[str] = set()
    for source in sources:
        try:
            names |= meta.find_undeclared_variables(_ENV.parse(source or ""))
        except TemplateSyntaxError:
            continue
    return sorted(names - set(MERGE_FIELDS))


def merge_values(lead, *, extra: dict | None = None) -> dict[str, str]:
    owner = lead.owner
    owner_name = owner.name if owner else ""
    owner_email = owner.email if owner else ""
    values = {
        "first_name": lead.first_name or "",
        "last_name": lead.last_name or "",
        "full_name": " ".join(p for p in (lead.first_name, lead.last_name) if p),
        "email": lead.email or "",
        "title": lead.title or "",
        "organization": lead.organization.name if lead.organization else "",
        "owner_name": owner_name,
        "owner_email": owner_email,
        "owner_signature": "\n".join(p for p in (owner_name, owner_email) if p),
        "unsubscribe_url": unsubscribe_url(lead.id) if lead.id is not None else "",
    }
    values.update({key: "" if value is None else str(value) for key, value in (extra or {}).items()})
    return values


def _render(source: str, values: dict) -> str:
    problem = _problem(source)
    if problem:
        raise TemplateError(problem)
    return _ENV.from_string(source or "").render(values)


def text_to_html(text: str) -> Markup:
    """Escaped paragraphs, line breaks kept, web addresses made links."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        escaped = str(escape(block))
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return Markup("\n".join(paragraphs))


def render_for_lead(template, lead, *, extra: dict | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of ``template`` for ``lead``. Raises TemplateError on bad syntax."""
    values = merge_values(lead, extra=extra)
    subject = " ".join(_render(template.subject, values).split())[:255]
    text = _render(template.body, values)
    return subject, text, str(text_to_html(text))


def can_send_marketing(lead) -> bool:
    """Marketing e-mail may go to this lead: consent given, not opted out, not deleted, has an address."""
    return bool(lead.marketing_consent and lead.unsubscribed_at is None
                and lead.deleted_at is None and lead.email)


def marketing_skip_reason(lead) -> str | None:
    """Why no marketing e-mail may go to ``lead`` in a few words, or None when it may."""
    if can_send_marketing(lead):
        return None
    if lead.unsubscribed_at is not None:
        return "no marketing consent: unsubscribed"
    if not lead.marketing_consent:
        return "no marketing consent"
    return "no e-mail address"
