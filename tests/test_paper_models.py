"""The paper's 13 models: true architectures with random weights, their own preprocessing, importing published
weights into our checkpoint format (key remapping, CLIP zero-shot heads), and the errors a user can act on.

Everything is offline: published checkpoints are imitated by small models saved in the authors' layouts.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from synclone.config import ConfigError, check_names
from synclone.models.classifier import build_classifier, load_classifier
from synclone.models.pretrained import import_pretrained
from synclone.models.registry import (
    ARCHITECTURES, IMAGENET_MEAN, IMAGENET_STD, PAPER_MODELS, ArchSpec, Pretrained, UnknownArchError, WeightFile,
    get_arch,
)
from synclone.models.weights import WeightsError, fetch_weights, verify_manifest, weights_problems
from synclone.models.zero_shot import ZeroShotClassifier, create_open_clip, zero_shot_weights
from tests.configs import REPO, default_config, write_config


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def vit_params(dim, depth, patch, positions, classes, *, reg=0, layer_scale=False, head_in=None):
    """Parameters of a timm ViT from its shape (patch conv, class + register tokens, position table, blocks, norm, head)."""
    block = (3 * dim * dim + 3 * dim) + (dim * dim + dim) + 2 * (4 * dim * dim) + 4 * dim + dim + 4 * dim
    block += 2 * dim if layer_scale else 0
    head = (head_in or dim) * classes + classes
    return 3 * patch * patch * dim + dim + (1 + reg) * dim + positions * dim + depth * block + 2 * dim + head


def clip_visual_params(dim, depth, patch, positions, embed):
    """open_clip's image tower: bias-free patch conv, class embedding, ln_pre / ln_post, projection, no head."""
    block = (3 * dim * dim + 3 * dim) + (dim * dim + dim) + 2 * (4 * dim * dim) + 4 * dim + dim + 4 * dim
    return 3 * patch * patch * dim + dim + positions * dim + 2 * dim + depth * block + 2 * dim + dim * embed


VIT_B = vit_params(768, 12, 16, 197, 1000)  # 86,567,656 (torchvision's vit_b_16 card)
EXPECTED_PARAMS = {
    "resnet50": 25_557_032,  # torchvision / timm ResNet-50 card
    "synresnet50": 25_557_032 - 1000,  # the same without the classifier's bias
    "swin_b": 87_768_224,  # torchvision Swin-B card
    "convnext_b": 88_591_464,  # torchvision ConvNeXt-Base card
    "deit3_l": vit_params(1024, 24, 16, 196, 1000, layer_scale=True),  # 304.4M (DeiT-III: no class position)
    "vit_b": VIT_B,
    "synvit_b": VIT_B,
    "mae_vit_b": VIT_B,  # the probe's BatchNorm has no affine parameters
    "dinov2_vit_b": vit_params(768, 12, 14, 256, 1000, reg=4, layer_scale=True, head_in=5 * 768),
    "mocov3_vit_b": VIT_B,
    "synclr_vit_b": VIT_B,
    "clip_vit_b16": clip_visual_params(768, 12, 16, 197, 512),  # 86.2M: CLIP ViT-B/16's image encoder
    "synclip_vit_b16": clip_visual_params(768, 12, 16, 197, 512),
}
TIMM_TAGS = {"resnet50": "resnet50.a1_in1k", "swin_b": "swin_base_patch4_window7_224.ms_in1k",
             "convnext_b": "convnext_base.fb_in22k_ft_in1k", "deit3_l": "deit3_large_patch16_224.fb_in1k",
             "vit_b": "vit_base_patch16_224.augreg_in1k"}
# (resize of the shorter side, interpolation, mean, std) of each checkpoint's own evaluation code, center crop 224
RECIPES = {
    "synresnet50": (224, "bicubic", IMAGENET_MEAN, IMAGENET_STD),  # Fake-it
    "synvit_b": (256, "bilinear", (0.5,) * 3, (0.5,) * 3),  # Scaling's eval_imagenet_supervised.py
    "mae_vit_b": (256, "bicubic", IMAGENET_MEAN, IMAGENET_STD),  # MAE main_linprobe.py
    "dinov2_vit_b": (256, "bicubic", IMAGENET_MEAN, IMAGENET_STD),  # DINOv2 classification eval transform
    "mocov3_vit_b": (256, "bilinear", IMAGENET_MEAN, IMAGENET_STD),  # MoCo v3 main_lincls.py
    "synclr_vit_b": (256, "bilinear", IMAGENET_MEAN, IMAGENET_STD),  # StableRep main_linear.py
}
SMALL_VIT = {"img_size": 32, "embed_dim": 64, "depth": 2, "num_heads": 2}


