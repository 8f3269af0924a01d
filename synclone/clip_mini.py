"""The mini world's CLIP: a tiny image-text model trained contrastively here, then a zero-shot classifier.

The model follows open_clip's interface (``visual``, ``encode_image``, ``encode_text``, ``logit_scale``) and is
built from open_clip's parts: its BPE tokenizer (bundled, so offline), its ``TextTransformer`` and its
``ClipLoss``. Its image tower is the mini world's ResNet (``synclone.models.mini.build_mini_resnet``) with the
classifier layer as the projection to the joint space: open_clip's ModifiedResNet and timm towers downsample
32 px images to 1 x 1. After training, ``synclone.models.zero_shot`` turns class names x the world's CLIP
templates into class embeddings, and the image tower plus those embeddings is an ordinary classifier checkpoint
(registry entry ``mini_clip_resnet``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from synclone.clone_params import ClipParams
from synclone.io import save_torch
from synclone.models.mini import build_mini_resnet
from synclone.models.zero_shot import PAPER_LOGIT_SCALE, ZeroShotClassifier
from synclone.predict import to_unit_float
from synclone.training import _param_groups, guarded_step, _warmup_cosine, random_crop_flip, resolve_precision

logger = logging.getLogger(__name__)

CLIP_FORMAT = "synclone-mini-clip/1"


def build_mini_clip_zero_shot(num_classes: int, embed_dim: int = 128, logit_scale: float = PAPER_LOGIT_SCALE,
                              **tower) -> ZeroShotClassifier:
    """Registry builder of ``mini_clip_resnet``: the image tower (``build_mini_resnet`` kwargs ``tower``, its
    classifier layer projecting to ``embed_dim``) with random unit class embeddings, as any model built with random
    weights; a checkpoint's state dict replaces both."""
    visual = build_mini_resnet(num_classes=embed_dim, **tower)
    embeddings = nn.functional.normalize(torch.randn(num_classes, embed_dim), dim=1)
    return ZeroShotClassifier(visual, embeddings, logit_scale)


class MiniCLIP(nn.Module):
    """Image tower + open_clip text tower + learned temperature; open_clip's CLIP interface."""

    def __init__(self, visual: nn.Module, embed_dim: int, params: ClipParams):
        from open_clip.transformer import TextTransformer

        super().__init__()
        self.visual = visual
        self.text = TextTransformer(context_length=params.context_length, width=params.text_width,
                                    heads=params.text_heads, layers=params.text_layers, output_dim=embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / params.init_temperature)))

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        features = self.visual(images)
        return nn.functional.normalize(features, dim=-1) if normalize else features

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        features = self.text(tokens)
        return nn.functional.normalize(features, dim=-1) if normalize else features

    def forward(self, images: torch.Tensor, tokens: torch.Tensor):
        return (self.encode_image(images, normalize=True), self.encode_text(tokens, normalize=True),
                self.logit_scale.exp())


