"""Importing published weights into our classifier checkpoint format (``checkpoints/{model}.pt``).

``import_pretrained`` builds a registry entry with random weights, maps the published files onto it (the
entry's ``Pretrained.format``: one function per checkpoint layout in ``FORMATS``), computes a CLIP model's
zero-shot head, and saves the result with ``save_classifier``, so ``load_classifier`` (and every predict,
corruption and attack rule) treats an imported model like a trained one. It reads local files only: the manifest
of ``synclone.models.weights.fetch_weights`` says where they are.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from synclone.models.classifier import ClassifierWrapper, build_classifier, save_classifier
from synclone.models.registry import get_arch
from synclone.models.weights import WeightsError

logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
Paths = Mapping[str, Path]  # a published file per role (model, backbone, head)


def load_weights_file(path: str | os.PathLike) -> Any:
    """A safetensors file or a torch checkpoint, read without running pickled code.

    Training scripts often save their ``argparse.Namespace`` beside the weights (MAE, StableRep): that one class
    is allowed; anything else a checkpoint pickles fails with an explanation.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError for foreign/broken files
        raise WeightsError(
            f"{path} cannot be read as weights ({type(error).__name__}: {error}). A truncated download fails "
            f"here: fetch it again. A checkpoint that pickles Python objects besides tensors is refused; if you "
            f"trust its source, re-save its state dict: torch.save(torch.load(f, weights_only=False)['...'], out)"
        ) from error


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(checkpoint: Any, keys: Sequence[str] = ("state_dict", "model")) -> StateDict:
    """The tensors of a checkpoint: itself when it is a state dict, else the first of ``keys`` it holds."""
    if _is_state_dict(checkpoint):
        return dict(checkpoint)
    if isinstance(checkpoint, Mapping):
        for key in keys:
            if _is_state_dict(checkpoint.get(key)):
                return dict(checkpoint[key])
        found = ", ".join(map(str, list(checkpoint)[:8]))
        raise WeightsError(f"the checkpoint holds no state dict under {' or '.join(keys)} (its keys: {found})")
    raise WeightsError(f"the checkpoint is a {type(checkpoint).__name__}, not a state dict")


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Remove ``prefix`` (e.g. DistributedDataParallel's ``module.``) when every key has it."""
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix):]: value for key, value in state_dict.items()}
    return state_dict


# ---- formats: published files -> the state dict of our backbone -----------------------------------------------


def _plain(paths: Paths, backbone: nn.Module, kwargs: Mapping[str, Any], options: Mapping[str, Any]) -> StateDict:
    """torchvision-style files (SynResNet50), Scaling's ViT (a bare state dict), MAE's linear probe (``model``)."""
    return strip_prefix(unwrap_state_dict(load_weights_file(paths["model"])), "module.")


def _timm(paths: Paths, backbone: nn.Module, kwargs: Mapping[str, Any], options: Mapping[str, Any]) -> StateDict:
    """timm's own files (its hub copy of the tag, or a local one), loaded the way timm loads pretrained weights:
    with the model family's filter (non-persistent buffers dropped, older layouts converted)."""
    from synclone.models.timm_models import build_timm

    state_dict = strip_prefix(unwrap_state_dict(load_weights_file(paths["model"])), "module.")
    try:
        reference = build_timm(backbone.num_classes, pretrained=True,
                               pretrained_cfg_overlay={"state_dict": state_dict}, **kwargs)
    except RuntimeError as error:  # timm's strict load lists the keys that differ
        raise WeightsError(f"the file does not fit the architecture: {error}") from error
    return reference.state_dict()


def _mocov3(paths: Paths, backbone: nn.Module, kwargs: Mapping[str, Any], options: Mapping[str, Any]) -> StateDict:
    """MoCo v3's linear-classification checkpoint: the DDP-wrapped ViT with its linear head (``module.*``)."""
    state_dict = unwrap_state_dict(load_weights_file(paths["model"]))
    if any(key.startswith("module.base_encoder.") for key in state_dict):
        raise WeightsError("this is MoCo v3's pretraining checkpoint (module.base_encoder.*): its head is the "
                           "projection MLP, not an ImageNet classifier; import the linear-classification checkpoint "
                           "linear-vit-b-300ep.pth.tar instead")
    return strip_prefix(state_dict, "module.")


