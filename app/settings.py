"""Settings remembered between runs: a small TOML file in the user's config folder.

Only this file is written outside a recording. ``FCUS_RPPG_CONFIG_DIR`` overrides the folder
(tests, portable installs). A missing, unreadable or malformed file gives the defaults; a write
failure is logged and otherwise ignored (settings are a convenience, never a reason to stop).
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import platformdirs
import tomli_w

from model.pulse_methods import PULSE_METHODS

log = logging.getLogger(__name__)

APP_NAME = "fcus-rppg"
CONFIG_ENV = "FCUS_RPPG_CONFIG_DIR"
SETTINGS_FILENAME = "settings.toml"
PRIVACY_MODES = ("off", "blur", "hide")


RECORD_CODECS = ("mjpg", "mp4v")  # app.recording.VIDEO_CODECS (no cv2 import here)


@dataclass
class Settings:
    source: str = ""  # "" (first run: camera if any, else demo) | "demo" | "camera:N" | a file path
    method: str = PULSE_METHODS[0]  # the registry's first, the shipped model (app.main falls back without it)
    overlay: bool = True
    privacy: str = "off"  # "off" | "blur" | "hide"
    loop: bool = True  # loop video files
    record_dir: str = ""  # parent folder of recorded sessions ("" = the default below)
    record_video: bool = True  # recordings also hold the video (video.avi + frames.csv)
    record_codec: str = "mjpg"  # "mjpg" (near-lossless, ~10 GB/h) | "mp4v" (compact, ~0.3-0.5 GB/h)

    def normalised(self) -> "Settings":
        s = Settings(**asdict(self))
        if s.privacy not in PRIVACY_MODES:
            s.privacy = "off"
        if s.method not in PULSE_METHODS:
            s.method = Settings.method
        if s.record_codec not in RECORD_CODECS:
            s.record_codec = Settings.record_codec
        return s


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV, "").strip()
    return Path(env).expanduser() if env else Path(platformdirs.user_config_dir(APP_NAME))


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILENAME


def default_record_dir() -> Path:
    """Where sessions go when the user has not picked a folder (created only when recording)."""
    return Path(platformdirs.user_documents_dir()) / APP_NAME / "sessions"


def load_settings(path: Path | None = None) -> Settings:
    p = path or settings_path()
    try:
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        return Settings()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", p, exc)
        return Settings()
    s = Settings()
    for f in fields(Settings):
        if f.name in raw and isinstance(raw[f.name], type(getattr(s, f.name))):
            setattr(s, f.name, raw[f.name])
    return s.normalised()


def save_settings(settings: Settings, path: Path | None = None) -> bool:
    """Write atomically (temp file + rename). Returns False (and logs) on failure."""
    p = path or settings_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".toml.tmp")
        with open(tmp, "wb") as fh:
            tomli_w.dump(asdict(settings.normalised()), fh)
        os.replace(tmp, p)
        return True
    except OSError as exc:
        log.warning("could not save settings to %s: %s", p, exc)
        return False
