"""Launcher of the dashboard from an installed package: ``skintag-app [streamlit options]`` (or ``python -m
skintag.app``) runs ``streamlit run`` on the app entry shipped with skintag.

Streamlit reads ``.streamlit/config.toml`` only from the directory it is started in (and ``~/.streamlit/``), so the
launcher passes the project's shipped config (no usage statistics, no Deploy button, the upload limit) as command-line
options; options given to the launcher come after them and win. This module does not import streamlit itself.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skintag.settings import shipped


def config_flags(config: Mapping[str, Any]) -> list[str]:
    """``--section.option=value`` command-line options for a parsed ``config.toml`` (booleans in lower case)."""
    flags = []
    for section, options in config.items():
        for name, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{name}={text}")
    return flags


def streamlit_command(extra: Sequence[str] = (), *, app: Path | None = None, config: Path | None = None) -> list[str]:
    """The ``streamlit run`` command line for the shipped app (``app`` and ``config`` default to the shipped files)."""
    config = config or shipped(".streamlit/config.toml")
    options = tomllib.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
    app = app or shipped("streamlit_app.py")
    return [sys.executable, "-m", "streamlit", "run", str(app), *config_flags(options), *extra]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dashboard; extra arguments go to ``streamlit run`` (e.g. ``--server.port 8502``)."""
    return subprocess.call(streamlit_command(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
