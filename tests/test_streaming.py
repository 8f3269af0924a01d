"""Streaming image sets: each model's eval preprocessing (against timm's), lazy decoding, streaming predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from timm.data.transforms_factory import transforms_imagenet_eval

from synclone.imageset import ImageSetError, open_imageset, open_imagesets, read_imageset, write_imageset
from synclone.models.classifier import build_classifier
from synclone.models.registry import Preprocess
from synclone.predict import predict_logits, predict_views
from synclone.streaming import (
    EvalImages,
    EvalTransform,
    PreprocessedImages,
    TrainTransform,
    load_preprocessed,
    make_loader,
    predict_imageset,
    predict_imageset_views,
)
from synclone.worlds import mini

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
ODD_SIZES = [(61, 90), (90, 61), (49, 48), (37, 55), (48, 49)]  # H x W; some smaller than the input


def random_image(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def write_folder(root: Path, images: list[Image.Image], suffix: str = "jpg") -> Path:
    """An image set of images of any sizes (write_imageset wants one size)."""
    (root / "images").mkdir(parents=True)
    files = [f"images/{i:03d}.{suffix}" for i in range(len(images))]
    for image, name in zip(images, files):
        image.save(root / name, quality=95) if suffix == "jpg" else image.save(root / name)
    pd.DataFrame({"file": files, "label": np.arange(len(images)) % 3}).to_csv(root / "metadata.csv", index=False)
    return root


@pytest.mark.parametrize("crop_mode", ["center", "squash", "border"])
@pytest.mark.parametrize("input_hw", [(48, 48), (48, 40)])
def test_eval_transform_equals_timms_eval_transform(crop_mode, input_hw):
    for interpolation in ("bilinear", "bicubic", "nearest"):
        for crop_pct in (0.875, 0.95, 1.0):
            preprocess = Preprocess((3, *input_hw), **IMAGENET, interpolation=interpolation, crop_pct=crop_pct,
                                    crop_mode=crop_mode)
            size = input_hw[0] if input_hw[0] == input_hw[1] else input_hw
            reference = transforms_imagenet_eval(img_size=size, crop_pct=crop_pct, crop_mode=crop_mode,
                                                 interpolation=interpolation, normalize=False, **IMAGENET)
            ours = EvalTransform(preprocess)
            for seed, (height, width) in enumerate(ODD_SIZES):
                image = random_image(height, width, seed)
                expected = reference(image).permute(1, 2, 0)
                got = ours(image)
                assert got.dtype == torch.uint8 and got.shape == (*input_hw, 3)
                assert torch.equal(got, expected), (interpolation, crop_pct, height, width)


def test_images_at_the_input_size_are_not_resized():
    preprocess = Preprocess((3, 224, 224), **IMAGENET, interpolation="bicubic", crop_pct=0.875)
    image = random_image(224, 224)
    kept = EvalTransform(preprocess)(image)
    assert torch.equal(kept, torch.from_numpy(np.array(image)))
    timm_way = transforms_imagenet_eval(img_size=224, crop_pct=0.875, interpolation="bicubic", normalize=False)
    assert not torch.equal(kept, timm_way(image).permute(1, 2, 0))  # resize to 256 and crop: protocol bug 7
    # one pixel off the input size is resized like any other image
    assert EvalTransform(preprocess).resize_size(224, 225) == 256


def test_train_transform_is_a_seeded_random_resized_crop_and_flip():
    preprocess = Preprocess((3, 32, 32), **IMAGENET, interpolation="bilinear")
    image = random_image(50, 70)
    transform = TrainTransform(preprocess, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=True)
    outputs = [transform(image, seed) for seed in range(12)]
    assert all(out.shape == (32, 32, 3) and out.dtype == torch.uint8 for out in outputs)
    assert torch.equal(transform(image, 3), outputs[3])
    assert len({out.numpy().tobytes() for out in outputs}) == 12
    # the whole image (scale and ratio 1 of a square image) is a plain resize, flipped for some seeds only
    square = random_image(64, 64)
    whole = TrainTransform(preprocess, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=True)
    resized = torch.from_numpy(np.array(square.resize((32, 32), Image.Resampling.BILINEAR)))
    flips = [torch.equal(whole(square, seed), resized.flip(1)) for seed in range(16)]
    assert all(flipped or torch.equal(whole(square, seed), resized) for seed, flipped in enumerate(flips))
    assert 0 < sum(flips) < 16
    no_flip = TrainTransform(preprocess, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False)
    assert all(torch.equal(no_flip(square, seed), resized) for seed in range(8))


def test_train_transform_leaves_the_global_rng_alone():
    transform = TrainTransform(Preprocess((3, 16, 16), **IMAGENET), (0.5, 1.0), (0.8, 1.25), hflip=True)
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    transform(random_image(30, 30), seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.fixture(scope="module")
def mini_set(tmp_path_factory):
    images, metadata, aux = mini.render_split("test", 75, seed=3)
    folder = tmp_path_factory.mktemp("mini") / "test"
    write_imageset(folder, images, metadata, aux)
    return folder


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("mini_resnet", arch_kwargs={"channels": (16, 16, 32, 32)}).eval()


@pytest.mark.parametrize("workers", [0, 2])
def test_streaming_predict_equals_in_memory_predict_on_a_mini_world_set(mini_set, model, workers):
    expected = predict_logits(model, read_imageset(mini_set).images, batch_size=32)
    got = predict_imageset(model, open_imageset(mini_set), batch_size=32, workers=workers)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_streaming_views_see_the_rows_of_the_in_memory_array(mini_set, model):
    offsets = torch.linspace(-0.3, 0.3, 75).view(-1, 1, 1, 1)
    views = {"clean": None, "shifted": lambda batch, rows: (batch + offsets[rows]).clamp(0, 1)}
    expected = predict_views(model, read_imageset(mini_set).images, views, batch_size=20)
    got = predict_imageset_views(model, open_imageset(mini_set), views, batch_size=20)
    assert all(np.array_equal(got[name], expected[name]) for name in views)


def test_a_subset_streams_its_rows_and_aux(mini_set):
    full = read_imageset(mini_set)
    rows = np.array([70, 3, 41, 8])
    part = open_imageset(mini_set).subset(rows)
    assert np.array_equal(part.load().images, full.images[rows])
    assert list(part.ids) == list(full.ids[rows]) and np.array_equal(part.aux["depth"], full.aux["depth"][rows])
    preprocess = Preprocess((3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    assert np.array_equal(load_preprocessed(part, preprocess), full.images[rows])


def test_sets_of_mixed_sizes_stream_at_the_model_input_size(tmp_path):
    folder = write_folder(tmp_path / "val", [random_image(h, w, seed) for seed, (h, w) in enumerate(ODD_SIZES * 2)])
    index = open_imageset(folder)
    with pytest.raises(ImageSetError, match="mixes image sizes"):
        index.load()
    preprocess = Preprocess((3, 32, 32), **IMAGENET, crop_pct=0.875)
    batches = list(make_loader(EvalImages(index, preprocess), batch_size=4, device="cpu"))
    assert [tuple(batch.shape) for batch in batches] == [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    transform = EvalTransform(preprocess)
    assert torch.equal(batches[1][2], transform(index.open_image(6)))


@pytest.mark.parametrize("workers", [0, 1])
def test_a_truncated_jpeg_fails_naming_the_file(tmp_path, model, workers):
    folder = write_folder(tmp_path / "set", [random_image(40, 48, seed) for seed in range(6)])
    broken = folder / "images" / "004.jpg"
    broken.write_bytes(broken.read_bytes()[:300])
    with pytest.raises(ImageSetError, match=r"images/004\.jpg is corrupt or truncated"):
        predict_imageset(model, open_imageset(folder), batch_size=4, workers=workers)


def test_a_missing_file_fails_naming_it(tmp_path):
    folder = write_folder(tmp_path / "set", [random_image(32, 32, seed) for seed in range(3)], suffix="png")
    (folder / "images" / "001.png").unlink()
    with pytest.raises(ImageSetError, match=r"images/001\.png listed in the metadata is missing"):
        PreprocessedImages(open_imageset(folder), Preprocess((3, 32, 32), **IMAGENET))[0:3]


@pytest.mark.parametrize("threads", [1, 2])
def test_preprocessed_images_slice_like_an_array(tmp_path, threads):
    folder = write_folder(tmp_path / "set", [random_image(h, w, seed) for seed, (h, w) in enumerate(ODD_SIZES)])
    preprocess = Preprocess((3, 32, 32), **IMAGENET, interpolation="bicubic", crop_pct=0.9)
    lazy = PreprocessedImages(open_imageset(folder), preprocess, threads)
    loaded = load_preprocessed(open_imageset(folder), preprocess)
    assert len(lazy) == 5 and lazy[1:4].dtype == torch.uint8
    assert np.array_equal(lazy[1:4].numpy(), loaded[1:4]) and np.array_equal(lazy[3:9].numpy(), loaded[3:])


def test_several_folders_stream_as_one_set_with_prefixed_ids(tmp_path):
    rng = np.random.default_rng(0)
    for shard, n in (("shard-0", 3), ("shard-1", 2)):
        images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        write_imageset(tmp_path / shard, images, pd.DataFrame({"label": range(n)}), {"depth": rng.random((n, 8, 8))})
    joined = open_imagesets([tmp_path / "shard-0", tmp_path / "shard-1"])
    assert list(joined.ids) == ["shard-0/images/000000.png", "shard-0/images/000001.png",
                                "shard-0/images/000002.png", "shard-1/images/000000.png", "shard-1/images/000001.png"]
    assert joined.aux["depth"].shape == (5, 8, 8)
    assert np.array_equal(joined.load().images[3], read_imageset(tmp_path / "shard-1").images[0])
    assert list(open_imagesets([tmp_path / "shard-1"]).ids) == ["images/000000.png", "images/000001.png"]
