"""Error types. Every expected failure is a subclass of :class:`SkintagError` whose message says what was
wrong, where, and what to do; the app shows these with ``st.error`` instead of a traceback.

The hierarchy says *who* must act:

* :class:`ArgumentError` (also a ``ValueError``) — the **call** is wrong: an argument, option or setting has a value the
  function cannot accept (a threshold outside [0, 1], an unknown method name, a crop box that is not a box). Fix the
  call or the setting; the files are fine. :class:`ConfigError` is its historical name for options and settings.
* :class:`FileContentError` — a **file** is wrong: missing, unreadable, or holding what it may not. Its subclasses say
  which kind of file: :class:`DataFileError` (a dataset table; :class:`LabelError` for an unknown label in it),
  :class:`BadImageError` (an image upload or image file) and :class:`ModelBundleError` (a model bundle).
"""

from __future__ import annotations


class SkintagError(Exception):
    """Base class of every error SkinTag raises on purpose."""


class ArgumentError(SkintagError, ValueError):
    """An argument or option passed to a function has a value it cannot accept (the call is wrong, not a file)."""


class ConfigError(ArgumentError):
    """A setting, option or configuration value is invalid (an :class:`ArgumentError`; the message names it)."""


class FileContentError(SkintagError):
    """A file is missing, unreadable or holds content that cannot be accepted (the file is wrong, not the call)."""


class DataFileError(FileContentError):
    """A dataset file is missing, unreadable or holds values the loader cannot accept."""


class LabelError(DataFileError):
    """A raw label (diagnosis or skin type) is not known to the label map."""


class BadImageError(FileContentError, ValueError):
    """An image cannot be accepted: not an image, truncated, too large, a decompression bomb, ..."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        #: short machine-readable reason: "empty", "not_image", "truncated", "too_large", "bomb", "animated", ...
        self.reason = reason


class ModelBundleError(FileContentError):
    """A model bundle is missing, incomplete, tampered with (hash mismatch) or of an unsupported version."""
