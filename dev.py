#!/usr/bin/env python3
"""Two-command entry for a fresh machine (needs only Python 3.11+ and pip):

    python3 dev.py app     set up .venv and open the app (extra arguments go to fcus-rppg)
    python3 dev.py test    set up .venv with the test and training tools (torch), run the tests

Set-up is idempotent: it re-installs only when pyproject.toml changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
# CPU build of torch for the training tests; a plain "torch" requirement pulls a multi-GB CUDA
# build on Linux. Users who train on a GPU install the CUDA build themselves.
TORCH_TEST_PIN = "torch==2.13.0"


def _stamp(extras: str) -> str:
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(extras.encode())
    return h.hexdigest()


def ensure_env(extras: str = "", with_torch: bool = False) -> None:
    if sys.version_info < (3, 11):
        sys.exit("fcus-rppg needs Python 3.11 or newer")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp_file = VENV / f".installed-{extras or 'base'}"
    want = _stamp(extras + ("+torch" if with_torch else ""))
    if stamp_file.exists() and stamp_file.read_text() == want:
        return
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.check_call(pip + ["--upgrade", "pip"])
    if with_torch:
        subprocess.check_call(pip + [TORCH_TEST_PIN])
    target = f".[{extras}]" if extras else "."
    subprocess.check_call(pip + ["-e", target], cwd=ROOT)
    stamp_file.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "setup"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "app":
        ensure_env()
        return subprocess.call([str(BIN / "fcus-rppg"), *rest])
    if cmd == "setup":
        ensure_env("dev,train", with_torch=True)
        return 0
    ensure_env("dev,train", with_torch=True)
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    rc = subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT, env=env)
    if rc == 5:
        print("dev.py: pytest collected no tests: failing", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
