"""What Settings → Outbox shows. The full page and its htmx fragment use the same context."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select

from leadflow.db import parse_page
from leadflow.extensions import db
from leadflow.mail.delivery import mail_domain
from leadflow.mail.models import MAIL_STATE_LABELS, MAIL_STATES, OutboxMessage
from leadflow.mail.services import smtp_configured

PAGE_SIZE = 50


@dataclass
class OutboxFilters:
    state: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "OutboxFilters":
        state = args.get("state", "")
        page = parse_page(args.get("page", 1))
        return cls(state=state if state in MAIL_STATES else "", page=page)


def outbox_context(filters: OutboxFilters) -> dict:
    query = select(OutboxMessage)
    if filters.state:
        query = query.where(OutboxMessage.state == filters.state)
    counts = dict(db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    total = counts.get(filters.state, 0) if filters.state else sum(counts.values())
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    messages = db.session.scalars(query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                                  .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return {
        "filters": filters, "messages": messages, "total": total, "page": page, "pages": pages,
        "first_row": (page - 1) * PAGE_SIZE + 1 if total else 0, "last_row": (page - 1) * PAGE_SIZE + len(messages),
        "counts": counts, "states": [(s, MAIL_STATE_LABELS[s]) for s in MAIL_STATES],
        "smtp_configured": smtp_configured(),
    }


def message_context(message: OutboxMessage) -> dict:
    return {"message": message, "message_id": message.message_id(mail_domain()), "smtp_configured": smtp_configured()}
