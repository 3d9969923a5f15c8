"""``python -m skintag.model``: make a signing key, sign a model bundle, verify one (see :mod:`skintag.model.signing`).

    python -m skintag.model keygen PRIVATE.pem PUBLIC.pem
    python -m skintag.model sign BUNDLE --key PRIVATE.pem
    python -m skintag.model verify BUNDLE [--trusted PUBLIC.pem ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from skintag.errors import SkintagError
from skintag.model.bundle import verify_bundle
from skintag.model.signing import generate_keypair, load_trusted_keys, sign_bundle


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; returns the exit status (2 with a message for an expected error)."""
    parser = argparse.ArgumentParser(prog="python -m skintag.model", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    kg = sub.add_parser("keygen", help="write a new Ed25519 key pair (PEM; the private file with mode 0600)")
    kg.add_argument("private")
    kg.add_argument("public")
    sg = sub.add_parser("sign", help="sign a bundle's manifest (writes manifest.sig)")
    sg.add_argument("bundle")
    sg.add_argument("--key", required=True)
    vf = sub.add_parser("verify", help="check a bundle's files, hashes and signature without loading it")
    vf.add_argument("bundle")
    vf.add_argument("--trusted", nargs="+", default=[])
    args = parser.parse_args(argv)
    try:
        if args.command == "keygen":
            print(f"key id {generate_keypair(args.private, args.public)}")
        elif args.command == "sign":
            print(f"wrote {sign_bundle(args.bundle, args.key)}")
        else:
            print(verify_bundle(args.bundle, trusted=load_trusted_keys(args.trusted)).message)
    except SkintagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