def assert_preprocess_is_the_models_own(name, preprocess):
    import open_clip
    import timm
    from torchvision import transforms

    if name in TIMM_TAGS:
        config = timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(TIMM_TAGS[name]).to_dict())
        assert (preprocess.input_size, preprocess.interpolation, preprocess.crop_pct, preprocess.crop_mode) == (
            config["input_size"], config["interpolation"], config["crop_pct"], config["crop_mode"])
        assert (preprocess.mean, preprocess.std) == (tuple(config["mean"]), tuple(config["std"]))
    elif name in RECIPES:
        resize, interpolation, mean, std = RECIPES[name]
        assert preprocess.input_size == (3, 224, 224) and preprocess.crop_mode == "center"
        assert round(224 / preprocess.crop_pct) == resize and preprocess.interpolation == interpolation
        assert (preprocess.mean, preprocess.std) == (mean, std)
    else:  # CLIP: open_clip's own eval transform for the openai weights
        cfg = open_clip.get_pretrained_cfg("ViT-B-16", "openai")
        steps = open_clip.image_transform(224, is_train=False, mean=cfg["mean"], std=cfg["std"],
                                          interpolation=cfg["interpolation"], resize_mode=cfg["resize_mode"]).transforms
        resize, crop, normalize = (next(s for s in steps if isinstance(s, kind))
                                   for kind in (transforms.Resize, transforms.CenterCrop, transforms.Normalize))
        assert resize.size == round(224 / preprocess.crop_pct) and crop.size == (224, 224)
        assert resize.interpolation.value == preprocess.interpolation
        assert preprocess.mean == tuple(normalize.mean) and preprocess.std == tuple(normalize.std)


def test_the_registry_holds_the_13_paper_models():
    assert sorted(PAPER_MODELS) == sorted(EXPECTED_PARAMS)
    assert all(ARCHITECTURES[name] is spec for name, spec in PAPER_MODELS.items())
    heads = {name: spec.head for name, spec in PAPER_MODELS.items()}
    assert {n for n, h in heads.items() if h == "zero_shot"} == {"clip_vit_b16", "synclip_vit_b16"}
    assert {n for n, h in heads.items() if h == "linear_probe"} == {"mae_vit_b", "dinov2_vit_b", "mocov3_vit_b",
                                                                     "synclr_vit_b"}


