"""The one console script, ``fcus-rppg``. It is the only place that knows every package: each
subcommand's package is imported only when that subcommand runs, so the app never imports
training/ or torch."""

from __future__ import annotations

import importlib
import importlib.util
import sys

USAGE = """usage: fcus-rppg [app options]            open the desktop app
       fcus-rppg analyze SOURCE --out DIR    measure the pulse in a video file or recorded session
       fcus-rppg synth --out DIR             write a synthetic pulse video with ground truth
       fcus-rppg benchmark                   accuracy and speed tables (methods side by side)
       fcus-rppg train --data DIR --out DIR  train FCUS-rPPG without labels (needs the train extra)
       fcus-rppg evaluate --out DIR          leave-subjects-out evaluation, convergence and ablation
       fcus-rppg export --weights W --out M  trained weights to ONNX with the model contract
       fcus-rppg adapt SOURCE --out M.onnx   fine-tune the model on one clip, no labels (train extra)

Run a subcommand with --help for its options."""


# subcommand -> (module, function): the module is imported only when its subcommand runs
SUBCOMMANDS = {
    "analyze": ("model.analyze", "analyze_main"),
    "synth": ("training.synth", "synth_main"),
    "benchmark": ("training.benchmark", "benchmark_main"),
    "train": ("training.fcus_train", "train_main"),
    "evaluate": ("training.fcus_study", "evaluate_main"),
    "export": ("model.fcus_export", "export_main"),
    "adapt": ("training.adapt", "adapt_main"),
}
APP = ("app.main", "app_main")


# the subcommands that read frames (and the app): OpenBLAS on one thread (model.blas_threads)
ONE_BLAS_THREAD = {"analyze", "app"}


# The train extra's modules (pyproject.toml): train, evaluate, export and adapt need them, and say
# how to install them instead of a traceback when one is missing.
TRAIN_EXTRA_MODULES = frozenset({"torch", "onnx", "onnxscript", "sklearn", "matplotlib"})
TRAIN_EXTRA_HINT = "pip install 'fcus-rppg[train]' (in a checkout: python3 dev.py setup)"


def _installed(module: str) -> bool:
    """Whether top-level ``module`` can be found (not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _run(target: tuple[str, str], argv: list[str], name: str) -> int:
    module, func = target
    if name in ONE_BLAS_THREAD:
        from model.blas_threads import limit_blas_threads

        limit_blas_threads()
    try:
        return getattr(importlib.import_module(module), func)(argv)
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback (result files are written whole or not at all)
        print(f"\nfcus-rppg {name}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        # only a module that is not installed at all: a broken install or a wrong import keeps its traceback
        if top not in TRAIN_EXTRA_MODULES or _installed(top):
            raise
        # the message keeps Python's own words ("No module named 'torch'"): model.adapt_child reads them
        print(f"fcus-rppg {name}: {e}; it needs the train extra: {TRAIN_EXTRA_HINT}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        print()
        from app.main import build_parser  # the app's own options (argparse only, no Qt start)

        print(build_parser().format_help())
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        return _run(SUBCOMMANDS[argv[0]], argv[1:], argv[0])
    if argv and not argv[0].startswith("-"):
        print(f"fcus-rppg: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return _run(APP, argv, "app")


if __name__ == "__main__":
    sys.exit(main())
