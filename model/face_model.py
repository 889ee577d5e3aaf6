"""Find the MediaPipe Face Landmarker model file.

Resolution order: an explicit path, then the ``FCUS_FACE_MODEL`` environment variable, then the
bundle shipped in the package (``assets/face_landmarker.task``, checked by SHA-256), then the user
cache (``platformdirs.user_cache_dir("fcus-rppg")``, checked by SHA-256), then a download from the
pinned address (checked by SHA-256, written to a temporary file and renamed into place). Nothing is
ever written into the installed package. Failures never raise: the result carries ``path=None``,
a short line the app can show (``message``) and the whole story for the log (``detail``); the
caller falls back to the OpenCV tracker, except when the explicit path cannot be used
(``explicit_unmet``): the user asked for that file, so the caller refuses.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
import zipfile
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


# How to fix a missing or damaged face model, in the words every message uses.
FIX_HINT = "reinstall fcus-rppg or pass --face-model FILE"


@dataclass(frozen=True)
class FaceModelResolution:
    """Outcome of :func:`resolve_face_model`.

    ``source`` is one of "explicit", "env", "shipped", "cache", "download", "none"; ``path`` is
    None only when ``source`` is "none". ``message`` is one short, user-facing line (no raw
    exception text); ``detail`` adds every note for the log. ``explicit_unmet`` is True when an
    explicit path was given and cannot be used (the caller must not silently use another model).
    """

    path: Path | None
    source: str
    message: str
    detail: str = ""
    explicit_unmet: bool = False

    @property
    def ok(self) -> bool:
        return self.path is not None


def shipped_face_model_path() -> Path:
    """Where the shipped bundle lives: ``assets/face_landmarker.task`` in the package."""
    import assets

    return Path(assets.__file__).resolve().parent / FACE_MODEL_FILENAME


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

    Returns the path (or None) and a short note for the user ("" when all is well; the caller
    says where the path came from)."""
    p = Path(path).expanduser()
    if not p.is_file():
        log.warning("Face model from %s not found: %s", label, p)
        return None, f"Face model not found: {p}"
    try:
        digest = sha256_of_file(p)
    except OSError as exc:
        log.warning("Face model from %s unreadable (%s): %s", label, exc, p)
        return None, f"Face model unreadable: {p}"
    if digest != expected_sha256:
        log.warning(
            "Face model from %s (%s) has SHA-256 %s, expected %s; using it anyway",
            label, p, digest, expected_sha256,
        )
        return p, "not the pinned model version (SHA-256 differs)"
    return p, ""


def _checked_copy(p: Path, expected_sha256: str, what: str) -> tuple[Path | None, str]:
    """A file we ship or cached ourselves: used only when its SHA-256 matches.

    Returns the path (or None) and a note ("" when the file is simply absent or fine)."""
    if not p.is_file():
        return None, ""
    try:
        digest = sha256_of_file(p)
    except OSError as exc:
        log.warning("%s face model unreadable (%s): %s", what, exc, p)
        return None, f"Face model unreadable: {p}"
    if digest != expected_sha256:
        log.warning("%s face model %s has SHA-256 %s, expected %s; ignoring it",
                    what, p, digest, expected_sha256)
        return None, f"Face model damaged (SHA-256 differs): {p}"
    return p, ""


def _cached_model(cache_dir: Path, expected_sha256: str) -> Path | None:
    return _checked_copy(cache_dir / FACE_MODEL_FILENAME, expected_sha256, "Cached")[0]


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
    # The first problem the user can act on: it becomes the short message when nothing is found.
    problems: list[str] = []

    def found(path: Path, source: str, head: str) -> FaceModelResolution:
        message = "; ".join([f"{head}: {path}", *notes])
        return FaceModelResolution(path, source, message, detail=message)

    if explicit_path is not None and str(explicit_path) != "":
        p, note = _user_path(explicit_path, "--face-model", expected_sha256)
        if p is None:
            # The user asked for this file: no silent substitute.
            message = f"{note}; pass --face-model FILE with a usable file"
            return FaceModelResolution(None, "none", message, detail=message, explicit_unmet=True)
        if note:
            notes.append(note)
        return found(p, "explicit", "Face model")

    env_value = os.environ.get(FACE_MODEL_ENV, "").strip()
    if env_value:
        p, note = _user_path(env_value, FACE_MODEL_ENV, expected_sha256)
        if p is None:
            note = f"{note} ({FACE_MODEL_ENV})"
        if note:
            notes.append(note)
        if p is not None:
            return found(p, "env", f"Face model from {FACE_MODEL_ENV}")
        problems.append(note)

    shipped = shipped_face_model_path()
    p, note = _checked_copy(shipped, expected_sha256, "Shipped")
    if p is not None:
        return found(p, "shipped", "Face model (shipped)")
    if note:
        problems.append(note)
        notes.append(note)
    else:
        log.warning("No shipped face model at %s", shipped)
        notes.append(f"no shipped face model at {shipped}")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    p = _cached_model(cache, expected_sha256)
    if p is not None:
        return found(p, "cache", "Face model from cache")

    if not allow_download:
        notes.append(f"no face model in {cache}; download disabled")
        return _none(problems, notes)

    try:
        p = download_face_model(
            cache, url=url, expected_sha256=expected_sha256, timeout_s=timeout_s, opener=opener)
    except FaceModelDownloadError as exc:
        log.warning("Face model download failed: %s", exc)
        notes.append(str(exc))
        return _none(problems + ["Face model download failed"], notes)
    return found(p, "download", "Face model downloaded to")


def explicit_face_model_problem(path: str | os.PathLike[str]) -> str:
    """Why an explicit ``--face-model PATH`` cannot be used ("" when it looks usable).

    Cheap enough to run before a window opens: the file must exist, be readable and be a
    Face Landmarker bundle (a zip holding the landmark detector); MediaPipe itself may still
    refuse it later, which the tracker factory reports the same way."""
    resolution = resolve_face_model(path, allow_download=False)
    if resolution.explicit_unmet or resolution.path is None:
        return resolution.message
    try:
        with zipfile.ZipFile(resolution.path) as bundle:
            names = set(bundle.namelist())
    except (OSError, zipfile.BadZipFile):
        names = set()
    if "face_landmarks_detector.tflite" not in names:
        return (f"Face model unreadable: {resolution.path} (not a Face Landmarker .task bundle); "
                "pass --face-model FILE with a usable file")
    return ""


def _none(problems: list[str], notes: list[str]) -> FaceModelResolution:
    """Nothing usable: a short line (the first problem and how to fix it) and the full notes."""
    head = problems[0] if problems else "No face model found"
    message = f"{head}; {FIX_HINT}"
    detail = "Face model unavailable: " + "; ".join(notes)
    return FaceModelResolution(None, "none", message, detail=detail)
