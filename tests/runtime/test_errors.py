from __future__ import annotations

import json
from typing import Any

import pytest

from irc.runtime import errors
from irc.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    TerminalError,
    TooManyRequests,
    Unauthorized,
    from_status,
    ignore_not_found,
)


def status_body(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", ApiError),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (405, "MethodNotAllowed", ApiError),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (409, "", Conflict),
        (410, "Gone", Gone),
        (410, "Expired", Gone),
        (410, "", Gone),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", TooManyRequests),
        (500, "InternalError", ApiError),
        (500, "Expired", Gone),  # a watch ERROR event may carry only the reason
        (503, "ServiceUnavailable", ApiError),
    ],
)
def test_status_maps_to_its_error_class(code: int, reason: str, cls: type[ApiError]) -> None:
    body = status_body(code, reason, "what happened")
    for raw in (body, json.dumps(body), json.dumps(body).encode()):
        error = from_status(code, raw)
        assert type(error) is cls
        assert (error.status, error.reason, error.message) == (code, reason or "Unknown", "what happened")
        assert error.body == body
        assert str(error) == f"{code} {reason or 'Unknown'}: what happened"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"404 page not found\n", "404 page not found\n"),
        ("<html>bad gateway</html>", "<html>bad gateway</html>"),
        (b"\xff\xfe not utf-8 {", "\ufffd\ufffd not utf-8 {"),
    ],
)
def test_a_body_that_is_not_json_becomes_the_message(body: bytes | str, message: str) -> None:
    error = from_status(404, body)
    assert type(error) is NotFound
    assert (error.reason, error.message) == ("Unknown", message)
    assert error.body == {"message": message}


@pytest.mark.parametrize("body", [None, b"", "", b"[1, 2]", b'"text"', b"null"])
def test_an_empty_or_non_object_body_leaves_reason_unknown(body: bytes | str | None) -> None:
    error = from_status(502, body)
    assert type(error) is ApiError
    assert (error.status, error.reason, error.message, dict(error.body)) == (502, "Unknown", "", {})


def test_retry_after_is_carried() -> None:
    error = from_status(429, status_body(429, "TooManyRequests"), retry_after=2.5)
    assert isinstance(error, TooManyRequests)
    assert error.retry_after == 2.5
    assert from_status(429, None).retry_after is None


def test_the_tree() -> None:
    for cls in (NotFound, Conflict, AlreadyExists, Gone, TooManyRequests, Invalid):
        assert issubclass(cls, ApiError)
    assert not issubclass(AlreadyExists, Conflict)
    assert not issubclass(TerminalError, ApiError)
    assert ApiError(418, "Teapot", "short and stout").body == {}


def test_ignore_not_found_swallows_only_not_found() -> None:
    ignore_not_found(NotFound(404, "NotFound", "gone"))
    conflict = Conflict(409, "Conflict", "stale")
    with pytest.raises(Conflict) as caught:
        ignore_not_found(conflict)
    assert caught.value is conflict
    with pytest.raises(KeyError):
        ignore_not_found(KeyError("x"))
    with pytest.raises(Gone):
        ignore_not_found(errors.Gone(410, "Gone", "relist"))


def test_ignore_not_found_inside_an_except_block() -> None:
    def delete(error: ApiError) -> str:
        try:
            raise error
        except ApiError as e:
            ignore_not_found(e)
        return "done"

    assert delete(NotFound(404, "NotFound", "")) == "done"
    with pytest.raises(Invalid):
        delete(Invalid(422, "Invalid", "spec.x: Required value"))
