"""Where an imported model's weight files come from (a config's ``weights:``), and fetching them.

A model entry either trains (``data:``) or imports (``weights:``)::

    weights: {source: hub}                                   # the registry's timm / open_clip tag, Hugging Face hub
    weights: {source: url, url: https://..., md5: ...}       # url defaults to the authors' published one
    weights: {source: path, path: /abs/file.pth}             # a file no hub serves
    weights: {source: url, head: {path: /abs/head.pth}}      # models with a separate head file (DINOv2)

``weight_sources`` resolves that against the registry's ``Pretrained`` entry (torch-free, for config checks);
``fetch_weights`` makes every file local (downloads need internet: on a cluster this runs on the submit host)
and returns the manifest that ``synclone.models.pretrained.import_pretrained`` reads on an offline node.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from synclone.models.registry import ARCHITECTURES, WeightFile, get_arch

logger = logging.getLogger(__name__)

SOURCES = ("hub", "url", "path")
# timm's hub repositories serve one of these; safetensors first, as timm itself tries them
TIMM_HUB_FILES = ("model.safetensors", "pytorch_model.bin")


class WeightsError(RuntimeError):
    """A weight file that cannot be had or is not the expected one; the message names the model, the file and
    where to get it."""


@dataclass(frozen=True)
class FileSource:
    """One file an import needs: where it comes from (``hub`` tag, ``url`` or ``path``) and its checksums."""

    role: str
    filename: str
    source: str
    location: str
    md5: str | None = None
    sha256: str | None = None


def importable() -> list[str]:
    """Architectures that have published weights (may appear with ``weights:`` in a config)."""
    return [name for name, spec in ARCHITECTURES.items() if spec.pretrained is not None]


def _pretrained(arch: str, where: str):
    spec = get_arch(arch)
    if spec.pretrained is None:
        raise WeightsError(f"{where}: architecture {arch!r} has no published weights to import (it is trained here: "
                           f"give data: instead of weights:); importable: {', '.join(importable())}")
    return spec.pretrained


def _explicit(entry: Mapping[str, Any], default: WeightFile, page: str, where: str) -> FileSource:
    """A file given by ``url`` or ``path`` in ``entry``, else ``default``'s published url."""
    checksums = {key: entry.get(key) for key in ("md5", "sha256")}
    if entry.get("path"):
        return FileSource(default.role, default.filename, "path", str(entry["path"]), **checksums)
    url = entry.get("url") or default.url
    if not url:
        raise WeightsError(f"{where}: {default.filename} has no direct download; get it from {page} and give its "
                           f"path (weights: {{source: path, path: /abs/{default.filename}}}), or a url")
    if not entry.get("url"):  # the registry's own file: its pinned checksums, if any
        checksums = {"md5": checksums["md5"] or default.md5, "sha256": checksums["sha256"] or default.sha256}
    return FileSource(default.role, default.filename, "url", url, **checksums)


