"""What every API test checks of an error answer: the code, its one status, a sentence."""

from portal.api import ERROR_CODES

ERROR_STATUS = {code: status for code, status, _when in ERROR_CODES}


def assert_error(response, code: str) -> dict:
    """A JSON error with this code, the status that code always has, and a sentence."""
    assert response.status_code == ERROR_STATUS[code], response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert len(body["detail"]) > 5
    return body
