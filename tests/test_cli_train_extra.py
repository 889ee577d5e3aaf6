"""The subcommands that need the train extra (torch) say how to install it, exit 2, and print no
traceback, when torch is not installed (a plain ``pip install fcus-rppg`` or ``dev.py app``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# a Python without torch: every import of torch fails as it does where torch is not installed
NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, NoTorch())
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [["train", "--help"], ["export", "--help"], ["evaluate", "--out", "{tmp}/ev"],
                                  ["train", "--data", "{tmp}", "--out", "{tmp}/run"]])
def test_a_subcommand_that_needs_torch_says_how_to_install_it(args, tmp_path):
    done = _without_torch(*(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    # Python's own words stay in the message: model.adapt_child.adapt_failure looks for them
    assert last.startswith(f"fcus-rppg {args[0]}: No module named 'torch'")
    assert "pip install 'fcus-rppg[train]'" in last and "python3 dev.py setup" in last


def test_the_app_and_analyze_need_no_torch():
    assert _without_torch("analyze", "--help").returncode == 0
    assert _without_torch("--help").returncode == 0
    # the app's own modules (the window, the worker and their imports) load without torch
    code = NO_TORCH.replace("from app.cli import main\nsys.exit(main(sys.argv[1:]))",
                            "import app.window, app.worker, app.calibration, model.analyze")
    assert "app.window" in code
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr


def test_a_broken_torch_keeps_its_traceback():
    """torch installed but broken (a missing part of it): not the install hint, the real error."""
    code = NO_TORCH.replace("if name.split('.')[0] == 'torch':", "if name == 'torch._fake_part':")
    code = code.replace("from app.cli import main", "import app.cli\nimport training.fcus_train as t\n"
                        "t.train_main = lambda argv: __import__('torch._fake_part')\nfrom app.cli import main")
    done = subprocess.run([sys.executable, "-c", code, "train", "--data", "x", "--out", "y"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" in done.stderr and "train extra" not in done.stderr