def test_registry_and_weight_sources_import_without_torch():
    code = ("import sys, synclone.models.registry, synclone.models.weights, synclone.registries; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_each_paper_model_builds_at_its_true_architecture(name):
    torch.manual_seed(0)
    model = build_classifier(name).eval()
    assert sum(p.numel() for p in model.backbone.parameters()) == EXPECTED_PARAMS[name]
    assert_preprocess_is_the_models_own(name, model.preprocess)
    with torch.no_grad():
        logits = model(torch.rand(1, *model.preprocess.input_size))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    if name in ("mae_vit_b", "synclr_vit_b"):  # their probes normalise the features first
        assert "head.0.running_var" in model.backbone.state_dict()
    del model
    gc.collect()


def test_unknown_arch_lists_every_valid_name():
    with pytest.raises(UnknownArchError) as error:
        get_arch("resnet5O")
    for name in ARCHITECTURES:
        assert name in str(error.value)


# ---- zero-shot ------------------------------------------------------------------------------------------------

TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
CLASS_NAMES = ["star", "heart", "moon"]
TEMPLATES = ["a photo of a {}.", "a drawing of the {}.", "a {} in the snow."]


def reference_class_embeddings(clip, tokenizer, class_names, templates):
    rows = []
    for name in class_names:
        text = clip.encode_text(tokenizer([t.format(name) for t in templates]))
        rows.append(F.normalize(F.normalize(text, dim=-1).mean(dim=0), dim=0))
    return torch.stack(rows)


@pytest.fixture(scope="module")
def tiny_clip():
    import open_clip

    torch.manual_seed(0)
    clip = create_open_clip(model_cfg=TINY_CLIP).eval()
    with torch.no_grad():
        clip.logit_scale.fill_(math.log(37.0))
    return clip, open_clip.SimpleTokenizer(context_length=16)


def test_zero_shot_weights_are_normalised_mean_template_embeddings(tiny_clip):
    clip, tokenizer = tiny_clip
    with torch.no_grad():
        expected = reference_class_embeddings(clip, tokenizer, CLASS_NAMES, TEMPLATES)
        weights = zero_shot_weights(clip, tokenizer, CLASS_NAMES, TEMPLATES, classes_per_batch=2)
        as_callables = zero_shot_weights(clip, tokenizer, CLASS_NAMES, [t.format for t in TEMPLATES])
    assert weights.shape == (3, 32)
    torch.testing.assert_close(weights, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(as_callables, expected, atol=1e-5, rtol=1e-5)


def test_zero_shot_logits_are_scaled_cosine_similarities(tiny_clip):
    clip, tokenizer = tiny_clip
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        weights = zero_shot_weights(clip, tokenizer, CLASS_NAMES, TEMPLATES)
        logits = ZeroShotClassifier(clip.visual, weights, logit_scale=100.0)(images)
        image = clip.encode_image(images)
        expected = 100.0 * torch.stack([F.cosine_similarity(image, w.expand_as(image)) for w in weights], dim=1)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.fixture
def tiny_clip_arch(monkeypatch):
    spec = ArchSpec(
        name="tiny_clip", source="checkpoint", builder="synclone.models.zero_shot:build_open_clip_zero_shot",
        num_classes=3, kwargs={"model_cfg": TINY_CLIP}, head="zero_shot",
        pretrained=Pretrained(format="open_clip", page="(test)", files=(WeightFile("model", "tiny.pt"),)),
    )
    monkeypatch.setitem(ARCHITECTURES, spec.name, spec)
    return spec.name


def test_imported_clip_computes_its_head_once_and_round_trips(tiny_clip, tiny_clip_arch, tmp_path):
    clip, tokenizer = tiny_clip
    source = tmp_path / "tiny.pt"
    torch.save(clip.state_dict(), source)
    out = tmp_path / "checkpoints" / "tiny.pt"
    zero_shot = {"class_names": CLASS_NAMES, "templates": TEMPLATES, "logit_scale": "learned"}
    imported = import_pretrained(tiny_clip_arch, {"model": source}, out, zero_shot=zero_shot)
    loaded = load_classifier(out)
    images = torch.rand(2, 3, 32, 32)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (imported.preprocess.mean, imported.preprocess.std))
    with torch.no_grad():
        weights = reference_class_embeddings(clip, tokenizer, CLASS_NAMES, TEMPLATES)
        expected = 37.0 * F.normalize(clip.encode_image((images - mean) / std), dim=-1) @ weights.T
        torch.testing.assert_close(imported(images), expected, atol=1e-4, rtol=1e-4)
        assert torch.equal(loaded(images), imported(images))
    assert loaded.arch_kwargs["logit_scale"] == pytest.approx(37.0)
    assert loaded.meta["zero_shot"]["logit_scale"] == "learned" and loaded.meta["zero_shot"]["n_templates"] == 3
    fixed = import_pretrained(tiny_clip_arch, {"model": source}, zero_shot={**zero_shot, "logit_scale": 100})
    with torch.no_grad():
        torch.testing.assert_close(fixed(images), expected * 100 / 37, atol=1e-4, rtol=1e-4)


# ---- importing published layouts -----------------------------------------------------------------------------


def images_and_reference(model, source_backbone, size):
    images = torch.rand(2, 3, size, size)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (model.preprocess.mean, model.preprocess.std))
    with torch.no_grad():
        return images, source_backbone.eval()((images - mean) / std)


