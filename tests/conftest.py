"""Shared fixtures: paths to ../shared (real data, face model), skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_face_model() -> Path | None:
    env = os.environ.get("FCUS_FACE_MODEL")
    for p in ([Path(env)] if env else []) + [SHARED / "models" / "face_landmarker.task"]:
        if p.is_file():
            return p
    return None


@pytest.fixture(scope="session")
def face_model_path() -> Path:
    p = shared_face_model()
    if p is None:
        pytest.skip("MediaPipe face model not found (../shared/models/face_landmarker.task or FCUS_FACE_MODEL)")
    return p


@pytest.fixture(scope="session")
def ubfc_root() -> Path:
    from training.datasets import default_ubfc_root

    root = default_ubfc_root()
    if root is None:
        pytest.skip("UBFC data not found (../shared/data/ubfc-dev or $FCUS_DATA): real-data test skipped")
    return root


@pytest.fixture
def env(tmp_path, monkeypatch, face_model_path):
    """For app tests: an isolated settings folder, the shared face model, no camera probing."""
    monkeypatch.setenv("FCUS_RPPG_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FCUS_FACE_MODEL", str(face_model_path))
    monkeypatch.setattr("app.window._CameraLister.start", lambda self, skip=frozenset(): None)
    return tmp_path
