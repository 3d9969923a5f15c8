"""Error types. Every expected failure is a subclass of :class:`SkintagError` whose message says what was
wrong, where, and what to do; the app shows these with ``st.error`` instead of a traceback."""

from __future__ import annotations


class SkintagError(Exception):
    """Base class of every error SkinTag raises on purpose."""


class ConfigError(SkintagError, ValueError):
    """A setting, option or configuration file is invalid."""


class DataFileError(SkintagError):
    """A dataset file is missing, unreadable or holds values the loader cannot accept."""


class LabelError(DataFileError):
    """A raw label (diagnosis or skin type) is not known to the label map."""


class BadImageError(SkintagError, ValueError):
    """An image cannot be accepted: not an image, truncated, too large, a decompression bomb, ..."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        #: short machine-readable reason: "empty", "not_image", "truncated", "too_large", "bomb", "animated", ...
        self.reason = reason


class ModelBundleError(SkintagError):
    """A model bundle is missing, incomplete, tampered with (hash mismatch) or of an unsupported version."""