def weight_sources(arch: str, weights: Mapping[str, Any], model: str | None = None) -> list[FileSource]:
    """The files ``weights`` (a config entry) means for ``arch``; the first is the main one.

    WeightsError explains what is missing (no hub tag, no url, no path); nothing is fetched or opened.
    """
    where = f"models.{model}.weights" if model else f"weights of {arch}"
    pretrained = _pretrained(arch, where)
    source = weights.get("source")
    if source not in SOURCES:
        raise WeightsError(f"{where}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    # hub models publish no file of their own: a state dict of the hub tag's layout
    files = pretrained.files or (WeightFile("model", f"the {pretrained.hub.partition(':')[2]} weights"),)
    main, extras = files[0], files[1:]
    if source == "hub":
        if pretrained.hub is None:
            raise WeightsError(f"{where}: {arch} is on no hub; use source: url or path (get it from {pretrained.page})")
        first = FileSource(main.role, main.filename, "hub", pretrained.hub)
    elif source == "path" and not weights.get("path"):
        raise WeightsError(f"{where}: source path needs path: ({main.filename}, from {pretrained.page})")
    else:
        keys = ("url" if source == "url" else "path", "md5", "sha256")
        first = _explicit({key: weights.get(key) for key in keys}, main, pretrained.page, where)
    overrides = {"head": weights.get("head") or {}}
    return [first, *(_explicit(overrides.get(f.role, {}), f, pretrained.page, f"{where}.{f.role}") for f in extras)]


def weights_problems(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Config problems of imported models (``weights:``, ``zero_shot:``) for the DAG-time check, as messages."""
    problems = []
    for name, spec in models.items():
        if spec["arch"] not in ARCHITECTURES:  # check_names reports unknown architectures
            continue
        if "zero_shot" in spec and ARCHITECTURES[spec["arch"]].head != "zero_shot":
            problems.append(f"models.{name}.zero_shot: {spec['arch']} is not a zero-shot (CLIP) model")
        if "weights" not in spec:
            continue
        if "train" in spec:
            problems.append(f"models.{name}.train: an imported model (weights:) is not trained here; remove train:")
        try:
            weight_sources(spec["arch"], spec["weights"], name)
        except WeightsError as error:
            problems.append(str(error))
    return problems


# ---- fetching --------------------------------------------------------------------------------------------------


def _hub_cache(cache_dir: str | os.PathLike | None) -> str | None:
    return None if cache_dir is None else str(Path(cache_dir) / "huggingface")


def _download_dir(cache_dir: str | os.PathLike | None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else Path("~/.cache/synclone").expanduser()
    return root / "downloads"


def _fetch_hub(tag: str, cache_dir, model: str) -> Path:
    """The local file of hub tag ``timm:<model.tag>`` or ``open_clip:<model>/<tag>`` (downloaded when absent)."""
    library, _, name = tag.partition(":")
    try:
        if library == "timm":
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
            from timm.models import get_pretrained_cfg

            repo = get_pretrained_cfg(name).hf_hub_id
            for filename in TIMM_HUB_FILES:
                try:
                    return Path(hf_hub_download(repo, filename, cache_dir=_hub_cache(cache_dir)))
                except EntryNotFoundError as error:
                    if isinstance(error, LocalEntryNotFoundError):  # offline and not cached: not a missing file
                        raise
            raise WeightsError(f"model {model}: the hub repository {repo} has none of {', '.join(TIMM_HUB_FILES)}")
        if library == "open_clip":
            import open_clip

            model_name, _, pretrained_tag = name.partition("/")
            cfg = open_clip.get_pretrained_cfg(model_name, pretrained_tag)
            return Path(open_clip.download_pretrained(cfg, cache_dir=_hub_cache(cache_dir)))
    except WeightsError:
        raise
    except Exception as error:  # hub clients raise many types for no network, a missing repo, a full disk
        raise WeightsError(
            f"model {model}: could not fetch {name} from the Hugging Face hub ({type(error).__name__}: {error}). "
            f"Fetching needs internet: on a cluster run the fetch_weights jobs on the submit host (they are local "
            f"rules), or put the file in the hub cache (compute.hub_cache) from a machine that has internet"
        ) from error
    raise ValueError(f"hub tag {tag!r} must start with timm: or open_clip:")


def file_md5(path: str | os.PathLike) -> str:
    from synclone.acquire.downloads import file_checksum

    return file_checksum(path, "md5")


def _verify(path: Path, file: FileSource, model: str, origin: str) -> None:
    from synclone.acquire.downloads import checksum_mismatch

    mismatch = checksum_mismatch(path, file.md5, file.sha256)
    if mismatch is not None:
        raise WeightsError(f"model {model}: {path} ({origin}): {mismatch}. It is corrupt, incomplete or another "
                           f"version of {file.filename}: fetch it again, or fix the checksum in the config's weights:")


def _fetch_url(file: FileSource, cache_dir, model: str) -> Path:
    from synclone.acquire.downloads import DownloadError, download

    name = Path(urlparse(file.location).path).name or file.filename
    dest = _download_dir(cache_dir) / hashlib.sha256(file.location.encode()).hexdigest()[:16] / name
    if not dest.is_file():
        try:
            download(file.location, dest)
        except DownloadError as error:
            raise WeightsError(f"model {model}: {error}") from error
    try:
        _verify(dest, file, model, f"downloaded from {file.location}")
    except WeightsError:
        dest.unlink()  # a wrong file must not be reused by the next run
        raise
    return dest


def _fetch_path(file: FileSource, arch: str, model: str) -> Path:
    path = Path(file.location).expanduser()
    if not path.is_file():
        pretrained = get_arch(arch).pretrained
        published = next((f.url for f in pretrained.files if f.role == file.role and f.url), None)
        alternative = f", or download it from {published} (weights: {{source: url}})" if published else ""
        raise WeightsError(f"model {model}: the weight file {path} does not exist. {arch} needs {file.filename} "
                           f"({file.role}); get it from {pretrained.page}{alternative}")
    _verify(path, file, model, "the config's weights: path")
    return path.resolve()


def fetch_weights(model: str, arch: str, weights: Mapping[str, Any],
                  cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Make every weight file of ``model`` local and return the manifest: per role its absolute path and md5.

    ``cache_dir`` (``compute.hub_cache``) holds the Hugging Face cache (``huggingface/``) and downloads
    (``downloads/``); None uses the hub's own default cache and ``~/.cache/synclone``. On a cluster it must be
    visible from the compute nodes, which read the files without internet.
    """
    files = {}
    for file in weight_sources(arch, weights, model):
        if file.source == "hub":
            path = _fetch_hub(file.location, cache_dir, model)
        elif file.source == "url":
            path = _fetch_url(file, cache_dir, model)
        else:
            path = _fetch_path(file, arch, model)
        md5 = file_md5(path)
        if file.md5 is None and file.sha256 is None and file.source != "hub":
            logger.warning("%s: %s has no pinned checksum; its md5 is %s (pin it as weights md5)", model, path, md5)
        files[file.role] = {"path": str(path), "md5": md5, "source": file.source, "location": file.location,
                            "filename": file.filename}
        logger.info("%s: %s (%s) at %s", model, file.role, file.location, path)
    return {"model": model, "arch": arch, "files": files}


def verify_manifest(manifest: Mapping[str, Any]) -> dict[str, Path]:
    """Role -> path of a fetched model's files, after checking each is still there with the md5 it was fetched
    with (a job on a compute node reads what the submit host fetched)."""
    model, files = manifest["model"], {}
    for role, entry in manifest["files"].items():
        path = Path(entry["path"])
        if not path.is_file():
            raise WeightsError(f"model {model}: {path} (its {role} weights, fetched by fetch_weights) is not on this "
                               f"machine: jobs read the fetched files, so set compute.hub_cache to a folder that "
                               f"every node sees and rerun fetch_weights")
        if file_md5(path) != entry["md5"]:
            raise WeightsError(f"model {model}: {path} changed since fetch_weights recorded its md5 {entry['md5']}; "
                               f"rerun it (snakemake --forcerun fetch_weights)")
        files[role] = path
    return files