def randomise_batch_norm(module):
    for norm in (m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_torchvision_resnet_from_a_url_round_trips(tmp_path):
    """SynResNet50: Fake-it's torchvision state dict (fc without bias), downloaded with its pinned md5."""
    from torchvision.models import resnet50

    torch.manual_seed(0)
    source = resnet50()
    source.fc = torch.nn.Linear(2048, 1000, bias=False)
    randomise_batch_norm(source)
    published = tmp_path / "imagenet_1k_sd.pth"
    torch.save(source.state_dict(), published)
    weights = {"source": "url", "url": published.as_uri(), "md5": md5(published)}
    manifest = fetch_weights("syn", "synresnet50", weights, cache_dir=tmp_path / "cache")
    assert manifest["files"]["model"]["md5"] == weights["md5"]
    out = tmp_path / "syn.pt"
    model = import_pretrained("synresnet50", verify_manifest(manifest), out, meta={"weights": manifest})
    images, expected = images_and_reference(model, source, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected)
        assert torch.equal(load_classifier(out)(images), model(images))
    assert load_classifier(out).meta["weights"]["files"]["model"]["source"] == "url"


def test_mocov3_linear_checkpoint_is_remapped(tmp_path):
    torch.manual_seed(0)
    source = build_classifier("mocov3_vit_b", arch_kwargs=SMALL_VIT).backbone
    checkpoint = {"epoch": 90, "arch": "vit_base", "best_acc1": torch.tensor(76.7),
                  "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}
    path = tmp_path / "linear-vit-b-300ep.pth.tar"
    torch.save(checkpoint, path)
    manifest = fetch_weights("moco", "mocov3_vit_b", {"source": "path", "path": str(path)})
    model = import_pretrained("mocov3_vit_b", verify_manifest(manifest), arch_kwargs=SMALL_VIT)
    images, expected = images_and_reference(model, source, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected)

    pretraining = {"state_dict": {f"module.base_encoder.{k}": v for k, v in source.state_dict().items()}}
    torch.save(pretraining, path)
    with pytest.raises(WeightsError, match="MoCo v3's pretraining checkpoint.*linear-vit-b-300ep.pth.tar"):
        import_pretrained("mocov3_vit_b", {"model": path}, arch_kwargs=SMALL_VIT)


def test_synclr_linear_probe_picks_its_head_from_the_sweep(tmp_path):
    torch.manual_seed(0)
    source = build_classifier("synclr_vit_b", arch_kwargs=SMALL_VIT).backbone
    randomise_batch_norm(source)
    state = source.state_dict()
    encoder = {f"module.visual.{k}": v for k, v in state.items() if not k.startswith("head.")}
    encoder["module.visual.head.weight"] = torch.randn(256, 64)  # the pretraining projection, dropped
    heads = {f"module.classifiers_dict.classifier_lr_0_0050.{k[5:]}": v for k, v in state.items() if k.startswith("head.")}
    heads.update({k.replace("0_0050", "0_1000"): torch.randn_like(v.float()).to(v.dtype) for k, v in heads.items()})
    path = tmp_path / "linear_best.pt"
    torch.save({"args": argparse.Namespace(use_bn=True), "model": encoder, "linear_classifiers": heads}, path)
    model = import_pretrained("synclr_vit_b", {"model": path}, arch_kwargs=SMALL_VIT)
    images, expected = images_and_reference(model, source, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected)

    torch.save({"model": encoder}, path)  # the published encoder alone has no ImageNet head
    with pytest.raises(WeightsError, match="no linear_classifiers"):
        import_pretrained("synclr_vit_b", {"model": path}, arch_kwargs=SMALL_VIT)


DINO_SMALL = {"embed_dim": 64, "depth": 4, "num_heads": 2}


def dinov2_official(backbone, generator):
    """A timm DINOv2 backbone's weights in the official layout (class position in the table, register_tokens)."""
    state = dict(backbone.state_dict())
    class_position = torch.randn(1, 1, backbone.embed_dim, generator=generator)
    return {**{k: v for k, v in state.items() if k not in ("cls_token", "reg_token", "pos_embed")},
            "cls_token": state["cls_token"] - class_position, "register_tokens": state["reg_token"],
            "pos_embed": torch.cat([class_position, state["pos_embed"]], dim=1),
            "mask_token": torch.zeros(1, backbone.embed_dim)}


def test_dinov2_official_backbone_and_linear_head(tmp_path):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    kwargs = {**DINO_SMALL, "img_size": 28}
    source = build_classifier("dinov2_vit_b", arch_kwargs=kwargs).backbone
    official = dinov2_official(source.backbone, generator)
    torch.save(official, tmp_path / "backbone.pth")
    torch.save(source.head.state_dict(), tmp_path / "head.pth")
    files = {"backbone": tmp_path / "backbone.pth", "head": tmp_path / "head.pth"}
    model = import_pretrained("dinov2_vit_b", files, arch_kwargs=kwargs)

    # the reference follows DINOv2's own forward on the official layout
    images = torch.rand(2, 3, 28, 28)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    blocks = source.backbone.blocks
    with torch.no_grad():
        patches = source.backbone.patch_embed((images - mean) / std)
        tokens = torch.cat([official["cls_token"].expand(2, -1, -1), patches], dim=1) + official["pos_embed"]
        tokens = torch.cat([tokens[:, :1], official["register_tokens"].expand(2, -1, -1), tokens[:, 1:]], dim=1)
        outputs = []
        for block in blocks:
            tokens = block(tokens)
            outputs.append(source.backbone.norm(tokens))
        features = torch.cat([*(out[:, 0] for out in outputs[-4:]), outputs[-1][:, 5:].mean(dim=1)], dim=1)
        torch.testing.assert_close(model(images), source.head(features), atol=1e-5, rtol=1e-5)


def test_dinov2_position_table_is_resampled_as_dinov2_does(tmp_path):
    """The 518 px checkpoint (37 x 37 grid) at 224 px: bicubic with antialiasing to 16 x 16, what DINOv2's
    registers models compute on the fly; here a 4 x 4 grid evaluated on 2 x 2."""
    torch.manual_seed(0)
    large = build_classifier("dinov2_vit_b", arch_kwargs={**DINO_SMALL, "img_size": 56}).backbone
    official = dinov2_official(large.backbone, torch.Generator().manual_seed(2))
    torch.save(official, tmp_path / "backbone.pth")
    torch.save(large.head.state_dict(), tmp_path / "head.pth")
    files = {"backbone": tmp_path / "backbone.pth", "head": tmp_path / "head.pth"}
    model = import_pretrained("dinov2_vit_b", files, arch_kwargs={**DINO_SMALL, "img_size": 28}).backbone.backbone
    grid = official["pos_embed"][:, 1:].reshape(1, 4, 4, 64).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(2, 2), mode="bicubic", antialias=True).permute(0, 2, 3, 1).reshape(1, 4, 64)
    torch.testing.assert_close(model.pos_embed, expected)
    torch.testing.assert_close(model.cls_token, official["cls_token"] + official["pos_embed"][:, :1])


def test_hub_weights_come_from_the_hugging_face_cache_offline(tmp_path, monkeypatch):
    """source hub: timm's file for the pinned tag, found in the hub cache without network."""
    import huggingface_hub.constants
    from safetensors.torch import save_file

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    kwargs = {"img_size": 32, "embed_dim": 64, "depth": 1, "num_heads": 2}
    with pytest.raises(WeightsError, match="could not fetch vit_base_patch16_224.augreg_in1k from the Hugging Face hub"):
        fetch_weights("vit", "vit_b", {"source": "hub"}, cache_dir=tmp_path)

    torch.manual_seed(0)
    source = build_classifier("vit_b", arch_kwargs=kwargs).backbone
    repo = tmp_path / "huggingface" / "models--timm--vit_base_patch16_224.augreg_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(source.state_dict(), repo / "snapshots" / ("0" * 40) / "model.safetensors")
    manifest = fetch_weights("vit", "vit_b", {"source": "hub"}, cache_dir=tmp_path)
    model = import_pretrained("vit_b", verify_manifest(manifest), arch_kwargs=kwargs)
    images, expected = images_and_reference(model, source, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected)


def test_timm_files_load_the_way_timm_loads_them(tmp_path):
    """A Swin file that still holds its non-persistent index buffers (older timm saves did): timm's filter drops them."""
    torch.manual_seed(0)
    kwargs = {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1)}
    source = build_classifier("swin_b", arch_kwargs=kwargs).backbone
    state = dict(source.state_dict())
    for name, module in source.named_modules():
        if hasattr(module, "relative_position_index"):
            state[f"{name}.relative_position_index"] = module.relative_position_index
    path = tmp_path / "swin.pth"
    torch.save({"model": state}, path)
    model = import_pretrained("swin_b", {"model": path}, arch_kwargs=kwargs)
    images, expected = images_and_reference(model, source, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(images[:1]), expected[:1])


