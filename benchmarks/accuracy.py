"""Accuracy and speed table: methods x (synthetic suite, UBFC subjects), ROI variants side by side.

    python benchmarks/accuracy.py [--cache DIR] [--methods pos,chrom,green]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.benchmark import benchmark_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(benchmark_main())
