"""Batch triage: many images at once, ordered into a worklist (HIGH first, then by score).

``python -m skintag.batch FOLDER --out worklist.csv`` triages every image under a folder. A large folder is split
over several processes (``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method), each loading and
verifying the model bundle once, in its initializer; a small one runs in this process. ``--log`` also records every
result in the case log (from this process only, one writer). The Worklist page uses :func:`worklist_frame`,
:func:`read_zip` and :func:`worklist_order` for uploads.

Workers return plain dicts (``TriageResult.to_dict()``), never model objects.
"""

from __future__ import annotations

import argparse
import io
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from skintag.errors import ArgumentError, BadImageError, SkintagError
from skintag.fairness.export import csv_safe_frame

#: File suffixes taken from a folder or a zip (the decoder still checks every file).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp"})
TIER_RANK = {"HIGH": 0, "MODERATE": 1, "LOW": 2}
#: Images per worker task (each task is one ``triage_many`` call).
CHUNK = 16
#: Below this many images per extra process, starting processes (each imports torch and loads the bundle) costs more
#: than it saves.
MIN_IMAGES_PER_WORKER = 48
ZIP_MAX_FILES = 2000
ZIP_MAX_BYTES = 2 * 1024**3
WORKLIST_COLUMNS = ("rank", "file", "status", "tier", "p_malignant", "p_low", "p_high", "top_condition", "quality",
                    "discordant", "error", "case_id")


@dataclass(frozen=True)
class Item:
    """One image of a batch: its name, and the triage result as a dict (``TriageResult.to_dict()``) or the reason it
    could not be read."""

    name: str
    result: dict[str, Any] | None
    error: str | None = None
    case_id: str | None = None


def collect_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively, hidden files skipped), sorted by path."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ArgumentError(f"{root} is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def read_zip(data: bytes, *, max_files: int = ZIP_MAX_FILES, max_bytes: int = ZIP_MAX_BYTES) -> list[tuple[str, bytes]]:
    """The image files in a zip archive, in memory (name, bytes), sorted by name; folders, hidden files and macOS
    resource forks are skipped. Refuses an archive that is not a zip, or holds more than ``max_files`` images or
    ``max_bytes`` uncompressed (a zip bomb)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise BadImageError(f"The archive is not a readable zip file: {error}", reason="not_zip") from error
    members = [m for m in archive.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
               and not any(p.startswith((".", "__MACOSX")) for p in Path(m.filename).parts)]
    if len(members) > max_files:
        raise BadImageError(f"The zip holds {len(members)} images; at most {max_files} at once", reason="too_large")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise BadImageError(f"The zip's images take {total / 1e6:.0f} MB uncompressed; at most {max_bytes / 1e6:.0f} MB",
                            reason="too_large")
    return sorted((m.filename, archive.read(m)) for m in members)


def order_key(item: Item) -> tuple[int, float, str]:
    """Worklist order: HIGH, MODERATE, LOW (higher score first within a tier), then photos to retake, then files that
    could not be read."""
    r = item.result
    if r is None:
        return (5, 0.0, item.name)
    if r.get("status") != "ok" or r.get("tier") not in TIER_RANK:
        return (4, 0.0, item.name)
    return (TIER_RANK[r["tier"]], -float(r.get("p_malignant") or 0.0), item.name)


def worklist_order(items: Sequence[Item]) -> list[Item]:
    return sorted(items, key=order_key)


def worklist_frame(items: Sequence[Item]) -> pd.DataFrame:
    """The worklist as a table (:data:`WORKLIST_COLUMNS`), in worklist order, ``rank`` from 1."""
    rows = []
    for rank, it in enumerate(worklist_order(items), start=1):
        r = it.result or {}
        interval = r.get("p_interval") or (None, None)
        top = (r.get("top_conditions") or [{}])[0]
        rows.append({
            "rank": rank, "file": it.name, "status": r.get("status", "unreadable"), "tier": r.get("tier"),
            "p_malignant": r.get("p_malignant"), "p_low": interval[0], "p_high": interval[1],
            "top_condition": top.get("name"), "quality": (r.get("quality") or {}).get("verdict"),
            "discordant": r.get("discordant"), "error": it.error, "case_id": it.case_id,
        })
    return pd.DataFrame(rows, columns=list(WORKLIST_COLUMNS))


def worklist_csv(frame: pd.DataFrame) -> str:
    """The worklist table as CSV text, injection-safe: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return (a file name such as ``=HYPERLINK(…).jpg``) gets a leading apostrophe, so a spreadsheet shows it
    instead of running it (:func:`skintag.fairness.export.csv_safe`). Lines end in CRLF (RFC 4180), so a cell holding
    a bare carriage return is quoted and cannot start a row of its own."""
    return csv_safe_frame(frame).to_csv(index=False, lineterminator="\r\n")


# --- triage over processes ------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(bundle_dir: str, threads: int, max_bytes: int | None, max_pixels: int | None) -> None:
    """Process initializer: load (and verify) the bundle once per worker."""
    import torch

    from skintag.model import load_bundle
    from skintag.triage import TriageSettings

    torch.set_num_threads(max(1, threads))
    _WORKER["bundle"] = load_bundle(bundle_dir)
    _WORKER["settings"] = TriageSettings(max_bytes=max_bytes, max_pixels=max_pixels)


def _triage_paths(paths: Sequence[str]) -> list[tuple[dict[str, Any] | None, str | None]]:
    from skintag.triage import triage_many

    out = triage_many(_WORKER["bundle"], [Path(p) for p in paths], settings=_WORKER["settings"])
    return [(None, f"{r.reason}: {r}") if isinstance(r, BadImageError) else (r.to_dict(), None) for r in out]


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def auto_workers(n_images: int, cpus: int | None = None) -> int:
    """Processes for ``n_images``: one per :data:`MIN_IMAGES_PER_WORKER` images, at most the CPU count."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(cpus, n_images // MIN_IMAGES_PER_WORKER))


