import numpy as np
import pytest
import torch

from synclone.models.classifier import build_classifier
from synclone.predict import predict_logits, predict_views


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_classifier("mini_resnet", num_classes=5).eval()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)


def unit_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def test_logits_shape_dtype_and_values(model, images):
    logits = predict_logits(model, images, batch_size=16)
    assert logits.shape == (37, 5) and logits.dtype == np.float32
    with torch.no_grad():
        expected = model(unit_float(images)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_float_tensor_input_matches_uint8_input(model, images):
    np.testing.assert_allclose(
        predict_logits(model, unit_float(images)), predict_logits(model, images), rtol=1e-5, atol=1e-6
    )


def test_batch_size_does_not_change_logits(model, images):
    np.testing.assert_allclose(
        predict_logits(model, images, batch_size=5), predict_logits(model, images, batch_size=64), rtol=1e-4, atol=1e-5
    )


def test_predict_puts_a_training_model_in_eval_mode(images):
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=5).train()
    predict_logits(model, images[:4])
    assert not model.training


def test_views_apply_their_transform_to_the_right_rows(model, images):
    offsets = torch.linspace(-0.3, 0.3, len(images)).view(-1, 1, 1, 1)
    seen_rows = []

    def shifted(batch, rows):
        seen_rows.append(rows)
        return (batch + offsets[rows]).clamp(0, 1)

    views = predict_views(
        model,
        images,
        {"clean": None, "flip": lambda batch, rows: batch.flip(-1), "shifted": shifted},
        batch_size=10,
    )
    assert seen_rows == [slice(0, 10), slice(10, 20), slice(20, 30), slice(30, 37)]
    clean = unit_float(images)
    for name, view_images in {
        "clean": clean,
        "flip": clean.flip(-1),
        "shifted": (clean + offsets).clamp(0, 1),
    }.items():
        np.testing.assert_allclose(views[name], predict_logits(model, view_images), rtol=1e-4, atol=1e-5)
    assert not np.allclose(views["flip"], views["clean"], atol=1e-3)


def test_an_in_place_transform_does_not_leak_into_other_views(model, images):
    views = predict_views(model, images, {"zeroed": lambda batch, rows: batch.zero_(), "clean": None})
    np.testing.assert_allclose(views["clean"], predict_logits(model, images), rtol=1e-5, atol=1e-6)
    assert np.allclose(views["zeroed"], views["zeroed"][0])


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 32, 32), np.uint8),
        np.zeros((2, 3, 32, 32), np.uint8),
        torch.zeros(2, 32, 32, 3),
        np.zeros((2, 32, 32, 3), np.int32),
        np.zeros((0, 32, 32, 3), np.uint8),
    ],
)
def test_malformed_images_are_rejected(model, bad):
    with pytest.raises(ValueError):
        predict_logits(model, bad)
