"""A synthetic face video with a known pulse: config, pulse wave, scene, frames.

Outside training/ so that the app's demo source can render it; :mod:`training.synth` writes such
clips to disk as a dataset (UBFC-rPPG layout).
"""
