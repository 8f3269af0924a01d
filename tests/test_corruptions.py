import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from synclone.corruptions import CORRUPTIONS_2D, CORRUPTIONS_3D, SEVERITIES, corrupt, jpeg_compress, needs_depth

ALL = CORRUPTIONS_2D + CORRUPTIONS_3D
RANDOM = ("shot_noise", "motion_blur", "snow", "xy_motion_blur")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def textured(batch: int, height: int, width: int | None = None, seed: int = 0):
    """Smooth random colour fields with fine texture, and smooth random depth maps."""
    width = width or height
    g = torch.Generator().manual_seed(seed)
    smooth = F.interpolate(torch.rand(batch, 3, 6, 6, generator=g), size=(height, width), mode="bicubic",
                           align_corners=False)
    images = (0.8 * smooth + 0.2 * torch.rand(batch, 3, height, width, generator=g)).clamp(0, 1)
    depth = F.interpolate(torch.rand(batch, 1, 4, 4, generator=g), size=(height, width), mode="bilinear",
                          align_corners=False)[:, 0]
    return images, depth


def mean_change(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ALL)
def test_output_keeps_shape_dtype_device_and_range(name, device):
    images, depth = textured(3, 32, 40)
    for dtype in (torch.float32, torch.float64):
        x = images.to(device, dtype)
        out = corrupt(x, name, 3, generator=0, depth=depth.to(device))
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        assert mean_change(out, x) > 1e-4
    single = corrupt(images[:1], name, 5, generator=0, depth=depth[:1])
    assert single.shape == (1, 3, 32, 40)


@pytest.mark.parametrize("side, batch", [(32, 6), (224, 2)])
@pytest.mark.parametrize("name", ALL)
def test_change_grows_with_severity(name, side, batch):
    images, depth = textured(batch, side, seed=1)
    changes = [mean_change(corrupt(images, name, s, generator=1, depth=depth), images) for s in SEVERITIES]
    if name == "snow" and side == 224:
        # ImageNet-C's own snow: severity 3 is no stronger than 2 (AlexNet errors 0.884, 0.865).
        assert changes[2] == pytest.approx(changes[1], rel=0.05)
        del changes[2]
    assert all(later > earlier for earlier, later in zip(changes, changes[1:])), changes


@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_are_reproducible(name):
    images, depth = textured(4, 32)
    first = corrupt(images, name, 3, generator=7, depth=depth)
    assert torch.equal(first, corrupt(images, name, 3, generator=7, depth=depth))
    assert torch.equal(first, corrupt(images, name, 3, generator=torch.Generator().manual_seed(7), depth=depth))
    assert not torch.equal(first, corrupt(images, name, 3, generator=8, depth=depth))


