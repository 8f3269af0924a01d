"""Stable Diffusion generation (paper mode): a diffusers ``StableDiffusionPipeline`` sampling one prompt shard.

Every image depends only on its prompt row (prompt, seed) and the sampling settings: its initial latent comes from
its own CPU ``torch.Generator`` seeded with the row's seed, and every pipeline call sees a full batch (the last one
padded with copies), so neither its neighbours in the batch nor its shard change it. A shard is resumable: images
are written one by one, atomically, into ``.shard-{i}.partial/`` beside the shard folder (Snakemake deletes a failed
job's declared output, so the finished images must live elsewhere), a rerun with the same settings skips those
already there, and the folder becomes ``shard-{i}/`` (an image set: ``images/`` + ``metadata.csv``) once complete.

The weights are never downloaded here: ``model_id`` is a local folder (``save_pretrained`` layout) or a hub id
already in the local Hugging Face cache (compute nodes have no internet).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from synclone.generation.params import SCHEDULERS, StableDiffusionParams
from synclone.generation.sample import PROMPT_COLUMNS
from synclone.imageset import IMAGE_DIR, METADATA
from synclone.io import atomic_path, to_json_text

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionPipeline

logger = logging.getLogger("synclone")

SETTINGS_FILE = "generation.json"  # what made a shard's images; a partial shard made otherwise is started afresh
DEFAULT_MODEL_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def resolve_dtype(name: str, device: torch.device | str) -> torch.dtype:
    import torch

    if name == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, name)


def make_scheduler(name: str, schedule: Mapping[str, Any]):
    """A sampling scheduler on the model's own training schedule (its ``scheduler/scheduler_config.json``)."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if name == "ddim":
        return DDIMScheduler.from_config(schedule)
    if name == "dpmsolver":
        return DPMSolverMultistepScheduler.from_config(schedule, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown scheduler {name!r}; choose one of {SCHEDULERS}")


def load_pipeline(
    model_id: str, revision: str | None = None, scheduler: str = StableDiffusionParams.scheduler,
    dtype: str = StableDiffusionParams.dtype, device: torch.device | str = "cpu",
) -> StableDiffusionPipeline:  # fmt: skip
    """The pipeline from a local folder or the local Hugging Face cache, safety checker off, ready on ``device``."""
    from diffusers import StableDiffusionPipeline

    local = Path(model_id).expanduser()
    source = str(local) if local.is_dir() else model_id
    try:
        pipeline = StableDiffusionPipeline.from_pretrained(
            source, revision=None if local.is_dir() else revision, torch_dtype=resolve_dtype(dtype, device),
            local_files_only=True, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
    except (OSError, ValueError) as error:
        if local.is_dir():
            raise FileNotFoundError(f"{local} is not a Stable Diffusion pipeline folder (save_pretrained's layout: "
                                    f"model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/): {error}"
                                    ) from error
        from huggingface_hub.constants import HF_HUB_CACHE

        at = f" at revision {revision}" if revision else ""
        raise FileNotFoundError(
            f"cannot load Stable Diffusion {model_id!r}{at}: it is neither a folder nor in the Hugging Face cache "
            f"{HF_HUB_CACHE} ({error}). Jobs never download weights: on a machine with internet that shares this "
            f"cache (HF_HOME), run\n  python -c \"from diffusers import StableDiffusionPipeline as P; "
            f"P.download('{model_id}'{f', revision={revision!r}' if revision else ''})\"\nor set generator.model_id "
            f"to a folder written by save_pretrained."
        ) from error
    pipeline.scheduler = make_scheduler(scheduler, pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)  # one progress bar over the shard's images instead
    return pipeline.to(device)


class StableDiffusionGenerator:
    """A loaded pipeline plus its sampling settings; build it with ``load_stable_diffusion``."""

    def __init__(self, pipeline: StableDiffusionPipeline, params: StableDiffusionParams, model_id: str,
                 revision: str | None = None):  # fmt: skip
        self.pipeline = pipeline
        self.params = params
        self.model_id = model_id
        self.revision = revision

    def settings(self) -> dict[str, Any]:
        """Everything an image depends on besides its prompt row (the dtype and device as resolved)."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "sample": self.params.to_dict(),
            "dtype": str(self.pipeline.unet.dtype).removeprefix("torch."),
            "device": self.pipeline.device.type,
        }

    def sample(self, prompts: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """uint8 N x H x W x 3 for at most ``batch_size`` prompts; the call is padded to a full batch."""
        import torch

        size = self.params.batch_size
        if not 0 < len(prompts) <= size or len(prompts) != len(seeds):
            raise ValueError(f"sample takes 1..{size} prompts with one seed each, got {len(prompts)} and {len(seeds)}")
        take = list(range(len(prompts))) + [len(prompts) - 1] * (size - len(prompts))
        generators = [torch.Generator().manual_seed(int(seeds[i])) for i in take]
        with torch.inference_mode():
            images = self.pipeline(
                [str(prompts[i]) for i in take], height=self.params.height, width=self.params.width,
                num_inference_steps=self.params.steps, guidance_scale=self.params.guidance, generator=generators,
                output_type="np",
            ).images  # fmt: skip
        return (np.asarray(images[: len(prompts)]) * 255).round().clip(0, 255).astype(np.uint8)


def load_stable_diffusion(
    model_id: str, sample: StableDiffusionParams | Mapping[str, Any] | None = None, revision: str | None = None,
    device: torch.device | str = "cpu",
) -> StableDiffusionGenerator:  # fmt: skip
    params = sample if isinstance(sample, StableDiffusionParams) else StableDiffusionParams.from_dict(sample)
    pipeline = load_pipeline(model_id, revision, params.scheduler, params.dtype, device)
    return StableDiffusionGenerator(pipeline, params, model_id, revision)


def _rows_digest(rows: pd.DataFrame) -> str:
    return hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()


def _save_image(path: Path, image: np.ndarray, params: StableDiffusionParams) -> None:
    with atomic_path(path) as tmp:
        if params.image_format == "jpg":
            Image.fromarray(image).save(tmp, format="JPEG", quality=params.jpeg_quality)
        else:
            Image.fromarray(image).save(tmp, format="PNG")


def partial_dir(out_dir: str | os.PathLike) -> Path:
    """Where a shard's finished images wait until the shard is complete."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.partial"


def _open_partial(staging: Path, settings: Mapping[str, Any]) -> None:
    """Keep a partial shard only when it was made with exactly these settings and rows; else start it afresh."""
    recorded = staging / SETTINGS_FILE
    text = to_json_text(settings)
    if staging.exists() and not (recorded.is_file() and recorded.read_text() == text):
        logger.info("discarding %s: it was generated with other settings or prompts", staging)
        shutil.rmtree(staging)
    (staging / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    if not recorded.is_file():
        with atomic_path(recorded) as tmp:
            tmp.write_text(text)


def generate_shard(generator: StableDiffusionGenerator, rows: pd.DataFrame, out_dir: str | os.PathLike) -> int:
    """Generate one image per prompt row into the image set ``out_dir``; returns how many were generated.

    Images already in the shard's partial folder (from a killed run with the same settings) are kept.
    """
    missing = [c for c in PROMPT_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"the prompt table lacks the column(s) {missing}")
    out_dir = Path(out_dir)
    rows = rows.reset_index(drop=True)
    settings = {**generator.settings(), "rows_sha256": _rows_digest(rows)}
    staging = partial_dir(out_dir)
    _open_partial(staging, settings)
    files = [f"{IMAGE_DIR}/{i:06d}.{generator.params.image_format}" for i in range(len(rows))]
    todo = [i for i, name in enumerate(files) if not (staging / name).is_file()]
    logger.info("%s: %d of %d images to generate (%d already there)", out_dir, len(todo), len(rows),
                len(rows) - len(todo))
    size = generator.params.batch_size
    with tqdm(total=len(todo), desc="generate", unit="img", file=sys.stderr, mininterval=10) as progress:
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            images = generator.sample(rows["prompt"].iloc[batch].tolist(), rows["seed"].iloc[batch].tolist())
            for i, image in zip(batch, images):
                _save_image(staging / files[i], image, generator.params)
            progress.update(len(batch))
    metadata = rows.copy()
    metadata.insert(0, "file", files)
    with atomic_path(staging / METADATA) as tmp:
        metadata.to_csv(tmp, index=False)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return len(todo)