# ---- errors a user can act on ---------------------------------------------------------------------------------


def test_a_missing_file_names_the_model_the_file_and_where_to_get_it(tmp_path):
    absent = tmp_path / "absent.pth"
    with pytest.raises(WeightsError, match=r"model syn: the weight file .*absent.pth does not exist\. synresnet50 "
                                           r"needs imagenet_1k_sd.pth .*europe.naverlabs.com/imagenet-sd"):
        fetch_weights("syn", "synresnet50", {"source": "path", "path": str(absent)})
    with pytest.raises(WeightsError, match="or download it from https://dl.fbaipublicfiles.com/moco-v3/"):
        fetch_weights("moco", "mocov3_vit_b", {"source": "path", "path": str(absent)})


def test_a_wrong_checksum_is_refused_and_not_kept(tmp_path):
    published = tmp_path / "imagenet_1k_sd.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, published)
    wrong = "0" * 32
    with pytest.raises(WeightsError, match=f"its md5 is {md5(published)}, expected {wrong}"):
        fetch_weights("syn", "synresnet50", {"source": "path", "path": str(published), "md5": wrong})
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match=f"downloaded from {published.as_uri()}.*expected {wrong}"):
        fetch_weights("syn", "synresnet50", {"source": "url", "url": published.as_uri(), "md5": wrong}, cache)
    assert not [p for p in cache.rglob("*") if p.is_file()]  # the wrong download is gone

    manifest = fetch_weights("syn", "synresnet50", {"source": "path", "path": str(published)})
    torch.save({"fc.weight": torch.ones(2, 2)}, published)  # changed after fetching
    with pytest.raises(WeightsError, match="changed since fetch_weights recorded its md5"):
        verify_manifest(manifest)


