"""Batched torch corruptions: the paper's ImageNet-C subset (2D) and depth-aware analogues of its 3DCC subset (3D).

Every corruption maps a float batch B x 3 x H x W in [0, 1] to a batch of the same shape, dtype and device, in
[0, 1], with no Python loop over images and no numpy round trip, so it runs unchanged on a GPU.

Severity parameters. Hendrycks & Dietterich calibrated their corruptions twice: ImageNet-C at 224 px
(``make_imagenet_c.py``) and CIFAR-10-C at 32 px (``make_cifar_c.py``). Both tables are kept below as published
(one degenerate CIFAR-10-C row aside, see motion blur); lengths (blur radii, flake size) are read as fractions of
the image side. At 224 px a corruption uses ImageNet-C's parameters, at 32 px CIFAR-10-C's, and in between each
parameter is interpolated geometrically in log(image side) (clamped outside).

The 32 px calibration is the original authors' own. ImageNet-C's values, even with lengths scaled to the image,
destroy a 32 px image: pixelate keeps a quarter of the side (8 px), JPEG quality 7 leaves 16 nearly flat 8 x 8
blocks, 3 photons of shot noise leave no detail. CIFAR-10-C keeps pixelate at 95-65 % of the side, JPEG at
quality 80-40, shot noise at 500-50 photons, and motion blurs of sigma 1-2.5 px.

Depth convention (3D corruptions). ``depth`` is B x H x W, larger = farther, in any unit (metric distance, the
renderer's z); only its order and relative spacing matter. Each image's depth is normalised to d in [0, 1]
(0 = its nearest pixel, 1 = its farthest; a constant map counts as all-near). Where the physics needs a distance
(fog transmission, parallax of a moving camera ~ 1 / distance), d is read as the distance
z = NEAR + (FAR - NEAR) * d on the range of 3DCC's ImageNet depth maps, so that their fog and blur strengths carry
over: the nearest pixel barely fogs and moves 64 times as much as the farthest.

Randomness (shot noise, motion and snow angles, snow flakes, xy direction) comes from ``generator``: an int seed
or a ``torch.Generator`` on the images' device. It is drawn per call, so an image's result depends on the whole
batch; identical inputs, seed and batch composition give identical outputs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

CORRUPTIONS_2D = ("shot_noise", "motion_blur", "snow", "pixelate", "jpeg_compression")
CORRUPTIONS_3D = ("near_focus", "far_focus", "fog_3d", "xy_motion_blur", "z_motion_blur")
SEVERITIES = (1, 2, 3, 4, 5)

# 3DCC's ImageNet depth is 512 / MiDaS disparity (a 16-bit PNG scaled per image to 0..65535) clamped at 0.5.
NEAR, FAR = 512 / 65535, 0.5
# Blur levels between sharp and the severity's maximum; a pixel blends the two around its own blur (3DCC
# composites a blur stack the same way).
FOCUS_LEVELS = 5

# ---------------------------------------------------------------------------------------------------------------
# Severity tables


@dataclass(frozen=True)
class _Table:
    """A corruption's parameters per severity at the two resolutions Hendrycks & Dietterich calibrated."""

    fields: tuple[str, ...]
    at_32: tuple[tuple[float, ...], ...]  # CIFAR-10-C, one row per severity
    at_224: tuple[tuple[float, ...], ...]  # ImageNet-C
    lengths: frozenset[str] = frozenset()  # in pixels of the table's resolution


def _scalar_table(field: str, at_32, at_224, length: bool = False) -> _Table:
    return _Table((field,), tuple((v,) for v in at_32), tuple((v,) for v in at_224),
                  frozenset({field}) if length else frozenset())


