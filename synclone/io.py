"""Atomic, deterministic file output: a killed job never leaves a half-written file under its final name."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


class DiskFullError(OSError):
    """No space was left where an output is written; the message names the output (errno says which limit)."""


@contextlib.contextmanager
def _naming_a_full_disk(path: Path) -> Iterator[None]:
    """Re-raise a full disk or quota as DiskFullError naming ``path``: the OSError of a failed write names no file."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        # writers that wrap the OSError (torch.save: a RuntimeError) keep it as the exception's context
        full = error
        while full is not None and not (isinstance(full, OSError) and full.errno in (errno.ENOSPC, errno.EDQUOT)):
            full = full.__cause__ or full.__context__
        if full is None:
            raise
        raise DiskFullError(full.errno, f"cannot write {path}: {os.strerror(full.errno)} (the disk or the quota "
                                        f"is full); free space in {path.parent} and rerun") from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` keeps the extension for writers that infer the format from it (``np.savez``, ``savefig``).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    with _naming_a_full_disk(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    with _naming_a_full_disk(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            yield tmp
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)


def _canonical(obj: Any, digits: int) -> Any:
    """Round floats and convert numpy scalars/arrays so JSON output is stable and portable."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist(), digits)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        if math.isnan(value) or math.isinf(value):
            return None  # JSON has no NaN; a metric that is undefined is reported as null
        return round(value, digits)
    return obj


def to_json_text(obj: Any, digits: int = 6) -> str:
    return json.dumps(_canonical(obj, digits), indent=2, sort_keys=True) + "\n"


def write_json(path: str | os.PathLike, obj: Any, digits: int = 6) -> None:
    """Write ``obj`` as canonical JSON (sorted keys, rounded floats, NaN -> null), atomically."""
    text = to_json_text(obj, digits)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` to a temporary name, then rename."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` to a temporary name, then rename. It writes through a Python file object, whose failed write
    raises the OSError (a full disk) that torch.save given a file name would turn into an opaque RuntimeError."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        torch.save(obj, file)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
