"""Face model resolution: explicit path, environment, user cache, download (file:// only)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

import model
from model import face_model as fm
from model.face_model import (
    FACE_MODEL_ENV,
    FACE_MODEL_FILENAME,
    download_face_model,
    resolve_face_model,
)

PAYLOAD = b"not really a face model, but bytes with a known checksum\n" * 50
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No real environment variable or user cache leaks into these tests."""
    monkeypatch.delenv(FACE_MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def source_file(tmp_path) -> Path:
    p = tmp_path / "served" / "face_landmarker.task"
    p.parent.mkdir()
    p.write_bytes(PAYLOAD)
    return p


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if "__pycache__" not in p.parts}


def test_explicit_path_wins_and_mismatch_only_warns(tmp_path, source_file, monkeypatch, caplog):
    other = tmp_path / "env.task"
    other.write_bytes(PAYLOAD)
    monkeypatch.setenv(FACE_MODEL_ENV, str(other))
    with caplog.at_level(logging.WARNING, logger=fm.__name__):
        res = resolve_face_model(source_file, allow_download=False, cache_dir=tmp_path / "c")
    assert res.source == "explicit" and res.path == source_file and res.ok
    assert "SHA-256" in caplog.text  # PAYLOAD is not the pinned model
    assert "SHA-256 differs" in res.message

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=fm.__name__):
        res = resolve_face_model(source_file, allow_download=False, cache_dir=tmp_path / "c",
                                 expected_sha256=PAYLOAD_SHA)
    assert res.source == "explicit"
    assert caplog.text == ""


def test_missing_explicit_path_falls_through_to_env(tmp_path, source_file, monkeypatch):
    monkeypatch.setenv(FACE_MODEL_ENV, str(source_file))
    res = resolve_face_model(tmp_path / "nope.task", allow_download=False, cache_dir=tmp_path)
    assert res.source == "env" and res.path == source_file
    assert "nope.task" in res.message  # the user learns why their path was not used


def test_env_missing_and_nothing_else_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv(FACE_MODEL_ENV, str(tmp_path / "missing.task"))
    res = resolve_face_model(tmp_path / "bogus.task", allow_download=False,
                             cache_dir=tmp_path / "cache")
    assert res.path is None and res.source == "none" and not res.ok
    assert "bogus.task" in res.message and "missing.task" in res.message
    assert "download disabled" in res.message


def test_cache_used_only_with_matching_checksum(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FACE_MODEL_FILENAME).write_bytes(PAYLOAD)
    good = resolve_face_model(allow_download=False, cache_dir=cache, expected_sha256=PAYLOAD_SHA)
    assert good.source == "cache" and good.path == cache / FACE_MODEL_FILENAME

    bad = resolve_face_model(allow_download=False, cache_dir=cache, expected_sha256="0" * 64)
    assert bad.path is None and bad.source == "none"


def test_default_cache_dir_is_the_platform_user_cache(tmp_path):
    cache = tmp_path / "xdg-cache" / "fcus-rppg"
    assert fm.default_cache_dir() == cache
    cache.mkdir(parents=True)
    (cache / FACE_MODEL_FILENAME).write_bytes(PAYLOAD)
    res = resolve_face_model(allow_download=False, expected_sha256=PAYLOAD_SHA)
    assert res.source == "cache" and res.path == cache / FACE_MODEL_FILENAME


def test_download_from_file_url_verifies_and_renames(tmp_path, source_file):
    cache = tmp_path / "cache" / "deep"
    res = resolve_face_model(cache_dir=cache, url=source_file.as_uri(), expected_sha256=PAYLOAD_SHA)
    assert res.source == "download" and res.path == cache / FACE_MODEL_FILENAME
    assert res.path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir()) == [FACE_MODEL_FILENAME]  # no temp left
    # next time it comes from the cache, without the network
    again = resolve_face_model(cache_dir=cache, url="file:///nonexistent/x.task",
                               expected_sha256=PAYLOAD_SHA)
    assert again.source == "cache"


def test_download_replaces_a_corrupt_cached_file(tmp_path, source_file):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FACE_MODEL_FILENAME).write_bytes(b"truncated")
    res = resolve_face_model(cache_dir=cache, url=source_file.as_uri(), expected_sha256=PAYLOAD_SHA)
    assert res.source == "download"
    assert (cache / FACE_MODEL_FILENAME).read_bytes() == PAYLOAD


def test_download_with_bad_checksum_leaves_nothing(tmp_path, source_file, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger=fm.__name__):
        res = resolve_face_model(cache_dir=cache, url=source_file.as_uri(),
                                 expected_sha256="f" * 64)
    assert res.path is None and res.source == "none"
    assert "checksum mismatch" in res.message
    assert list(cache.iterdir()) == []
    assert "download failed" in caplog.text


def test_download_failure_returns_none_with_message(tmp_path):
    cache = tmp_path / "cache"
    url = (tmp_path / "absent.task").as_uri()
    res = resolve_face_model(cache_dir=cache, url=url, timeout_s=1)
    assert res.path is None and res.source == "none"
    assert "could not download" in res.message and url in res.message
    assert not (cache / FACE_MODEL_FILENAME).exists()


def test_network_timeout_is_reported_not_raised(tmp_path):
    calls = []

    def timing_out_opener(url, timeout):
        calls.append((url, timeout))
        raise TimeoutError("timed out")

    res = resolve_face_model(cache_dir=tmp_path / "cache", timeout_s=3, opener=timing_out_opener)
    assert calls == [(fm.FACE_MODEL_URL, 3)]
    assert res.path is None and "timed out" in res.message


def test_never_writes_into_the_package(tmp_path, source_file):
    package_dir = Path(model.__file__).resolve().parent
    before = _snapshot(package_dir)
    res = resolve_face_model(cache_dir=package_dir, url=source_file.as_uri(),
                             expected_sha256=PAYLOAD_SHA)
    assert res.path is None and "installed package" in res.message
    with pytest.raises(fm.FaceModelDownloadError):
        download_face_model(package_dir / "sub", url=source_file.as_uri(),
                            expected_sha256=PAYLOAD_SHA)
    # a normal download goes to the cache and leaves the package untouched
    ok = resolve_face_model(cache_dir=tmp_path / "cache", url=source_file.as_uri(),
                            expected_sha256=PAYLOAD_SHA)
    assert ok.source == "download"
    assert _snapshot(package_dir) == before
    assert not (package_dir / "sub").exists()
