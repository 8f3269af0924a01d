import subprocess
import sys

import pytest
import torch

from synclone.models import ARCHITECTURES, ArchSpec, UnknownArchError, get_arch
from synclone.models.classifier import CheckpointError, build_classifier, load_classifier, save_classifier

# the mini world's entries (32 px, trained here); the paper's 13 are tested in tests/test_paper_models.py
MINI_ARCHS = sorted(name for name, spec in ARCHITECTURES.items() if spec.source == "local")


def test_registry_import_does_not_import_torch():
    code = "import sys, synclone.models.registry, synclone.models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_arch_lists_valid_names():
    with pytest.raises(UnknownArchError) as error:
        get_arch("mini_resnett")
    for name in ARCHITECTURES:
        assert name in str(error.value)
    with pytest.raises(UnknownArchError):
        build_classifier("resnet_typo")


@pytest.mark.parametrize("arch", MINI_ARCHS)
def test_every_entry_maps_unit_images_to_logits(arch):
    torch.manual_seed(0)
    spec = get_arch(arch)
    model = build_classifier(arch).eval()
    images = torch.rand(3, *spec.preprocess.input_size)
    with torch.no_grad():
        logits = model(images)
    assert logits.shape == (3, spec.num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", MINI_ARCHS)
def test_wrapper_normalises_inside(arch):
    torch.manual_seed(0)
    model = build_classifier(arch, num_classes=4).eval()
    mean = torch.tensor(model.preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.preprocess.std).view(1, 3, 1, 1)
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(images), model.backbone((images - mean) / std), atol=1e-6)
        assert not torch.allclose(model(images), model.backbone(images), atol=1e-3)


@pytest.mark.parametrize("arch", MINI_ARCHS)
def test_checkpoint_round_trip_gives_identical_logits(arch, tmp_path):
    torch.manual_seed(0)
    overrides = {"layers": (1, 1, 1, 2)} if "resnet" in arch else {"depth": 2}
    model = build_classifier(arch, num_classes=7, arch_kwargs=overrides)
    with torch.no_grad():  # move BatchNorm running statistics off their initial values
        model.train()(torch.rand(16, 3, 32, 32))
    model.eval()
    path = tmp_path / "checkpoints" / "model.pt"
    save_classifier(path, model, extra_meta={"seed": 3, "history": [{"loss": 1.5}]})
    loaded = load_classifier(path)
    assert not loaded.training
    assert (loaded.arch, loaded.num_classes, loaded.arch_kwargs) == (arch, 7, model.arch_kwargs)
    assert loaded.meta == {"seed": 3, "history": [{"loss": 1.5}]}
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(images), model(images))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_mini_vit_variants():
    plain = build_classifier("mini_vit", arch_kwargs={"conv_stem": [], "pos_embed": "learn"}).backbone
    assert isinstance(plain.patch_embed.proj, torch.nn.Conv2d) and plain.patch_embed.proj.stride == (4, 4)
    assert plain.pos_embed.requires_grad
    with pytest.raises(ValueError, match="cannot make patches of"):
        build_classifier("mini_vit", arch_kwargs={"conv_stem": [32, 64, 128]})
    with_token = build_classifier(
        "mini_vit", arch_kwargs={"pos_embed": "sincos", "class_token": True, "global_pool": "token"}
    ).backbone
    table = with_token.pos_embed[0]
    assert not with_token.pos_embed.requires_grad
    assert torch.equal(table[0], torch.zeros(128))  # the class token has no position
    assert torch.allclose(table[1:].norm(dim=1), torch.full((64,), 8.0))  # sqrt(embed_dim / 2)
    assert len(torch.unique(table[1:], dim=0)) == 64


def test_missing_checkpoint_names_file_and_fix(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError, match="absent.pt.*does not exist.*rerun the train rule"):
        load_classifier(path)


def test_corrupt_checkpoint_names_file_and_fix(tmp_path):
    path = tmp_path / "model.pt"
    save_classifier(path, build_classifier("mini_resnet"))
    path.write_bytes(path.read_bytes()[:1000])  # a job killed mid-copy
    with pytest.raises(CheckpointError, match="model.pt is corrupt.*rerun the train rule"):
        load_classifier(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a synclone classifier checkpoint"):
        load_classifier(path)


def test_checkpoint_of_changed_architecture_is_rejected(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_classifier(path, build_classifier("mini_vit"))
    spec = ARCHITECTURES["mini_vit"]
    changed = ArchSpec(**{**spec.__dict__, "builder": "synclone.models.mini:build_mini_resnet", "kwargs": {}})
    monkeypatch.setitem(ARCHITECTURES, "mini_vit", changed)
    with pytest.raises(CheckpointError, match="does not match the current definition of architecture 'mini_vit'"):
        load_classifier(path)


def test_timm_entry_takes_preprocessing_from_the_model_config(monkeypatch):
    # The shape of a paper-mode entry: a timm registry name, preprocessing resolved from its pretrained_cfg.
    spec = ArchSpec(
        name="timm_resnet10t",
        source="timm",
        builder="synclone.models.timm_models:build_timm",
        num_classes=1000,
        kwargs={"model_name": "resnet10t.c3_in1k"},
    )
    monkeypatch.setitem(ARCHITECTURES, spec.name, spec)
    model = build_classifier(spec.name, num_classes=5).eval()
    assert model.preprocess.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.preprocess.std == pytest.approx((0.229, 0.224, 0.225))
    assert model.preprocess.input_size[0] == 3 and model.preprocess.crop_pct < 1
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5)
