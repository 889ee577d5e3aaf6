"""Face model resolution: explicit path, environment, shipped bundle, user cache, download (file://
only), and the shipped bundle itself."""

from __future__ import annotations

import hashlib
import logging
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

import model
from model import face_model as fm
from model.face_model import (
    FACE_MODEL_ENV,
    FACE_MODEL_FILENAME,
    FACE_MODEL_SHA256,
    FIX_HINT,
    download_face_model,
    explicit_face_model_problem,
    resolve_face_model,
)

REAL_SHIPPED_PATH = fm.shipped_face_model_path
PAYLOAD = b"not really a face model, but bytes with a known checksum\n" * 50
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No real environment variable, shipped bundle or user cache leaks into these tests."""
    monkeypatch.delenv(FACE_MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: tmp_path / "no-assets" / FACE_MODEL_FILENAME)


SHIPPED = Path(fm.__file__).resolve().parents[1] / "assets" / FACE_MODEL_FILENAME


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


def test_missing_explicit_path_is_refused_not_replaced(tmp_path, source_file, monkeypatch):
    monkeypatch.setenv(FACE_MODEL_ENV, str(source_file))
    res = resolve_face_model(tmp_path / "nope.task", allow_download=False, cache_dir=tmp_path)
    assert res.path is None and res.explicit_unmet  # never silently the env's model
    assert res.message == f"Face model not found: {tmp_path / 'nope.task'}; pass --face-model FILE with a usable file"


def test_env_missing_and_nothing_else_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv(FACE_MODEL_ENV, str(tmp_path / "missing.task"))
    res = resolve_face_model(allow_download=False, cache_dir=tmp_path / "cache")
    assert res.path is None and res.source == "none" and not res.ok and not res.explicit_unmet
    assert res.message == f"Face model not found: {tmp_path / 'missing.task'} ({FACE_MODEL_ENV}); {FIX_HINT}"
    assert "download disabled" in res.detail


def test_missing_env_path_falls_through_to_the_shipped_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: SHIPPED)
    monkeypatch.setenv(FACE_MODEL_ENV, str(tmp_path / "stale.task"))
    res = resolve_face_model(allow_download=False, cache_dir=tmp_path / "cache")
    assert res.source == "shipped" and res.path == SHIPPED
    assert "stale.task" in res.message  # the user learns why their variable was not used


def test_the_shipped_bundle_is_the_default_and_is_the_pinned_file(tmp_path, monkeypatch):
    assert SHIPPED.stat().st_size == 3_758_596
    assert fm.sha256_of_file(SHIPPED) == FACE_MODEL_SHA256
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: SHIPPED)

    def no_network(*a, **k):
        raise AssertionError("the shipped bundle must make a download unnecessary")

    res = resolve_face_model(cache_dir=tmp_path / "cache", opener=no_network)
    assert res.source == "shipped" and res.path == SHIPPED and res.ok
    # explicit path and $FCUS_FACE_MODEL still override it
    other = tmp_path / "env.task"
    other.write_bytes(PAYLOAD)
    monkeypatch.setenv(FACE_MODEL_ENV, str(other))
    assert resolve_face_model(allow_download=False).source == "env"
    assert resolve_face_model(other, allow_download=False).source == "explicit"


def test_the_real_shipped_path_is_in_the_assets_package():
    assert REAL_SHIPPED_PATH() == SHIPPED  # the fixture patches fm's copy, not this one
    assert (SHIPPED.parent / "FACE_MODEL.md").read_text().count(FACE_MODEL_SHA256) == 1


def test_pyproject_ships_the_bundle_and_its_notice():
    meta = tomllib.loads((SHIPPED.parents[1] / "pyproject.toml").read_text())
    patterns = meta["tool"]["setuptools"]["package-data"]["assets"]
    for name in (FACE_MODEL_FILENAME, "FACE_MODEL.md"):
        assert any(fnmatch(name, pat) for pat in patterns), name


def test_a_damaged_shipped_bundle_is_skipped_with_a_short_fix(tmp_path, monkeypatch, source_file):
    damaged = tmp_path / "assets" / FACE_MODEL_FILENAME
    damaged.parent.mkdir()
    damaged.write_bytes(b"truncated")
    monkeypatch.setattr(fm, "shipped_face_model_path", lambda: damaged)
    res = resolve_face_model(allow_download=False, cache_dir=tmp_path / "cache")
    assert res.path is None
    assert res.message == f"Face model damaged (SHA-256 differs): {damaged}; {FIX_HINT}"
    # a good cached copy or a download still rescues it
    cache = tmp_path / "cache"
    ok = resolve_face_model(cache_dir=cache, url=source_file.as_uri(), expected_sha256=PAYLOAD_SHA)
    assert ok.source == "download"


def test_explicit_problem_check_before_a_window_opens(tmp_path):
    assert "not found" in explicit_face_model_problem(tmp_path / "missing.task")
    junk = tmp_path / "junk.task"
    junk.write_bytes(PAYLOAD)
    problem = explicit_face_model_problem(junk)
    assert problem.startswith(f"Face model unreadable: {junk}") and "\n" not in problem
    assert explicit_face_model_problem(SHIPPED) == ""


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
    assert "checksum mismatch" in res.detail
    assert res.message == f"Face model download failed; {FIX_HINT}"
    assert list(cache.iterdir()) == []
    assert "download failed" in caplog.text


def test_download_failure_returns_none_with_message(tmp_path):
    cache = tmp_path / "cache"
    url = (tmp_path / "absent.task").as_uri()
    res = resolve_face_model(cache_dir=cache, url=url, timeout_s=1)
    assert res.path is None and res.source == "none"
    assert "could not download" in res.detail and url in res.detail
    # the user sees one readable line, never the raw urlopen error
    assert res.message == f"Face model download failed; {FIX_HINT}"
    assert "urlopen" not in res.message and url not in res.message
    assert not (cache / FACE_MODEL_FILENAME).exists()


def test_network_timeout_is_reported_not_raised(tmp_path):
    calls = []

    def timing_out_opener(url, timeout):
        calls.append((url, timeout))
        raise TimeoutError("timed out")

    res = resolve_face_model(cache_dir=tmp_path / "cache", timeout_s=3, opener=timing_out_opener)
    assert calls == [(fm.FACE_MODEL_URL, 3)]
    assert res.path is None and "timed out" in res.detail and "timed out" not in res.message


def test_never_writes_into_the_package(tmp_path, source_file):
    package_dir = Path(model.__file__).resolve().parent
    before = _snapshot(package_dir)
    res = resolve_face_model(cache_dir=package_dir, url=source_file.as_uri(),
                             expected_sha256=PAYLOAD_SHA)
    assert res.path is None and "installed package" in res.detail
    with pytest.raises(fm.FaceModelDownloadError):
        download_face_model(package_dir / "sub", url=source_file.as_uri(),
                            expected_sha256=PAYLOAD_SHA)
    # a normal download goes to the cache and leaves the package untouched
    ok = resolve_face_model(cache_dir=tmp_path / "cache", url=source_file.as_uri(),
                            expected_sha256=PAYLOAD_SHA)
    assert ok.source == "download"
    assert _snapshot(package_dir) == before
    assert not (package_dir / "sub").exists()
