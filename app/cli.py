"""The one console script, ``fcus-rppg``. It is the only place that knows every package: each
subcommand's package is imported only when that subcommand runs, so the app never imports
training/ or torch."""

from __future__ import annotations

import sys

USAGE = """usage: fcus-rppg [app options]            open the desktop app
       fcus-rppg analyze VIDEO --out DIR     measure the pulse in a video file
       fcus-rppg synth --out DIR             write a synthetic pulse video with ground truth
       fcus-rppg benchmark                   accuracy and speed tables (methods side by side)
       fcus-rppg train --data DIR --out DIR  train FCUS-rPPG without labels (needs the train extra)
       fcus-rppg evaluate --out DIR          leave-subjects-out evaluation, convergence and ablation
       fcus-rppg export --weights W --out M  trained weights to ONNX with the model contract

Run a subcommand with --help for its options."""


def _analyze(argv: list[str]) -> int:
    from model.analyze import analyze_main

    return analyze_main(argv)


def _synth(argv: list[str]) -> int:
    from training.synth import synth_main

    return synth_main(argv)


def _benchmark(argv: list[str]) -> int:
    from training.benchmark import benchmark_main

    return benchmark_main(argv)


def _app(argv: list[str]) -> int:
    from app.main import app_main

    return app_main(argv)


def _train(argv: list[str]) -> int:
    from training.fcus_train import train_main

    return train_main(argv)


def _evaluate(argv: list[str]) -> int:
    from training.fcus_study import evaluate_main

    return evaluate_main(argv)


def _export(argv: list[str]) -> int:
    from model.fcus_export import export_main

    return export_main(argv)


SUBCOMMANDS = {"analyze": _analyze, "synth": _synth, "benchmark": _benchmark, "train": _train,
               "evaluate": _evaluate, "export": _export}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        print()
        from app.main import build_parser  # the app's own options (argparse only, no Qt start)

        print(build_parser().format_help())
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    if argv and not argv[0].startswith("-"):
        print(f"fcus-rppg: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return _app(argv)


if __name__ == "__main__":
    sys.exit(main())
