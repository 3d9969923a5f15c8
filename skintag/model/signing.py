"""Model-bundle fingerprints and detached Ed25519 signatures.

The **fingerprint** of a bundle is the SHA-256 of its manifest in canonical JSON (sorted keys, no spaces). The
manifest lists the SHA-256 of every other file, so the fingerprint covers the thresholds, class names and
preprocessing written in the manifest *and* every weight file: editing any of them changes it.

A fingerprint only shows an edit to someone who compares it with a known value. A **signature** refuses the edit: the
bundle's publisher signs the canonical manifest with an Ed25519 private key (``python -m skintag.model sign``)
and ships ``manifest.sig`` beside ``manifest.json``; a deployment names the publishers' public keys it trusts
(``SKINTAG_TRUSTED_KEYS``). :func:`verify_signature` then tells apart

* ``verified`` — signed by a trusted key, and the manifest is exactly what was signed;
* ``invalid`` — a signature is present but does not match the manifest (the manifest or the signature was edited):
  the bundle is refused;
* ``untrusted`` — validly formed, but by a key this deployment does not trust (refused when trusted keys are set);
* ``unsigned`` — no ``manifest.sig`` (refused when ``SKINTAG_REQUIRE_SIGNED_BUNDLE=1``).

Keys are stored as PEM files (private keys written with mode 0600); nothing here uses pickle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from skintag.errors import ArgumentError, ModelBundleError

SIGNATURE_NAME = "manifest.sig"
ALGORITHM = "ed25519"
SignatureState = Literal["verified", "invalid", "untrusted", "unsigned"]


def canonical_manifest(manifest: Mapping[str, Any]) -> bytes:
    """The bytes that are fingerprinted and signed: the manifest as canonical JSON (sorted keys, compact, UTF-8)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_plain).encode()


def _plain(obj: Any) -> Any:
    """JSON form of the read-only views a parsed manifest keeps (mapping proxies, tuples)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON data")


def manifest_fingerprint(manifest: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_manifest` — covers the manifest and, through its hash table, every file."""
    return hashlib.sha256(canonical_manifest(manifest)).hexdigest()


def key_id(public_key: Any) -> str:
    """A short, stable name of a public key: the first 16 hex digits of the SHA-256 of its raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: str | Path, public_path: str | Path) -> str:
    """Write a new Ed25519 key pair as PEM files (the private one with mode 0600); returns the key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    private_path, public_path = Path(private_path), Path(public_path)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(private.public_key())


def _read_private_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ArgumentError(f"Could not read an unencrypted PEM private key from {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ArgumentError(f"{path} is not an Ed25519 private key")
    return key


def load_trusted_keys(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Public keys (PEM files) by key id; a file that is not an Ed25519 public key raises :class:`ArgumentError`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys: dict[str, Any] = {}
    for path in paths:
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ArgumentError(f"Trusted key {path} could not be read as a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ArgumentError(f"Trusted key {path} is not an Ed25519 public key")
        keys[key_id(key)] = key
    return keys


def sign_bundle(bundle_dir: str | Path, private_key_path: str | Path) -> Path:
    """Sign ``bundle_dir/manifest.json`` and write ``manifest.sig`` beside it; returns the signature's path."""
    root = Path(bundle_dir)
    manifest = _read_manifest_json(root)
    private = _read_private_key(private_key_path)
    payload = {
        "algorithm": ALGORITHM,
        "key_id": key_id(private.public_key()),
        "fingerprint": manifest_fingerprint(manifest),
        "signature": base64.b64encode(private.sign(canonical_manifest(manifest))).decode(),
    }
    out = root / SIGNATURE_NAME
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return out


def _read_manifest_json(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelBundleError(f"Could not read {root / 'manifest.json'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelBundleError(f"{root / 'manifest.json'} must hold a JSON object")
    return data


@dataclass(frozen=True)
class SignatureStatus:
    """What :func:`verify_signature` found: ``state``, the signing key's id (if any) and a sentence for people."""

    state: SignatureState
    key_id: str | None
    message: str

    @property
    def verified(self) -> bool:
        return self.state == "verified"


def _read_signature(root: Path) -> dict[str, str] | None:
    path = root / SIGNATURE_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelBundleError(f"{path} is not a readable signature file: {exc}") from exc
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM or not isinstance(data.get("signature"), str):
        raise ModelBundleError(f"{path} is not an {ALGORITHM} signature written by skintag.model.signing")
    return data


def verify_signature(
    bundle_dir: str | Path,
    manifest: Mapping[str, Any],
    trusted: Mapping[str, Any] | None = None,
    *,
    require: bool = False,
) -> SignatureStatus:
    """Check ``manifest.sig`` of a bundle against ``manifest`` (as read from its ``manifest.json``).

    Raises
    ------
    ModelBundleError
        When the signature does not match the manifest (an edit), when trusted keys are given and the bundle is
        signed by none of them, or when ``require`` and the bundle is unsigned.
    """
    from cryptography.exceptions import InvalidSignature

    root = Path(bundle_dir)
    trusted = dict(trusted or {})
    sig = _read_signature(root)
    if sig is None:
        if require or trusted:
            raise ModelBundleError(
                f"Bundle {root} is not signed, but this deployment requires a signature by one of its trusted keys "
                f"({', '.join(sorted(trusted)) or 'SKINTAG_REQUIRE_SIGNED_BUNDLE=1'})"
            )
        return SignatureStatus("unsigned", None, "Unsigned bundle: integrity shown by its fingerprint only.")
    kid = str(sig.get("key_id", ""))
    key = trusted.get(kid)
    if key is None:
        if trusted or require:
            raise ModelBundleError(f"Bundle {root} is signed by key {kid}, which is not among the trusted keys "
                                   f"{sorted(trusted)}; refusing it")
        return SignatureStatus("untrusted", kid, f"Signed by key {kid}, which this deployment does not list as "
                               "trusted (set SKINTAG_TRUSTED_KEYS to check it).")
    try:
        key.verify(base64.b64decode(sig["signature"], validate=True), canonical_manifest(manifest))
    except (InvalidSignature, ValueError) as exc:
        raise ModelBundleError(
            f"Bundle {root}: the signature by trusted key {kid} does not match manifest.json — the manifest (its "
            "thresholds, classes, preprocessing or file hashes) was changed after signing; refusing it"
        ) from exc
    return SignatureStatus("verified", kid, f"Signature verified: signed by trusted key {kid}.")
