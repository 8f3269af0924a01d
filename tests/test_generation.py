"""The mini generator: text path, params, training guards, checkpoints and sampling contracts.

A tiny UNet on 8x8 images keeps every test but the learning one (marked slow) to seconds on a CPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synclone.generation import model as model_module
from synclone.generation import train as train_module
from synclone.generation.params import GeneratorParams, SampleParams
from synclone.generation.sample import generate_shard, load_generator
from synclone.generation.text import CLS_ID, PAD_ID, UNK_ID, BagOfWordsEncoder, Vocabulary, tokenize
from synclone.generation.train import GeneratorTrainingError, train_generator

TINY = {
    "steps": 4, "batch_size": 8, "warmup_steps": 2, "log_every": 2, "block_out_channels": [8, 16],
    "attention_levels": [False, True], "attention_head_dim": 8, "layers_per_block": 1, "norm_num_groups": 4,
    "text_width": 16,
}  # fmt: skip
SAMPLE = {"steps": 3, "guidance": 3.0, "batch_size": 4}


def _corpus(n: int = 32, size: int = 8) -> tuple[np.ndarray, list[str]]:
    """Red or blue squares on grey, captioned by colour."""
    rng = np.random.default_rng(0)
    images = np.full((n, size, size, 3), 128, np.uint8)
    captions = []
    for i in range(n):
        colour = ["red", "blue"][i % 2]
        images[i, 2:6, 2:6] = (220, 30, 30) if colour == "red" else (30, 30, 220)
        images[i] = np.clip(images[i] + rng.integers(-10, 10, (size, size, 3)), 0, 255)
        captions.append(f"a {colour} square" if i % 3 else colour)
    return images, captions


@pytest.fixture(scope="module")
def checkpoint() -> dict:
    images, captions = _corpus()
    return train_generator(images, captions, TINY, seed=0)


@pytest.fixture(scope="module")
def generator(checkpoint):
    return load_generator(checkpoint, "cpu")


# --- text -----------------------------------------------------------------------------------------------------


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("Star, a symbol inside a forest.") == ["star", "a", "symbol", "inside", "a", "forest"]
    assert tokenize("") == []


def test_vocabulary_encodes_unknown_words_and_the_empty_prompt():
    vocabulary = Vocabulary.from_captions(["a red star", "a star", "star"], min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "<cls>", "a", "star"]  # "red" is too rare
    encoded = vocabulary.encode(["star", "", "a red zebra star"])
    star, a = vocabulary.ids["star"], vocabulary.ids["a"]
    assert encoded.tolist() == [
        [CLS_ID, star, PAD_ID, PAD_ID, PAD_ID],
        [CLS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
        [CLS_ID, a, UNK_ID, UNK_ID, star],
    ]
    assert vocabulary.encode([]).shape == (0, 1)


def test_vocabulary_rejects_a_word_list_without_the_special_tokens():
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["star", "<pad>", "<unk>", "<cls>"])


def test_text_embedding_does_not_depend_on_the_padding_of_its_batch():
    vocabulary = Vocabulary.from_captions(["a red striped star on a forest background at night"])
    encoder = BagOfWordsEncoder(len(vocabulary), 16, 32)
    short = vocabulary.encode(["red star", "star"])
    long = vocabulary.encode(["red star", "a red striped star on a forest background at night"])
    assert short.shape[1] < long.shape[1]
    assert torch.equal(encoder(short)[0], encoder(long)[0])


# --- params ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params_class", [GeneratorParams, SampleParams])
def test_params_reject_unknown_keys_naming_the_valid_ones(params_class):
    with pytest.raises(ValueError, match=r"unknown .*'stepz'.*valid keys.*'steps'"):
        params_class.from_dict({"stepz": 10})


def test_params_validate_values_and_round_trip():
    params = GeneratorParams.from_dict({"block_out_channels": [16, 32], "attention_levels": [False, True]})
    assert params.block_out_channels == (16, 32) and params.cond_dim == 64
    assert GeneratorParams.from_dict(params.to_dict()) == params
    with pytest.raises(ValueError, match="prediction_type"):
        GeneratorParams.from_dict({"prediction_type": "sample"})
    with pytest.raises(ValueError, match="attention_levels"):
        GeneratorParams.from_dict({"block_out_channels": [16, 32]})
    with pytest.raises(ValueError, match="scheduler"):
        SampleParams.from_dict({"scheduler": "euler"})


# --- training -------------------------------------------------------------------------------------------------


def test_training_logs_a_finite_loss_curve(checkpoint):
    history = checkpoint["log"]
    assert history["step"] == [2, 4]
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["grad_norm"]))
    assert history["diverged_at_step"] is None
    assert checkpoint["vocabulary"] == Vocabulary.from_captions(_corpus()[1]).words


def test_training_is_reproducible_from_its_seed(checkpoint):
    again = train_generator(*_corpus(), TINY, seed=0)
    assert again["log"]["loss"] == checkpoint["log"]["loss"]
    assert all(torch.equal(again["unet"][k], v) for k, v in checkpoint["unet"].items())


def test_non_finite_loss_stops_training_with_a_clear_error(monkeypatch):
    forward = model_module.Denoiser.forward
    monkeypatch.setattr(model_module.Denoiser, "forward", lambda self, *args: forward(self, *args) * float("nan"))
    with pytest.raises(GeneratorTrainingError, match="non-finite at step 0.*lower generator.train.lr"):
        train_generator(*_corpus(), TINY, seed=0)


def test_divergence_guard_flags_a_window_far_above_the_best():
    guard = train_module.DivergenceGuard(factor=3.0)
    assert guard.healthy(1.0) and guard.healthy(0.5) and guard.healthy(1.4)
    assert not guard.healthy(1.6)
    assert guard.best == 0.5


def test_a_blown_up_loss_keeps_the_last_healthy_ema_weights(monkeypatch):
    constant_lr = {**TINY, "final_lr_fraction": 1.0}  # the lr then does not depend on the number of steps
    reference = train_generator(*_corpus(), {**constant_lr, "steps": 2}, seed=0)
    windows = iter([True, False])
    monkeypatch.setattr(train_module.DivergenceGuard, "healthy", lambda self, loss: next(windows))
    diverged = train_generator(*_corpus(), {**constant_lr, "steps": 6}, seed=0)
    assert diverged["log"]["diverged_at_step"] == 4
    assert all(torch.equal(diverged["unet"][k], v) for k, v in reference["unet"].items())
    assert all(torch.equal(diverged["text_encoder"][k], v) for k, v in reference["text_encoder"].items())


def test_training_rejects_mismatched_inputs():
    images, captions = _corpus()
    with pytest.raises(ValueError, match="captions"):
        train_generator(images, captions[:-1], TINY, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        train_generator(images.astype(np.float32), captions, TINY, seed=0)
    with pytest.raises(ValueError, match="divisible"):
        train_generator(images[:, :6, :6], captions, TINY, seed=0)


# --- checkpoints and sampling ---------------------------------------------------------------------------------


def test_checkpoint_round_trips_through_a_file(checkpoint, generator, tmp_path):
    path = tmp_path / "generator.pt"
    torch.save(checkpoint, path)
    prompts, seeds = ["red", "a blue square", ""], [1, 2, 3]
    reloaded = load_generator(path)
    assert np.array_equal(reloaded.sample(prompts, seeds, **SAMPLE), generator.sample(prompts, seeds, **SAMPLE))


def test_load_generator_rejects_other_checkpoints():
    with pytest.raises(ValueError, match="not a mini-generator checkpoint"):
        load_generator({"state_dict": {}})


@pytest.mark.parametrize("scheduler", ["dpmsolver", "ddim"])
def test_samples_are_uint8_images_that_depend_on_their_seed(generator, scheduler):
    settings = {**SAMPLE, "scheduler": scheduler}
    images = generator.sample(["red", "red", "blue"], [5, 6, 5], **settings)
    assert images.dtype == np.uint8 and images.shape == (3, 8, 8, 3)
    assert images.min() >= 0 and images.max() <= 255 and images.std() > 0
    assert not np.array_equal(images[0], images[1])  # another seed
    assert not np.array_equal(images[0], images[2])  # another prompt
    assert np.array_equal(images, generator.sample(["red", "red", "blue"], [5, 6, 5], **settings))


def test_an_image_does_not_depend_on_the_rest_of_its_batch(generator):
    prompts, seeds = ["red", "blue", "a red square", "blue", "red", ""], [0, 1, 2, 3, 4, 5]
    together = generator.sample(prompts, seeds, **SAMPLE)  # a full batch of 4, then 2 padded to 4
    order = [5, 2, 0, 4, 1, 3]
    shuffled = generator.sample([prompts[i] for i in order], [seeds[i] for i in order], **SAMPLE)
    assert np.array_equal(shuffled, together[order])
    assert np.array_equal(generator.sample(prompts[4:5], seeds[4:5], **SAMPLE)[0], together[4])


def test_guidance_one_is_the_conditional_model_and_zero_the_unconditional(generator):
    torch.manual_seed(0)
    noisy, timestep = torch.randn(2, 3, 8, 8), torch.tensor(500)
    cond, uncond = generator.embed(["red", "blue square"]), generator.embed(["", ""])
    with torch.no_grad():
        conditional = generator.model(noisy, timestep, cond)
        unconditional = generator.model(noisy, timestep, uncond)
    assert not torch.allclose(conditional, unconditional)
    torch.testing.assert_close(generator.guided_prediction(noisy, timestep, cond, uncond, 1.0), conditional)
    torch.testing.assert_close(generator.guided_prediction(noisy, timestep, cond, uncond, 0.0), unconditional)


def test_sample_checks_its_arguments(generator):
    with pytest.raises(ValueError, match="2 prompts but 1 seeds"):
        generator.sample(["red", "blue"], [0])
    with pytest.raises(ValueError, match="scheduler"):
        generator.sample(["red"], [0], scheduler="euler")


def test_generate_shard_keeps_each_images_prompt_label_and_seed(generator):
    prompts = pd.DataFrame(
        {"index": [7, 8, 9], "prompt": ["red", "blue", "red"], "label": [0, 1, 0], "seed": [11, 12, 13]},
        index=[7, 8, 9],
    )
    images, metadata = generate_shard(generator, prompts, SAMPLE)
    assert images.shape == (3, 8, 8, 3)
    pd.testing.assert_frame_equal(metadata, prompts.reset_index(drop=True))
    assert np.array_equal(images, generator.sample(["red", "blue", "red"], [11, 12, 13], **SAMPLE))
    with pytest.raises(ValueError, match="seed"):
        generate_shard(generator, prompts.drop(columns="seed"), SAMPLE)
    with pytest.raises(ValueError, match="unknown SampleParams"):
        generate_shard(generator, prompts, {"guidence": 2.0})


@pytest.mark.slow
def test_the_prompt_steers_the_samples():
    """A generator trained on red and blue squares draws red for "red" and blue for "blue"."""
    images, captions = _corpus(n=64)
    params = {**TINY, "steps": 150, "lr": 3e-3, "warmup_steps": 10, "log_every": 25}
    trained = load_generator(train_generator(images, captions, params, seed=0))
    samples = trained.sample(["red"] * 8 + ["blue"] * 8, list(range(16)), guidance=3.0, steps=10)
    centre = samples[:, 3:5, 3:5].reshape(16, -1, 3).mean(axis=1).astype(float)
    redness = centre[:, 0] - centre[:, 2]
    assert redness[:8].min() > redness[8:].max(), redness
    assert redness[:8].mean() > 50 and redness[8:].mean() < -50, redness
