"""A bundle that refuses edits: the fingerprint covers the manifest, unlisted and missing files are refused, and a
detached Ed25519 signature checked against trusted keys refuses an edited manifest (issue 11, item 2)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skintag.errors import ArgumentError, ModelBundleError
from skintag.model import load_bundle
from skintag.model.__main__ import main
from skintag.model.bundle import verify_bundle
from skintag.model.signing import (
    SIGNATURE_NAME,
    generate_keypair,
    load_trusted_keys,
    manifest_fingerprint,
    sign_bundle,
    verify_signature,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("publisher", "stranger"):
        generate_keypair(d / f"{name}.pem", d / f"{name}.pub")
        out[name], out[f"{name}_pub"] = d / f"{name}.pem", d / f"{name}.pub"
    return out


def _edit_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2))


def test_private_key_is_owner_only_and_key_ids_are_stable(keys):
    assert os.stat(keys["publisher"]).st_mode & 0o777 == 0o600
    trusted = load_trusted_keys([keys["publisher_pub"], keys["stranger_pub"]])
    assert len(trusted) == 2 and all(len(k) == 16 for k in trusted)
    assert load_trusted_keys([keys["publisher_pub"]]).keys() <= trusted.keys()
    with pytest.raises(ArgumentError, match="not .*PEM public key|could not be read"):
        load_trusted_keys([keys["publisher"]])  # a private key is not a trusted public key


def test_editing_only_the_thresholds_changes_the_fingerprint(bundle_copy):
    before = load_bundle(bundle_copy).fingerprint
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    assert before == manifest_fingerprint(manifest)
    _edit_manifest(bundle_copy, thresholds={"moderate": 0.99, "high": 0.999})  # no file changes at all
    after = load_bundle(bundle_copy)
    assert after.fingerprint != before and after.signature.state == "unsigned"


def test_unlisted_file_and_deleted_hash_entry_are_refused(bundle_copy):
    (bundle_copy / "heads" / "extra.json").write_text("{}")
    with pytest.raises(ModelBundleError, match=r"does not list \(heads/extra.json\)"):
        load_bundle(bundle_copy)
    (bundle_copy / "heads" / "extra.json").unlink()
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    victim = next(rel for rel in manifest["files"] if rel.startswith("heads/"))
    del manifest["files"][victim]  # switching the check off by deleting the file's hash entry
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    for verify in (True, False):
        with pytest.raises(ModelBundleError, match=f"does not list \\({victim}\\)"):
            load_bundle(bundle_copy, verify=verify)


def test_listed_file_missing_is_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    rel = next(iter(sorted(manifest["files"])))
    (bundle_copy / rel).unlink()
    with pytest.raises(ModelBundleError, match=f"incomplete: file {rel}"):
        load_bundle(bundle_copy)


def test_signed_bundle_verifies_and_an_edit_after_signing_is_refused(bundle_copy, keys):
    trusted = load_trusted_keys([keys["publisher_pub"]])
    sign_bundle(bundle_copy, keys["publisher"])
    bundle = load_bundle(bundle_copy, trusted_keys=trusted)
    assert bundle.signature.verified and bundle.signature.key_id in trusted
    image = Image.fromarray(np.full((40, 40, 3), (170, 120, 100), np.uint8))
    p_before = float(bundle.predict([image]).p_malignant[0])
    _edit_manifest(bundle_copy, thresholds={"moderate": 0.99, "high": 0.999})
    with pytest.raises(ModelBundleError, match="does not match manifest.json"):
        load_bundle(bundle_copy, trusted_keys=trusted)
    with pytest.raises(ModelBundleError, match="does not match manifest.json"):
        verify_bundle(bundle_copy, trusted=trusted)
    # the signature is over the manifest, so it also covers a class-name or preprocessing edit
    sign_bundle(bundle_copy, keys["publisher"])
    assert load_bundle(bundle_copy, trusted_keys=trusted).signature.verified
    _edit_manifest(bundle_copy, preprocessing={**json.loads((bundle_copy / "manifest.json").read_text())
                                               ["preprocessing"], "mean": [0.0, 0.0, 0.0]})
    with pytest.raises(ModelBundleError, match="was changed after signing"):
        load_bundle(bundle_copy, trusted_keys=trusted)
    assert 0.0 <= p_before <= 1.0


def test_untrusted_unsigned_and_broken_signatures(bundle_copy, keys):
    trusted = load_trusted_keys([keys["publisher_pub"]])
    raw = json.loads((bundle_copy / "manifest.json").read_text())
    assert verify_signature(bundle_copy, raw).state == "unsigned"
    with pytest.raises(ModelBundleError, match="not signed"):
        verify_signature(bundle_copy, raw, trusted)
    with pytest.raises(ModelBundleError, match="not signed"):
        load_bundle(bundle_copy, require_signature=True)
    sign_bundle(bundle_copy, keys["stranger"])
    assert verify_signature(bundle_copy, raw).state == "untrusted"  # nothing to check it against: said, not refused
    with pytest.raises(ModelBundleError, match="not among the trusted keys"):
        load_bundle(bundle_copy, trusted_keys=trusted)
    sig = json.loads((bundle_copy / SIGNATURE_NAME).read_text())
    sign_bundle(bundle_copy, keys["publisher"])
    forged = json.loads((bundle_copy / SIGNATURE_NAME).read_text())
    forged["signature"] = sig["signature"]  # the stranger's signature under the publisher's key id
    (bundle_copy / SIGNATURE_NAME).write_text(json.dumps(forged))
    with pytest.raises(ModelBundleError, match="does not match"):
        load_bundle(bundle_copy, trusted_keys=trusted)
    (bundle_copy / SIGNATURE_NAME).write_text("not json")
    with pytest.raises(ModelBundleError, match="not a readable signature"):
        load_bundle(bundle_copy)


def test_cli_keygen_sign_verify(bundle_copy, tmp_path, capsys):
    assert main(["keygen", str(tmp_path / "k.pem"), str(tmp_path / "k.pub")]) == 0
    assert main(["sign", str(bundle_copy), "--key", str(tmp_path / "k.pem")]) == 0
    assert main(["verify", str(bundle_copy), "--trusted", str(tmp_path / "k.pub")]) == 0
    out = capsys.readouterr().out
    assert "key id" in out and "Signature verified" in out
    shutil.rmtree(bundle_copy / "heads")
    assert main(["verify", str(bundle_copy), "--trusted", str(tmp_path / "k.pub")]) == 2
    assert "incomplete" in capsys.readouterr().err


def test_shipped_demo_bundle_is_signed_by_the_shipped_demo_key():
    """The committed demo bundle carries a signature by configs/trusted_keys/skintag-demo.pub (its private key was
    destroyed after signing): a deployment that trusts it refuses any edit of the demo manifest."""
    from skintag.settings import shipped

    demo = shipped("models/demo")
    status = verify_bundle(demo, trusted=load_trusted_keys([shipped("configs/trusted_keys/skintag-demo.pub")]))
    assert status.verified