@pytest.mark.parametrize("name", sorted(set(ALL) - set(RANDOM)))
def test_deterministic_corruptions_treat_images_independently(name):
    images, depth = textured(3, 48, seed=2)
    batched = corrupt(images, name, 4, depth=depth)
    one_by_one = torch.cat([corrupt(images[i : i + 1], name, 4, depth=depth[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, one_by_one)


def test_invalid_requests_are_rejected_with_the_valid_choices():
    images, depth = textured(2, 32)
    with pytest.raises(ValueError, match="shot_noise.*z_motion_blur"):
        corrupt(images, "gaussian_noise", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(images, "pixelate", 6)
    with pytest.raises(ValueError, match="severity"):
        corrupt(images, "pixelate", 0)
    with pytest.raises(ValueError, match="depth"):
        corrupt(images, "fog_3d", 1)
    with pytest.raises(ValueError, match="depth"):
        corrupt(images, "fog_3d", 1, depth=depth[:, :16])
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        corrupt(images[:, :1], "pixelate", 1)
    with pytest.raises(ValueError, match="valid"):
        needs_depth("blur")
    assert [needs_depth(name) for name in ALL] == [False] * 5 + [True] * 5


def halves_scene(side: int = 64):
    """Textured images whose left half is near (depth 1) and right half far (depth 10)."""
    images, _ = textured(2, side, seed=3)
    images = (images + 0.3 * torch.rand(images.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    depth = torch.ones(2, side, side)
    depth[..., side // 2 :] = 10.0
    return images, depth


def near_and_far_change(name: str, severity: int = 5, side: int = 64) -> tuple[float, float]:
    images, depth = halves_scene(side)
    out = corrupt(images, name, severity, generator=0, depth=depth)
    margin = side // 8  # away from the depth edge and the image border
    near = mean_change(out[..., margin : side // 2 - margin], images[..., margin : side // 2 - margin])
    far = mean_change(out[..., side // 2 + margin : -margin], images[..., side // 2 + margin : -margin])
    return near, far


def test_near_focus_keeps_near_pixels_sharp_and_far_focus_the_far_ones():
    near, far = near_and_far_change("near_focus")
    assert near == 0 and far > 0.02
    near, far = near_and_far_change("far_focus")
    assert far == 0 and near > 0.02


def test_fog_thickens_with_depth():
    near, far = near_and_far_change("fog_3d", severity=1)
    assert far > 2 * near > 0


@pytest.mark.parametrize("name", ["xy_motion_blur", "z_motion_blur"])
def test_camera_motion_blurs_near_pixels_more(name):
    # Severity 1: stronger blurs wipe out the fine texture at every depth, which hides the ratio.
    near, far = near_and_far_change(name, severity=1)
    assert near > 1.8 * far > 0


def test_depth_scale_does_not_matter_and_flat_depth_is_all_near():
    images, depth = textured(2, 32)
    for name in CORRUPTIONS_3D:
        torch.testing.assert_close(corrupt(images, name, 3, generator=0, depth=depth),
                                   corrupt(images, name, 3, generator=0, depth=100 * depth.numpy() + 5))
    assert torch.equal(corrupt(images, "near_focus", 5, depth=torch.full((2, 32, 32), 3.0)), images)


def pil_round_trip(images: torch.Tensor, transform) -> torch.Tensor:
    out = []
    for image in images:
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        out.append(np.asarray(transform(Image.fromarray(pixels)).convert("RGB"), dtype=np.float32) / 255)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def pil_jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer)


@pytest.mark.parametrize("height, width", [(32, 32), (40, 56), (37, 45)])
def test_jpeg_matches_pil(height, width):
    images, _ = textured(3, height, width, seed=5)
    for quality in (10, 25, 50, 75, 95):
        ours = jpeg_compress(images, quality)
        reference = pil_round_trip(images, lambda im: pil_jpeg(im, quality))
        assert ours.shape == images.shape
        assert mean_change(ours, reference) < min(1.5 / 255, 0.15 * mean_change(reference, images))


def test_jpeg_loses_more_at_lower_quality():
    images = textured(4, 64, seed=6)[0]
    smooth = F.avg_pool2d(images, 5, stride=1, padding=2, count_include_pad=False)
    # What remains at quality 100 is 8-bit rounding and 4:2:0 chroma subsampling (PIL's default too).
    assert mean_change(jpeg_compress(smooth, 100), smooth) < 2 / 255
    changes = [mean_change(jpeg_compress(images, q), images) for q in (100, 90, 70, 50, 30, 10)]
    assert all(later > earlier for earlier, later in zip(changes, changes[1:])), changes


def test_severities_use_imagenet_c_at_224_px_and_cifar_10_c_at_32_px():
    for side, qualities in ((224, (25, 18, 15, 10, 7)), (32, (80, 65, 58, 50, 40))):
        images = textured(2, side)[0]
        for severity, quality in zip(SEVERITIES, qualities):
            assert torch.equal(corrupt(images, "jpeg_compression", severity), jpeg_compress(images, quality))


def test_pixelate_at_224_px_is_imagenet_c_pil_box_resize():
    images = textured(2, 224, seed=7)[0]
    for severity, factor in zip(SEVERITIES, (0.6, 0.5, 0.4, 0.3, 0.25)):
        small = int(224 * factor)
        reference = pil_round_trip(
            images, lambda im: im.resize((small, small), Image.BOX).resize((224, 224), Image.BOX))
        # PIL rounds to 8 bits between its passes; we do not.
        assert mean_change(corrupt(images, "pixelate", severity), reference) < 1 / 255
