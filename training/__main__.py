"""Command line: ``python -m training <stage> --config <yaml>``.

Stages: prepare, embed, finetune, heads, calibrate, evaluate, export, or ``all`` (every stage in order). Each stage
reads what the earlier ones wrote to the run directory (``run_dir`` in the config) and fails with a message naming the
stage to run first if something is missing. Run under ``accelerate launch -m training ...`` for several GPUs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any

from skintag.errors import SkintagError
from training.config import STAGES, load_config
from training.rundir import RunDir, read_json, write_json


def run_stages(cfg: dict[str, Any], stages: list[str]) -> dict[str, Any]:
    """Run the named stages in order on the config's run directory; returns each stage's summary and time."""
    if {"evaluate", "export"} & set(stages):  # they record the compared runs: refuse now, not after hours of training
        from training.stages.evaluate import compared_run_dirs

        compared_run_dirs(cfg)
    if {"heads", "calibrate", "evaluate", "export"} & set(stages):  # likewise the ensemble's members
        from training.stages.heads import ensemble_run_dirs

        ensemble_run_dirs(cfg)
    run = RunDir(cfg["run_dir"])
    run.root.mkdir(parents=True, exist_ok=True)
    write_json(run.root / "config.json", cfg)
    results: dict[str, Any] = {}
    for stage in stages:
        module = importlib.import_module(f"training.stages.{stage}")
        t0 = time.time()
        print(f"[training] stage {stage} ...", flush=True)
        summary = module.run_stage(cfg, run)
        seconds = round(time.time() - t0, 1)
        results[stage] = {"seconds": seconds, "summary": summary}
        timings_path = run.root / "timings.json"
        timings = read_json(timings_path) if timings_path.is_file() else {}
        timings[stage] = seconds
        write_json(timings_path, timings)
        print(f"[training] stage {stage} done in {seconds} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=[*STAGES, "all"], help="the stage to run, or 'all'")
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/demo.yaml")
    parser.add_argument("--run-dir", help="override the config's run_dir")
    args = parser.parse_args(argv)
    overrides = {"run_dir": args.run_dir} if args.run_dir else None
    try:
        cfg = load_config(args.config, overrides)
        stages = list(STAGES) if args.stage == "all" else [args.stage]
        t0 = time.time()
        run_stages(cfg, stages)
        print(f"[training] finished {args.stage} in {time.time() - t0:.1f} s", flush=True)
    except SkintagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
