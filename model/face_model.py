"""Find the MediaPipe Face Landmarker model file, downloading it into the user cache if needed.

Resolution order: an explicit path, then the ``FCUS_FACE_MODEL`` environment variable, then the
user cache (``platformdirs.user_cache_dir("fcus-rppg")``, checked by SHA-256), then a download
from the pinned address (checked by SHA-256, written to a temporary file and renamed into place).
Nothing is ever written into the installed package. Failures never raise: the result carries
``path=None`` and a message the app can show, and the caller falls back to the OpenCV tracker.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import platformdirs

log = logging.getLogger(__name__)

FACE_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
    "float16/1/face_landmarker.task"
)
FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
FACE_MODEL_FILENAME = "face_landmarker.task"
FACE_MODEL_ENV = "FCUS_FACE_MODEL"
APP_CACHE_NAME = "fcus-rppg"

_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # the model is 3.6 MB; refuse anything absurd
_CHUNK_BYTES = 256 * 1024
# Top-level packages of this distribution: the cache must never live inside one of them.
_PACKAGE_NAMES = ("app", "model", "training", "assets")

UrlOpener = Callable[..., object]


@dataclass(frozen=True)
class FaceModelResolution:
    """Outcome of :func:`resolve_face_model`.

    ``source`` is one of "explicit", "env", "cache", "download", "none"; ``path`` is None only
    when ``source`` is "none". ``message`` is a one-line, user-facing explanation.
    """

    path: Path | None
    source: str
    message: str

    @property
    def ok(self) -> bool:
        return self.path is not None


def default_cache_dir() -> Path:
    """The per-user cache folder of the app (not created here)."""
    return Path(platformdirs.user_cache_dir(APP_CACHE_NAME))


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dirs() -> list[Path]:
    root = Path(__file__).resolve().parent.parent
    return [root / name for name in _PACKAGE_NAMES]


def _is_inside_package(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved == pkg or pkg in resolved.parents for pkg in _package_dirs())


def _user_path(
    path: str | os.PathLike[str], label: str, expected_sha256: str
) -> tuple[Path | None, str]:
    """An explicit or environment path: trusted when it exists (a checksum mismatch only warns).

    Returns the path (or None) and a note for the user ("" when all is well)."""
    p = Path(path).expanduser()
    if not p.is_file():
        log.warning("Face model from %s not found: %s", label, p)
        return None, f"{label} not found: {p}"
    try:
        digest = sha256_of_file(p)
    except OSError as exc:
        log.warning("Face model from %s unreadable (%s): %s", label, exc, p)
        return None, f"{label} unreadable: {p} ({exc})"
    if digest != expected_sha256:
        log.warning(
            "Face model from %s (%s) has SHA-256 %s, expected %s; using it anyway",
            label, p, digest, expected_sha256,
        )
        return p, "not the pinned model version (SHA-256 differs)"
    return p, ""


def _cached_model(cache_dir: Path, expected_sha256: str) -> Path | None:
    p = cache_dir / FACE_MODEL_FILENAME
    if not p.is_file():
        return None
    try:
        digest = sha256_of_file(p)
    except OSError as exc:
        log.warning("Cached face model unreadable (%s): %s", exc, p)
        return None
    if digest != expected_sha256:
        log.warning("Cached face model %s has SHA-256 %s, expected %s; ignoring it",
                    p, digest, expected_sha256)
        return None
    return p


class FaceModelDownloadError(RuntimeError):
    """The model could not be downloaded or failed its checksum."""


def download_face_model(
    cache_dir: Path,
    *,
    url: str = FACE_MODEL_URL,
    expected_sha256: str = FACE_MODEL_SHA256,
    timeout_s: float = 20,
    opener: UrlOpener = urllib.request.urlopen,
) -> Path:
    """Download ``url`` into ``cache_dir/FACE_MODEL_FILENAME`` atomically.

    The bytes go to a temporary file in ``cache_dir`` and are renamed into place only once their
    SHA-256 matches, so a partial or wrong file never sits under the final name.
    Raises :class:`FaceModelDownloadError` on any failure.
    """
    if _is_inside_package(cache_dir):
        raise FaceModelDownloadError(f"refusing to write into the installed package: {cache_dir}")
    final = cache_dir / FACE_MODEL_FILENAME
    tmp_path: Path | None = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        n_bytes = 0
        with tempfile.NamedTemporaryFile(
            dir=cache_dir, prefix=f".{FACE_MODEL_FILENAME}.", suffix=".part", delete=False
        ) as tmp:
            tmp_path = Path(tmp.name)
            with opener(url, timeout=timeout_s) as response:  # type: ignore[attr-defined]
                while chunk := response.read(_CHUNK_BYTES):
                    n_bytes += len(chunk)
                    if n_bytes > _MAX_DOWNLOAD_BYTES:
                        raise FaceModelDownloadError(
                            f"download exceeds {_MAX_DOWNLOAD_BYTES} bytes; aborted")
                    digest.update(chunk)
                    tmp.write(chunk)
        got = digest.hexdigest()
        if got != expected_sha256:
            raise FaceModelDownloadError(
                f"checksum mismatch for {url}: got SHA-256 {got}, expected {expected_sha256}")
        os.replace(tmp_path, final)
        tmp_path = None
        log.info("Downloaded face model (%d bytes) to %s", n_bytes, final)
        return final
    except FaceModelDownloadError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError, HTTPError, socket timeouts and disk errors are all OSError subclasses;
        # ValueError covers malformed URLs.
        raise FaceModelDownloadError(f"could not download {url}: {exc}") from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def resolve_face_model(
    explicit_path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str = FACE_MODEL_URL,
    timeout_s: float = 20,
    expected_sha256: str = FACE_MODEL_SHA256,
    opener: UrlOpener = urllib.request.urlopen,
) -> FaceModelResolution:
    """Find the face model; see the module docstring for the order. Never raises."""
    notes: list[str] = []

    def found(path: Path, source: str, head: str) -> FaceModelResolution:
        return FaceModelResolution(path, source, "; ".join([f"{head}: {path}", *notes]))

    if explicit_path is not None and str(explicit_path) != "":
        p, note = _user_path(explicit_path, "given face model path", expected_sha256)
        if note:
            notes.append(note)
        if p is not None:
            return found(p, "explicit", "Face model")

    env_value = os.environ.get(FACE_MODEL_ENV, "").strip()
    if env_value:
        p, note = _user_path(env_value, FACE_MODEL_ENV, expected_sha256)
        if note:
            notes.append(note)
        if p is not None:
            return found(p, "env", f"Face model from {FACE_MODEL_ENV}")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    p = _cached_model(cache, expected_sha256)
    if p is not None:
        return found(p, "cache", "Face model from cache")

    if not allow_download:
        notes.append("download disabled")
        return _none(notes, f"no face model in {cache}")

    try:
        p = download_face_model(
            cache, url=url, expected_sha256=expected_sha256, timeout_s=timeout_s, opener=opener)
    except FaceModelDownloadError as exc:
        log.warning("Face model download failed: %s", exc)
        notes.append(str(exc))
        return _none(notes, f"no face model in {cache}")
    return found(p, "download", "Face model downloaded to")


def _none(notes: list[str], head: str) -> FaceModelResolution:
    message = "Face model unavailable: " + "; ".join([head, *notes])
    return FaceModelResolution(None, "none", message)
