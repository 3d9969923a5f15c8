"""Start-up benchmark: from ``streamlit run`` to the first triage result in a real browser.

Each run starts a fresh ``streamlit run streamlit_app.py`` on a free local port (from the repository root, so
``.streamlit/config.toml`` applies, as with ``make app``), with Debian's headless Chromium already open (its launch is
not counted). It prints:

* ``health``: seconds from starting ``streamlit run`` to ``/_stcore/health`` answering ``ok``;
* ``result``: seconds from that answer to the first triage result on screen: open ``/triage`` (the first page the
  browser sees), choose **Example**, and wait for the calibrated probability of malignancy to be shown. With
  ``--open-after S`` the browser opens the page S seconds after the answer (as a person would), and ``result`` counts
  from the moment it opens;
* ``total``: seconds from starting ``streamlit run`` to that result (``health`` + S + ``result``).

The first run after a reboot or a fresh install reads everything from a cold disk; later runs show the warm-disk
figure. Usage: ``python bench/startup.py [--runs 3] [--timeout 180] [--open-after 0]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, healthy, stop_process  # noqa: E402

RESULT_SELECTOR = '[data-testid="stMetric"]:has-text("Calibrated probability of malignancy")'


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not healthy(url):
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"streamlit was not healthy after {timeout_s:.0f} s")
        time.sleep(0.05)


def _first_result(browser, url: str, timeout_s: float) -> None:
    """Open ``/triage`` in a fresh context, pick the example source and wait for the result metric."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(timeout_s * 1000)
    try:
        page = context.new_page()
        page.goto(f"{url}/triage", wait_until="domcontentloaded")
        page.locator('[data-testid="stRadio"]').get_by_text("Example", exact=True).click()
        page.locator(RESULT_SELECTOR).wait_for(state="visible")
    finally:
        context.close()


def run_once(browser, timeout_s: float, log_dir: Path, open_after_s: float = 0.0) -> tuple[float, float]:
    """One fresh server: (seconds to healthy, seconds from healthy, or from ``open_after_s`` later, to the first triage
    result)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1"]
    log = (log_dir / f"streamlit-{port}.log").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, proc, timeout_s)
        t_health = time.perf_counter()
        time.sleep(open_after_s)
        t_open = time.perf_counter()
        _first_result(browser, url, timeout_s)
        return t_health - t0, time.perf_counter() - t_open
    finally:
        stop_process(proc)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh servers to time, one after another")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds each step may take")
    parser.add_argument("--open-after", type=float, default=0.0, help="seconds between the answer and opening the page")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="skintag-bench-") as logs:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            start = "health" if args.open_after == 0 else f"health + {args.open_after:g} s"
            print(f"{'run':>3}  {'streamlit run → health (s)':>27}  {start + ' → first triage result (s)':>33}"
                  f"  {'streamlit run → first triage result (s)':>40}")
            for i in range(1, args.runs + 1):
                health, result = run_once(browser, args.timeout, Path(logs), args.open_after)
                total = health + args.open_after + result
                print(f"{i:>3}  {health:>27.2f}  {result:>33.2f}  {total:>40.2f}", flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