_SHOT_NOISE = _scalar_table("photons", (500, 250, 100, 75, 50), (60, 25, 12, 5, 3))
# ImageMagick motion blur: a one-sided Gaussian streak (sigma) truncated at 2 * radius. CIFAR-10-C's severities
# 3 and 4, (6, 2) and (8, 2), differ only where the Gaussian weighs < 1e-7 (the same blur); severity 4's sigma is
# raised to 2.25, halfway to severity 5, so that severities stay distinct.
_MOTION_BLUR = _Table(
    ("radius", "sigma"),
    ((6, 1), (6, 1.5), (6, 2), (8, 2.25), (9, 2.5)),
    ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    frozenset({"radius", "sigma"}),
)
# ImageNet-C's own snow is no harder at severity 3 than at 2 (AlexNet errors 0.884 then 0.865, hendrycks/robustness
# issue 10); kept as published, so 224 px snow changes images about as much at severities 2 and 3.
_SNOW = _Table(
    ("mean", "std", "flake", "threshold", "radius", "sigma", "keep"),
    (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    frozenset({"flake", "radius", "sigma"}),
)
_PIXELATE = _scalar_table("factor", (0.95, 0.9, 0.85, 0.75, 0.65), (0.6, 0.5, 0.4, 0.3, 0.25))
_JPEG = _scalar_table("quality", (80, 65, 58, 50, 40), (25, 18, 15, 10, 7))
# Defocus: the Gaussian-blur sigma of ImageNet-C / CIFAR-10-C for the most defocused depth (3DCC blurs with
# Gaussians too, std = circle of confusion).
_FOCUS = _scalar_table("sigma", (0.4, 0.6, 0.7, 0.8, 1.0), (1, 2, 3, 4, 6), length=True)
# 3DCC's fog_3d: transmission exp(-beta * depth) on its depth range (NEAR, FAR); not a length, so the same at
# every resolution.
_FOG = _scalar_table("beta", (4, 8, 12, 16, 20), (4, 8, 12, 16, 20))
# Forward motion: ImageNet-C / CIFAR-10-C zoom blur's largest zoom factor, reached by the nearest pixels.
_ZOOM = _scalar_table("zoom", (1.05, 1.10, 1.15, 1.20, 1.25), (1.10, 1.15, 1.20, 1.24, 1.30))


def _params(table: _Table, severity: int, side: int) -> dict[str, float]:
    """The table's parameters for an image of ``side`` pixels (lengths in pixels of that image)."""
    t = min(max(math.log(side / 32) / math.log(224 / 32), 0.0), 1.0)
    params = {}
    for field, low, high in zip(table.fields, table.at_32[severity - 1], table.at_224[severity - 1]):
        if field in table.lengths:
            low, high = low / 32, high / 224
        value = low ** (1 - t) * high**t
        params[field] = value * side if field in table.lengths else value
    return params


# ---------------------------------------------------------------------------------------------------------------
# Shared operations


def _uniform(batch: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(batch, generator=generator, device=device)


def _pixel_grid(height: int, width: int, device) -> torch.Tensor:
    """H x W x 2 pixel-centre coordinates (x, y), in pixels."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1)


def _sample(images: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of images at B x H x W x 2 pixel coordinates; outside the image reads its border."""
    height, width = images.shape[-2:]
    scale = torch.tensor([width, height], device=images.device, dtype=coords.dtype)
    grid = (2 * coords + 1) / scale - 1
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border",
                         align_corners=False)


def _average_samples(images: torch.Tensor, coords: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of samples at several coordinate fields (one streak tap each)."""
    total = sum(w * _sample(images, c) for w, c in zip(weights.tolist(), coords))
    return total / weights.sum()


def _streak_taps(length: float, sigma: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Tap distances (pixels) along a streak and their one-sided Gaussian weights: ImageMagick's motion kernel
    (length = 2 * radius), cut where the weight falls below 1e-3 (the dropped tail holds < 0.1% of the mass).

    Taps are at most one pixel apart so a streak never breaks into ghost copies.
    """
    reach = min(length, sigma * math.sqrt(2 * math.log(1000)))
    taps = torch.linspace(0, reach, math.ceil(reach) + 1, device=device)
    return taps, torch.exp(-(taps**2) / (2 * sigma**2))


def _tent(positions: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear splatting weights of fractional positions (... x n) onto 0..size-1: ... x n x size."""
    grid = torch.arange(size, device=positions.device, dtype=positions.dtype)
    return (1 - (positions[..., None] - grid).abs()).clamp(min=0)


def _streak_kernels(angles: torch.Tensor, length: float, sigma: float) -> torch.Tensor:
    """Per-image B x K x K convolution kernels of a straight streak; out(p) = sum_i w_i image(p + s_i * dir).

    Taps are splatted bilinearly as a sum of outer products (a matmul; no atomics, so deterministic on GPUs).
    """
    taps, weights = _streak_taps(length, sigma, angles.device)
    radius = max(1, math.ceil(taps[-1].item()))
    size = 2 * radius + 1
    # A convolution flips its kernel, so taps gathered at +s land at -s.
    xs = radius - taps * torch.cos(angles)[:, None]  # B x taps
    ys = radius - taps * torch.sin(angles)[:, None]
    kernels = (_tent(ys, size) * weights[:, None]).transpose(1, 2) @ _tent(xs, size)
    return kernels / kernels.sum(dim=(1, 2), keepdim=True)


def _convolve(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image with its own odd K x K kernel through the FFT (cost independent of K); borders
    replicate."""
    radius = kernels.shape[-1] // 2
    height, width = images.shape[-2:]
    padded = F.pad(images, (radius,) * 4, mode="replicate")
    size = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(kernels[:, None].to(images.dtype), s=size)
    full = torch.fft.irfft2(spectrum, s=size)
    return full[..., 2 * radius : 2 * radius + height, 2 * radius : 2 * radius + width]


def _gaussian_matrix(size: int, sigma: float, device, dtype) -> torch.Tensor:
    """A 1D Gaussian blur with replicated borders as a size x size matrix (a matmul beats a depthwise conv on
    CPU)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=device)
    weights = torch.exp(-(offsets.to(dtype) ** 2) / (2 * sigma**2))
    sources = (torch.arange(size, device=device)[:, None] + offsets).clamp(0, size - 1)  # size x taps
    hits = sources[..., None] == torch.arange(size, device=device)  # size x taps x size
    return (hits * weights[:, None]).sum(dim=1) / weights.sum()


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    height, width = images.shape[-2:]
    rows = _gaussian_matrix(height, sigma, images.device, images.dtype)
    cols = _gaussian_matrix(width, sigma, images.device, images.dtype)
    return rows @ images @ cols.T


def _distance(depth: torch.Tensor) -> torch.Tensor:
    """Normalised depth read as a distance (see the module's depth convention)."""
    return NEAR + (FAR - NEAR) * depth


# ---------------------------------------------------------------------------------------------------------------
# JPEG

_LUMA_QUANT = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)  # ITU T.81 Annex K, table K.1
_CHROMA_QUANT = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
) + ((99,) * 8,) * 4  # table K.2
_RGB_TO_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))  # JFIF
_YCBCR_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


