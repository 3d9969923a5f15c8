"""One module per pipeline stage; each has ``run_stage(cfg, run) -> dict`` and reads only what earlier stages wrote."""
