"""Distributed training (training.distributed): 2 gloo processes reproduce a 1-process run."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mp = pytest.importorskip("torch.multiprocessing")

from training import distributed  # noqa: E402
from training.sharding import shard_rows  # noqa: E402

# 4 recordings x 9 windows of 96 frames = 36 windows; batches of 5: 3 + 2 samples per rank, and a
# last batch of one clip, which every rank computes whole ("replicated")
N_RECS, BATCH, WINDOW = 4, 5, 96


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(world_size: int, rank: int, out_dir: str, port: int, config: dict) -> None:
    """One rank of a run (also the whole 1-process run): losses and weights into ``out_dir``."""
    from model.fcus_net import FcusNet, FcusNetConfig
    from tests.test_fcus_train import HRS_HZ, synth_recording
    from training.clips import ClipSampler
    from training.train_config import TrainConfig
    from training.train_loop import train

    env = distributed.SINGLE
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                          RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world_size))
        env = distributed.init("cpu", timeout_s=120)
    try:
        recs = [synth_recording(i, HRS_HZ[i % len(HRS_HZ)]) for i in range(N_RECS)]
        sampler = ClipSampler(recs, window_frames=WINDOW, batch_size=BATCH, seed=0,
                              world_size=env.world_size, rank=env.rank)
        # Without the prior's spatial weighting: its last layer starts at zero, so in the first
        # steps its other layers get gradients near zero, whose float rounding (the all-reduce adds
        # the shards in another order) Adam turns into a sizeable share of a step (measured: 8 % of
        # its bias after 8 steps). The engine is what this test checks, on every other weight.
        model = FcusNet(FcusNetConfig(enc_widths=(2, 2, 2), rank=2, head_width=4, pool1=2, pool2=1,
                                      prior_spatial=False))
        cfg = TrainConfig(fs_hz=30.0, window_frames=WINDOW, lr=1e-2, progress=False, num_threads=1,
                          eval_epochs=(), **config)
        res = train(model, sampler, cfg, env=env)
        if env.is_main:
            with open(os.path.join(out_dir, "result.json"), "w") as fh:
                json.dump({"losses": res.losses, "masked": [h["masked_share"] for h in res.history],
                           "undone": [h["undone"] for h in res.history], "steps": res.steps}, fh)
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                       os.path.join(out_dir, "weights.pt"))
    finally:
        distributed.shutdown(env)


def _spawned(rank: int, world_size: int, out_dir: str, port: int, config: dict) -> None:
    _run(world_size, rank, out_dir, port, config)


def _results(out_dir) -> tuple[dict, dict]:
    with open(os.path.join(out_dir, "result.json")) as fh:
        res = json.load(fh)
    return res, torch.load(os.path.join(out_dir, "weights.pt"), weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("config, weights_atol", [
    ({}, 2e-5),  # all three components on (SAM, masking with undo, null space by penalty)
    # the projected gradient follows the noise subspace's eigenvectors, which float rounding
    # turns a little (the loss agrees to 3e-5); Adam makes that up to a tenth of a step (lr 1e-2)
    ({"smoothing_mode": "random", "null_mode": "project"}, 3e-3),
], ids=["fcus", "random-smoothing-projection"])
def test_two_gloo_processes_reproduce_one_process(tmp_path, config, weights_atol):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _run(1, 0, str(one), 0, config)
    mp.start_processes(_spawned, args=(2, str(two), _free_port(), config), nprocs=2, join=True,
                       start_method="spawn")
    r1, w1 = _results(one)
    r2, w2 = _results(two)
    assert r1["steps"] == r2["steps"] == 8  # 36 windows in batches of 5
    l1, l2 = np.array(r1["losses"]), np.array(r2["losses"])
    np.testing.assert_allclose(l2[:4], l1[:4], rtol=1e-4)
    np.testing.assert_allclose(l2, l1, rtol=1e-3)
    assert r1["masked"] == r2["masked"] and r1["undone"] == r2["undone"]
    for k in w1:
        np.testing.assert_allclose(w2[k].double().numpy(), w1[k].double().numpy(), rtol=0, atol=weights_atol,
                                   err_msg=k)


def test_shards_split_the_global_batch():
    assert [list(shard_rows(5, 2, r).rows) for r in range(2)] == [[0, 1, 2], [3, 4]]
    assert shard_rows(5, 2, 1).sizes == (3, 2) and shard_rows(5, 2, 1).gathers
    small = shard_rows(1, 2, 1)
    assert small.replicated and list(small.rows) == [0] and not small.gathers
    assert not shard_rows(4).gathers
    with pytest.raises(ValueError):
        shard_rows(4, 2, 2)


def test_sharded_sampler_batches_are_slices_of_the_global_batch():
    """Same windows, same speeds and augmentation draws: each rank's clips are its rows of the
    one-process batch, for the first view and for the two cross-view augmentations."""
    from tests.test_fcus_train import HRS_HZ, synth_recording
    from training.clips import ClipSampler

    recs = [synth_recording(i, HRS_HZ[i]) for i in range(N_RECS)]
    whole = ClipSampler(recs, window_frames=WINDOW, batch_size=BATCH, seed=3)
    parts = [ClipSampler(recs, window_frames=WINDOW, batch_size=BATCH, seed=3, world_size=2, rank=r)
             for r in range(2)]
    assert len(parts[0]) == len(whole) == 8
    for bi, (b, p0, p1) in enumerate(zip(whole.iter_epoch(1), parts[0].iter_epoch(1), parts[1].iter_epoch(1))):
        rows = [p0.shard.rows, p1.shard.rows]
        for p, r in zip((p0, p1), rows):
            np.testing.assert_array_equal(p.face, b.face[r])
            np.testing.assert_array_equal(p.speed, b.speed[r])
            va, vb = whole.two_views(b, np.random.default_rng(bi))
            pa, pb = parts[0].two_views(p, np.random.default_rng(bi))
            np.testing.assert_array_equal(pa.face, va.face[r])
            np.testing.assert_array_equal(pb.background, vb.background[r])
    assert p0.shard.replicated and p0.batch_size == p1.batch_size == 1  # the last batch: one clip


def test_global_batch_norm_is_batch_norm_in_one_process():
    bn = torch.nn.BatchNorm3d(3)
    model = torch.nn.Sequential(bn)
    ref = torch.nn.BatchNorm3d(3)
    distributed.convert_batchnorm(model)
    assert isinstance(model[0], distributed.GlobalBatchNorm) and model[0].weight is bn.weight
    x = torch.randn(4, 3, 5, 2, 2)
    with distributed.global_batch(shard_rows(4)):
        np.testing.assert_allclose(model(x).detach().numpy(), ref(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model[0].running_var.numpy(), ref.running_var.numpy(), rtol=1e-6)
