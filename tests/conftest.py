from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from support.synth import make_dataset

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "datasets" / "demo"


@pytest.fixture(scope="session")
def tiny_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid session, built once per test session. Do not modify: copy it."""
    return make_dataset(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture
def tiny(tiny_master: Path, tmp_path: Path) -> Path:
    """A private copy of the small session, free to break."""
    return Path(shutil.copytree(tiny_master, tmp_path / "tiny"))
