"""Benchmark of the triage path and its explanations, printed as ratios measured side by side in one run.

For each model — the demo bundle (``models/demo`` or ``--demo PATH``) when present, and a SigLIP-B/16-224-sized backbone
built from its config (random weights; XGBoost heads and an isotonic calibrator fitted on its embeddings of real photos,
two image domains — HAM10000 dermoscopy and PAD-UFES-20 photos, each cross-fitted — and the Mahalanobis domain detector,
saved and reloaded as a real bundle so every call goes through ``skintag.model.ModelBundle`` with the detector on) — it
prints:

* bare backbone forward time (batch 1) and triage end-to-end time (decode → quality → preprocess → forward → heads →
  calibration → result, from JPEG bytes) and their ratio;
* the attention maps' added cost (triage with attention / without);
* SHAP time at 100 and 300 evaluations and its ratio to the same number of images pushed through the same pipeline in
  batches of the same size (shap's numba JIT compile is warmed up first and reported separately);
* cached SHAP time (a repeat served from the on-disk cache).

The random B/16 weights make its predictions meaningless; only its timings are used. Machines here are shared: compare
ratios from one run, not absolute times. ``--quick`` uses a tiny backbone and few evaluations (a smoke test).

Usage: ``python bench/triage.py [--threads 2] [--evals 100 300] [--repeats 5] [--skip-demo | --skip-b16] [--quick]``
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

B16_CONFIG = {"image_size": 224, "patch_size": 16, "hidden_size": 768, "intermediate_size": 3072,
              "num_hidden_layers": 12, "num_attention_heads": 12}
QUICK_CONFIG = {"image_size": 64, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128,
                "num_hidden_layers": 2, "num_attention_heads": 2}


def timed_side_by_side(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time per function, calling them round-robin (one warm-up round first) so that the load of a shared
    machine falls on all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    rng = np.random.default_rng(0)
    for r in range(repeats + 1):
        for k in rng.permutation(list(fns)):  # a fresh order each round: no call always follows the same one
            t0 = time.perf_counter()
            fns[k]()
            if r:
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def real_photos(data_dir: Path, n: int) -> list[tuple[Path, int, int]]:
    """(path, condition id, malignant) for n/2 HAM10000 and n/2 PAD-UFES-20 photos."""
    import pandas as pd

    from skintag import taxonomy

    out = []
    ham = pd.read_csv(data_dir / "ham10000" / "HAM10000_metadata.csv").drop_duplicates("image_id").set_index("image_id")
    for p in sorted((data_dir / "ham10000" / "images").glob("*.jpg"))[: n // 2]:
        out.append((p, taxonomy.HAM_DX[ham.loc[p.stem, "dx"]]))
    pad = pd.read_csv(data_dir / "pad_ufes_20" / "metadata.csv").set_index("img_id")
    for p in sorted((data_dir / "pad_ufes_20" / "images").glob("*.png"))[: n - n // 2]:
        out.append((p, taxonomy.PAD_DIAGNOSTIC[pad.loc[p.name, "diagnostic"]]))
    return [(p, c, int(c in taxonomy.MALIGNANT_IDS)) for p, c in out]


def build_sized_bundle(config: dict, out_dir: Path, data_dir: Path, n_images: int) -> Path:
    """A real bundle around a random-weight backbone of ``config``: heads fitted on its embeddings of real photos."""
    import torch

    from skintag.model.backbone import Preprocessing, new_backbone
    from skintag.model.bundle import save_bundle
    from skintag.model.calibration import Calibrator
    from skintag.model.heads import XGBHead

    items = real_photos(data_dir, n_images)
    preprocessing = Preprocessing(image_size=config["image_size"])
    backbone = new_backbone(config, random_state=0)
    embs = []
    with torch.no_grad():
        for i in range(0, len(items), 16):
            batch = [Image.open(p).convert("RGB") for p, _, _ in items[i : i + 16]]
            embs.append(backbone(pixel_values=preprocessing(batch)).pooler_output.numpy())
    emb = np.concatenate(embs).astype(np.float32)
    y = np.array([m for _, _, m in items])
    cond = np.array([c for _, c, _ in items])
    val = np.zeros(len(y), bool)
    val[::3] = True
    params = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1, "random_state": 0}
    binary = XGBHead("binary", params).fit(emb[~val], y[~val], X_val=emb[val], y_val=y[val], early_stopping_rounds=10)
    condition = XGBHead("condition", params).fit(emb[~val], cond[~val], X_val=emb[val], y_val=cond[val],
                                                 early_stopping_rounds=10)
    calibrator = Calibrator("isotonic").fit(binary.predict_proba(emb[val]), y[val])
    # two image domains (HAM10000 dermoscopy, PAD-UFES-20 photos) and the Mahalanobis detector: triage runs with it on
    from skintag.model.domains import DomainDetector, cross_fit_domain, domain_entry

    names = np.array(["dermoscopic" if "ham10000" in str(p) else "clinical" for p, _, _ in items])
    raw = binary.predict_proba(emb)
    domains = {}
    for name in ("dermoscopic", "clinical"):
        m = names == name
        fit = cross_fit_domain(raw[m], y[m], method="platt", n_folds=3, n_boot=0)
        entry = domain_entry(name, fit, datasets=[name], images=int(m.sum()), patients=None,
                             prevalence=float(y[m].mean()), targets={"moderate_sensitivity": 0.95, "high_specificity": 0.90},
                             n_folds=3)
        domains[name] = (entry, fit.calibrator)
    detector = DomainDetector.fit({n: emb[names == n] for n in ("dermoscopic", "clinical")})
    detector.set_thresholds({n: emb[names == n] for n in ("dermoscopic", "clinical")}, 0.99)
    return save_bundle(
        out_dir, backbone=backbone, preprocessing=preprocessing, binary_head=binary, condition_head=condition,
        calibrator=calibrator, domains=domains, detector=detector, default_domain="dermoscopic",
        manifest_fields={"name": f"bench-random-{config['hidden_size']}w{config['num_hidden_layers']}l",
                         "version": "0.0.0",
                         "description": "Benchmark only: random-weight backbone, heads fitted on its embeddings.",
                         "known_limits": ["Random backbone weights: timings only."]},
    )


def bench_bundle(label: str, bundle, photo_bytes: bytes, evals: list[int], repeats: int, cache_dir: Path) -> None:
    from skintag.explain.shap_image import explain_shap, pipeline_fn
    from skintag.images import decode_image
    from skintag.triage import TriageSettings, triage

    print(f"\n== {label}: {bundle.name} v{bundle.version}, input {bundle.image_size} px, "
          f"{sum(p.numel() for p in bundle.backbone.parameters()) / 1e6:.1f} M backbone parameters; domains "
          f"{sorted(bundle.domains)}, domain detector {'on' if bundle.detector is not None else 'absent'}, "
          f"test-time augmentation {bundle.tta or 'none'}")
    image = decode_image(photo_bytes).image
    pv = bundle.preprocess([image])

    def bare() -> None:
        bundle.forward_pixels(pv)  # the backbone call alone (no_grad; all 8 views with TTA), on preprocessed pixels

    def e2e() -> None:
        triage(bundle, photo_bytes)

    def att() -> None:
        triage(bundle, photo_bytes, settings=TriageSettings(attention=True))

    # Two pairs, each timed side by side: a pass that returns the attention maps (tens of MB at B/16) leaves the
    # allocator churning, which slows whatever call comes next; in one three-way rotation that cost fell on the
    # triage call half the time and was counted as triage overhead (measured: 1.22 against 1.02-1.04 in pairs).
    t = timed_side_by_side({"bare": bare, "e2e": e2e}, repeats)
    ta = timed_side_by_side({"e2e": e2e, "att": att}, repeats)
    t_bare, t_e2e = t["bare"], t["e2e"]
    print(f"bare backbone forward (batch 1)          {t_bare * 1000:9.1f} ms")
    print(f"triage end-to-end from JPEG bytes        {t_e2e * 1000:9.1f} ms   ratio to bare forward {t_e2e / t_bare:5.2f}")
    print(f"triage + attention maps (same pass)      {ta['att'] * 1000:9.1f} ms   added-cost ratio      "
          f"{ta['att'] / ta['e2e']:5.2f} (to triage without, timed beside it)")

    f = pipeline_fn(bundle)
    size = int(bundle.image_size)
    x = np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))
    batch = 50
    for n in evals:
        stack = np.repeat(x[None], n, axis=0)

        def forwards(stack: np.ndarray = stack) -> float:
            t0 = time.perf_counter()
            for i in range(0, len(stack), batch):
                f(stack[i : i + batch])
            return time.perf_counter() - t0

        before = forwards()
        t0 = time.perf_counter()
        res = explain_shap(bundle, image, max_evals=n, batch_size=batch, cache_dir=cache_dir)
        t_shap = time.perf_counter() - t0
        t_fwd = (before + forwards()) / 2  # the same work measured just before and just after SHAP
        t0 = time.perf_counter()
        again = explain_shap(bundle, image, max_evals=n, batch_size=batch, cache_dir=cache_dir)
        t_cached = time.perf_counter() - t0
        assert again.cached and not res.cached
        print(f"SHAP @{n:4d} evaluations ({res.n_evals} evaluated)   {t_shap:9.2f} s    "
              f"{n} batched pipeline passes {t_fwd:7.2f} s   ratio {t_shap / t_fwd:5.2f}   "
              f"cached repeat {t_cached * 1000:6.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evals", type=int, nargs="*", default=[100, 300], help="SHAP budgets (none: skip SHAP)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--demo", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-b16", action="store_true", help="only the demo bundle")
    parser.add_argument("--quick", action="store_true", help="tiny backbone and few evaluations (smoke test)")
    args = parser.parse_args(argv)

    import shap
    import torch

    from skintag.model import load_bundle
    from skintag.settings import default_data_dir

    torch.set_num_threads(args.threads)
    data_dir = default_data_dir()
    photo = data_dir / "ham10000" / "images" / "ISIC_0024308.jpg"
    buf = io.BytesIO()
    Image.open(photo).convert("RGB").save(buf, format="JPEG", quality=95)
    photo_bytes = buf.getvalue()
    evals = [10, 30] if args.quick else args.evals
    print(f"torch {torch.__version__}, shap {shap.__version__}, {args.threads} thread(s); photo {photo.name} "
          f"({len(photo_bytes) / 1024:.0f} KiB JPEG)")

    # shap's Partition explainer and Image masker are numba-jitted: the first call in a process compiles them.
    t0 = time.perf_counter()
    if evals:
        shap.Explainer(lambda z: z.reshape(len(z), -1).mean(1, keepdims=True),
                       shap.maskers.Image("blur(8,8)", (32, 32, 3)), algorithm="partition")(
            np.zeros((1, 32, 32, 3)), max_evals=20, silent=True)
        print(f"shap numba JIT warm-up (once per process): {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        if not args.skip_demo and (args.demo / "manifest.json").is_file():
            bench_bundle("demo bundle", load_bundle(args.demo), photo_bytes, evals, args.repeats, cache)
        elif not args.skip_demo:
            print(f"\n(no demo bundle at {args.demo}; skipped)")
        if args.skip_b16:
            return
        config = QUICK_CONFIG if args.quick else B16_CONFIG
        t0 = time.perf_counter()
        path = build_sized_bundle(config, Path(tmp) / "b16", data_dir, 96)
        print(f"\n(built the {'tiny' if args.quick else 'B/16-224'}-sized bundle in {time.perf_counter() - t0:.0f} s)")
        bench_bundle("SigLIP B/16-224 sized, random weights" if not args.quick else "tiny backbone (quick)",
                     load_bundle(path), photo_bytes, evals, args.repeats, cache)


if __name__ == "__main__":
    main()
