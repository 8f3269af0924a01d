"""The mini CLIP and the self-supervised clone end to end: checkpoints in the classifier format, zero-shot logits,
captions for real images, the `captions` prompt strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from synclone import tasks
from synclone.clip_mini import build_clip, pair_texts, tokenizer, train_clip, zero_shot_classifier
from synclone.clone_params import ClipParams
from synclone.imageset import write_imageset
from synclone.io import read_json
from synclone.models import get_arch
from synclone.models.classifier import build_classifier, load_classifier
from synclone.predict import predict_logits
from synclone.prompts import build_prompts
from synclone.worlds import mini

TOWER = {"embed_dim": 16, "channels": (8, 8, 16, 16), "stem_width": 8}
CLIP = {"steps": 2, "batch_size": 8, "text_width": 32, "text_heads": 2, "text_layers": 1, "context_length": 16,
        "warmup_steps": 1, "log_every": 1, "precision": "fp32"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A rendered set (attributes, no prompts) and a "generated" one (prompts), 4 images per class each."""
    root = tmp_path_factory.mktemp("sets")
    images, metadata, _ = mini.render_split("train", 40, seed=0)
    write_imageset(root / "real", images, metadata)
    prompts = build_prompts("hypernym_scene", 4, seed=0)
    generated, _, _ = mini.render_split("test", len(prompts), seed=1)  # stand-ins for generated images
    write_imageset(root / "synthetic", generated, prompts)
    return root


def test_zero_shot_logits_are_scaled_cosines_to_normalised_mean_template_embeddings():
    torch.manual_seed(0)
    kwargs = build_classifier("mini_clip_resnet", arch_kwargs=TOWER).arch_kwargs
    clip = build_clip(kwargs, ClipParams.from_dict(CLIP)).eval()
    model = zero_shot_classifier(clip, "mini_clip_resnet", kwargs, 16, logit_scale=100)
    images = torch.rand(5, 3, 32, 32)
    preprocess = get_arch("mini_clip_resnet").preprocess
    with torch.no_grad():
        # the reference, written out: each template's embedding normalised, averaged per class, normalised again
        tokens = tokenizer(16)
        classes = []
        for name in mini.CLASSES:
            per_template = F.normalize(clip.encode_text(tokens([t.format(name) for t in mini.CLIP_TEMPLATES])), dim=1)
            classes.append(F.normalize(per_template.mean(dim=0), dim=0))
        mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
        std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
        features = F.normalize(clip.visual((images - mean) / std), dim=1)
        expected = 100 * features @ torch.stack(classes).T
        assert torch.allclose(model(images), expected, atol=1e-4)
        learned = zero_shot_classifier(clip, "mini_clip_resnet", kwargs, 16, logit_scale="learned")
        assert learned.backbone.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)
        assert torch.allclose(learned(images), expected / 100 / 0.07, atol=1e-4)


def test_texts_are_prompts_or_attribute_captions():
    prompts = pd.DataFrame({"prompt": ["star, a symbol inside a forest"], "label": [7]})
    assert pair_texts(prompts, seed=0, drop_p=0.3) == ["star, a symbol inside a forest"]
    _, metadata, _ = mini.render_split("train", 20, seed=0)
    full = pair_texts(metadata, seed=0, drop_p=0.0)
    for text, row in zip(full, metadata.to_dict("records")):
        assert row["class_name"] in text and row["colour"] in text and mini.SCENES[row["scene"]] in text
    bare = pair_texts(metadata, seed=0, drop_p=1.0)
    assert bare == [f"{'an' if c[0] in 'aeiou' else 'a'} {c}" for c in metadata["class_name"]]
    with pytest.raises(ValueError, match="prompt"):
        pair_texts(pd.DataFrame({"label": [0]}), 0, 0.3)