def triage_paths(bundle_dir: str | Path, paths: Sequence[Path], *, workers: int | None = None,
                 max_bytes: int | None = None, max_pixels: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Triage image files with the bundle at ``bundle_dir``; one (result dict, None) or (None, error) per path, in
    order. ``workers`` processes (default :func:`auto_workers`); 1 runs here."""
    paths = [str(p) for p in paths]
    n = len(paths)
    workers = auto_workers(n) if workers is None else int(workers)
    if workers < 1:
        raise ArgumentError(f"workers must be at least 1, got {workers}")
    cpus = os.cpu_count() or 1
    threads = max(1, cpus // workers)
    results: list[Any] = [None] * n
    done = 0
    if workers == 1:
        _init_worker(str(bundle_dir), threads, max_bytes, max_pixels)
        for start, chunk in zip(range(0, n, CHUNK), _chunks(paths, CHUNK), strict=True):
            results[start:start + len(chunk)] = _triage_paths(chunk)
            done += len(chunk)
            if progress:
                progress(done, n)
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(str(bundle_dir), threads, max_bytes, max_pixels)) as pool:
        futures = {pool.submit(_triage_paths, chunk): start
                   for start, chunk in zip(range(0, n, CHUNK), _chunks(paths, CHUNK), strict=True)}
        for fut in as_completed(futures):
            start = futures[fut]
            got = fut.result()
            results[start:start + len(got)] = got
            done += len(got)
            if progress:
                progress(done, n)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skintag.batch",
                                     description="Triage every image under a folder into a worklist CSV.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the worklist CSV to write")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: by folder size and CPUs)")
    parser.add_argument("--model-dir", type=Path, default=None, help="model bundle (default: $SKINTAG_MODEL_DIR)")
    parser.add_argument("--log", action="store_true", help="also record every result in the case log")
    args = parser.parse_args(argv)
    try:
        from tqdm.auto import tqdm

        from skintag.settings import Settings

        settings = Settings.from_env()
        paths = collect_images(args.folder)
        if not paths:
            raise ArgumentError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {args.folder}")
        workers = auto_workers(len(paths)) if args.workers is None else args.workers
        bar = tqdm(total=len(paths), unit="img", desc=f"triage ({workers} process{'es' if workers > 1 else ''})")

        def tick(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        got = triage_paths(args.model_dir or settings.model_dir, paths, workers=workers,
                           max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels, progress=tick)
        bar.close()
        names = [p.relative_to(args.folder).as_posix() for p in paths]
        items = [Item(name, res, err) for name, (res, err) in zip(names, got, strict=True)]
        if args.log:
            items = _log_items(settings, items, paths)
        frame = worklist_frame(items)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(worklist_csv(frame), encoding="utf-8", newline="")
    except SkintagError as exc:
        parser.exit(2, f"error: {exc}\n")
    counts = frame["tier"].fillna(frame["status"]).value_counts()
    summary = ", ".join(f"{k} {counts[k]}" for k in (*TIER_RANK, "retake", "unreadable") if k in counts)
    print(f"{len(frame)} images → {args.out} ({summary})")
    return 0


def _log_items(settings: Any, items: list[Item], paths: Sequence[Path]) -> list[Item]:
    from skintag.caselog import open_log

    with open_log(settings) as log:
        out = []
        for it, path in zip(items, paths, strict=True):
            case_id = log.record(it.result, image=path.read_bytes()) if it.result is not None else None
            out.append(Item(it.name, it.result, it.error, case_id))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
