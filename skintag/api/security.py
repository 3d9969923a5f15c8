"""API keys: stored only as SHA-256 hashes, sent by clients in the ``X-API-Key`` header, checked in constant time.

A key is a random token (``python -m skintag.api --new-key`` makes one: 32 bytes from :mod:`secrets`, URL-safe
base64). Its stored form is ``sha256:<64 hex digits>``, one per line in the file named by ``SKINTAG_API_KEYS_FILE``
(blank lines and ``#`` comments allowed; text after the hash on a line, e.g. ``sha256:… ehr-gateway``, is a label) or
comma-separated in ``SKINTAG_API_KEY_HASHES``. The keys are high-entropy random tokens, not passwords, so one SHA-256
round is enough (a slow hash such as scrypt protects guessable secrets, which these are not). A presented key is hashed
and compared with every stored hash by :func:`hmac.compare_digest`, all of them every time, so neither the comparison
nor the number of hashes checked depends on how much of a stored hash the presented key matches.

Host policy (:func:`require_keys_for_host`): bound to a loopback address (127.0.0.0/8, ::1, ``localhost``), keys are
optional — checked when configured; bound to any other address, the API refuses to start without keys.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from skintag.errors import ConfigError

HEADER = "X-API-Key"
PREFIX = "sha256:"
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def hash_key(key: str) -> str:
    """The stored form of ``key``: ``sha256:`` and the hex SHA-256 of its UTF-8 bytes (surrounding spaces removed)."""
    key = key.strip()
    if not key:
        raise ConfigError("An API key cannot be empty")
    return PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (32 random bytes, URL-safe base64: 43 characters)."""
    return secrets.token_urlsafe(32)


def parse_hashes(lines: Iterable[str], where: str) -> tuple[str, ...]:
    """Key hashes from lines of text: the first word of each non-blank, non-comment line, each ``sha256:<64 hex>``.

    Raises
    ------
    ConfigError
        Naming the line that does not hold a hash (a plain key by mistake, a truncated hash, ...).
    """
    out = []
    for n, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        word = text.split()[0].lower()
        if not _HASH_RE.match(word):
            raise ConfigError(
                f"{where}, line {n}: expected an API key hash 'sha256:<64 hex digits>' (make one with "
                f"`python -m skintag.api --hash-key`), found {len(word)} characters that are not one. "
                "Store hashes, never the keys themselves."
            )
        out.append(word)
    return tuple(out)


def load_hashes(keys_file: Path | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Every accepted key hash: the lines of ``keys_file`` (if given) and ``extra`` (``Settings.api_key_hashes``)."""
    hashes: list[str] = []
    if keys_file is not None:
        try:
            text = Path(keys_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read the API keys file {keys_file}: {exc.strerror or exc}") from exc
        hashes += parse_hashes(text.splitlines(), str(keys_file))
    hashes += parse_hashes(list(extra), "SKINTAG_API_KEY_HASHES")
    return tuple(dict.fromkeys(hashes))


def key_matches(presented: str | None, hashes: tuple[str, ...]) -> bool:
    """Whether ``presented`` hashes to one of ``hashes``; compares with every hash, in constant time each."""
    if not presented or not presented.strip():
        return False
    digest = hash_key(presented).encode("ascii")
    found = False
    for h in hashes:
        found |= hmac.compare_digest(digest, h.encode("ascii"))
    return found


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for everything else, 0.0.0.0 included."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def require_keys_for_host(host: str, hashes: tuple[str, ...]) -> None:
    """Refuse to serve a non-loopback ``host`` without API keys.

    Raises
    ------
    ConfigError
        When ``host`` is not a loopback address and ``hashes`` is empty.
    """
    if not hashes and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without API keys: anyone who can reach that address could use the API. "
            "Create a key with `python -m skintag.api --new-key`, put its hash line in a file named by "
            "SKINTAG_API_KEYS_FILE (or --keys-file), and send the key in the X-API-Key header; or bind to 127.0.0.1."
        )
