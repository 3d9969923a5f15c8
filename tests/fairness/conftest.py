"""Shared simulated data for the fairness tests (session-scoped: built once)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from skintag.fairness.simulate import simulate_predictions

FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "predictions" / "simulated_predictions.csv"


@pytest.fixture(scope="session")
def sim() -> pd.DataFrame:
    """5,000 simulated predictions, 7 skin-type groups (six types + unknown)."""
    return simulate_predictions(5000, random_state=3)


@pytest.fixture(scope="session")
def fixture_csv() -> Path:
    return FIXTURE_CSV
