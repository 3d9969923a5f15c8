"""``python -m skintag.api [--host 127.0.0.1] [--port 8000] [--workers N] [--keys-file FILE] [--cors-origin URL]``
serves the SkinTag HTTP API with uvicorn; ``--new-key`` prints a fresh API key and its hash line, ``--hash-key`` the hash
line of a key read from standard input.

Options override the ``SKINTAG_API_*`` environment variables (see README); they are handed to every worker process
through the environment, so each worker builds the same app from :meth:`skintag.settings.Settings.from_env`.
Bound to anything but a loopback address, the server refuses to start without API keys.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

from skintag.api.security import hash_key, load_hashes, new_key, require_keys_for_host
from skintag.errors import SkintagError
from skintag.settings import Settings


def log_config(level: str) -> dict:
    """uvicorn's logging configuration plus the ``skintag.api`` logger (one line per request) on its handler."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["formatters"]["skintag"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    cfg["handlers"]["skintag"] = {"class": "logging.StreamHandler", "formatter": "skintag", "stream": "ext://sys.stderr"}
    cfg["loggers"]["skintag.api"] = {"handlers": ["skintag"], "level": level.upper(), "propagate": False}
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skintag.api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="address to bind (default $SKINTAG_API_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $SKINTAG_API_PORT or 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU-bound requests per process at once (default $SKINTAG_API_THREADS or 4)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch (OpenMP) threads per request (sets OMP_NUM_THREADS; default: torch's own)")
    parser.add_argument("--keys-file", default=None, help="file of API key hashes (default $SKINTAG_API_KEYS_FILE)")
    parser.add_argument("--cors-origin", action="append", default=None,
                        help="an origin allowed to call from a browser (repeatable; default: CORS off)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--new-key", action="store_true", help="print a new API key and its hash line, then exit")
    parser.add_argument("--hash-key", action="store_true", help="print the hash line of a key read from stdin, then exit")
    args = parser.parse_args(argv)
    try:
        if args.new_key:
            key = new_key()
            print(f"key (give to the client, store nowhere): {key}\nhash line (for the keys file): {hash_key(key)}")
            return 0
        if args.hash_key:
            print(hash_key(sys.stdin.readline()))
            return 0
        overrides = {"SKINTAG_API_HOST": args.host, "SKINTAG_API_PORT": args.port, "SKINTAG_API_THREADS": args.threads,
                     "SKINTAG_API_KEYS_FILE": args.keys_file,
                     "SKINTAG_API_CORS_ORIGINS": ",".join(args.cors_origin) if args.cors_origin else None}
        if args.torch_threads is not None:
            if args.torch_threads < 1:
                parser.error("--torch-threads must be at least 1")
            overrides |= {"OMP_NUM_THREADS": args.torch_threads, "MKL_NUM_THREADS": args.torch_threads}
        os.environ.update({k: str(v) for k, v in overrides.items() if v is not None})
        settings = Settings.from_env()
        require_keys_for_host(settings.api_host, load_hashes(settings.api_keys_file, settings.api_key_hashes))
        if args.workers < 1:
            parser.error("--workers must be at least 1")
    except SkintagError as exc:
        parser.exit(2, f"error: {exc}\n")
    import uvicorn

    uvicorn.run("skintag.api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port,
                workers=args.workers, access_log=False, log_config=log_config(args.log_level),
                log_level=args.log_level, server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
