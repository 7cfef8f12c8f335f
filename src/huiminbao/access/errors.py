"""The refusal every interface answers with: ``{"code", "message", "field"}`` (INTERFACES.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """What every error answers."""

    code: str = Field(description="snake_case reason, stable for programs", examples=["invalid_record"])
    message: str = Field(description="一句中文说明", examples=["结算 S1：医疗费总额（medfee_sumamt）不等于各部分之和"])
    field: str | None = Field(None, description="path of the field in the request, or null", examples=["medfee_sumamt"])


class ApiError(Exception):
    """Raised by a route for a refusal it can name: becomes the error body with this status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(message)