def _synclr(paths: Paths, backbone: nn.Module, kwargs: Mapping[str, Any], options: Mapping[str, Any]) -> StateDict:
    """StableRep's main_linear.py checkpoint: ``model`` (the ViT, maybe under ``module.visual.`` / ``visual.``)
    plus ``linear_classifiers`` (one head per learning rate of the sweep; ``options['head_key']`` picks one)."""
    checkpoint = load_weights_file(paths["model"])
    if not isinstance(checkpoint, Mapping) or "linear_classifiers" not in checkpoint:
        raise WeightsError("the file holds no linear_classifiers: SynCLR publishes its encoder only "
                           "(synclr_vit_b_16.pth); train a head with StableRep's main_linear.py --use_bn, or use "
                           "the benchmark authors' linear_best.pt")
    encoder = unwrap_state_dict(checkpoint, ("model", "state_dict"))
    for prefix in ("module.visual.", "visual.", "module."):
        encoder = strip_prefix(encoder, prefix)
    encoder = {key: value for key, value in encoder.items() if not key.startswith("head.")}  # pretraining head
    heads = strip_prefix(unwrap_state_dict(checkpoint["linear_classifiers"], ()), "module.")
    prefix = f"classifiers_dict.{options['head_key']}."
    head = {f"head.{key[len(prefix):]}": value for key, value in heads.items() if key.startswith(prefix)}
    if not head:
        available = sorted({key.split(".")[1] for key in heads if key.startswith("classifiers_dict.")})
        raise WeightsError(f"no linear head {options['head_key']!r} in the checkpoint; it has: {', '.join(available)}")
    return {**encoder, **head}


def _dinov2(paths: Paths, backbone: nn.Module, kwargs: Mapping[str, Any], options: Mapping[str, Any]) -> StateDict:
    """DINOv2: the backbone (official ``dinov2_vitb14_reg4_pretrain.pth`` or timm's hub copy) and the official
    linear head (``weight``, ``bias``). timm's converter maps the official layout (register tokens, the class
    token's position) and resamples the 37 x 37 position grid to the model's, bicubic with antialiasing, as DINOv2
    itself interpolates for registers models."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    encoder = checkpoint_filter_fn(unwrap_state_dict(load_weights_file(paths["backbone"])), backbone.backbone)
    head = unwrap_state_dict(load_weights_file(paths["head"]))
    return {**{f"backbone.{k}": v for k, v in encoder.items()}, **{f"head.{k}": v for k, v in head.items()}}


FORMATS: dict[str, Callable[[Paths, nn.Module, Mapping[str, Any], Mapping[str, Any]], StateDict]] = {
    "timm": _timm,
    "state_dict": _plain,
    "mocov3": _mocov3,
    "synclr_linear": _synclr,
    "dinov2_linear": _dinov2,
}


def load_into(module: nn.Module, state_dict: StateDict, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message a person can act on (which keys and shapes differ)."""
    own = module.state_dict()
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    shapes = [f"{key} {tuple(state_dict[key].shape)} vs {tuple(own[key].shape)}"
              for key in own if key in state_dict and state_dict[key].shape != own[key].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {'; '.join(shapes[:2])})" if shapes else ""]
        raise WeightsError(f"{what} does not fit the architecture: keys {'; '.join(p for p in parts if p)}")
    module.load_state_dict(state_dict, strict=True)


# ---- CLIP: the zero-shot head ----------------------------------------------------------------------------------