def test_a_file_of_another_model_says_what_does_not_fit(tmp_path):
    path = tmp_path / "16M.pt"
    torch.save(build_classifier("mocov3_vit_b", arch_kwargs=SMALL_VIT).backbone.state_dict(), path)
    with pytest.raises(WeightsError, match=r"does not fit the architecture: keys 5 missing \(e.g. head.0.running_mean"
                                           r".*2 unexpected \(e.g. head.weight"):
        import_pretrained("mae_vit_b", {"model": path}, arch_kwargs=SMALL_VIT)  # a plain head, not BN + linear
    with pytest.raises(WeightsError, match="does not fit the architecture.*of another shape"):
        import_pretrained("synvit_b", {"model": path}, arch_kwargs={**SMALL_VIT, "embed_dim": 32})


def test_config_weights_are_checked_when_the_dag_is_built():
    problems = weights_problems({
        "a": {"arch": "mini_vit", "weights": {"source": "hub"}, "group": "real"},
        "b": {"arch": "synresnet50", "weights": {"source": "hub"}, "group": "synthetic"},
        "c": {"arch": "synresnet50", "weights": {"source": "url"}, "group": "synthetic"},
        "d": {"arch": "dinov2_vit_b", "weights": {"source": "url"}, "group": "real"},  # published: fine
        "e": {"arch": "resnet50", "weights": {"source": "hub"}, "train": {"epochs": 1}, "group": "real"},
        "f": {"arch": "vit_b", "weights": {"source": "hub"}, "zero_shot": {"logit_scale": 100}, "group": "real"},
    })
    assert len(problems) == 5
    assert "models.a.weights: architecture 'mini_vit' has no published weights" in problems[0]
    assert "models.b.weights: synresnet50 is on no hub; use source: url or path" in problems[1]
    assert "models.c.weights: imagenet_1k_sd.pth has no direct download; get it from https://europe" in problems[2]
    assert problems[3] == "models.e.train: an imported model (weights:) is not trained here; remove train:"
    assert problems[4] == "models.f.zero_shot: vit_b is not a zero-shot (CLIP) model"

    config = default_config()
    config["models"]["resnet_real"]["weights"] = {"source": "hub"}
    from synclone import registries

    with pytest.raises(ConfigError, match="models.resnet_real: give either data: .* or weights: .*not both"):
        check_names(config, **registries.names())


def test_the_workflow_fetches_and_imports_a_model_with_weights(tmp_path):
    """The real rules on a model with weights: fetch_weights (local rule) then import_model, no train_model."""
    from torchvision.models import resnet50

    torch.manual_seed(0)
    source = resnet50()
    source.fc = torch.nn.Linear(2048, 1000, bias=False)
    published = tmp_path / "imagenet_1k_sd.pth"
    torch.save(source.state_dict(), published)
    config = default_config()
    config["models"]["syn_import"] = {"arch": "synresnet50", "group": "synthetic",
                                      "weights": {"source": "path", "path": str(published), "md5": md5(published)}}
    config["compute"]["hub_cache"] = str(tmp_path / "cache")
    path = write_config(config, tmp_path / "config.yaml")
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--configfile", str(path), "--cores", "1", "checkpoints/syn_import.pt"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    logs = {str(p.relative_to(tmp_path / "logs")) for p in (tmp_path / "logs").rglob("*.log")}
    assert logs == {"fetch_weights/syn_import.log", "import/syn_import.log"}  # its two jobs, nothing trained
    model = load_classifier(tmp_path / "checkpoints" / "syn_import.pt")
    assert model.meta["weights"]["files"]["model"]["md5"] == md5(published)
    images, expected = images_and_reference(model, source, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(images), expected)
