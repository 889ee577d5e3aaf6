"""Convergence and ablation study of FCUS-rPPG on a machine with a GPU (or many cores).

    python benchmarks/device_study.py pack --out .devdata/ubfc-pack.npz      # here: pack the crop cache
    python benchmarks/device_study.py run --pack .devdata/ubfc-pack.npz --out OUT [--parallel]

``pack`` builds (or reuses) the crop cache of the UBFC subjects and writes their crops as uint8
(rounded from float16: the pulse survives, since the model averages hundreds of skin pixels) with
the frame grid, validity, skin means and the contact ground truth, compressed into one file
(about 20 MB for the 8 shared subjects) that can travel to a lent machine. ``run`` unpacks it into
a cache folder and runs ``training.fcus_study.run_study`` there: each variant in its own process
when ``--parallel``. The pack holds derived data of the shared subjects: it lives only in the
ignored ``.devdata/`` folder and on the lent machine, never in the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARRAYS = ("t_s", "valid", "rgb_mean")


def pack(out: Path, data: Path | None, cache: Path | None) -> None:
    from model.fcus_contract import DEFAULT_CONTRACT
    from training.crop_cache import build_cache
    from training.datasets import default_face_model, default_ubfc_root, read_ubfc

    root = data or default_ubfc_root()
    recordings = read_ubfc(root)
    cached = build_cache(recordings, cache, DEFAULT_CONTRACT, face_model=default_face_model())
    blob: dict[str, np.ndarray] = {}
    names = []
    for c in cached:
        names.append(c.name)
        blob[f"{c.name}/face"] = np.round(np.asarray(c.face, np.float32)).clip(0, 255).astype(np.uint8)
        blob[f"{c.name}/background"] = np.round(np.asarray(c.background, np.float32)).clip(0, 255).astype(np.uint8)
        for a in ARRAYS:
            blob[f"{c.name}/{a}"] = np.asarray(getattr(c, a))
        blob[f"{c.name}/meta"] = np.array(json.dumps(c.meta))
        blob[f"{c.name}/gt"] = np.loadtxt(c.source.ground_truth_path)
    blob["names"] = np.array(names)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **blob)
    print(f"packed {len(names)} recordings into {out} ({out.stat().st_size / 1e6:.1f} MB)")


def unpack(pack_path: Path, cache_dir: Path) -> list:
    from training.crop_cache import load_entry
    from training.datasets import Recording

    z = np.load(pack_path, allow_pickle=False)
    out = []
    for name in [str(n) for n in z["names"]]:
        entry = cache_dir / name
        entry.mkdir(parents=True, exist_ok=True)
        np.save(entry / "face.npy", z[f"{name}/face"].astype(np.float16))
        np.save(entry / "background.npy", z[f"{name}/background"].astype(np.float16))
        for a in ARRAYS:
            np.save(entry / f"{a}.npy", z[f"{name}/{a}"])
        (entry / "meta.json").write_text(str(z[f"{name}/meta"]))
        gt = entry / "ground_truth.txt"
        np.savetxt(gt, z[f"{name}/gt"])
        recording = Recording(name=name, video=entry / "unused.mp4", ground_truth_path=gt, dataset="ubfc")
        out.append(load_entry(entry, recording))
    return out


def run(args) -> int:
    from training.fcus_study import CONVERGENCE_EPOCHS, run_study
    from training.train_config import TrainConfig

    variants = [v for v in args.variants.split(",") if v]
    eval_epochs = tuple(float(x) for x in args.eval_epochs.split(",")) if args.eval_epochs else CONVERGENCE_EPOCHS
    if args.parallel and len(variants) > 1:
        procs = []
        args.out.mkdir(parents=True, exist_ok=True)
        for v in variants:
            cmd = [sys.executable, __file__, "run", "--pack", str(args.pack), "--out", str(args.out / v),
                   "--variants", v, "--folds", str(args.folds), "--device", args.device,
                   "--eval-epochs", ",".join(f"{e:g}" for e in eval_epochs), "--threads", str(args.threads)]
            log = open(args.out / f"{v}.log", "w")
            procs.append((v, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        rc = 0
        for v, p, log in procs:
            rc |= p.wait()
            log.close()
            print(f"===== {v} =====")
            print((args.out / f"{v}.log").read_text()[-6000:])
        return rc
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="fcus-pack-") as tmp:
        cached = unpack(args.pack, Path(tmp))
        base = TrainConfig(seed=args.seed, progress=False)
        return run_study(cached, variants, args.folds, args.epochs, eval_epochs, args.device, args.out, base)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("pack")
    pk.add_argument("--out", type=Path, required=True)
    pk.add_argument("--data", type=Path, default=None)
    pk.add_argument("--cache", type=Path, default=None)
    r = sub.add_parser("run")
    r.add_argument("--pack", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--variants", default="fcus,plain,no-masking,no-smoothing,no-null-space")
    r.add_argument("--folds", type=int, default=4)
    r.add_argument("--epochs", type=float, default=1.0)
    r.add_argument("--eval-epochs", default=None)
    r.add_argument("--device", default="auto")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--parallel", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "pack":
        pack(args.out, args.data, args.cache)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
