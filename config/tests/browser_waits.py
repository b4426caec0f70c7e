"""Waiting in the page for a condition, under the portal's CSP.

Playwright's wait_for_function evaluates its predicate with eval() in the page as soon as it
has to poll, which `script-src 'self'` refuses (an EvalError, only when the condition is not
already true: a flaky failure). page.evaluate goes through DevTools and is not subject to it.
"""

from __future__ import annotations

import time


def page_condition(tab, predicate: str, *, timeout: float = 10) -> bool:
    """Poll `predicate` (a JavaScript function) until it is true; False if it never was."""
    deadline = time.monotonic() + timeout
    while not tab.evaluate(predicate):
        if time.monotonic() > deadline:
            return False
        tab.wait_for_timeout(100)
    return True


def wait_for(tab, predicate: str, *, timeout: float = 10) -> None:
    """Like wait_for_function: fail the test if `predicate` is not true within `timeout`."""
    assert page_condition(tab, predicate, timeout=timeout), f"never true: {predicate}"
