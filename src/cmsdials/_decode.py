"""Response bytes -> Python objects, in one place.

Each body is decoded exactly once, straight from bytes: pydantic's Rust JSON parser for
models (``model_validate_json``), orjson for the routes that return raw JSON.  A body that
is not syntactically complete JSON raises :class:`~cmsdials.errors.ResponseDecodeError`,
which the transport retries like a read error; a well-formed body of the wrong shape
raises pydantic's ``ValidationError`` (retrying would not change it).

Faster representations (numpy arrays, streaming) plug in here: a decoder is just a
``Callable[[bytes], T]`` handed to :meth:`cmsdials._transport.Transport.request`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from cmsdials.errors import ResponseDecodeError

__all__ = ["Decoder", "decode_json", "list_decoder", "model_decoder"]

M = TypeVar("M", bound=BaseModel)

#: A function from response bytes to the value the caller receives.
Decoder = Callable[[bytes], Any]


def _incomplete(exc: ValidationError, size: int) -> ResponseDecodeError | None:
    """A ResponseDecodeError when ``exc`` says the JSON itself is broken."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return ResponseDecodeError(
            f"response body is not valid JSON ({size} bytes): {errors[0]['msg']}"
        )
    return None


def model_decoder(model: type[M]) -> Callable[[bytes], M]:
    """A decoder that validates the body as ``model``."""

    def decode(content: bytes) -> M:
        try:
            return model.model_validate_json(content)
        except ValidationError as exc:
            broken = _incomplete(exc, len(content))
            if broken is not None:
                raise broken from exc
            raise

    return decode


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def list_decoder(model: type[M]) -> Callable[[bytes], list[M]]:
    """A decoder for a plain JSON array of ``model`` (the unpaginated ``mes/``)."""
    adapter = _list_adapter(model)

    def decode(content: bytes) -> list[M]:
        try:
            return adapter.validate_json(content)
        except ValidationError as exc:
            broken = _incomplete(exc, len(content))
            if broken is not None:
                raise broken from exc
            raise

    return decode


def decode_json(content: bytes) -> Any:
    """Raw JSON (cert/golden JSON, OMS, workspaces), decoded by orjson."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ResponseDecodeError(
            f"response body is not valid JSON ({len(content)} bytes): {exc}"
        ) from exc