def tokenizer(context_length: int):
    """open_clip's BPE tokenizer (its vocabulary ships with the package): texts -> LongTensor N x context_length."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length)


def pair_texts(metadata: pd.DataFrame, seed: int, drop_p: float) -> list[str]:
    """The text of each image: its prompt (generated images), else its attributes in words with each attribute
    dropped with ``drop_p`` (rendered images: the ``captions`` prompt strategy's words, from the true attributes)."""
    from synclone.prompts import attribute_caption

    if "prompt" in metadata.columns:
        return metadata["prompt"].astype(str).tolist()
    from synclone.worlds.mini import COLUMNS

    missing = [column for column in COLUMNS if column not in metadata.columns]
    if missing:
        raise ValueError(f"images need a 'prompt' column or the renderer's attribute columns to be captioned; "
                         f"missing {missing}")
    rng = np.random.default_rng(seed)
    return [attribute_caption(row, rng, drop_p) for row in metadata.to_dict("records")]


def train_clip(model: MiniCLIP, images: np.ndarray, texts: Sequence[str], mean: Sequence[float], std: Sequence[float],
               params: ClipParams | Mapping[str, Any], seed: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train ``model`` (on ``device``) in place on (image, text) pairs with CLIP's symmetric contrastive loss.

    ``mean`` / ``std`` normalise [0, 1] images as the zero-shot classifier's wrapper will. Returns the history
    (resolved params, precision, every ``log_every`` steps the mean loss, in-batch image->text accuracy and the
    logit scale).
    """
    from open_clip.loss import ClipLoss

    params = params if isinstance(params, ClipParams) else ClipParams.from_dict(params)
    device = torch.device(device)
    precision = resolve_precision(params.precision, device)
    if len(images) != len(texts) or len(images) < 2:
        raise ValueError(f"need >= 2 (image, text) pairs, got {len(images)} images and {len(texts)} texts")
    source = torch.from_numpy(np.ascontiguousarray(images))
    tokens = tokenizer(params.context_length)(list(texts))
    mean_t = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, -1, 1, 1)
    batch_size = min(params.batch_size, len(source))
    generator = torch.Generator().manual_seed(seed)
    groups = _param_groups(model, params.weight_decay)  # 0-d logit scale: no weight decay
    optimizer = torch.optim.AdamW(groups, lr=params.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(params.warmup_steps, params.steps))
    loss_fn = ClipLoss()
    history: dict[str, Any] = {"params": params.to_dict(), "seed": seed, "precision": precision, "n_pairs": len(source),
                               "log": []}
    queue = torch.empty(0, dtype=torch.long)
    fork_devices = [device] if device.type == "cuda" else []
    window = {"loss": 0.0, "accuracy": 0.0}
    start = time.perf_counter()
    with torch.random.fork_rng(devices=fork_devices), tqdm(total=params.steps, desc="clip", unit="step") as bar:
        torch.manual_seed(seed)
        model.train()
        for step in range(1, params.steps + 1):
            if len(queue) < batch_size:
                queue = torch.cat([queue, torch.randperm(len(source), generator=generator)])
            index, queue = queue[:batch_size], queue[batch_size:]
            batch = to_unit_float(source[index], device)
            if params.crop_padding:
                batch = random_crop_flip(batch, params.crop_padding, False, generator)
            batch = ((batch - mean_t) / std_t).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                image_features, text_features, scale = model(batch, tokens[index].to(device))
            image_features, text_features = image_features.float(), text_features.float()
            loss = loss_fn(image_features, text_features, scale.float())
            guarded_step(loss, optimizer, schedule, "CLIP training", f"step {step}", "lower train.lr")
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(params.max_logit_scale))
                hits = (image_features @ text_features.T).argmax(1) == torch.arange(len(index), device=device)
            window["loss"] += loss.item()
            window["accuracy"] += hits.float().mean().item()
            bar.update()
            if step % params.log_every == 0 or step == params.steps:
                count = step - len(history["log"]) * params.log_every
                record = {"step": step, "loss": window["loss"] / count, "batch_i2t_accuracy": window["accuracy"] / count,
                          "logit_scale": model.logit_scale.exp().item(), "lr": schedule.get_last_lr()[0],
                          "pairs_per_s": count * batch_size / (time.perf_counter() - start)}
                history["log"].append(record)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                logger.info("clip %s", " ".join(f"{k}={v:.4g}" for k, v in record.items()))
                window = {"loss": 0.0, "accuracy": 0.0}
                start = time.perf_counter()
    model.eval()
    return history


def zero_shot_classifier(clip: MiniCLIP, arch: str, arch_kwargs: Mapping[str, Any], context_length: int,
                         logit_scale: float | str = "learned", device: str | torch.device = "cpu"):
    """The ``arch`` classifier wrapper (``mini_clip_resnet``) holding ``clip``'s image tower and the class embeddings of
    the mini world's class names x ``CLIP_TEMPLATES``; ``logit_scale`` "learned" takes the CLIP's own."""
    from synclone.models.classifier import build_classifier
    from synclone.models.zero_shot import zero_shot_weights
    from synclone.worlds.mini import CLASSES, CLIP_TEMPLATES

    scale = float(clip.logit_scale.detach().exp()) if logit_scale == "learned" else float(logit_scale)
    weights = zero_shot_weights(clip, tokenizer(context_length), CLASSES, CLIP_TEMPLATES, device)
    model = build_classifier(arch, len(CLASSES), {**arch_kwargs, "logit_scale": scale}).to(device)
    model.backbone.visual.load_state_dict(clip.visual.state_dict())
    model.backbone.class_embeddings.copy_(weights)
    return model.eval()


def save_clip(path, model: MiniCLIP, arch: str, arch_kwargs: Mapping[str, Any], params: ClipParams,
              meta: Mapping[str, Any]) -> None:
    """The whole CLIP (both towers), with what rebuilds it; atomic. ``meta`` must be plain Python data."""
    checkpoint = {"format": CLIP_FORMAT, "arch": arch, "arch_kwargs": dict(arch_kwargs), "params": params.to_dict(),
                  "state_dict": model.state_dict(), "meta": dict(meta)}
    save_torch(path, checkpoint)


def build_clip(arch_kwargs: Mapping[str, Any], params: ClipParams) -> MiniCLIP:
    """A fresh MiniCLIP whose image tower is exactly the ``mini_clip_resnet`` classifier's (same builder kwargs)."""
    kwargs = {key: value for key, value in arch_kwargs.items() if key not in ("embed_dim", "logit_scale")}
    embed_dim = int(arch_kwargs["embed_dim"])
    return MiniCLIP(build_mini_resnet(num_classes=embed_dim, **kwargs), embed_dim, params)


def load_clip(path, device: str | torch.device = "cpu") -> tuple[MiniCLIP, dict[str, Any]]:
    """(model in eval mode, checkpoint dict without the weights); a wrong or corrupt file names the fix."""
    rerun = f"rerun the rule that writes it (`snakemake --forcerun {path}`)"
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch.load raises many types for missing, truncated or foreign files
        raise RuntimeError(f"CLIP checkpoint {path} cannot be read ({error}); {rerun}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CLIP_FORMAT:
        raise RuntimeError(f"{path} is not a mini CLIP checkpoint ({CLIP_FORMAT}); {rerun}")
    model = build_clip(checkpoint["arch_kwargs"], ClipParams.from_dict(checkpoint["params"]))
    model.load_state_dict(checkpoint.pop("state_dict"))
    return model.to(device).eval(), checkpoint
