"""The pieces of a JSON API over twisted.web that the porter and archie share.

Answers are JSON documents; a bad request is HTTP 400 with
C{{"error": WHY, "parameter": NAME}} (L{BadParameter}), so that a caller can
say which parameter to fix.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request

#: The largest request body read, in bytes.
MAX_BODY = 64 * 1024


class BadParameter(ValueError):
    """
    A request parameter is wrong.

    @ivar parameter: its name.
    """

    def __init__(self, parameter: str, why: str) -> None:
        super().__init__(why)
        self.parameter = parameter


def json_answer(request: Request, status: int, document: Any) -> bytes:
    """
    Set the status and headers of a JSON answer and encode C{document}.
    """
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(document, ensure_ascii=False).encode("utf-8") + b"\n"


def error_answer(request: Request, status: int, why: str, parameter: str | None = None) -> bytes:
    """
    A JSON error answer: C{{"error": why}}, with C{"parameter"} if given.
    """
    document: dict[str, Any] = {"error": why}
    if parameter is not None:
        document["parameter"] = parameter
    return json_answer(request, status, document)


def read_json_body(request: Request) -> dict[str, Any]:
    """
    The request's body as a JSON object (an empty body is C{{}}).

    @raise BadParameter: (C{body}) too large, not JSON, nested too deeply
        to read, or not an object.
    """
    assert request.content is not None
    body = request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise BadParameter("body", f"the body is larger than {MAX_BODY} bytes")
    try:
        document = json.loads(body or b"{}")
    except ValueError as e:
        raise BadParameter("body", f"not JSON ({e})") from None
    except RecursionError:
        raise BadParameter("body", "JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise BadParameter("body", "expected a JSON object")
    return document
