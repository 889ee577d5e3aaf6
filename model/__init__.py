"""Frames to pulse: face tracking, ROI, classic methods, signal processing, streaming estimator.

torch is imported only by the network/export modules, so the app runs without it.
"""
