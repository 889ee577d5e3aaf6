"""No network and no identifiers without consent: third-party telemetry off where its API allows.

* ONNX Runtime (measured with 1.31, Linux) writes a device id and an event database under
  ``$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime`` at import unless the
  ``ORT_DISABLE_TELEMETRY`` environment variable is set before ``import onnxruntime``; the runtime
  also calls ``onnxruntime.disable_telemetry_events()``.
* MediaPipe's Tasks library (0.10.x) resolves ``play.googleapis.com`` for its usage log from
  inside its C library; neither ``BaseOptions`` nor the C options struct has a switch for it
  (README, "Privacy"), so it stays, and goes nowhere without a network.

:func:`disable_third_party_telemetry` runs when the ``model`` package is imported, before any
module of it imports onnxruntime. A user who sets the variable to "0" opts back in.
"""

from __future__ import annotations

import os

ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def disable_third_party_telemetry() -> None:
    """Set the opt-outs (only where the user has not chosen otherwise)."""
    os.environ.setdefault(ORT_TELEMETRY_ENV, "1")