def test_the_captions_strategy_describes_a_photo_of_the_class():
    prompts = build_prompts("captions", 20, seed=3)
    assert prompts.equals(build_prompts("captions", 20, seed=3))
    for text, name in zip(prompts["prompt"], prompts["class_name"]):
        assert name in text
    words = set(" ".join(prompts["prompt"]).replace(",", " ").split())
    assert words & set(mini.COLOURS) and words & set(mini.WEATHERS.values())
    assert prompts["prompt"].nunique() > len(prompts) // 2  # attribute captions, not one text per class


def test_clip_training_records_its_history_and_clamps_the_scale():
    torch.manual_seed(0)
    params = ClipParams.from_dict({**CLIP, "max_logit_scale": 5.0})
    kwargs = build_classifier("mini_clip_resnet", arch_kwargs=TOWER).arch_kwargs
    clip = build_clip(kwargs, params)
    images = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    history = train_clip(clip, images, [f"a star {i}" for i in range(12)], (0.5,) * 3, (0.25,) * 3, params, 0)
    assert [r["step"] for r in history["log"]] == [1, 2] and history["n_pairs"] == 12
    assert all(r["logit_scale"] <= 5.0 + 1e-6 for r in history["log"])
    with pytest.raises(ValueError, match="pairs"):
        train_clip(clip, images, ["one text"], (0.5,) * 3, (0.25,) * 3, params, 0)


def test_clip_rules_end_in_a_classifier_checkpoint(rendered, tmp_path):
    clip_path, out = tmp_path / "clip" / "m.pt", tmp_path / "m.pt"
    tasks.train_clip([str(rendered / "real"), str(rendered / "synthetic")], clip_path, "mini_clip_resnet", TOWER,
                     CLIP, seed=0, threads=1, device="cpu")
    tasks.zero_shot_head(clip_path, out, {"logit_scale": 100}, threads=1, device="cpu")
    model = load_classifier(out)
    assert model.arch == "mini_clip_resnet" and model.backbone.logit_scale == 100
    assert model.meta["zero_shot"]["logit_scale_source"] == "100"
    assert model.meta["clip"]["history"]["n_pairs"] == 80
    assert any(name in text for text in model.meta["clip"]["example_texts"] for name in mini.CLASSES)
    logits = predict_logits(model, np.zeros((3, 32, 32, 3), np.uint8))
    assert logits.shape == (3, len(mini.CLASSES)) and np.isfinite(logits).all()
    tasks.zero_shot_head(clip_path, out, {}, threads=1, device="cpu")  # default: the learned scale
    assert load_classifier(out).backbone.logit_scale == pytest.approx(
        load_classifier(out).meta["clip"]["history"]["log"][-1]["logit_scale"], rel=1e-5)


def test_ssl_rules_end_in_a_probed_classifier_checkpoint(rendered, tmp_path):
    pretrained, out, record = tmp_path / "pretrained" / "m.pt", tmp_path / "m.pt", tmp_path / "m.probe.json"
    params = {"steps": 2, "batch_size": 8, "positives": "prompt", "images_per_group": 2, "log_every": 1,
              "warmup_steps": 1, "projection_hidden": 32, "projection_dim": 16, "precision": "fp32"}
    tasks.pretrain_ssl([str(rendered / "synthetic")], pretrained, "mini_resnet",
                       {"channels": (8, 8, 16, 16), "stem_width": 8}, params, seed=0, threads=1, device="cpu")
    tasks.linear_probe(pretrained, rendered / "real", out, record, {"lrs": [0.1, 1.0, 10.0], "epochs": 2}, seed=0,
                       threads=1, device="cpu")
    model = load_classifier(out)
    probe = read_json(record)
    assert model.meta["probe"]["best_lr"] == probe["best_lr"]
    assert [entry["lr"] for entry in probe["holdout_accuracy"]] == [0.1, 1.0, 10.0]
    best = max(probe["holdout_accuracy"], key=lambda entry: entry["accuracy"])
    assert probe["best_lr"] == best["lr"] and probe["n_fit"] + probe["n_holdout"] == 40
    assert model.meta["pretrain"]["log"][-1]["step"] == 2
    logits = predict_logits(model, np.zeros((2, 32, 32, 3), np.uint8))
    assert logits.shape == (2, len(mini.CLASSES))
