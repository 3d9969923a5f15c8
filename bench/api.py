"""Benchmark of the HTTP API against the library it serves, measured side by side in one run.

For each model — the demo bundle, and a SigLIP-B/16-224-sized bundle with random backbone weights built as
``bench/triage.py`` builds it (XGBoost heads and a calibrator fitted on its embeddings of real photos, saved and loaded
as a real bundle) — a real ``python -m skintag.api`` server process serves it on a free local port, and this process
loads the same bundle. On one real HAM10000 photo (JPEG bytes) it prints:

* the overhead of the HTTP path: the median time of ``POST /v1/triage`` (one client, keep-alive connection: multipart
  upload, parsing, worker thread, JSON) against the median of a direct :func:`skintag.triage.triage` call on the same
  bytes in this process, the two called in alternation so that the load of a shared machine falls on both alike;
* requests per second and latency p50 / p95 with 1 and with 8 concurrent clients.

The server and this process run torch with the same number of threads (``--threads``). Machines here are shared:
compare ratios from one run, not absolute times. ``--quick`` uses a tiny backbone and few requests (a smoke test).

Usage: ``python bench/api.py [--threads 2] [--repeats 15] [--requests 48] [--skip-b16] [--quick]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.api.server import ApiServer  # noqa: E402


def _bench_triage_module():
    """bench/triage.py, for its side-by-side timer and its B/16-sized bundle builder."""
    spec = importlib.util.spec_from_file_location("bench_triage", REPO / "bench" / "triage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def post(session, url: str, photo: bytes, app_times: list[float] | None = None) -> float:
    """One ``POST /v1/triage``: its latency; the server's own time (``Server-Timing: app;dur=``) is appended to
    ``app_times``."""
    t0 = time.perf_counter()
    resp = session.post(url + "/v1/triage", files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=600)
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise RuntimeError(f"POST /v1/triage answered {resp.status_code}: {resp.text[:300]}")
    if app_times is not None:
        app_times.append(float(resp.headers["server-timing"].split("dur=")[1]) / 1000)
    return elapsed


def load(url: str, photo: bytes, clients: int, n_requests: int) -> tuple[float, list[float]]:
    """``n_requests`` triage requests from ``clients`` concurrent clients (one connection each): wall time and the
    latency of every request."""
    import requests

    per_client = [n_requests // clients + (i < n_requests % clients) for i in range(clients)]

    def client(n: int) -> list[float]:
        with requests.Session() as s:
            return [post(s, url, photo) for _ in range(n)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = [t for chunk in pool.map(client, per_client) for t in chunk]
    return time.perf_counter() - t0, latencies


def bench_model(label: str, bundle_dir: Path, photo: bytes, args: argparse.Namespace, timer, log_dir: Path) -> None:
    import requests

    from skintag.model import load_bundle
    from skintag.triage import triage

    bundle = load_bundle(bundle_dir)
    threads = str(args.threads)
    server = ApiServer(log_dir / f"{bundle_dir.name}.log", env={
        "SKINTAG_MODEL_DIR": str(bundle_dir), "SKINTAG_APP_DATA_DIR": str(log_dir / "data"),
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    server.start()
    try:
        n_params = sum(p.numel() for p in bundle.backbone.parameters()) / 1e6
        print(f"\n== {label}: {bundle.name}, input {bundle.image_size} px, {n_params:.1f} M backbone parameters")
        with requests.Session() as session:
            expected = triage(bundle, photo).to_dict()
            got = session.post(server.url + "/v1/triage", files={"image": ("p.jpg", photo)}, timeout=600).json()
            same = got["result"] == expected
            app_times: list[float] = []
            t = timer({"direct": lambda: triage(bundle, photo),
                       "http": lambda: post(session, server.url, photo, app_times)}, args.repeats)
        app = statistics.median(app_times[1:])  # the timer's warm-up round first
        print(f"same answer over HTTP as direct triage(): {same}")
        print(f"direct triage() from JPEG bytes      {t['direct'] * 1000:9.1f} ms (median of {args.repeats})")
        print(f"POST /v1/triage, 1 client            {t['http'] * 1000:9.1f} ms   "
              f"HTTP overhead {(t['http'] - t['direct']) * 1000:+.1f} ms = {(t['http'] / t['direct'] - 1) * 100:+.1f} %")
        print(f"  of which inside the server's app   {app * 1000:9.1f} ms   outside it (client, TCP, uvicorn) "
              f"{(t['http'] - app) * 1000:.1f} ms = {(t['http'] - app) / t['direct'] * 100:.1f} % of direct")
        for clients in (1, 8):
            wall, lat = load(server.url, photo, clients, args.requests)
            p50, p95 = np.percentile(np.asarray(lat) * 1000, [50, 95])
            print(f"{clients} concurrent client(s), {len(lat)} requests: {len(lat) / wall:7.2f} requests/s   "
                  f"latency p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   0 errors")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads, here and in the server")
    parser.add_argument("--repeats", type=int, default=15, help="alternating direct / HTTP calls for the overhead")
    parser.add_argument("--requests", type=int, default=48, help="requests per throughput run")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-b16", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny backbone, few requests (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.requests = 3, 8

    import torch

    from skintag.settings import default_data_dir

    torch.set_num_threads(args.threads)
    bench_triage = _bench_triage_module()
    data_dir = default_data_dir()
    photo = (data_dir / "ham10000" / "images" / "ISIC_0024308.jpg").read_bytes()
    print(f"torch {torch.__version__}, {args.threads} thread(s) here and in the server; photo ISIC_0024308.jpg "
          f"({len(photo) / 1024:.0f} KiB JPEG)")
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        if not args.skip_demo:
            bench_model("demo bundle", REPO / "models" / "demo", photo, args, bench_triage.timed_side_by_side, logs)
        if args.skip_b16:
            return
        config = bench_triage.QUICK_CONFIG if args.quick else bench_triage.B16_CONFIG
        t0 = time.perf_counter()
        path = bench_triage.build_sized_bundle(config, logs / "b16", data_dir, 96)  # as bench/triage.py
        print(f"\n(built the {'tiny' if args.quick else 'B/16-224'}-sized bundle in {time.perf_counter() - t0:.0f} s)")
        bench_model("tiny backbone (quick)" if args.quick else "SigLIP B/16-224 sized, random weights", Path(path),
                    photo, args, bench_triage.timed_side_by_side, logs)


if __name__ == "__main__":
    main()
