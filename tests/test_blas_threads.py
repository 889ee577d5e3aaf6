"""fcus-rppg's analyze and app put OpenBLAS on one thread before NumPy is loaded; the other subcommands keep
the default (their children, such as the adapt fine-tune analyze --adapt starts, inherit the setting; torch
uses MKL and OpenMP, not OpenBLAS)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys
from app import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
out = {"env": os.environ.get("OPENBLAS_NUM_THREADS")}
try:
    import threadpoolctl
    import numpy  # noqa: F401
    pools = threadpoolctl.threadpool_info()
    out["numpy_threads"] = [p["num_threads"] for p in pools if p["internal_api"] == "openblas"]
except ImportError:
    pass
print(json.dumps(out))
"""


def _child(argv: list[str], env_value: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["analyze", "--help"], ["--help-never-an-option"]])
def test_analyze_and_the_app_load_openblas_on_one_thread(argv):
    out = _child(argv)
    assert out["env"] == "1"
    if "numpy_threads" in out:  # threadpoolctl (an extra's dependency) sees what OpenBLAS really got
        assert out["numpy_threads"] and set(out["numpy_threads"]) == {1}


def test_training_commands_and_a_users_own_setting_are_left_alone():
    assert _child(["synth", "--help"])["env"] is None
    assert _child(["analyze", "--help"], env_value="2")["env"] == "2"


def test_it_reports_when_numpy_came_first():
    code = ("import numpy, os; os.environ.pop('OPENBLAS_NUM_THREADS', None); "
            "from model.blas_threads import limit_blas_threads; print(limit_blas_threads())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "False"
