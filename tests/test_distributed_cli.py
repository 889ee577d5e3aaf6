"""``torchrun ... fcus-rppg train``: the command line under 2 gloo processes, resume and a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.slow

ARGS = ["--epochs", "1", "--batch-size", "2", "--seed", "0", "--threads", "1", "--no-smoothing"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Two 12 s synthetic clips (two 160-frame windows each): 2 steps an epoch at batch 2."""
    from training.synth import SynthConfig, write_clip

    root = tmp_path_factory.mktemp("clips")
    for i, hr in enumerate((66.0, 96.0)):
        write_clip(SynthConfig(duration_s=12.0, width=320, height=240, hr_bpm=hr, seed=i), root / f"c{i}",
                   progress=False)
    return root


def _torchrun(nproc: int, argv: list[str], timeout_s: float = 300, script: Path | None = None):
    entry = ["--no-python", str(Path(sys.executable).with_name("fcus-rppg")), "train"] if script is None \
        else [str(script)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           *entry, *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)


def _summary(out: Path) -> dict:
    return json.loads((out / "training_summary.json").read_text())


def test_two_processes_same_steps_and_loss_as_one(clips, tmp_path):
    cache = tmp_path / "cache"
    two = _torchrun(2, ["--data", str(clips), "--cache", str(cache), "--out", str(tmp_path / "two"), *ARGS])
    assert two.returncode == 0, two.stderr[-3000:]
    s2 = _summary(tmp_path / "two")
    assert (s2["world_size"], s2["per_rank_batch_size"], s2["backend"]) == (2, 1, "gloo")
    assert len(list(cache.glob("c*"))) == 2  # built once, each process one clip
    from training.fcus_train import train_main

    assert train_main(["--data", str(clips), "--cache", str(cache), "--out", str(tmp_path / "one"), *ARGS]) == 0
    s1 = _summary(tmp_path / "one")
    assert s1["world_size"] == 1 and s1["steps"] == s2["steps"] == 2
    assert s2["losses"][0] == pytest.approx(s1["losses"][0], rel=1e-4)
    assert s2["final_loss"] == pytest.approx(s1["final_loss"], rel=1e-2)
    # resume: a longer distributed run continues from the checkpoint of the first
    more = _torchrun(2, ["--data", str(clips), "--cache", str(cache), "--out", str(tmp_path / "two"),
                         *ARGS[2:], "--epochs", "2"])
    assert more.returncode == 0, more.stderr[-3000:]
    s3 = _summary(tmp_path / "two")
    assert s3["steps"] == 4 and s3["losses"][:2] == s2["losses"]


def test_a_crash_on_one_rank_ends_the_run(clips, tmp_path):
    """Rank 1 fails at its first step: the run exits non-zero within the timeout, with rank 1's
    error in the output, and writes no weights."""
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from training import fcus_train, train_step

        if os.environ["RANK"] == "1":
            def broken(self, batch, sampler, step):
                raise RuntimeError("injected failure")
            train_step.Stepper.step = broken
        sys.exit(fcus_train.train_main(sys.argv[1:]))
    """))
    out = tmp_path / "out"
    run = _torchrun(2, ["--data", str(clips), "--cache", str(tmp_path / "cache"), "--out", str(out),
                        "--dist-timeout-s", "60", *ARGS], timeout_s=240, script=script)
    assert run.returncode != 0
    assert "rank 1 of 2 failed: RuntimeError: injected failure" in run.stderr
    assert not (out / "fcus_weights.pt").exists()


def test_unreadable_clip_is_skipped(clips, tmp_path):
    """A corrupt video beside good ones: one line for it and a count; training goes on."""
    data = tmp_path / "data"
    data.mkdir()
    for c in clips.iterdir():
        (data / c.name).symlink_to(c, target_is_directory=True)
    bad = data / "broken"
    bad.mkdir()
    (bad / "vid.avi").write_bytes(b"not a video" * 100)
    (bad / "ground_truth.txt").write_text((clips / "c0" / "ground_truth.txt").read_text())
    from training.fcus_train import train_main

    rc = train_main(["--data", str(data), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "o"), *ARGS])
    assert rc == 0
    s = _summary(tmp_path / "o")
    # recordings: what it trained on; skipped: what it did not, and why
    assert [x["name"] for x in s["skipped"]] == ["broken"] and s["recordings"] == ["c0", "c1"]
