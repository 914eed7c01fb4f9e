"""Every refusal in Katana's error body (KATANA_API.md §1), plus RFC 9457 keys."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracelot.domain.errors import TracelotError

NAMES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    422: "UnprocessableEntityError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
}


def body(
    status: int, message: str, code: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "statusCode": status,
        "name": NAMES.get(status, "Error"),
        "message": message,
        "code": code,
        "type": "about:blank",
        "title": NAMES.get(status, "Error"),
        "status": status,
        "detail": message,
    }
    if status == 422:
        out["details"] = details or [{"path": "", "code": code, "message": message}]
    return out


def respond(
    status: int, message: str, code: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(
        body(status, message, code, details), status_code=status, media_type="application/json"
    )


def _detail_dict(d: Any) -> dict[str, Any]:
    out = {"path": d.path, "code": d.code, "message": d.message}
    if d.info:
        out["info"] = d.info
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(TracelotError)
    async def _domain(_: Request, exc: TracelotError) -> JSONResponse:
        return respond(exc.status, exc.message, exc.code, [_detail_dict(d) for d in exc.details])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return respond(400, "The request body is not valid JSON.", "BAD_JSON")
        details = []
        for p in problems:
            loc = [str(x) for x in p.get("loc", ()) if x not in ("body", "query", "path")]
            path = ".".join(loc)
            message = f"{path or 'body'}: {p.get('msg')}"
            details.append(
                {
                    "path": path,
                    "code": "VALIDATION_FAILED",
                    "message": message,
                    "info": {"type": p.get("type")},
                }
            )
        first = details[0]["message"] if details else "Invalid request."
        return respond(422, f"{first}. Fix the field and send again.", "VALIDATION_FAILED", details)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        return respond(
            422,
            "A number in the request is out of range: send ids and "
            "quantities the database can hold.",
            "VALIDATION_FAILED",
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: Exception) -> JSONResponse:
        return respond(
            422,
            "The request conflicts with a record written at the same time "
            "(something that must be unique already exists); nothing was changed. "
            "Reload and try again.",
            "DUPLICATE",
        )

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        if isinstance(exc.orig, OverflowError):
            return await _out_of_range(request, exc)
        return await _crash(request, exc)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("tracelot").exception("unhandled error", exc_info=exc)
        return respond(
            500, "Something went wrong on the server; nothing was changed.", "INTERNAL_ERROR"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "NOT_FOUND" if exc.status_code == 404 else "HTTP_ERROR"
        return respond(exc.status_code, str(exc.detail), code)
