"""Benchmark of embedding extraction, measured side by side in one run (ratios are what to compare; see BENCHMARKS.md).

For each backbone size it prints

* bare forward throughput: the model alone on already-preprocessed pixel tensors (images/s);
* extraction throughput: ``skintag.embeddings.extract_embeddings`` end to end on the image files with an empty cache
  (hashing, decoding, preprocessing, forward, writing shards), and the ratio extraction / bare forward — the share of
  model speed the pipeline keeps (1.0 = no overhead; decoding overlaps the forward pass in worker threads);
* time outside the forward pass during extraction (hooks on the model): the pipeline's own cost, which unlike the
  ratio above does not swing with the load of a shared machine;
* cached time / uncached time: a repeat run over the same files (zero model calls) against the first run; shown
  with the backbone hash memoised (same process) and recomputed (as a new process must: it reads every weight).

Backbones (random weights; only speed matters): "tiny" — the demo model's size (28 px, patch 4, width 192, 6 layers) —
and "b16" — SigLIP base, patch 16, 224 px (93 M parameters). Images: real HAM10000 and PAD-UFES-20 files from the
shared data folder (large JPEG/PNG photos, so decoding cost is realistic); DermaMNIST 28-px JPEGs for "tiny" too.

Usage::

    python bench/embeddings.py [--data DIR] [--threads 2] [--repeats 2] [--only tiny|b16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from skintag.embeddings import EmbeddingCache, extract_embeddings, load_image  # noqa: E402
from skintag.model.backbone import _HASH_MEMO, Preprocessing, new_backbone  # noqa: E402
from skintag.settings import default_data_dir  # noqa: E402

CONFIGS = {
    "tiny": {
        "config": {
            "image_size": 28,
            "patch_size": 4,
            "hidden_size": 192,
            "intermediate_size": 768,
            "num_hidden_layers": 6,
            "num_attention_heads": 3,
        },
        "batch_size": 64,
    },
    "b16": {
        "config": {
            "image_size": 224,
            "patch_size": 16,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
        },
        "batch_size": 8,
    },
}


def _images(data: Path, name: str) -> tuple[str, list[Path]]:
    ham = sorted((data / "ham10000" / "images").glob("*.jpg"))
    pad = sorted((data / "pad_ufes_20" / "images").glob("*.png"))
    if name == "tiny":
        derma = sorted((data / "dermamnist" / "images").glob("*.jpg"))[:512]
        files = derma + ham[:48] + pad[:16]
        return (
            f"{len(derma)} DermaMNIST 28-px JPEGs + {len(ham[:48])} HAM10000 600x450 JPEGs + {len(pad[:16])} PAD PNGs",
            files,
        )
    files = ham[:12] + pad[:4]
    return f"{len(ham[:12])} HAM10000 600x450 JPEGs + {len(pad[:4])} PAD-UFES-20 PNGs", files


def _bare_forward(model, pixels, batch_size: int) -> float:
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            model(pixel_values=pixels[i : i + batch_size])
    return time.perf_counter() - t0


class ForwardTimer:
    """Wall time spent inside the model's forward calls (pre/post hooks), to split pipeline overhead from model time."""

    def __init__(self, model) -> None:
        self.total = 0.0
        self._t0 = 0.0
        self._handles = [model.register_forward_pre_hook(self._pre), model.register_forward_hook(self._post)]

    def _pre(self, *_args) -> None:
        self._t0 = time.perf_counter()

    def _post(self, *_args) -> None:
        self.total += time.perf_counter() - self._t0

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def bench(name: str, data: Path, repeats: int) -> dict[str, float]:
    spec = CONFIGS[name]
    cfg, bs = spec["config"], spec["batch_size"]
    model = new_backbone(cfg, random_state=0)
    prep = Preprocessing(image_size=cfg["image_size"])
    what, files = _images(data, name)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"\n[{name}] {n_params / 1e6:.1f} M parameters, {cfg['image_size']} px, batch {bs}; {len(files)} images: {what}"
    )

    t0 = time.perf_counter()
    pixels = prep([load_image(f) for f in files])
    t_decode = time.perf_counter() - t0
    _bare_forward(model, pixels[:bs], bs)  # warm-up

    bare, uncached, cached, cached_cold, outside = [], [], [], [], []
    for _ in range(repeats):  # interleaved, best of `repeats` each
        bare.append(_bare_forward(model, pixels, bs))
        with tempfile.TemporaryDirectory() as tmp:
            timer = ForwardTimer(model)
            t0 = time.perf_counter()
            a = extract_embeddings(model, prep, files, cache=EmbeddingCache(tmp), batch_size=bs, progress=False)
            uncached.append(time.perf_counter() - t0)
            timer.remove()
            outside.append(uncached[-1] - timer.total)
            t0 = time.perf_counter()
            b = extract_embeddings(model, prep, files, cache=EmbeddingCache(tmp), batch_size=bs, progress=False)
            cached.append(time.perf_counter() - t0)
            _HASH_MEMO.clear()  # as in a fresh process: the weights are hashed again to find the cache folder
            t0 = time.perf_counter()
            c = extract_embeddings(model, prep, files, cache=EmbeddingCache(tmp), batch_size=bs, progress=False)
            cached_cold.append(time.perf_counter() - t0)
            assert np.array_equal(a, b) and np.array_equal(a, c)
    n = len(files)
    r = {
        "bare_s": min(bare),
        "uncached_s": min(uncached),
        "cached_s": min(cached),
        "cached_cold_s": min(cached_cold),
        "decode_s": t_decode,
        "outside_forward_s": min(outside),
    }
    print(f"  decode + preprocess alone (1 thread) : {t_decode:8.3f} s  ({n / t_decode:8.1f} img/s)")
    print(f"  bare forward                         : {r['bare_s']:8.3f} s  ({n / r['bare_s']:8.1f} img/s)")
    print(f"  extraction, empty cache              : {r['uncached_s']:8.3f} s  ({n / r['uncached_s']:8.1f} img/s)")
    print(f"  extraction, cached (0 model calls)   : {r['cached_s']:8.3f} s  ({n / r['cached_s']:8.1f} img/s)")
    print(f"  cached, weights hashed again (new process): {r['cached_cold_s']:8.3f} s")
    print(
        f"  extraction time outside the forward  : {r['outside_forward_s']:8.3f} s  "
        f"({r['outside_forward_s'] / r['uncached_s']:.1%} of the extraction; hashing, waiting for decode, cache writes)"
    )
    print(f"  extraction / bare forward throughput : {r['bare_s'] / r['uncached_s']:8.3f}")
    print(
        f"  cached / uncached time               : {r['cached_s'] / r['uncached_s']:8.4f}"
        f"  (new process: {r['cached_cold_s'] / r['uncached_s']:.4f})"
    )
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="data root (default: ../shared/data)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best of each is reported")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="run one backbone size only")
    args = parser.parse_args(argv)

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    if not (args.data / "ham10000" / "images").is_dir():
        print(f"No images under {args.data}; pass --data", file=sys.stderr)
        return 2
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
        f"best of {args.repeats}"
    )
    for name in [args.only] if args.only else list(CONFIGS):
        bench(name, args.data, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
