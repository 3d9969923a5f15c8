"""Refusals of the HTTP API: every one is an :class:`ApiError` with an HTTP status and a machine-readable ``reason``,
sent as ``{"reason": ..., "detail": ..., "request_id": ...}`` — never a traceback.

Image refusals carry the :class:`~skintag.errors.BadImageError` reason the triage page shows (``empty``,
``not_image``, ``truncated``, ``bomb``, ``too_large``, ``animated``); their status is 413 for ``too_large`` (the upload
is over the size limit), 415 for ``not_image`` (not an image format SkinTag reads) and 422 for the rest (an image file
whose content cannot be accepted). Other refusals: see :data:`REASONS`.
"""

from __future__ import annotations

from skintag.errors import ArgumentError, BadImageError, DataFileError, ModelBundleError, SkintagError

#: Status of each image refusal reason; any other BadImageError reason is 422.
IMAGE_STATUS: dict[str, int] = {"too_large": 413, "not_image": 415}

#: Every reason the API sends, with its status (the OpenAPI description lists them).
REASONS: dict[str, tuple[int, str]] = {
    "empty": (422, "the image file is empty"),
    "not_image": (415, "not an image format SkinTag reads (JPEG, PNG, WebP, HEIC, AVIF, TIFF, BMP, still GIF)"),
    "truncated": (422, "an image file whose data is cut short or corrupt"),
    "bomb": (422, "the image declares more pixels than SKINTAG_MAX_PIXELS (a decompression bomb)"),
    "too_complex": (422, "a progressive JPEG with so many scans that decoding it would tie up the server"),
    "too_large": (413, "the upload is larger than SKINTAG_MAX_UPLOAD_MB"),
    "animated": (422, "an animation or multi-page image; lesion photos must be stills"),
    "retake": (422, "the photo failed the quality checks, so there is no score to explain"),
    "missing_field": (422, "a required form field or JSON member is missing"),
    "invalid_field": (422, "a form field or JSON member has a value the API cannot accept"),
    "unsupported_content_type": (415, "the request body is not of a content type this endpoint accepts"),
    "bad_request_body": (400, "the multipart or JSON body cannot be parsed"),
    "bad_predictions": (422, "the predictions table cannot be audited (the message names the column and rows)"),
    "missing_api_key": (401, "API keys are required and the X-API-Key header is missing"),
    "invalid_api_key": (401, "the X-API-Key header holds a key the server does not accept"),
    "not_found": (404, "no such endpoint"),
    "method_not_allowed": (405, "the endpoint does not accept this HTTP method"),
    "model_unavailable": (503, "the model bundle failed to load (see the server log)"),
    "loading": (503, "the model bundle is still loading (GET /readyz says when it is ready)"),
    "internal_error": (500, "an unexpected error; the server log holds the details under the request id"),
}


class ApiError(Exception):
    """A refusal: HTTP ``status``, machine-readable ``reason`` and a sentence for people (``detail``)."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail

    @classmethod
    def of(cls, reason: str, detail: str) -> ApiError:
        """The refusal ``reason`` with its status from :data:`REASONS`."""
        return cls(REASONS[reason][0], reason, detail)


def from_skintag_error(exc: SkintagError) -> ApiError:
    """The refusal for an expected library error: a bad image, a bad predictions table, a bad option, no model."""
    if isinstance(exc, BadImageError):
        return ApiError(IMAGE_STATUS.get(exc.reason, 422), exc.reason, str(exc))
    if isinstance(exc, DataFileError):
        return ApiError.of("bad_predictions", str(exc))
    if isinstance(exc, ArgumentError):
        return ApiError.of("invalid_field", str(exc))
    if isinstance(exc, ModelBundleError):
        return ApiError.of("model_unavailable", str(exc))
    return ApiError.of("invalid_field", str(exc))
