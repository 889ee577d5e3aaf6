"""The open-rppg peer's subprocess protocol, without jax: the real runner script, run by this
python with a stand-in ``rppg`` package (and open-rppg metadata) on PYTHONPATH."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from training import peers

FAKE_RPPG = '''
import os, time
class Model:
    def __init__(self, model="FacePhys.rlap"):
        self.model = model
    def process_video(self, path):
        with open(os.environ["FAKE_RPPG_LOG"], "a") as f:
            f.write(f"{os.getpid()} {self.model} {path}\\n")
        time.sleep(float(os.environ.get("FAKE_RPPG_SLEEP_S", "0")))
        self.noface = "noface" in path
        return {"hr": None if "nohr" in path else 72.0, "SQI": 0.9}
    def bvp(self):
        if self.noface:
            return [], []
        # the third frame is a repeat (same time) that open-rppg adds to fill its 30 fps grid
        return [0.0, 1.0, 5.0, 2.0, 3.0], [0.0, 0.04, 0.04, 0.08, 0.12]
'''


@pytest.fixture
def fake_peer(tmp_path, monkeypatch):
    """A peer environment made of this python + a stand-in rppg; returns the invocation log."""
    site = tmp_path / "site"
    (site / "rppg").mkdir(parents=True)
    (site / "rppg" / "__init__.py").write_text(textwrap.dedent(FAKE_RPPG))
    meta = site / "open_rppg-9.9.9.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: open-rppg\nVersion: 9.9.9\n")
    log = tmp_path / "runs.log"
    log.touch()
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("FAKE_RPPG_LOG", str(log))
    monkeypatch.setenv(peers.PEER_PYTHON_ENV, sys.executable)
    peers.peer_version.cache_clear()
    return log


def video(tmp_path: Path, name: str = "vid.mp4") -> Path:
    v = tmp_path / name
    v.write_bytes(b"not decoded by the stand-in")
    return v


def test_runner_output_reaches_a_peer_result(fake_peer, tmp_path):
    r = peers.run_peer(video(tmp_path), model="ME-flow.rlap")
    assert r.name == "open-rppg ME-flow.rlap" and r.version == "9.9.9"
    np.testing.assert_allclose(r.t_s, [0.0, 0.04, 0.08, 0.12])
    np.testing.assert_allclose(r.bvp, [0.0, 1.0, 2.0, 3.0])
    assert r.hr_bpm == 72.0 and r.runtime_s >= 0 and r.load_s >= 0
    assert fake_peer.read_text().split()[1:] == ["ME-flow.rlap", str(tmp_path / "vid.mp4")]


def test_no_hr_from_the_peer_is_none(fake_peer, tmp_path):
    assert peers.run_peer(video(tmp_path, "nohr.mp4")).hr_bpm is None


def test_second_call_reads_the_cache_and_a_changed_video_runs_again(fake_peer, tmp_path):
    v, cache = video(tmp_path), tmp_path / "cache"
    first = peers.run_peer(v, cache_dir=cache)
    second = peers.run_peer(v, cache_dir=cache)
    assert len(fake_peer.read_text().splitlines()) == 1
    np.testing.assert_array_equal(first.bvp, second.bvp)
    peers.run_peer(v, model="TSCAN.rlap", cache_dir=cache)
    v.write_bytes(b"a different, longer video file")
    peers.run_peer(v, cache_dir=cache)
    assert len(fake_peer.read_text().splitlines()) == 3
    assert len(list(cache.glob("*.npz"))) == 3


def test_peer_failure_names_the_video_and_carries_the_runner_message(fake_peer, tmp_path):
    with pytest.raises(peers.PeerError, match=r"noface\.mp4: exit status 3\n.*no BVP"):
        peers.run_peer(video(tmp_path, "noface.mp4"), cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_several_videos_share_one_runner_and_a_failed_one_does_not_lose_the_others(fake_peer, tmp_path):
    good, bad, cache = video(tmp_path, "a.mp4"), video(tmp_path, "noface.mp4"), tmp_path / "cache"
    with pytest.raises(peers.PeerError, match=r"noface\.mp4: RuntimeError: open-rppg gave no BVP"):
        peers.run_peers([good, bad], cache_dir=cache)
    pids = {line.split()[0] for line in fake_peer.read_text().splitlines()}
    assert len(pids) == 1 and len(fake_peer.read_text().splitlines()) == 2
    other = video(tmp_path, "b.mp4")
    results = peers.run_peers([other, good], cache_dir=cache)
    assert [line.split()[2] for line in fake_peer.read_text().splitlines()][2:] == [str(other)]
    assert [len(r.bvp) for r in results] == [4, 4]


def test_a_hung_peer_times_out(fake_peer, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_RPPG_SLEEP_S", "30")
    with pytest.raises(peers.PeerError, match="timed out after 2 s"):
        peers.run_peer(video(tmp_path), timeout_s=2)


def test_unreadable_result_is_a_peer_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(peers.PeerError, match="unreadable peer result"):
        peers._read_result(bad)


def test_absent_peer_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(peers.PEER_PYTHON_ENV, raising=False)
    monkeypatch.setattr(peers, "PEER_VENV", tmp_path / "no-venv")
    assert not peers.peer_available()
    assert not peers.peer_available(tmp_path / "missing-python")
    assert peers.peer_available(sys.executable)
    with pytest.raises(peers.PeerError, match="dev.py peers"):
        peers.run_peer(video(tmp_path))


def test_env_variable_names_the_peer_python(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "PEER_VENV", tmp_path / "no-venv")
    monkeypatch.setenv(peers.PEER_PYTHON_ENV, sys.executable)
    assert peers.peer_python() == Path(sys.executable)
    monkeypatch.setenv(peers.PEER_PYTHON_ENV, os.fspath(tmp_path / "gone"))
    assert peers.peer_python() is None


def test_dev_peers_installs_open_rppg_once(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("dev_script", Path(peers.REPO) / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    venv_dir = tmp_path / ".venv-peers"
    py = dev.venv_python(venv_dir)
    py.parent.mkdir(parents=True)
    py.touch()
    calls = []
    monkeypatch.setattr(dev, "PEERS_VENV", venv_dir)
    monkeypatch.setattr(dev.subprocess, "check_call", lambda cmd, **kw: calls.append(cmd))
    assert dev.ensure_peers_env() == py
    assert calls[-1][-len(dev.PEERS_REQUIREMENTS):] == dev.PEERS_REQUIREMENTS
    assert any(r.startswith("open-rppg==") for r in dev.PEERS_REQUIREMENTS)
    n = len(calls)
    dev.ensure_peers_env()
    assert len(calls) == n


def test_peer_score_and_the_benchmark_row(tmp_path, monkeypatch):
    """The peer's BVP is scored like every method; the benchmark adds its row, or says why not."""
    import training.peers as peers
    from training.benchmark import Suite, peer_rows
    from training.datasets import read_ubfc
    from training.peers import PeerResult, peer_score

    d = tmp_path / "subject1"
    d.mkdir()
    (d / "vid.avi").write_bytes(b"")
    t = np.arange(0, 40, 1 / 30.0)
    np.savetxt(d / "ground_truth.txt", np.stack([np.sin(2 * np.pi * 1.25 * t), np.full_like(t, 75.0), t]))
    recordings = read_ubfc(tmp_path)
    right = PeerResult("peer X", t, np.sin(2 * np.pi * 1.25 * t), 75.0, 2.0, 1.0, "1")
    wrong = PeerResult("peer X", t, np.sin(2 * np.pi * 1.0 * t), 60.0, 2.0, 1.0, "1")
    assert peer_score(recordings, [right]).metrics(20.0).mae_bpm < 0.5
    score = peer_score(recordings, [wrong], dataset="ubfc")
    assert abs(score.metrics(20.0).mae_bpm - 15.0) < 0.5 and score.label == "peer X/peer"
    # the readings every second over the trailing 10 s (t = 10 .. 39 s), as hr.csv would give them
    from training.peers import peer_readings

    (good,), (bad,) = peer_readings(recordings, [right]), peer_readings(recordings, [wrong])
    assert len(good.errors_bpm) == 30 and good.within5 == 1.0 and good.mae_bpm < 0.5
    assert bad.within5 == 0.0 and abs(bad.mae_bpm - 15.0) < 0.5

    suite = Suite("ubfc", recordings, ("skin",), tmp_path / "cache")
    monkeypatch.setattr(peers, "peer_available", lambda python=None: False)
    rows, note = peer_rows([suite], tmp_path / "pc")
    assert rows == [] and "dev.py peers" in note
    monkeypatch.setattr(peers, "peer_available", lambda python=None: True)
    monkeypatch.setattr(peers, "run_peers", lambda videos, cache_dir=None: [right])
    rows, note = peer_rows([suite], tmp_path / "pc")
    assert len(rows) == 1 and rows[0].dataset == "ubfc" and "peer X" in note
