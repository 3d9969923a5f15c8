"""What an export describes: the model bundle (name, version, fingerprint), the predictions file's SHA-256 and the
time. Its own module because it reads the bundle's fingerprint function (:mod:`skintag.model.bundle`), which the model
card — a user of this package — sits beside."""

from __future__ import annotations

from typing import Any


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def provenance(
    *,
    predictions_name: str,
    predictions_sha256: str,
    manifest: dict[str, Any] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """What an export describes: the model (name, version, fingerprint = SHA-256 of the canonical manifest, which
    lists every file's hash, as :func:`skintag.model.signing.manifest_fingerprint`; ``None`` for another model's upload), the predictions file
    (name and SHA-256) and the time (UTC, ISO 8601)."""
    import datetime as dt

    model = None
    if manifest:
        from skintag.model.signing import manifest_fingerprint

        files = manifest.get("files")
        model = {"name": manifest.get("name"), "version": manifest.get("version"),
                 "fingerprint": manifest_fingerprint(manifest) if isinstance(files, dict) and files else None}
    return {
        "model": model,
        "predictions": {"file": predictions_name, "sha256": predictions_sha256},
        "created": created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
