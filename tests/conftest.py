"""Shared test settings: float32 on CPU, and the path of the shared real data."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("OPTAX_SWD_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data():
  if not SHARED_DATA.exists():
    pytest.skip(f"shared data not found at {SHARED_DATA}")
  return SHARED_DATA
