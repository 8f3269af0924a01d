"""Safe extraction of tar, tar.gz and zip archives.

Every member is checked before it is written: an absolute path, a ``..`` component, or (in a tar) a link or
device file is refused, so an archive can never write outside the extraction folder. ``extract_archive`` extracts
into a temporary folder that replaces the destination only when everything succeeded.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator

from tqdm import tqdm

from synclone.io import atomic_dir

TAR_MODES = {"tar": "r:", "tar.gz": "r:gz"}
FORMATS = (*TAR_MODES, "zip")


class ArchiveError(RuntimeError):
    """An archive that cannot be extracted as it is (truncated, not of its format, unsafe)."""


def _outside_reason(name: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return "a path that leads outside the extraction folder"
    return None


def _unsafe(archive: Path, name: str, reason: str) -> ArchiveError:
    return ArchiveError(f"{archive} holds {name!r}, {reason}: refusing to extract it. The archive is corrupt or not "
                        f"the published one; delete it and fetch it again")


def _checked_tar_members(tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        reason = _outside_reason(member.name)
        if reason is None and not (member.isfile() or member.isdir()):
            reason = "a link or special file (dataset archives hold only files and folders)"
        if reason is not None:
            raise _unsafe(archive, member.name, reason)
        yield member


def _progress(members, archive: Path, total: int | None = None):
    """Members as they are extracted, counted in the job's log (ImageNet-C holds 750,000 files)."""
    return tqdm(members, desc=f"extract {archive.name}", unit="file", total=total, mininterval=30)


def _extract_tar(archive: Path, folder: Path, mode: str) -> None:
    with tarfile.open(archive, mode) as tar:
        # one pass over the archive: members are checked as they are read (a .tar.gz cannot be listed cheaply)
        tar.extractall(folder, members=_progress(_checked_tar_members(tar, archive), archive), filter="data")


def _extract_zip(archive: Path, folder: Path) -> None:
    with zipfile.ZipFile(archive) as zip_file:
        for name in zip_file.namelist():
            reason = _outside_reason(name)
            if reason is not None:
                raise _unsafe(archive, name, reason)
        for name in _progress(zip_file.namelist(), archive, len(zip_file.namelist())):
            zip_file.extract(name, folder)


def _unreadable(archive: Path, fmt: str, error: Exception) -> ArchiveError:
    """The read errors of a truncated or foreign archive, as one ArchiveError naming it."""
    return ArchiveError(f"{archive} is not a readable {fmt} archive: it is truncated, corrupt or of another format "
                        f"({type(error).__name__}: {error}). Delete it and fetch it again")


def extract_into(archive: str | os.PathLike, folder: str | os.PathLike, fmt: str) -> None:
    """Extract ``archive`` (``fmt``: tar, tar.gz or zip) into the existing ``folder``; not atomic on its own."""
    archive, folder = Path(archive), Path(folder)
    if fmt not in FORMATS:
        raise ValueError(f"unknown archive format {fmt!r}; expected one of {FORMATS}")
    try:
        if fmt == "zip":
            _extract_zip(archive, folder)
        else:
            _extract_tar(archive, folder, TAR_MODES[fmt])
    except tarfile.FilterError as error:  # the data filter's own refusal: a member the checks above let through
        raise _unsafe(archive, error.tarinfo.name, str(error)) from error
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise _unreadable(archive, fmt, error) from error


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, fmt: str) -> Path:
    """Extract ``archive`` into ``dest``, which appears (or is replaced) only once extraction succeeded."""
    with atomic_dir(dest) as tmp:
        extract_into(archive, tmp, fmt)
    return Path(dest)


def read_member(archive: str | os.PathLike, name: str, fmt: str) -> bytes:
    """The bytes of one member of a tar archive (the ImageNet devkit), without extracting the rest."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, TAR_MODES[fmt]) as tar:
            member = tar.extractfile(name)
            if member is None:
                raise ArchiveError(f"{archive}: {name} is not a regular file")
            return member.read()
    except KeyError as error:
        raise ArchiveError(f"{archive} lacks {name}: it is not the expected archive") from error
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise _unreadable(archive, fmt, error) from error