def _quant_table(base, quality: int, device, dtype) -> torch.Tensor:
    """libjpeg's quality scaling of a standard table, limited to baseline JPEG's 8-bit entries."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = torch.tensor(base, device=device, dtype=torch.int64)
    return ((table * scale + 50) // 100).clamp(1, 255).to(dtype)


def _block_dct_matrix(device, dtype) -> torch.Tensor:
    """JPEG's 8 x 8 block transform (orthonormal 2D DCT-II) as a 64 x 64 matrix acting on row-major blocks, so
    that a whole image is one matmul."""
    k = torch.arange(8, device=device, dtype=dtype)[:, None]
    n = torch.arange(8, device=device, dtype=dtype)[None, :]
    dct = torch.cos(math.pi * (2 * n + 1) * k / 16) * math.sqrt(2 / 8)
    dct[0] /= math.sqrt(2)
    return torch.kron(dct, dct)


def _to_8bit(values: torch.Tensor) -> torch.Tensor:
    return values.round().clamp(0, 255)


def _code_blocks(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Encode and decode 8-bit samples (sides multiples of 8) block by block: DCT, quantise, dequantise, IDCT."""
    batch, channels, height, width = plane.shape
    blocks = (plane - 128).reshape(batch, channels, height // 8, 8, width // 8, 8).transpose(3, 4)
    blocks = blocks.reshape(batch, channels, height // 8, width // 8, 64)
    dct = _block_dct_matrix(plane.device, plane.dtype)
    table = table.reshape(64)
    scaled = blocks @ dct.T / table
    quantised = torch.sign(scaled) * torch.floor(scaled.abs() + 0.5) * table  # libjpeg rounds half away from 0
    decoded = (quantised @ dct).reshape(batch, channels, height // 8, width // 8, 8, 8).transpose(3, 4)
    return _to_8bit(decoded.reshape(batch, channels, height, width) + 128)


def jpeg_compress(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Baseline JPEG round trip at libjpeg ``quality`` (1-100), as PIL saves by default: JFIF YCbCr, 4:2:0 chroma,
    the standard tables scaled by quality, decoding with libjpeg's smooth ("fancy") chroma upsampling."""
    quality = int(round(quality))
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    height, width = images.shape[-2:]
    rgb = _to_8bit(images * 255)
    forward = torch.tensor(_RGB_TO_YCBCR, device=images.device, dtype=images.dtype)
    ycbcr = _to_8bit(torch.einsum("ij,bjhw->bihw", forward, rgb) + torch.tensor(
        [0.0, 128.0, 128.0], device=images.device, dtype=images.dtype).view(1, 3, 1, 1))
    # Encoders pad to whole 16 x 16 macroblocks by repeating the last row and column.
    ycbcr = F.pad(ycbcr, (0, -width % 16, 0, -height % 16), mode="replicate")
    luma = _code_blocks(ycbcr[:, :1], _quant_table(_LUMA_QUANT, quality, images.device, images.dtype))
    chroma = _to_8bit(F.avg_pool2d(ycbcr[:, 1:], 2))
    chroma = _code_blocks(chroma, _quant_table(_CHROMA_QUANT, quality, images.device, images.dtype))
    chroma = _to_8bit(F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False))
    ycbcr = torch.cat([luma, chroma - 128], dim=1)[..., :height, :width]
    inverse = torch.tensor(_YCBCR_TO_RGB, device=images.device, dtype=images.dtype)
    return _to_8bit(torch.einsum("ij,bjhw->bihw", inverse, ycbcr)) / 255


# ---------------------------------------------------------------------------------------------------------------
# 2D corruptions (ImageNet-C)


def _shot_noise(images, generator, *, photons):
    return torch.poisson(images * photons, generator=generator) / photons


def _motion_blur(images, generator, *, radius, sigma):
    angles = torch.deg2rad(_uniform(len(images), -45, 45, generator, images.device))
    return _convolve(images, _streak_kernels(angles, 2 * radius, sigma))


def _snow(images, generator, *, mean, std, flake, threshold, radius, sigma, keep):
    batch, _, height, width = images.shape
    angles = torch.deg2rad(_uniform(batch, -135, -45, generator, images.device))  # falling, give or take 45 deg
    coarse = (math.ceil(height / flake), math.ceil(width / flake))
    flakes = mean + std * torch.randn(batch, 1, *coarse, generator=generator, device=images.device)
    # ImageNet-C's clipped zoom: noise enlarged by the flake size, centre crop.
    flakes = F.interpolate(flakes, size=(round(coarse[0] * flake), round(coarse[1] * flake)), mode="bilinear",
                           align_corners=True)
    top, left = (flakes.shape[-2] - height) // 2, (flakes.shape[-1] - width) // 2
    flakes = flakes[..., top : top + height, left : left + width]
    flakes = torch.where(flakes < threshold, 0.0, flakes).clamp(0, 1).to(images.dtype)
    streaks = _convolve(flakes, _streak_kernels(angles, 2 * radius, sigma))
    gray = torch.tensordot(torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype),
                           images, dims=([0], [1])).unsqueeze(1)
    whitened = keep * images + (1 - keep) * torch.maximum(images, gray * 1.5 + 0.5)
    return whitened + streaks + streaks.flip(-2, -1)


def _box_resize_matrix(size_in: int, size_out: int, device, dtype) -> torch.Tensor:
    """PIL's BOX resampling along one axis as a size_out x size_in matrix: each output pixel averages the input
    pixels whose centres fall in its footprint (nearest neighbour when enlarging)."""
    scale = size_in / size_out
    footprint = max(scale, 1.0)
    centres = (torch.arange(size_out, device=device, dtype=torch.float64) + 0.5) * scale
    inputs = torch.arange(size_in, device=device, dtype=torch.float64) + 0.5
    offset = (inputs[None, :] - centres[:, None]) / footprint
    weights = ((offset > -0.5) & (offset <= 0.5)).to(dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def _box_resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    rows = _box_resize_matrix(images.shape[-2], height, images.device, images.dtype)
    cols = _box_resize_matrix(images.shape[-1], width, images.device, images.dtype)
    return rows @ images @ cols.T


def _pixelate(images, *, factor):
    height, width = images.shape[-2:]
    small = _box_resize(images, max(1, int(height * factor)), max(1, int(width * factor)))  # int(224 * c)
    return _box_resize(small, height, width)


# ---------------------------------------------------------------------------------------------------------------
# 3D corruptions (3DCC analogues)


def _defocus(images, depth, *, sigma, focal_depth):
    """Depth of field: blur sigma grows linearly with |d - focal depth| up to the severity's sigma; each pixel
    blends the two blur levels around its own sigma."""
    level = (depth - focal_depth).abs()[:, None] * (FOCUS_LEVELS - 1)
    result = torch.zeros_like(images)
    for k in range(FOCUS_LEVELS):
        blurred = images if k == 0 else _gaussian_blur(images, sigma * k / (FOCUS_LEVELS - 1))
        result = result + (1 - (level - k).abs()).clamp(min=0) * blurred
    return result


def _fog(images, depth, *, beta):
    """Koschmieder fog: transmission exp(-beta * distance) towards the image's mean intensity (3DCC used the
    batch's mean, which makes an image depend on its batch)."""
    transmission = torch.exp(-beta * _distance(depth))[:, None]
    airlight = images.mean(dim=(1, 2, 3), keepdim=True)
    return transmission * images + (1 - transmission) * airlight


def _xy_motion(images, depth, generator, *, radius, sigma):
    """Camera translating parallel to the image plane in a random direction: ImageMagick's motion streak for the
    nearest pixels, shrinking as 1 / distance (parallax)."""
    angles = _uniform(len(images), 0, 2 * math.pi, generator, images.device)
    direction = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)[:, None, None, :]
    parallax = (NEAR / _distance(depth))[..., None] * direction  # B x H x W x 2, 1 at the nearest pixel
    taps, weights = _streak_taps(2 * radius, sigma, images.device)
    grid = _pixel_grid(*images.shape[-2:], images.device)
    return _average_samples(images, [grid + t * parallax for t in taps.tolist()], weights)


def _z_motion(images, depth, *, zoom):
    """Camera moving forward: a zoom blur about the centre whose zoom factor - 1 falls as 1 / distance, so the
    nearest pixels get ImageNet-C's zoom blur and the far ones less."""
    height, width = images.shape[-2:]
    grid = _pixel_grid(height, width, images.device)
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=images.device)
    pixel_zoom = (1 + (zoom - 1) * NEAR / _distance(depth))[..., None]
    longest_shift = math.hypot(height, width) / 2 * (1 - 1 / zoom)
    taps = torch.linspace(0, 1, math.ceil(longest_shift) + 1, device=images.device)
    coords = [centre + (grid - centre) / (1 + t * (pixel_zoom - 1)) for t in taps.tolist()]
    return _average_samples(images, coords, torch.ones_like(taps))


# ---------------------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class _Corruption:
    table: _Table
    apply: Callable[..., torch.Tensor]
    random: bool = False
    depth: bool = False


_REGISTRY = {
    "shot_noise": _Corruption(_SHOT_NOISE, _shot_noise, random=True),
    "motion_blur": _Corruption(_MOTION_BLUR, _motion_blur, random=True),
    "snow": _Corruption(_SNOW, _snow, random=True),
    "pixelate": _Corruption(_PIXELATE, _pixelate),
    "jpeg_compression": _Corruption(_JPEG, jpeg_compress),
    "near_focus": _Corruption(_FOCUS, functools.partial(_defocus, focal_depth=0.0), depth=True),
    "far_focus": _Corruption(_FOCUS, functools.partial(_defocus, focal_depth=1.0), depth=True),
    "fog_3d": _Corruption(_FOG, _fog, depth=True),
    "xy_motion_blur": _Corruption(_MOTION_BLUR, _xy_motion, random=True, depth=True),
    "z_motion_blur": _Corruption(_ZOOM, _z_motion, depth=True),
}


def _lookup(name: str) -> _Corruption:
    if name not in _REGISTRY:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS_2D + CORRUPTIONS_3D)}")
    return _REGISTRY[name]


