"""Downloads that either leave a verified file under its final name or nothing at all.

The file streams to a hidden ``.<name>.part`` beside its destination and is renamed only once its size matches the
server's ``Content-Length`` and its checksum matches the expected one. A transfer that breaks off is retried and,
when the server honours HTTP ranges, resumed; a file with a wrong checksum is deleted and fetched again from scratch.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
REGISTRY_HINT = "synclone/data/paper_datasets.yaml"


class DownloadError(RuntimeError):
    """A download that failed for good: the message says which file, why, and what to do."""


class ChecksumError(DownloadError):
    """A file on disk whose checksum is not the expected one."""


class _IncompleteTransfer(Exception):
    """The server sent fewer bytes than it announced."""


def file_checksum(path: str | os.PathLike, algorithm: str) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


def checksum_mismatch(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> str | None:
    """None when ``path`` has every expected checksum given, else which one differs (expected and actual)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None:
            actual = file_checksum(path, algorithm)
            if actual != expected.lower():
                return f"its {algorithm} is {actual}, expected {expected.lower()}"
    return None


def verify_file(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> None:
    """ChecksumError unless ``path`` has the expected checksums (a user-provided archive, a reused download)."""
    mismatch = checksum_mismatch(path, md5, sha256)
    if mismatch is not None:
        raise ChecksumError(f"{path}: {mismatch}. The file is corrupt, incomplete or another version: fetch it "
                            f"again from its source (see {REGISTRY_HINT}) and replace it")


def _transfer(url: str, partial: Path, timeout: float) -> None:
    """Stream ``url`` into ``partial``, continuing an earlier partial file when the server answers a range request."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        # a server (or a file:// URL) that ignores the range sends the whole file: start again
        resumed = offset > 0 and getattr(response, "status", None) == 206
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(partial, "ab" if resumed else "wb") as out, tqdm(
                desc=f"download {partial.name.removeprefix('.').removesuffix('.part')}", total=total, initial=start,
                unit="B", unit_scale=True, mininterval=30) as progress:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                progress.update(len(chunk))
    size = partial.stat().st_size
    if length is not None and size != start + int(length):
        raise _IncompleteTransfer(f"got {size} of {start + int(length)} bytes")


def download(url: str, dest: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
             retries: int = 3, wait: float = 5.0, timeout: float = 60.0) -> Path:
    """Fetch ``url`` (http, https or file) to ``dest``, verified against ``md5`` / ``sha256`` when given.

    Up to ``retries`` attempts, ``wait`` seconds apart. DownloadError names the file, the last problem (for a wrong
    checksum: the expected and the actual one) and what to do; no partial file is left behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")
    problem = ""
    for attempt in range(1, retries + 1):
        try:
            _transfer(url, partial, timeout)
        except urllib.error.HTTPError as error:
            if error.code == 416:  # the partial file does not fit the server's file: start again
                partial.unlink(missing_ok=True)
            elif 400 <= error.code < 500:
                partial.unlink(missing_ok=True)
                raise DownloadError(f"{url} answered HTTP {error.code} ({error.reason}) for {dest.name}: the address "
                                    f"is wrong or gone; fix the url in {REGISTRY_HINT}, or download the file by hand "
                                    f"and put it at {dest}") from error
            problem = f"HTTP {error.code} ({error.reason})"
        except (_IncompleteTransfer, http.client.HTTPException) as error:
            problem = f"the transfer broke off ({type(error).__name__}: {error})"  # the partial file is resumed
        except (urllib.error.URLError, OSError) as error:
            problem = f"the transfer failed ({error})"
        else:
            mismatch = checksum_mismatch(partial, md5, sha256)
            if mismatch is None:
                if md5 is None and sha256 is None:
                    logger.warning("%s has no pinned checksum; its md5 is %s (pin it in %s)", dest.name,
                                   file_checksum(partial, "md5"), REGISTRY_HINT)
                os.replace(partial, dest)
                logger.info("downloaded %s to %s", url, dest)
                return dest
            partial.unlink()  # a wrong file cannot be completed by resuming
            problem = f"the downloaded {dest.name}: {mismatch}"
        logger.warning("download %d/%d of %s failed: %s", attempt, retries, url, problem)
        if attempt < retries:
            time.sleep(wait)
    partial.unlink(missing_ok=True)
    raise DownloadError(f"could not download {url} to {dest} in {retries} attempts; last problem: {problem}. "
                        f"If the checksum differs every time, the server's file is not the one {REGISTRY_HINT} pins: "
                        f"check the source and update its md5 there. Otherwise check the network, or download the "
                        f"file by hand and put it at {dest} (a file whose checksum matches is reused).")
