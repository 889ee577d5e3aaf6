#!/usr/bin/env python3
"""Two-command entry for a fresh machine (needs only Python 3.11+ and pip):

    python3 dev.py app     set up .venv and open the app (extra arguments go to fcus-rppg)
    python3 dev.py test    set up .venv with the test and training tools (torch), run the tests
    python3 dev.py setup   set up .venv with the test and training tools (torch) and run nothing
    python3 dev.py peers   set up .venv-peers with open-rppg, the benchmark's yardstick peer
    python3 dev.py lint    the same set-up, then ruff (style, over-long functions) and import-linter
                           (the package layers; contracts in pyproject.toml)

Set-up is idempotent: it re-installs only when pyproject.toml changed since the last install.
"""

from __future__ import annotations

import ctypes.util
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
# The benchmark's peer (a yardstick, never a teacher) lives in its own environment: it needs
# onnxruntime and opencv-python, which overwrite .venv's onnxruntime-gpu and opencv-contrib-python.
# training/peers.py calls benchmarks/peers/open_rppg_runner.py with this environment's python.
PEERS_VENV = ROOT / ".venv-peers"
# open-rppg imports pkg_resources: setuptools, which 3.12+ venvs lack and setuptools 81 drops.
PEERS_REQUIREMENTS = ["open-rppg==0.1.1", "setuptools<81"]


def _stamp(extras: str) -> str:
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(extras.encode())
    return h.hexdigest()


def venv_python(venv_dir: Path) -> Path:
    exe = "python.exe" if os.name == "nt" else "python"
    return venv_dir / ("Scripts" if os.name == "nt" else "bin") / exe


def ensure_peers_env() -> Path:
    """.venv-peers with open-rppg (jax, keras and its weights); returns its python."""
    py = venv_python(PEERS_VENV)
    if not py.exists():
        print(f"creating {PEERS_VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(PEERS_VENV)
    stamp_file = PEERS_VENV / ".installed-peers"
    want = " ".join(PEERS_REQUIREMENTS)
    if stamp_file.exists() and stamp_file.read_text() == want:
        return py
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.check_call(pip + ["--upgrade", "pip"])
    subprocess.check_call(pip + PEERS_REQUIREMENTS)
    stamp_file.write_text(want)
    return py


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


# What Qt's xcb platform plugin (PySide6 6.x: plugins/platforms/libqxcb.so and libQt6XcbQpa) links
# against, from `ldd` on both: find_library name -> Debian/Ubuntu package.
XCB_LIBS = {
    "xcb": "libxcb1", "X11-xcb": "libx11-xcb1", "X11": "libx11-6",
    "xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-image": "libxcb-image0",
    "xcb-keysyms": "libxcb-keysyms1", "xcb-randr": "libxcb-randr0", "xcb-render": "libxcb-render0",
    "xcb-render-util": "libxcb-render-util0", "xcb-shape": "libxcb-shape0", "xcb-shm": "libxcb-shm0",
    "xcb-sync": "libxcb-sync1", "xcb-util": "libxcb-util1", "xcb-xfixes": "libxcb-xfixes0",
    "xcb-xkb": "libxcb-xkb1", "xkbcommon": "libxkbcommon0", "xkbcommon-x11": "libxkbcommon-x11-0",
    "GL": "libgl1", "EGL": "libegl1", "fontconfig": "libfontconfig1", "freetype": "libfreetype6",
    "glib-2.0": "libglib2.0-0", "dbus-1": "libdbus-1-3",
}


def uses_xcb(platform: str = sys.platform, env: dict[str, str] | None = None) -> bool:
    """Whether Qt will load its xcb (X11) plugin: Linux, and QT_QPA_PLATFORM=xcb, or unset in an
    X11 session (DISPLAY set, not a Wayland session)."""
    env = os.environ if env is None else env
    if not platform.startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").strip()
    if qpa:
        return qpa.split(":")[0].split(";")[0] == "xcb"
    return bool(env.get("DISPLAY")) and env.get("XDG_SESSION_TYPE", "") != "wayland"


def missing_xcb_packages(find=ctypes.util.find_library) -> list[str]:
    """The Debian/Ubuntu packages of the xcb plugin's libraries that ``find`` does not find."""
    return sorted({pkg for lib, pkg in XCB_LIBS.items() if not find(lib)})


def check_qt_xcb(find=ctypes.util.find_library, platform: str = sys.platform,
                 env: dict[str, str] | None = None) -> str:
    """"" when the app can open its window here; else the message with the install command."""
    if not uses_xcb(platform, env):
        return ""
    missing = missing_xcb_packages(find)
    if not missing:
        return ""
    return ("dev.py: Qt's X11 (xcb) plugin needs system libraries that are missing here.\n"
            f"Debian/Ubuntu: sudo apt-get install {' '.join(missing)}\n"
            "Other systems: README.md, 'System packages'. (QT_QPA_PLATFORM=offscreen runs without them.)")


# Each linter with its arguments; `lint` runs them all and fails when any fails.
LINTERS = (("ruff", "check", "."), ("lint-imports",))


def lint() -> int:
    """Run every linter from .venv in the repository root: 0 when all pass, else 1."""
    failed = [cmd[0] for cmd in LINTERS if subprocess.call([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT) != 0]
    if failed:
        print(f"dev.py: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "lint", "setup", "peers"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "app":
        problem = check_qt_xcb()
        if problem:
            print(problem, file=sys.stderr)
            return 2
        ensure_env()
        return subprocess.call([str(BIN / "fcus-rppg"), *rest])
    if cmd == "peers":
        print(f"peer python: {ensure_peers_env()}")
        return 0
    if cmd == "setup":
        ensure_env("dev,train", with_torch=True)
        return 0
    if cmd == "lint":
        ensure_env("dev,train", with_torch=True)  # the test set-up: one install serves both
        return lint()
    ensure_env("dev,train", with_torch=True)
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    rc = subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT, env=env)
    if rc == 5:
        print("dev.py: pytest collected no tests: failing", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