def needs_depth(name: str) -> bool:
    """Whether the corruption is depth-aware (3D) and so needs the dataset's depth maps."""
    return _lookup(name).depth


def _normalised_depth(depth: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    batch, _, height, width = images.shape
    depth = torch.as_tensor(depth, device=images.device, dtype=images.dtype)  # ImageSet keeps depth in numpy
    if depth.shape != (batch, height, width):
        raise ValueError(f"depth must be B x H x W = {(batch, height, width)}, got {tuple(depth.shape)}")
    nearest = depth.amin(dim=(1, 2), keepdim=True)
    span = depth.amax(dim=(1, 2), keepdim=True) - nearest
    return torch.where(span > 0, (depth - nearest) / span.clamp(min=torch.finfo(depth.dtype).tiny), 0.0)


def _generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        if generator is not None and generator.device.type != device.type:
            raise ValueError(f"generator lives on {generator.device} but the images on {device}; pass an int seed")
        return generator
    return torch.Generator(device=device).manual_seed(int(generator))


def corrupt(
    images: torch.Tensor,
    name: str,
    severity: int,
    generator: torch.Generator | int | None = None,
    depth: torch.Tensor | None = None,
) -> torch.Tensor:
    """Corrupt a B x 3 x H x W batch in [0, 1] with corruption ``name`` at ``severity`` (1-5).

    ``generator`` (int seed or ``torch.Generator`` on the images' device; None = torch's global RNG) drives the
    random corruptions. ``depth`` (B x H x W tensor or array, larger = farther) is required by the 3D ones.
    """
    spec = _lookup(name)
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if not (torch.is_tensor(images) and images.ndim == 4 and images.shape[1] == 3 and images.is_floating_point()):
        raise ValueError(f"images must be a float tensor B x 3 x H x W, got {getattr(images, 'shape', images)!r}")
    if spec.depth and depth is None:
        raise ValueError(f"{name} is depth-aware: pass the dataset's depth maps (B x H x W, larger = farther)")
    work = images.to(torch.promote_types(images.dtype, torch.float32))
    kwargs = _params(spec.table, int(severity), min(images.shape[-2:]))
    if spec.random:
        kwargs["generator"] = _generator(generator, images.device)
    if spec.depth:
        kwargs["depth"] = _normalised_depth(depth, work)
    return spec.apply(work, **kwargs).clamp(0, 1).to(images.dtype)