def template_set(name: str) -> list:
    """open_clip's ImageNet prompt templates: ``openai`` (the 80 of CLIP and of the paper) or ``simple``."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    sets = {"openai": OPENAI_IMAGENET_TEMPLATES, "simple": SIMPLE_IMAGENET_TEMPLATES}
    if name not in sets:
        raise ValueError(f"unknown template set {name!r}; choose from {', '.join(sets)}")
    return list(sets[name])


def _clip_zero_shot(path: Path, kwargs: Mapping[str, Any], num_classes: int, zero_shot: Mapping[str, Any],
                    device: torch.device) -> tuple[StateDict, float, dict[str, Any]]:
    """The image tower's weights, the logit scale and the head's metadata of an open_clip checkpoint."""
    import open_clip
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    from synclone.models.zero_shot import PAPER_LOGIT_SCALE, create_open_clip, zero_shot_weights

    create = {k: v for k, v in kwargs.items() if k != "logit_scale"}
    clip = create_open_clip(**create)
    try:
        open_clip.load_checkpoint(clip, str(path), strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{path} does not fit the open_clip model {create}: {error}") from error
    clip = clip.to(device).eval()
    class_names = list(zero_shot.get("class_names") or IMAGENET_CLASSNAMES)
    templates = zero_shot.get("templates", "openai")
    template_list = template_set(templates) if isinstance(templates, str) else list(templates)
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for a {num_classes}-class head")
    if create.get("model_name"):
        tokenizer = open_clip.get_tokenizer(create["model_name"])
    else:
        tokenizer = open_clip.SimpleTokenizer(context_length=create["model_cfg"]["text_cfg"].get("context_length", 77))
    logger.info("zero-shot head: %d classes x %d templates", len(class_names), len(template_list))
    embeddings = zero_shot_weights(clip, tokenizer, class_names, template_list, device=device, progress=True)
    scale = zero_shot.get("logit_scale", PAPER_LOGIT_SCALE)
    learned = clip.logit_scale.detach().exp().item()
    logit_scale = learned if scale == "learned" else float(scale)
    state = {**{f"visual.{k}": v for k, v in clip.visual.state_dict().items()}, "class_embeddings": embeddings}
    meta = {"templates": templates if isinstance(templates, str) else "custom", "n_templates": len(template_list),
            "logit_scale": scale, "learned_logit_scale": learned}
    return state, logit_scale, meta


def import_pretrained(arch: str, files: Mapping[str, str | os.PathLike], out_path: str | os.PathLike | None = None,
                      arch_kwargs: Mapping[str, Any] | None = None, zero_shot: Mapping[str, Any] | None = None,
                      device: str | torch.device = "cpu", meta: Mapping[str, Any] | None = None) -> ClassifierWrapper:
    """Registry entry ``arch`` with the published weights in ``files`` (role -> local path); written to
    ``out_path`` in our checkpoint format when given.

    ``zero_shot`` (CLIP entries): ``logit_scale`` (a number, default the paper's 100, or ``"learned"``),
    ``templates`` (``"openai"``, ``"simple"`` or a list of format strings), ``class_names`` (default open_clip's
    1000 ImageNet names). WeightsError names the file and what does not fit.
    """
    spec = get_arch(arch)
    if spec.pretrained is None:
        raise WeightsError(f"architecture {arch!r} has no published weights to import")
    expected = [f.role for f in spec.pretrained.files] or ["model"]
    if sorted(files) != sorted(expected):
        raise WeightsError(f"{arch} needs the files {', '.join(expected)}, got {', '.join(files) or 'none'}")
    device = torch.device(device)
    kwargs = {**spec.kwargs, **(arch_kwargs or {})}
    extra: dict[str, Any] = {}
    if spec.pretrained.format == "open_clip":
        state, kwargs["logit_scale"], extra["zero_shot"] = _clip_zero_shot(
            Path(files["model"]), kwargs, spec.num_classes, zero_shot or {}, device)
        model = build_classifier(arch, arch_kwargs=kwargs)
    else:
        model = build_classifier(arch, arch_kwargs=kwargs)
        paths = {role: Path(path) for role, path in files.items()}
        try:
            state = FORMATS[spec.pretrained.format](paths, model.backbone, kwargs, spec.pretrained.options)
        except WeightsError as error:
            raise WeightsError(f"{arch} from {', '.join(map(str, files.values()))}: {error}") from error
    load_into(model.backbone, state, f"{arch} from {', '.join(map(str, files.values()))}")
    model = model.to(device).eval()
    if out_path is not None:
        provenance = {"format": spec.pretrained.format, "files": {role: str(path) for role, path in files.items()}}
        save_classifier(out_path, model, {"imported": provenance, **extra, **dict(meta or {})})
        logger.info("wrote %s (%s, %d parameters)", out_path, arch, sum(p.numel() for p in model.parameters()))
    return model
