"""Shared fixtures: the face model (the bundle shipped in assets/), paths to ../shared (real
data), skipped cleanly when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_face_model() -> Path | None:
    from tests.face_frames import shared_face_model_path

    return shared_face_model_path()


@pytest.fixture(scope="session")
def face_model_path() -> Path:
    p = shared_face_model()
    if p is None:
        pytest.skip("MediaPipe face model not found (assets/face_landmarker.task, FCUS_FACE_MODEL or "
                    "../shared/models/face_landmarker.task)")
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
    """For app tests: an isolated settings folder, the face model as users get it (the shipped
    bundle; $FCUS_FACE_MODEL only when the bundle is absent), no camera probing."""
    from model.face_model import shipped_face_model_path

    monkeypatch.setenv("FCUS_RPPG_CONFIG_DIR", str(tmp_path / "config"))
    if face_model_path == shipped_face_model_path():
        monkeypatch.delenv("FCUS_FACE_MODEL", raising=False)
    else:
        monkeypatch.setenv("FCUS_FACE_MODEL", str(face_model_path))
    monkeypatch.setattr("app.window._CameraLister.start", lambda self, skip=frozenset(): None)
    return tmp_path


@pytest.fixture
def run_app(qtbot, env):
    """Start the real app with command-line arguments; closes it (and its threads) afterwards."""
    from app.main import launch

    windows = []

    def start(*argv: str):
        _, window, _ = launch(["--no-download", *argv])
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield start
    for w in windows:
        w.close()
        assert not w.worker.running, "worker thread still running after close"
