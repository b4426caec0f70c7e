"""Writing the audit trail. Apps call this; the audit app imports none of them."""

from __future__ import annotations

import ipaddress

from audit.models import AuditEvent
from portal.request_log import current_request

Action = AuditEvent.Action


def _who(user) -> str:
    """The text copy of the actor, readable after the account is gone: "Ada Admin
    <admin@example.com>, user 3"."""
    name, email = str(user), getattr(user, "email", "")
    if email and email != name:
        name = f"{name} <{email}>"
    return f"{name}, user {user.pk}"


def _plain_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def audit_record(
    *, action: str, actor=None, target: str = "", details: dict | None = None
) -> AuditEvent:
    """Record one event in the caller's transaction: call it inside the atomic block that makes
    the change, so both commit or neither does.

    The client IP and request id come from the request being served (portal.request_log);
    outside a request (a management command) both are empty.
    """
    if action not in Action.values:
        raise ValueError(f"unknown audit action: {action}")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None  # an anonymous visitor: the IP and request id say what is known
    ip, request_id = current_request()
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_name=_who(actor) if actor is not None else "",
        target=target[:200],
        ip=_plain_ip(ip),
        request_id=request_id,
        details=details or {},
    )
