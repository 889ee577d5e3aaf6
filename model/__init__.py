"""Frames to pulse: face tracking, ROI, classic methods, signal processing, streaming estimator.

torch is imported only by the network/export modules, so the app runs without it. Importing the
package switches off third-party telemetry where its API allows (:mod:`model.privacy`), before
any of its modules imports onnxruntime.
"""

from model.privacy import disable_third_party_telemetry as _disable_third_party_telemetry

_disable_third_party_telemetry()
