"""What the tests of every app ask of the audit trail."""

from __future__ import annotations

from audit.models import AuditEvent


def only_event(action: str, **matching) -> AuditEvent:
    """The one event of this action (and these field values); fails on none or several."""
    events = list(AuditEvent.objects.filter(action=action, **matching))
    assert len(events) == 1, [(e.action, e.target, e.details) for e in events]
    return events[0]


def assert_from_request(event: AuditEvent, response, *, ip: str = "127.0.0.1") -> None:
    """The event carries the IP and the request id of the request that answered `response`."""
    assert event.ip == ip
    assert event.request_id
    assert event.request_id == response.headers["X-Request-ID"]
