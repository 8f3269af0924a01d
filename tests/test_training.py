import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from synclone.distributed import launch_training
from synclone.imageset import ImageSet, open_imageset, write_imageset
from synclone.models.classifier import build_classifier
from synclone.predict import predict_logits
from synclone.runtime import setup_torch
from synclone.train_params import resolve_train_params
from synclone.training import (
    TrainingDivergedError,
    TrainJob,
    _pad_crop_batches,
    random_crop_flip,
    resolve_augment,
    resolve_precision,
    run_train_job,
    train_classifier,
)

NARROW = {"channels": (16, 16, 32, 32)}  # the mini_resnet code path at a fraction of its cost
FAST = {"epochs": 3, "batch_size": 32, "lr": 3e-3, "warmup_epochs": 0.2, "crop_padding": 2, "hflip": True}


def stripes(n: int, seed: int, size: int = 16) -> ImageSet:
    """Four easy classes: horizontal / vertical / diagonal stripes and a centred square, random colours."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    y, x = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        phase = rng.integers(0, 4)
        pattern = [
            (y + phase) % 4 < 2,
            (x + phase) % 4 < 2,
            (x + y + phase) % 4 < 2,
            (abs(y - size / 2 + 0.5) < size / 4) & (abs(x - size / 2 + 0.5) < size / 4),
        ][label]
        colours = rng.integers(0, 256, (2, 3))
        noise = rng.normal(0, 20, (size, size, 3))
        images[i] = np.clip(np.where(pattern[..., None], colours[0], colours[1]) + noise, 0, 255)
    metadata = pd.DataFrame({"file": [f"{i}.png" for i in range(n)], "label": labels})
    return ImageSet(images, metadata)


def trained_state(seed: int, params=FAST) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=4, arch_kwargs=NARROW)
    train_classifier(model, stripes(96, seed=1), {**params, "epochs": 1}, seed=seed)
    return model.state_dict()


def test_training_learns_an_easy_task():
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=4)
    test = stripes(200, seed=2)
    history = train_classifier(model, stripes(384, seed=1), FAST, seed=0, val_set=test)
    assert not model.training
    assert [record["epoch"] for record in history["epochs"]] == [1, 2, 3]
    assert history["params"] == resolve_train_params(FAST)
    assert history["epochs"][-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the cosine ends at 0
    assert history["epochs"][-1]["val_acc"] > 0.8  # chance: 0.25
    accuracy = (predict_logits(model, test.images).argmax(1) == test.labels).mean()
    assert accuracy == history["epochs"][-1]["val_acc"]


@pytest.mark.parametrize("optimizer, precision", [("adamw", "bf16"), ("sgd", "fp32")])
def test_training_is_deterministic_for_a_seed(optimizer, precision):
    params = {**FAST, "optimizer": optimizer, "lr": 3e-3 if optimizer == "adamw" else 0.05, "precision": precision}
    first, second, other_seed = trained_state(0, params), trained_state(0, params), trained_state(1, params)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], other_seed[key]) for key in first)


def test_training_leaves_the_global_rng_alone():
    model = build_classifier("mini_resnet", num_classes=4, arch_kwargs=NARROW)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train_classifier(model, stripes(64, seed=1), {**FAST, "epochs": 1}, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_diverging_loss_stops_with_a_clear_error():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    params = {**FAST, "optimizer": "sgd", "lr": 1e30, "warmup_epochs": 0}
    expected = r"training diverged: loss .* at epoch \d+, step \d+ .*lower params lr"
    with pytest.raises(TrainingDivergedError, match=expected):
        train_classifier(model, stripes(64, seed=1), params, seed=0)


def test_unknown_params_are_rejected():
    with pytest.raises(ValueError, match="unknown training params \\['epoch'\\]"):
        resolve_train_params({"epoch": 3})
    with pytest.raises(ValueError, match="optimizer"):
        resolve_train_params({"optimizer": "adam"})
    with pytest.raises(ValueError, match="precision"):
        resolve_train_params({"precision": "fp8"})


def test_random_crop_flip_takes_windows_of_the_padded_image():
    images = torch.arange(64 * 3 * 8 * 8, dtype=torch.float32).view(64, 3, 8, 8)
    padded = nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    out = random_crop_flip(images, padding=2, hflip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    found = set()
    for i in range(64):
        windows = {
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        }
        assert len(windows) == 1, f"image {i} is not one window of its padded original"
        found |= windows
    assert {flip for _, _, flip in found} == {False, True}
    assert len({(dy, dx) for dy, dx, _ in found}) > 10


def test_random_crop_flip_without_padding_only_flips():
    images = torch.rand(32, 3, 8, 8)
    out = random_crop_flip(images, padding=0, hflip=True, generator=torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, x.flip(-1)) for o, x in zip(out, images)]
    kept = [torch.equal(o, x) for o, x in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


# ---- streamed data, precision, several processes -----------------------------------------------------------------

TINY_VIT = {"conv_stem": [], "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2.0}  # no batch norm
RRC = {"epochs": 2, "batch_size": 16, "lr": 3e-3, "warmup_epochs": 0.5, "precision": "fp32", "hflip": True,
       "augment": "rrc", "rrc_scale": [0.3, 1.0]}


@pytest.fixture(scope="module")
def stripes_folder(tmp_path_factory):
    """48 px images for a 32 px model: the rrc path crops and resizes them."""
    data = stripes(64, seed=1, size=48)
    folder = tmp_path_factory.mktemp("stripes") / "train"
    write_imageset(folder, data.images, data.metadata.drop(columns="file"))
    return folder


def rrc_state(folder, workers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_classifier("mini_vit", num_classes=4, arch_kwargs=TINY_VIT)
    history = train_classifier(model, open_imageset(folder), {**RRC, "epochs": 1}, seed=seed, workers=workers)
    assert history["augment"] == "rrc" and history["processes"] == 1
    return model.state_dict()


def test_streamed_rrc_training_depends_on_the_seed_not_on_the_workers(stripes_folder):
    inline, two_workers, other_seed = rrc_state(stripes_folder, 0), rrc_state(stripes_folder, 2), rrc_state(
        stripes_folder, 0, seed=1)
    assert all(torch.equal(inline[key], two_workers[key]) for key in inline)
    assert not all(torch.equal(inline[key], other_seed[key]) for key in inline)


def test_pad_crop_from_files_equals_pad_crop_in_memory(tmp_path):
    data = stripes(96, seed=1, size=32)
    write_imageset(tmp_path / "train", data.images, data.metadata.drop(columns="file"))
    states = []
    for train_set in (data, open_imageset(tmp_path / "train")):
        torch.manual_seed(0)
        model = build_classifier("mini_resnet", num_classes=4, arch_kwargs=NARROW)
        history = train_classifier(model, train_set, {**FAST, "epochs": 1}, seed=0)
        assert history["augment"] == "pad_crop"
        states.append(model.state_dict())
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_auto_augment_follows_the_model_input_size():
    assert resolve_augment("auto", 32) == "pad_crop" and resolve_augment("auto", 64) == "pad_crop"
    assert resolve_augment("auto", 224) == "rrc" and resolve_augment("pad_crop", 224) == "pad_crop"


def test_each_process_takes_its_share_of_the_global_batch():
    images = torch.randint(0, 256, (40, 8, 8, 3), dtype=torch.uint8)
    labels = torch.arange(40)
    params = resolve_train_params({"crop_padding": 2, "hflip": True})

    def epoch(part: slice) -> list[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(3)
        return list(_pad_crop_batches(images, labels, params, 8, 5, generator, torch.device("cpu"), part))

    whole, first, second = epoch(slice(0, 8)), epoch(slice(0, 4)), epoch(slice(4, 8))
    for (batch, target), (batch_0, target_0), (batch_1, target_1) in zip(whole, first, second):
        assert torch.equal(batch, torch.cat([batch_0, batch_1])) and torch.equal(target, torch.cat([target_0, target_1]))


def test_fp16_needs_a_gpu_and_bf16_runs_on_the_cpu():
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="rrc_scale"):
        resolve_train_params({"rrc_scale": [0.5, 2.0]})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast with a gradient scaler needs a GPU")
def test_fp16_training_with_a_grad_scaler_learns_on_a_gpu():
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=4).cuda()
    test = stripes(200, seed=2)
    history = train_classifier(model, stripes(384, seed=1), {**FAST, "precision": "fp16"}, seed=0, device="cuda",
                               val_set=test)
    assert history["precision"] == "fp16" and history["epochs"][-1]["val_acc"] > 0.8


def test_two_gloo_processes_train_like_one_with_the_same_global_batch(stripes_folder):
    job = TrainJob("mini_vit", TINY_VIT, [str(stripes_folder)], RRC, seed=5, threads=1)
    setup_torch(1, job.seed, "cpu")
    single, single_history = run_train_job(job, torch.device("cpu"))
    parallel, parallel_history = launch_training(job, processes=2, device_type="cpu")
    assert parallel_history["processes"] == 2 and single_history["processes"] == 1
    losses = [[record["loss"] for record in history["epochs"]] for history in (single_history, parallel_history)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    expected, got = single.state_dict(), parallel.state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)
    assert not torch.equal(expected["backbone.head.weight"], build_classifier("mini_vit", 4, TINY_VIT).state_dict()[
        "backbone.head.weight"])
