"""Writing a set of result files so that a failure never leaves a mix of two runs.

:func:`check_out_dir` says, before any work, whether a results folder can be written (it is not
a file, its parents are folders, a file can be created there). :func:`write_files_atomic`
writes every file of a run into a hidden staging folder inside the results folder, flushes them
to disk, and only then renames them into place, the summary last. A write that fails (full
disk, folder removed, no permission) removes the staging folder and leaves the previous run's
files as they were: complete and consistent with each other.

Renames within one folder are atomic per file; the set of renames takes microseconds and cannot
run out of space, so only a power cut or a kill between two renames could mix two runs, and then
``summary.json`` (renamed last) still belongs to the older files' run or is missing.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

STAGING_PREFIX = ".fcus-partial-"

# file name -> a function that writes the file's text into an open text file
FileWriter = Callable[[IO[str]], None]


class OutDirError(OSError):
    """The results folder cannot be written; the message is meant for users."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_out_dir(out_dir: str | Path) -> Path:
    """Raise OutDirError when ``out_dir`` cannot hold results: it is a file, a parent is a file,
    or no file can be created in it (or, when it does not exist yet, in its nearest existing
    parent). Creates nothing that stays. Returns the path."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise OutDirError(errno.ENOTDIR, f"{out} is a file, not a folder")
    base = _nearest_existing(out)
    if not base.is_dir():
        raise OutDirError(errno.ENOTDIR, f"{base} is a file, so {out} cannot be a folder")
    try:
        with tempfile.TemporaryFile(dir=base, prefix=STAGING_PREFIX):
            pass
    except OSError as exc:
        where = "" if base == out else f" (in {base}, where it would be created)"
        raise OutDirError(exc.errno, f"cannot write to {out}{where}: {exc.strerror or exc}") from exc
    return out


def remove_stale_staging(out_dir: Path) -> None:
    """Remove staging folders that a killed run left behind."""
    if out_dir.is_dir():
        for p in out_dir.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(p, ignore_errors=True)


def write_files_atomic(out_dir: str | Path, files: dict[str, FileWriter]) -> list[Path]:
    """Write ``files`` (name -> writer, in order; the last one is renamed into place last) into
    ``out_dir``, all or nothing. Raises OSError; then no file in ``out_dir`` has changed."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=STAGING_PREFIX))
    try:
        for name, write in files.items():
            with open(staging / name, "w", newline="", encoding="utf-8") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        done = []
        for name in files:
            os.replace(staging / name, out / name)
            done.append(out / name)
        _fsync_dir(out)
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    """Make the renames durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
