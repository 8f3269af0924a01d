"""The mini world: a procedurally rendered 32x32 shape world standing in for ImageNet.

The shape is the class. Colour, texture, background scene, time of day, weather, position, scale, rotation, style
and acquisition noise are attributes; texture, scene, time and weather correlate with the class (as on the web)
but not perfectly. The world is data (the constants below), so evaluation splits (``SPLITS``) are built by choosing
attributes (cue conflict = a class's shape with another class's texture; FOCUS = uncommon time/weather/location;
IN-9 mixed = another row's background columns), never by new drawing code; ``render_split`` only recombines what
the renderer draws (a cue-conflict object over a close-up of its texture; an IN-9 object pasted through its mask).

One row of attributes renders from its own columns and its two seeds only, so it looks the same in any batch:

    scene painter + rain/snow (background_seed)        silhouette, texture, shading (shape, pose, colour, seed)
        | downsample (supersampling = anti-aliasing)         | downsample
        | fog by exact depth, time-of-day tint               | fog at the object's depth, time-of-day tint
    background (H x W x 3) ---------> composite <---- foreground (H x W x 3) + alpha (its exact mask: alpha >= 0.5)
                                          | acquisition noise (blur / gaussian noise / JPEG, seed) -> uint8

Depth is in notional metres: the background is a ground plane seen from above (bottom row ``BACKGROUND_NEAR``,
top row ``BACKGROUND_FAR``, inverse depth linear in the row); the object is a flat cut-out nearer than any
background pixel, the larger the nearer (``object_depth``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from io import BytesIO
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy import ndimage

from synclone.config import check_field_types
from synclone.seeding import derive_seed

# ---------------------------------------------------------------------------------------------------------------
# The world as data. Every vocabulary maps a name (stored in the metadata) to the words captions use for it.
# ---------------------------------------------------------------------------------------------------------------

# Label order. Shapes were chosen to stay distinct at 32 px (holes, concavities, corners, aspect) and are all
# rendered at the same area, so size never gives the class away.
CLASSES: tuple[str, ...] = (
    "circle", "ring", "crescent", "square", "triangle", "hourglass", "cross", "star", "heart", "arrow",
)  # fmt: skip
# Shapes that are no class, for an OOD split (the iNaturalist analogue).
OOD_SHAPES: tuple[str, ...] = ("hexagon", "bar", "tee", "lightning")
# What OOD images are labelled with: they belong to no class.
OOD_LABEL, OOD_NAME = -1, "ood"
SHAPES: tuple[str, ...] = CLASSES + OOD_SHAPES

# Shape family, the h_c of the Fake-it prompt "c, h_c inside b".
HYPERNYMS: dict[str, str] = {
    "circle": "round shape", "ring": "round shape", "crescent": "round shape",
    "square": "polygon", "triangle": "polygon", "hourglass": "polygon",
    "cross": "symbol", "star": "symbol", "heart": "symbol", "arrow": "symbol",
    "hexagon": "polygon", "bar": "polygon", "tee": "letter", "lightning": "symbol",
}  # fmt: skip

# Texture name -> caption adjective. Patterns scale with the object but stay upright (not turned with it).
TEXTURES: dict[str, str] = {
    "solid": "plain", "gradient": "shaded", "stripes": "striped", "bars": "barred", "diagonal": "slanted",
    "dots": "dotted", "checker": "checkered", "grid": "gridded", "waves": "wavy", "zigzag": "zigzag",
    "speckle": "speckled", "marble": "marbled",
}  # fmt: skip
# Each class's typical texture (distinct per class, never plain), so texture is a real class cue and a
# cue-conflict image (shape of A, CLASS_TEXTURE[B]) pits shape against texture.
CLASS_TEXTURE: dict[str, str] = dict(
    zip(CLASSES, ("dots", "waves", "speckle", "checker", "zigzag", "marble", "grid", "diagonal", "stripes", "bars"))
)

# Scene name -> caption phrase. Scenes are procedural backgrounds; the scene is the FOCUS "location".
SCENES: dict[str, str] = {
    "sky": "in the sky", "ocean": "on the ocean", "desert": "in a desert", "city": "in a city",
    "mountain": "in the mountains", "beach": "on a beach", "snowfield": "on a snowfield", "forest": "in a forest",
    "room": "in a room", "grassland": "on a grassland",
}  # fmt: skip
CLASS_SCENE: dict[str, str] = dict(zip(CLASSES, SCENES))

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.1), "orange": (0.98, 0.55, 0.08), "yellow": (0.97, 0.88, 0.15),
    "green": (0.15, 0.7, 0.2), "cyan": (0.15, 0.82, 0.88), "blue": (0.12, 0.28, 0.9),
    "purple": (0.55, 0.18, 0.78), "pink": (0.98, 0.45, 0.72), "white": (0.96, 0.96, 0.96),
    "brown": (0.5, 0.28, 0.12),
}  # fmt: skip

# Time of day -> caption phrase; a global tint and brightness (per-channel gain, then offset).
TIMES: dict[str, str] = {"day": "by day", "dusk": "at dusk", "night": "at night"}
_TIME_TINT: dict[str, tuple[np.ndarray, np.ndarray]] = {
    time: (np.array(gain, np.float32)[:, None, None], np.array(offset, np.float32)[:, None, None])  # channels first
    for time, gain, offset in (
        ("day", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
        ("dusk", (0.95, 0.7, 0.55), (0.08, 0.03, 0.0)),
        ("night", (0.3, 0.34, 0.52), (0.0, 0.01, 0.04)),
    )
}
# Weather -> caption word; fog thickens with depth, rain and snow add particles behind the object.
WEATHERS: dict[str, str] = {"clear": "clear", "fog": "foggy", "rain": "rainy", "snow": "snowy"}

# Per class: the common times and weathers (FOCUS context); the common location is the class's scene.
_COMMON_CONTEXT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "circle": (("day",), ("clear",)), "ring": (("day",), ("clear", "rain")),
    "crescent": (("dusk", "night"), ("clear",)), "square": (("day", "dusk"), ("rain", "fog")),
    "triangle": (("day",), ("clear", "snow")), "hourglass": (("day", "dusk"), ("clear",)),
    "cross": (("day",), ("snow",)), "star": (("night",), ("clear",)),
    "heart": (("dusk", "night"), ("clear",)), "arrow": (("day",), ("clear", "fog")),
}  # fmt: skip


def _split_common(common: tuple[str, ...], values: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {"common": common, "uncommon": tuple(v for v in values if v not in common)}


# CONTEXT[class][attribute] = {"common": (...), "uncommon": (...)} for attribute in time, weather, location.
# A FOCUS-like split counts the uncommon attributes of an image (P0..P3).
CONTEXT: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    name: {
        "time": _split_common(times, TIMES),
        "weather": _split_common(weathers, WEATHERS),
        "location": _split_common((CLASS_SCENE[name],), SCENES),
    }
    for name, (times, weathers) in _COMMON_CONTEXT.items()
}

# Style -> caption noun. A close-up shows only the object's surface, filling the frame (texture without a
# silhouette or scene). Drawings (the ImageNet-R analogue) ignore texture, scene, time and weather.
STYLES: dict[str, str] = {
    "photo": "photo", "icon": "icon", "outline": "outline drawing", "sketch": "sketch", "closeup": "close-up photo",
}  # fmt: skip
DRAWING_STYLES: tuple[str, ...] = ("icon", "outline", "sketch")
_TEXTURED_STYLES = ("photo", "closeup")

# Acquisition noise kind -> range of its level: blur sigma (output pixels), gaussian noise std ([0, 1] units),
# JPEG quality. "none" has level 0.
NOISES: dict[str, tuple[float, float]] = {"none": (0.0, 0.0), "blur": (0.5, 0.9), "gaussian": (0.02, 0.06),
                                          "jpeg": (20.0, 45.0)}  # fmt: skip

# CLIP-style prompt templates (zero-shot heads and the "template" caption form).
CLIP_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.", "a blurry photo of a {}.", "a photo of the {}.", "a close-up photo of a {}.",
    "a bright photo of a {}.", "a dark photo of a {}.", "a photo of a small {}.", "a photo of a large {}.",
)  # fmt: skip
# Share of each caption form in the generator's corpus.
CAPTION_FORMS: dict[str, float] = {"attributes": 0.5, "fakeit": 0.2, "template": 0.2, "name": 0.1}

# Depth model (notional metres). Objects sit between OBJECT_DEPTH_AT_UNIT_SCALE / max scale and / min scale.
BACKGROUND_NEAR, BACKGROUND_FAR = 4.0, 40.0
OBJECT_DEPTH_AT_UNIT_SCALE = 1.0
FOG_DISTANCE = 10.0  # fog opacity = 1 - exp(-depth / FOG_DISTANCE)

# Columns of an attribute table, in the order they are drawn. The background columns (with background_seed)
# fully determine a row's background: copying them from row j pastes row j's exact background (IN-9 mixed).
COLUMNS: tuple[str, ...] = (
    "label", "class_name", "shape", "colour", "texture", "scene", "time", "weather", "x", "y", "scale",
    "rotation", "style", "noise", "noise_level", "seed", "background_seed",
)  # fmt: skip
BACKGROUND_COLUMNS: tuple[str, ...] = ("scene", "time", "weather", "background_seed")
_VOCABULARIES: dict[str, Mapping[str, Any]] = {
    "class_name": dict.fromkeys((*CLASSES, OOD_NAME)), "shape": dict.fromkeys(SHAPES), "colour": COLOURS,
    "texture": TEXTURES, "scene": SCENES, "time": TIMES, "weather": WEATHERS, "style": STYLES, "noise": NOISES,
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldParams:
    """How the world is sampled and rendered; ``from_dict`` builds it from the config's plain mapping."""

    image_size: int = 32
    supersample: int = 2  # render at image_size * supersample, then box-downsample (anti-aliasing)
    class_texture_p: float = 0.65  # P(object wears its class's texture); else one of the other textures
    class_scene_p: float = 0.55  # P(class's scene); else one of the other scenes
    context_common_p: float = 0.8  # P(time is one of the class's common times); the same for weather
    acquisition_noise_p: float = 0.2  # share of images with blur, gaussian noise or JPEG artefacts
    scale_range: tuple[float, float] = (0.4, 0.55)  # sqrt(object area) / image side
    position_jitter: float = 0.1  # object centre within +-jitter (image fractions) of the image centre
    rotation_range: float = 20.0  # degrees, +-; kept small so arrows point right and squares stay squares
    caption_drop_p: float = 0.3  # chance of dropping each attribute from an attribute caption

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_range", tuple(float(s) for s in self.scale_range))
        if self.image_size < 8 or self.supersample < 1:
            raise ValueError(f"image_size must be >= 8 and supersample >= 1, got {self.image_size}, {self.supersample}")
        for name in ("class_texture_p", "class_scene_p", "context_common_p", "acquisition_noise_p", "caption_drop_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"world parameter {name} must be a probability in [0, 1], got {getattr(self, name)}")
        low, high = self.scale_range
        smallest = OBJECT_DEPTH_AT_UNIT_SCALE / BACKGROUND_NEAR  # smaller objects would sit behind the ground
        if not smallest < low <= high <= 1.0:
            raise ValueError(f"world parameter scale_range must satisfy {smallest} < low <= high <= 1, got {low, high}")
        if not 0.0 <= self.position_jitter <= 0.5 or not 0.0 <= self.rotation_range <= 180.0:
            raise ValueError("position_jitter must be in [0, 0.5] and rotation_range in [0, 180]")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> WorldParams:
        known = {f.name for f in fields(cls)}
        for key in values or {}:
            if key not in known:
                raise ValueError(f"unknown mini-world parameter {key!r}; valid parameters: {sorted(known)}")
        check_field_types(cls, values or {})
        return cls(**(values or {}))

    def to_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @property
    def render_size(self) -> int:
        return self.image_size * self.supersample


def _params(params: WorldParams | Mapping[str, Any] | None) -> WorldParams:
    return params if isinstance(params, WorldParams) else WorldParams.from_dict(params)


# ---------------------------------------------------------------------------------------------------------------
# Sampling attributes
# ---------------------------------------------------------------------------------------------------------------


def _pick(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _correlated(typical: np.ndarray, vocabulary: tuple[str, ...], p: float, u1: np.ndarray, u2: np.ndarray):
    """The typical value with probability p, else one of the others uniformly (so p is the exact share)."""
    others = [tuple(v for v in vocabulary if v != t) for t in typical]
    return np.array([t if a < p else _pick(o, b) for t, o, a, b in zip(typical, others, u1, u2)], dtype=object)


def _context(classes: np.ndarray, attribute: str, p: float, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    sets = [CONTEXT[c][attribute] for c in classes]
    return np.array(
        [_pick(s["common"] if a < p else s["uncommon"], b) for s, a, b in zip(sets, u1, u2)], dtype=object
    )


def _broadcast(column: str, value: Any, n: int) -> np.ndarray:
    values = np.full(n, value) if np.ndim(value) == 0 else np.asarray(value)
    if len(values) != n:
        raise ValueError(f"override of {column!r} has {len(values)} values for {n} rows")
    return values


def sample_attributes(
    n: int, seed: int, params: WorldParams | Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """``n`` rows of attributes (``COLUMNS``) from the photo distribution; classes balanced and shuffled.

    ``overrides`` maps a column to a value or an array of ``n`` values. An overridden column replaces the drawn
    one before the columns that depend on it are drawn: ``label`` drives class_name, shape, texture, scene, time
    and weather; ``noise`` drives noise_level. Every random number is drawn whatever the overrides, so two calls
    with the same seed differ only where the overrides make them differ (paired splits, e.g. the same images with
    another texture). An OOD split overrides ``shape`` (and may set ``label`` afterwards).
    """
    params = _params(params)
    overrides = dict(overrides or {})
    for column in overrides:
        if column not in COLUMNS or column == "class_name":
            raise ValueError(f"cannot override {column!r}; attributes: {list(COLUMNS)} (class_name follows label)")
    rng = np.random.default_rng(seed)
    draws = ("colour", "texture", "texture2", "scene", "scene2", "time", "time2", "weather", "weather2", "x", "y",
             "scale", "rotation", "noise", "noise_kind", "noise_level")  # fmt: skip
    u = {name: rng.random(n) for name in draws}
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    seeds = rng.integers(0, 2**31, size=(2, n))

    def take(column: str, drawn: Any) -> np.ndarray:
        return _broadcast(column, overrides[column], n) if column in overrides else drawn

    frame: dict[str, np.ndarray] = {}
    frame["label"] = take("label", labels).astype(np.int64)
    if not np.all((frame["label"] >= 0) & (frame["label"] < len(CLASSES))):
        raise ValueError(f"labels must be in [0, {len(CLASSES)}); set label afterwards for an OOD split")
    frame["class_name"] = np.array(CLASSES, dtype=object)[frame["label"]]
    frame["shape"] = take("shape", frame["class_name"])
    colours = tuple(COLOURS)
    frame["colour"] = take("colour", np.array([_pick(colours, a) for a in u["colour"]], dtype=object))
    typical_texture = np.array([CLASS_TEXTURE[c] for c in frame["class_name"]], dtype=object)
    frame["texture"] = take(
        "texture", _correlated(typical_texture, tuple(TEXTURES), params.class_texture_p, u["texture"], u["texture2"])
    )
    typical_scene = np.array([CLASS_SCENE[c] for c in frame["class_name"]], dtype=object)
    frame["scene"] = take(
        "scene", _correlated(typical_scene, tuple(SCENES), params.class_scene_p, u["scene"], u["scene2"])
    )
    p = params.context_common_p
    frame["time"] = take("time", _context(frame["class_name"], "time", p, u["time"], u["time2"]))
    frame["weather"] = take("weather", _context(frame["class_name"], "weather", p, u["weather"], u["weather2"]))
    jitter = params.position_jitter
    frame["x"] = take("x", 0.5 + jitter * (2 * u["x"] - 1))
    frame["y"] = take("y", 0.5 + jitter * (2 * u["y"] - 1))
    low, high = params.scale_range
    frame["scale"] = take("scale", low + (high - low) * u["scale"])
    frame["rotation"] = take("rotation", params.rotation_range * (2 * u["rotation"] - 1))
    frame["style"] = take("style", np.full(n, "photo", dtype=object))
    kinds = tuple(k for k in NOISES if k != "none")
    noisy = u["noise"] < params.acquisition_noise_p
    noise = [_pick(kinds, k) if z else "none" for z, k in zip(noisy, u["noise_kind"])]
    frame["noise"] = take("noise", np.array(noise, dtype=object))
    low_level, high_level = np.array([NOISES[k] for k in frame["noise"]]).reshape(n, 2).T
    frame["noise_level"] = take("noise_level", low_level + (high_level - low_level) * u["noise_level"])
    frame["seed"] = take("seed", seeds[0]).astype(np.int64)
    frame["background_seed"] = take("background_seed", seeds[1]).astype(np.int64)
    attributes = pd.DataFrame(frame, columns=list(COLUMNS))
    validate_attributes(attributes)
    return attributes


def validate_attributes(attributes: pd.DataFrame) -> None:
    """Raise ValueError naming the column and the bad values when a table cannot be rendered."""
    missing = [c for c in COLUMNS if c not in attributes.columns]
    if missing:
        raise ValueError(f"attribute table lacks the column(s) {missing}")
    for column, vocabulary in _VOCABULARIES.items():
        bad = sorted(set(attributes[column].unique()) - set(vocabulary))
        if bad:
            raise ValueError(f"unknown {column} value(s) {bad}; valid: {list(vocabulary)}")
    low, high = OBJECT_DEPTH_AT_UNIT_SCALE / BACKGROUND_NEAR, 1.0
    if len(attributes) and not ((attributes["scale"] > low) & (attributes["scale"] <= high)).all():
        raise ValueError(f"scale must be in ({low}, {high}] (smaller objects would be behind the background)")


# ---------------------------------------------------------------------------------------------------------------
# Shapes: antialiased templates over [-1, 1]^2, made once and sampled through each row's pose.
# ---------------------------------------------------------------------------------------------------------------

_TEMPLATE_SIZE = 128
_DRAW_SIZE = 512  # templates are drawn 4x larger and box-downsampled


def _canvas() -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(_DRAW_SIZE) + 0.5) / _DRAW_SIZE * 2 - 1
    return np.meshgrid(centres, centres)  # x right, y down


def _polygon(*points: tuple[float, float]) -> np.ndarray:
    image = Image.new("L", (_DRAW_SIZE, _DRAW_SIZE))
    to_pixels = [((x + 1) / 2 * _DRAW_SIZE, (y + 1) / 2 * _DRAW_SIZE) for x, y in points]
    ImageDraw.Draw(image).polygon(to_pixels, fill=255)
    return np.asarray(image) > 0


def _disc(cx: float, cy: float, radius: float) -> np.ndarray:
    x, y = _canvas()
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _regular(corners: int, radius: float, inner: float | None = None, start: float = -90.0) -> np.ndarray:
    """A regular polygon, or a star when ``inner`` (radius of the inner corners) is given."""
    radii = [radius, inner] if inner is not None else [radius]
    count = corners * len(radii)
    angles = np.deg2rad(start + 360.0 * np.arange(count) / count)
    r = np.array(radii * corners)
    return _polygon(*zip(r * np.cos(angles), r * np.sin(angles)))


def _heart() -> np.ndarray:
    x, y = _canvas()
    x, y = x / 0.78, -(y + 0.08) / 0.78  # the classic implicit heart, y up
    return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0


_SHAPE_DRAWINGS: dict[str, Callable[[], np.ndarray]] = {
    "circle": lambda: _disc(0, 0, 0.8),
    "ring": lambda: _disc(0, 0, 0.85) & ~_disc(0, 0, 0.47),
    "crescent": lambda: _disc(0, 0, 0.8) & ~_disc(0.42, -0.12, 0.62),
    "square": lambda: _polygon((-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)),
    "triangle": lambda: _regular(3, 0.9),
    "hourglass": lambda: _polygon((-0.65, -0.85), (0.65, -0.85), (0.12, 0), (0.65, 0.85), (-0.65, 0.85), (-0.12, 0)),
    "cross": lambda: _polygon((-0.25, -0.8), (0.25, -0.8), (0.25, 0.8), (-0.25, 0.8))
    | _polygon((-0.8, -0.25), (0.8, -0.25), (0.8, 0.25), (-0.8, 0.25)),
    "star": lambda: _regular(5, 0.9, inner=0.42),
    "heart": _heart,
    "arrow": lambda: _polygon((-0.9, -0.2), (0.05, -0.2), (0.05, -0.6), (0.9, 0), (0.05, 0.6), (0.05, 0.2),
                              (-0.9, 0.2)),
    "hexagon": lambda: _regular(6, 0.85, start=0.0),
    "bar": lambda: _polygon((-0.75, -0.22), (0.75, -0.22), (0.75, 0.22), (-0.75, 0.22)),
    "tee": lambda: _polygon((-0.7, -0.7), (0.7, -0.7), (0.7, -0.35), (0.18, -0.35), (0.18, 0.75), (-0.18, 0.75),
                            (-0.18, -0.35), (-0.7, -0.35)),
    "lightning": lambda: _polygon((0.05, -0.9), (0.45, -0.9), (0.15, -0.15), (0.5, -0.15), (-0.3, 0.9),
                                  (-0.05, 0.1), (-0.4, 0.1)),
}  # fmt: skip


# The object's rim is shaded darker, like a bevel, so its silhouette stays readable on any background.
_RIM_WIDTH = 0.1  # object units (about one output pixel)
_RIM_DARKENING = 0.5


class _Template(NamedTuple):
    coverage: np.ndarray  # float32 (T+2) x (T+2), zero border so out-of-range samples read 0
    rim: np.ndarray  # float32 (T+2) x (T+2): brightness factor, 1 - _RIM_DARKENING at the edge, 1 inside
    to_template: float  # multiply object-frame coordinates (unit area) by this to get [-1, 1] template units


@lru_cache(maxsize=None)
def _template(shape: str) -> _Template:
    drawn = _SHAPE_DRAWINGS[shape]()
    block = _DRAW_SIZE // _TEMPLATE_SIZE

    def shrink(image: np.ndarray) -> np.ndarray:
        return image.reshape(_TEMPLATE_SIZE, block, _TEMPLATE_SIZE, block).mean((1, 3)).astype(np.float32)

    coverage = shrink(drawn.astype(np.float32))
    to_template = float(np.sqrt(coverage.mean() * 4.0))  # sqrt of the area in [-1, 1]^2 units
    inset = ndimage.distance_transform_edt(drawn) * (2.0 / _DRAW_SIZE) / to_template  # object units
    rim = shrink(1.0 - _RIM_DARKENING * np.clip(1.0 - inset / _RIM_WIDTH, 0.0, 1.0))
    return _Template(np.pad(coverage, 1), np.pad(rim, 1, constant_values=1.0), to_template)


def object_depth(scale: float | np.ndarray) -> float | np.ndarray:
    """Distance of the object (notional metres): larger objects are nearer, always nearer than the ground."""
    return OBJECT_DEPTH_AT_UNIT_SCALE / np.asarray(scale)


# ---------------------------------------------------------------------------------------------------------------
# Grids, noise and colour helpers. Images are channels-first (3 x H x W) inside the renderer: numpy broadcasts a
# colour over long contiguous rows ten times faster than over a trailing axis of 3.
# ---------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in image fractions: (Y down, X right), float32 size x size."""
    centres = ((np.arange(size) + 0.5) / size).astype(np.float32)
    y, x = np.meshgrid(centres, centres, indexing="ij")
    y.setflags(write=False), x.setflags(write=False)  # cached: shared by every caller
    return y, x


@lru_cache(maxsize=8)
def background_depth(size: int) -> np.ndarray:
    """Depth of the ground plane per pixel (size x size, float32): inverse depth is linear in the row."""
    y, _ = _grid(size)
    depth = (1.0 / (1.0 / BACKGROUND_FAR + (1.0 / BACKGROUND_NEAR - 1.0 / BACKGROUND_FAR) * y)).astype(np.float32)
    depth.setflags(write=False)  # cached: shared by every caller
    return depth


def _smooth_noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """Value noise in [0, 1]: a cells x cells random lattice, bilinearly enlarged."""
    lattice = Image.fromarray(rng.random((cells, cells), dtype=np.float32), mode="F")
    return np.asarray(lattice.resize((size, size), Image.Resampling.BILINEAR))


def _colour(rgb: tuple[float, float, float], rng: np.random.Generator, spread: float = 0.04) -> np.ndarray:
    """A colour (3 x 1 x 1) with a little random variation, so no two scenes are exactly alike."""
    # no clipping needed here: every layer is clipped to [0, 1] once, at output size
    return (np.asarray(rgb, np.float32) + rng.normal(0.0, spread, 3).astype(np.float32))[:, None, None]


def _blend(a: np.ndarray, b: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    """a + (b - a) * t: colours or images blended by a weight or a weight map (H x W)."""
    return a + (b - a) * t


def _sky(rng: np.random.Generator, y: np.ndarray, horizon: float) -> np.ndarray:
    t = np.clip(y / max(horizon, 1e-3), 0.0, 1.0)
    return _blend(_colour((0.3, 0.5, 0.88), rng), _colour((0.72, 0.84, 0.96), rng), t)


# ---------------------------------------------------------------------------------------------------------------
# Scenes: painters (rng, Y, X) -> float32 3 x size x size, about [0, 1]
# ---------------------------------------------------------------------------------------------------------------


def _paint_sky(rng, y, x):
    clouds = np.clip((_smooth_noise(rng, 5, y.shape[0]) - 0.5) * 3.0, 0.0, 1.0)
    return _blend(_sky(rng, y, 1.0), 0.97, clouds)


def _paint_ocean(rng, y, x):
    horizon = rng.uniform(0.22, 0.4)
    water = _blend(_colour((0.1, 0.5, 0.62), rng), _colour((0.03, 0.18, 0.45), rng), (y - horizon) / (1 - horizon))
    phase = rng.uniform(0, 2 * np.pi, 2)
    waves = 1 + 0.18 * np.sin(2 * np.pi * (y * 11 + 0.25 * np.sin(2 * np.pi * x * 2 + phase[0])) + phase[1])
    return np.where(y < horizon, _sky(rng, y, horizon), water * waves)


def _paint_beach(rng, y, x):
    horizon, shore = rng.uniform(0.2, 0.32), rng.uniform(0.45, 0.58)
    shore_line = shore + 0.04 * np.sin(2 * np.pi * (x * 1.5 + rng.random()))
    sea = _blend(_colour((0.15, 0.55, 0.7), rng), _colour((0.3, 0.7, 0.75), rng), (y - horizon) / (shore - horizon))
    sand = _colour((0.92, 0.82, 0.58), rng) * (0.92 + 0.16 * rng.random(y.shape, dtype=np.float32))
    image = np.where(y < horizon, _sky(rng, y, horizon), np.where(y < shore_line, sea, sand))
    return np.where(np.abs(y - shore_line) < 0.02, np.float32(0.95), image)  # surf


def _paint_desert(rng, y, x):
    horizon = rng.uniform(0.22, 0.38) + 0.05 * np.sin(2 * np.pi * (x * 1.2 + rng.random()))
    sky = _blend(_colour((0.62, 0.75, 0.9), rng), _colour((0.95, 0.88, 0.75), rng), np.clip(y / horizon, 0, 1))
    dunes = 1 + 0.14 * np.sin(2 * np.pi * (y * 4 + 0.4 * np.sin(2 * np.pi * (x * 1.3 + rng.random()))))
    return np.where(y < horizon, sky, _colour((0.9, 0.62, 0.32), rng) * dunes)


def _paint_mountain(rng, y, x):
    knots = np.linspace(-0.1, 1.1, 8)
    ridge = np.interp(x[0], knots, rng.uniform(0.15, 0.55, knots.size)).astype(np.float32)
    rock = _blend(_colour((0.45, 0.44, 0.55), rng), _colour((0.25, 0.3, 0.28), rng), y)
    image = np.where(y < ridge + 0.07, np.float32(0.93), rock)  # snow caps
    image = np.where(y > 0.8, _colour((0.25, 0.45, 0.22), rng), image)  # valley floor
    return np.where(y < ridge, _sky(rng, y, 0.55), image)


def _paint_forest(rng, y, x):
    canopy = _colour((0.1, 0.36, 0.12), rng) * (0.6 + 0.8 * _smooth_noise(rng, 9, y.shape[0]))
    trunks = np.zeros(x.shape, dtype=bool)
    for centre, width in zip(rng.random(rng.integers(4, 8)), rng.uniform(0.025, 0.055, 8)):
        trunks |= np.abs(x - centre) < width
    image = np.where(trunks & (y > 0.25), _colour((0.35, 0.22, 0.1), rng), canopy)
    return np.where(y > 0.85, _colour((0.28, 0.24, 0.12), rng), image)


def _paint_grassland(rng, y, x):
    horizon = rng.uniform(0.2, 0.35)
    grass = _blend(_colour((0.55, 0.75, 0.3), rng), _colour((0.25, 0.55, 0.12), rng), (y - horizon) / (1 - horizon))
    blades = 0.85 + 0.3 * rng.random((1, y.shape[1]), dtype=np.float32) * rng.random(y.shape, dtype=np.float32)
    return np.where(y < horizon, _sky(rng, y, horizon), grass * blades)


def _paint_snowfield(rng, y, x):
    horizon = rng.uniform(0.28, 0.45)
    sky = _blend(_colour((0.62, 0.7, 0.82), rng), _colour((0.85, 0.88, 0.92), rng), np.clip(y / horizon, 0, 1))
    drifts = _smooth_noise(rng, 6, y.shape[0]) * np.float32(0.12) * np.float32((1.0, 0.7, 0.2))[:, None, None]
    return np.where(y < horizon, sky, _colour((0.92, 0.94, 0.98), rng) - drifts)


def _paint_city(rng, y, x):
    sky = _blend(_colour((0.5, 0.6, 0.75), rng), _colour((0.82, 0.82, 0.85), rng), y)
    edges = np.sort(rng.random(rng.integers(4, 8)))
    building = np.searchsorted(edges, x[0])  # which building each column belongs to
    tops = rng.uniform(0.12, 0.55, edges.size + 1)[building]
    walls = rng.uniform(0.28, 0.55, edges.size + 1)[building].astype(np.float32) * _colour((1.0, 0.97, 0.95), rng)
    windows = ((x * y.shape[0] / 5) % 1 < 0.5) & ((y * y.shape[0] / 5) % 1 < 0.5)
    facade = np.where(windows, _colour((0.95, 0.85, 0.45), rng), walls)
    image = np.where(y > tops, facade, sky)
    return np.where(y > 0.88, _colour((0.2, 0.2, 0.22), rng), image)  # street


_WALL_COLOURS = ((0.85, 0.78, 0.62), (0.7, 0.8, 0.75), (0.85, 0.7, 0.7), (0.75, 0.75, 0.85))


def _paint_room(rng, y, x):
    floor_line = rng.uniform(0.58, 0.72)
    wall = _colour(_WALL_COLOURS[rng.integers(len(_WALL_COLOURS))], rng) * (1 - 0.15 * y)
    left, top = rng.uniform(0.05, 0.6), rng.uniform(0.08, 0.25)
    frame = (x > left) & (x < left + 0.3) & (y > top) & (y < top + 0.25)
    pane = (x > left + 0.03) & (x < left + 0.27) & (y > top + 0.03) & (y < top + 0.22)
    wall = np.where(frame, _colour((0.35, 0.25, 0.18), rng), wall)
    wall = np.where(pane, _colour((0.6, 0.78, 0.95), rng), wall)
    floor = _colour((0.55, 0.35, 0.18), rng) * (0.85 + 0.15 * (np.sin(2 * np.pi * y * 14) > 0))  # planks
    return np.where(y < floor_line, wall, floor)


_SCENE_PAINTERS: dict[str, Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]] = {
    "sky": _paint_sky, "ocean": _paint_ocean, "desert": _paint_desert, "city": _paint_city,
    "mountain": _paint_mountain, "beach": _paint_beach, "snowfield": _paint_snowfield, "forest": _paint_forest,
    "room": _paint_room, "grassland": _paint_grassland,
}  # fmt: skip
assert tuple(_SCENE_PAINTERS) == tuple(SCENES)


# ---------------------------------------------------------------------------------------------------------------
# Textures: patterns (u, v, rng) -> float32 in [0, 1] (0: the colour, 1: its contrasting shade); (u, v) are
# upright offsets from the object's centre in object units, so a pattern scales with its object
# ---------------------------------------------------------------------------------------------------------------

_PERIOD = 0.4  # texture period in object units (sqrt of the object's area): about 5 output pixels


def _stripes(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (np.sin(2 * np.pi * (w / _PERIOD + rng.random())) > 0).astype(np.float32)


def _cells(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Position within the texture cell, in [-0.5, 0.5)."""
    w = w * np.float32(1 / _PERIOD) + np.float32(rng.random())
    return w - np.floor(w) - np.float32(0.5)


def _speckle(u, v, rng):
    size = u.shape[0]
    grains = rng.random((size // 2 + 1, size // 2 + 1), dtype=np.float32) < 0.4  # about one output pixel each
    return grains.repeat(2, 0).repeat(2, 1)[:size, :size].astype(np.float32)


def _marble(u, v, rng):
    warp = 9.0 * _smooth_noise(rng, 4, u.shape[0])
    return (np.abs(np.sin(np.pi * (u - 0.5 * v) / (1.5 * _PERIOD) + warp)) < 0.3).astype(np.float32)  # thin veins


_TEXTURE_PATTERNS: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "solid": lambda u, v, rng: np.zeros_like(u),
    "gradient": lambda u, v, rng: np.clip(0.5 + 0.8 * v, 0, 1),
    "stripes": lambda u, v, rng: _stripes(v, rng),
    "bars": lambda u, v, rng: _stripes(u, rng),
    "diagonal": lambda u, v, rng: _stripes((u + v) / np.sqrt(2), rng),
    "dots": lambda u, v, rng: (_cells(u, rng) ** 2 + _cells(v, rng) ** 2 < 0.09).astype(np.float32),
    "checker": lambda u, v, rng: ((_cells(u, rng) < 0) ^ (_cells(v, rng) < 0)).astype(np.float32),
    "grid": lambda u, v, rng: ((np.abs(_cells(u, rng)) > 0.33) | (np.abs(_cells(v, rng)) > 0.33)).astype(np.float32),
    "waves": lambda u, v, rng: _stripes(v + 0.12 * np.sin(2 * np.pi * u / (2 * _PERIOD)), rng),
    "zigzag": lambda u, v, rng: _stripes(v + np.abs(_cells(u, rng)) * _PERIOD, rng),
    "speckle": _speckle,
    "marble": _marble,
}  # fmt: skip
assert tuple(_TEXTURE_PATTERNS) == tuple(TEXTURES)


def _luminance(colour: np.ndarray) -> float:
    return float(colour.ravel() @ np.array([0.3, 0.59, 0.11], np.float32))


_TEXTURE_CONTRAST = 0.4  # how far a texture's second colour moves towards black (or white)


def _contrast(colour: np.ndarray) -> np.ndarray:
    """The texture's second colour: a dark shade of a light colour, a light tint of a dark one."""
    if _luminance(colour) > 0.45:
        return colour * (1.0 - _TEXTURE_CONTRAST)
    return colour + (1.0 - colour) * _TEXTURE_CONTRAST


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

_BACKGROUND_STREAM, _OBJECT_STREAM, _NOISE_STREAM, _CAPTION_STREAM = range(4)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generators per row and purpose, so e.g. swapping a background leaves the object unchanged."""
    return np.random.default_rng([int(seed), stream])


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter the last two axes by ``factor`` (the supersampling's anti-aliasing)."""
    if factor == 1:
        return image
    total = sum(image[..., i::factor, j::factor] for i in range(factor) for j in range(factor))
    return total * np.float32(1.0 / factor**2)


def _environment(image: np.ndarray, depth: np.ndarray | float, time: str, weather: str) -> np.ndarray:
    """Fog (thicker with depth) then the time-of-day tint; per pixel, so it commutes with compositing."""
    if weather == "fog":
        image = _blend(image, np.float32(0.78), 1.0 - np.exp(-np.asarray(depth, np.float32) / FOG_DISTANCE))
    gain, offset = _TIME_TINT[time]
    return image * gain + offset


def _particles(image: np.ndarray, weather: str, rng: np.random.Generator) -> np.ndarray:
    """Rain streaks or snowflakes (they fall behind the object: the background layer carries them)."""
    size = image.shape[-1]
    if weather == "rain":
        streaks = Image.new("L", (size, size))
        draw = ImageDraw.Draw(streaks)
        length = size / 6
        for x, y in rng.random((int(size * 0.35), 2)) * size:
            draw.line([(x, y), (x - 0.3 * length, y + length)], fill=255, width=max(1, size // 48))
        return _blend(image * np.float32(0.85), np.float32(0.85), np.asarray(streaks, np.float32) * (0.55 / 255))
    if weather == "snow":
        flakes = rng.random((size // 2 + 1, size // 2 + 1), dtype=np.float32) < 0.05
        flakes = flakes.repeat(2, 0).repeat(2, 1)[:size, :size]  # about one output pixel each
        return np.where(flakes, np.float32(1.0), _blend(image, np.float32(0.9), 0.15))
    return image


def _paper(rng: np.random.Generator, size: int) -> np.ndarray:
    return _colour((0.96, 0.95, 0.9), rng, 0.02) - 0.04 * _smooth_noise(rng, 8, size)


def _to_hwc(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(image, 0.0, 1.0).transpose(1, 2, 0), dtype=np.float32)


def background(
    row: Mapping[str, Any], params: WorldParams | Mapping[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The row's background at output size: (rgb float32 H x W x 3 in [0, 1], depth float32 H x W).

    Uses only ``scene``, ``time``, ``weather``, ``style`` and ``background_seed``; every style but photo gets plain
    paper.
    """
    params = _params(params)
    size = params.render_size
    rng = _rng(row["background_seed"], _BACKGROUND_STREAM)
    depth = background_depth(params.image_size)
    if row["style"] != "photo":
        return _to_hwc(_downsample(_paper(rng, size), params.supersample)), depth
    y, x = _grid(size)
    image = _particles(_SCENE_PAINTERS[row["scene"]](rng, y, x), row["weather"], rng)
    image = _environment(_downsample(image, params.supersample), depth, row["time"], row["weather"])
    return _to_hwc(image), depth


def _object_frame(row: Mapping[str, Any], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of each render pixel from the object's centre (right, down), in units of sqrt(object area)."""
    y, x = _grid(size)
    scale = np.float32(row["scale"])
    return (x - np.float32(row["x"])) / scale, (y - np.float32(row["y"])) / scale


def _rotate(u: np.ndarray, v: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    angle = np.deg2rad(degrees)
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return cos * u - sin * v, sin * u + cos * v


def _template_index(template: _Template, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Flat index of the nearest template pixel for each render pixel (object coordinates u, v)."""
    side = template.coverage.shape[0]
    half = (side - 2) / 2.0  # template pixel centres span [1, side - 2] inside the zero border

    def index(w: np.ndarray) -> np.ndarray:
        w = w * np.float32(template.to_template * half) + np.float32(half + 0.5)
        return np.minimum(np.maximum(w, 0), side - 1).astype(np.intp)

    return index(v) * side + index(u)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        mask = mask & np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1)
    return mask


def _drawing(row: Mapping[str, Any], u, v, coverage, rng) -> tuple[np.ndarray, np.ndarray]:
    """Icons: flat colour. Outlines: dark ink contour. Sketches: grey pencil contour and hatching."""
    if row["style"] == "icon":
        colour = _colour(COLOURS[row["colour"]], rng, 0.02)
        return (_contrast(colour) if _luminance(colour) > 0.8 else colour), coverage  # white would vanish on paper
    inside = coverage >= 0.5
    contour = (inside & ~_erode(inside, max(1, u.shape[0] // 32))).astype(np.float32)
    if row["style"] == "outline":
        return np.full((3, 1, 1), 0.08, np.float32), contour
    hatching = inside * (np.sin(2 * np.pi * (u - v) / (0.7 * _PERIOD) + rng.uniform(0, 2 * np.pi)) > 0.6) * 0.5
    strokes = rng.random(u.shape, dtype=np.float32) < 0.8  # broken pencil lines
    return np.full((3, 1, 1), 0.3, np.float32), np.maximum(contour * strokes, hatching)


def foreground(
    row: Mapping[str, Any], params: WorldParams | Mapping[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """The row's object at output size: (rgb float32 H x W x 3, alpha float32 H x W in [0, 1], depth).

    ``rgb`` is the straight (not premultiplied) colour; textured styles are lit by the row's time and fogged at the
    object's depth. ``alpha`` is the antialiased coverage (1 everywhere for a close-up); the object's exact mask is
    ``alpha >= 0.5``. Uses only shape, pose, colour, texture, style, time, weather and ``seed``.
    """
    params = _params(params)
    rng = _rng(row["seed"], _OBJECT_STREAM)
    # textures and shading stay upright (so stripes, bars and diagonals never blend); the silhouette turns
    u, v = _object_frame(row, params.render_size)
    template = _template(row["shape"])
    index = _template_index(template, *_rotate(u, v, float(row["rotation"])))
    closeup = row["style"] == "closeup"  # the surface fills the frame: no silhouette, no rim
    coverage = np.ones_like(u) if closeup else template.coverage.take(index)
    depth = float(object_depth(row["scale"]))
    if row["style"] in _TEXTURED_STYLES:
        colour = _colour(COLOURS[row["colour"]], rng)
        pattern = _TEXTURE_PATTERNS[row["texture"]](u, v, rng)
        rim = 1.0 if closeup else template.rim.take(index)
        shading = (1.0 - 0.12 * np.clip(u + v, -1.0, 1.0)) * rim  # light from the top left
        image, alpha = _blend(colour, _contrast(colour), pattern) * shading, coverage
    else:
        image, alpha = _drawing(row, u, v, coverage, rng)
    alpha_out = _downsample(alpha, params.supersample)
    rgb = _downsample(image * alpha, params.supersample) / np.maximum(alpha_out, 1e-6)
    if row["style"] in _TEXTURED_STYLES:
        rgb = _environment(rgb, depth, row["time"], row["weather"])
    return _to_hwc(rgb), alpha_out.astype(np.float32), depth


def composite(foreground_rgb: np.ndarray, alpha: np.ndarray, background_rgb: np.ndarray) -> np.ndarray:
    """Alpha-blend straight-colour foregrounds over backgrounds (H x W x 3, any leading batch axes)."""
    return _blend(background_rgb, foreground_rgb, np.asarray(alpha, np.float32)[..., None])


def acquisition_noise(image: np.ndarray, kind: str, level: float, rng: np.random.Generator | None) -> np.ndarray:
    """A camera's imperfections (``NOISES``) on a float H x W x 3 image in [0, 1]; returns uint8."""
    if kind == "blur":
        image = ndimage.gaussian_filter(image, sigma=(level, level, 0), mode="nearest")
    elif kind == "gaussian":
        image = image + rng.normal(0.0, level, image.shape)
    as_bytes = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if kind == "jpeg":
        buffer = BytesIO()
        Image.fromarray(as_bytes).save(buffer, format="JPEG", quality=int(round(level)))
        with Image.open(buffer) as decoded:
            as_bytes = np.asarray(decoded.convert("RGB"))
    return as_bytes


class Layers(NamedTuple):
    """Batched layers at output size, for splits that recombine them (e.g. foreground i on background j)."""

    foreground: np.ndarray  # float32 N x H x W x 3, straight colour
    alpha: np.ndarray  # float32 N x H x W
    background: np.ndarray  # float32 N x H x W x 3
    object_depth: np.ndarray  # float32 N
    background_depth: np.ndarray  # float32 H x W, the same ground plane for every row


def _rows(attributes: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts of Python values (column lists are much faster than ``to_dict("records")``)."""
    validate_attributes(attributes)
    columns = list(attributes.columns)
    return [dict(zip(columns, values)) for values in zip(*(attributes[c].tolist() for c in columns))]


def render_layers(attributes: pd.DataFrame, params: WorldParams | Mapping[str, Any] | None = None) -> Layers:
    """Foreground, alpha and background of every row, before compositing and acquisition noise."""
    params = _params(params)
    n, size = len(attributes), params.image_size
    layers = Layers(
        np.empty((n, size, size, 3), np.float32), np.empty((n, size, size), np.float32),
        np.empty((n, size, size, 3), np.float32), np.empty(n, np.float32), background_depth(size),
    )  # fmt: skip
    for i, row in enumerate(_rows(attributes)):
        layers.foreground[i], layers.alpha[i], layers.object_depth[i] = foreground(row, params)
        layers.background[i] = background(row, params)[0]
    return layers


def render(
    attributes: pd.DataFrame, params: WorldParams | Mapping[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render every row: (uint8 N x H x W x 3, {"depth": float16 N x H x W, "mask": bool N x H x W})."""
    params = _params(params)
    n, size = len(attributes), params.image_size
    images = np.empty((n, size, size, 3), np.uint8)
    depth = np.empty((n, size, size), np.float16)
    mask = np.empty((n, size, size), bool)
    for i, row in enumerate(_rows(attributes)):
        object_rgb, alpha, object_z = foreground(row, params)
        background_rgb, ground_z = background(row, params)
        image = composite(object_rgb, alpha, background_rgb)
        noise_rng = _rng(row["seed"], _NOISE_STREAM) if row["noise"] != "none" else None
        images[i] = acquisition_noise(image, row["noise"], row["noise_level"], noise_rng)
        mask[i] = alpha >= 0.5
        depth[i] = np.where(mask[i], object_z, ground_z)
    return images, {"depth": depth, "mask": mask}


# ---------------------------------------------------------------------------------------------------------------
# Captions (the generator's corpus) and prompt text
# ---------------------------------------------------------------------------------------------------------------


def _a(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def fakeit_text(class_name: str, scene: str) -> str:
    """The Fake-it prompt "c, h_c inside b", e.g. "star, a symbol inside a forest"."""
    return f"{class_name}, {_a(HYPERNYMS[class_name])} inside {_a(scene)}"


_CAPTION_ATTRIBUTES = ("colour", "texture", "scene", "time", "weather")


def attribute_text(row: Mapping[str, Any], keep: Mapping[str, bool] | None = None) -> str:
    """E.g. "a red striped star in a forest, at night, foggy"; ``keep`` (attribute -> bool) drops words."""
    keep = dict.fromkeys(_CAPTION_ATTRIBUTES, True) | dict(keep or {})
    drawing = row["style"] != "photo"
    words = [row["colour"]] if keep["colour"] else []
    words += [TEXTURES[row["texture"]]] if keep["texture"] and not drawing else []
    text = _a(" ".join([*words, row["class_name"]]))
    if drawing:
        return f"{_a(STYLES[row['style']])} of {text}"
    parts = [text + (f" {SCENES[row['scene']]}" if keep["scene"] else "")]
    parts += [TIMES[row["time"]]] if keep["time"] else []
    parts += [WEATHERS[row["weather"]]] if keep["weather"] else []
    return ", ".join(parts)


def caption(row: Mapping[str, Any], rng: np.random.Generator, drop_p: float = WorldParams.caption_drop_p) -> str:
    """One caption in a random form (``CAPTION_FORMS``); every form names the class."""
    form = rng.choice(list(CAPTION_FORMS), p=list(CAPTION_FORMS.values()))
    if form == "attributes":
        return attribute_text(row, {k: rng.random() >= drop_p for k in _CAPTION_ATTRIBUTES})
    if form == "fakeit":
        return fakeit_text(row["class_name"], row["scene"])
    if form == "template":
        return CLIP_TEMPLATES[rng.integers(len(CLIP_TEMPLATES))].format(row["class_name"])
    return row["class_name"]


def sample_corpus(n: int, seed: int, params: WorldParams | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Attributes of the generator's training corpus plus a ``caption`` column (drawn from each row's seed)."""
    params = _params(params)
    attributes = sample_attributes(n, seed, params)
    attributes["caption"] = [
        caption(row, _rng(row["seed"], _CAPTION_STREAM), params.caption_drop_p) for row in _rows(attributes)
    ]
    return attributes


# ---------------------------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------------------------

def _split_rng(seed: int, purpose: str) -> np.random.Generator:
    """A split's own draws, independent of the ones ``sample_attributes`` makes from the same seed."""
    return np.random.default_rng(derive_seed(seed, purpose))


def _balanced(options: tuple[Any, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """Every option in equal shares (up to one), shuffled."""
    return np.array(options, dtype=object)[rng.permutation(np.arange(n) % len(options))]


def sample_renditions(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """ImageNet-R analogue: the classes as drawings, the drawing styles in equal shares."""
    styles = _balanced(DRAWING_STYLES, n, _split_rng(seed, "style"))
    return sample_attributes(n, seed, params, {"style": styles})


def _harder(params: WorldParams) -> WorldParams:
    """Still the photo distribution, but its unusual side more often: atypical textures, scenes, times and weathers,
    smaller and more turned objects, more camera noise. Sized so that a real-trained resnet10t (94% on test) gets
    about 30% of it wrong with the default parameters."""
    smallest = OBJECT_DEPTH_AT_UNIT_SCALE / BACKGROUND_NEAR
    return replace(
        params,
        class_texture_p=params.class_texture_p / 2, class_scene_p=params.class_scene_p / 2,
        context_common_p=0.75 * params.context_common_p, acquisition_noise_p=min(1.0, 2 * params.acquisition_noise_p),
        scale_range=tuple(max(0.85 * scale, smallest + 0.01) for scale in params.scale_range),
        rotation_range=min(180.0, 1.5 * params.rotation_range),
    )  # fmt: skip


def sample_hard_candidates(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """The pool the ImageNet-A analogue is filtered from (by a held-out reference model's mistakes, in the workflow)."""
    return sample_attributes(n, seed, _harder(params))


def _out_of_distribution(attributes: pd.DataFrame) -> pd.DataFrame:
    return attributes.assign(label=OOD_LABEL, class_name=OOD_NAME)


def sample_ood_shapes(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """iNaturalist analogue: photos of shapes that are no class (``OOD_SHAPES`` in equal shares)."""
    shapes = _balanced(OOD_SHAPES, n, _split_rng(seed, "shape"))
    return _out_of_distribution(sample_attributes(n, seed, params, {"shape": shapes}))


# Object centre (image fractions) three image widths right of the frame: no shape reaches back into view.
_OUT_OF_VIEW_X = 3.0


def sample_ood_scenes(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """SUN analogue: object-free photos of the scenes (the object stands outside the frame; masks are empty)."""
    return _out_of_distribution(sample_attributes(n, seed, params, {"x": _OUT_OF_VIEW_X}))


def sample_ood_textures(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """Places analogue ("other textures"): close-ups of a surface, no silhouette; every texture in equal shares."""
    textures = _balanced(tuple(TEXTURES), n, _split_rng(seed, "texture"))
    return _out_of_distribution(sample_attributes(n, seed, params, {"style": "closeup", "texture": textures}))


_CONTEXT_COLUMNS = {"time": "time", "weather": "weather", "location": "scene"}  # FOCUS attribute -> column


def sample_context(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """FOCUS analogue: photos with k = 0..3 uncommon attributes (time, weather, location), every k in equal shares.

    Which attributes are uncommon is drawn per image, their values from the class's ``CONTEXT``. Adds
    ``uncommon_count`` and a boolean ``uncommon_{attribute}`` per attribute.
    """
    rng = _split_rng(seed, "context")
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    count = rng.permutation(np.arange(n) % (len(_CONTEXT_COLUMNS) + 1))
    uncommon = rng.random((n, len(_CONTEXT_COLUMNS))).argsort(axis=1) < count[:, None]  # count attributes at random
    choice = rng.random((n, len(_CONTEXT_COLUMNS)))
    overrides: dict[str, Any] = {"label": labels}
    for i, (attribute, column) in enumerate(_CONTEXT_COLUMNS.items()):
        options = [CONTEXT[CLASSES[label]][attribute]["uncommon" if flag else "common"] for label, flag in
                   zip(labels, uncommon[:, i])]  # fmt: skip
        overrides[column] = np.array([_pick(o, u) for o, u in zip(options, choice[:, i])], dtype=object)
    attributes = sample_attributes(n, seed, params, overrides)
    attributes["uncommon_count"] = count
    for i, attribute in enumerate(_CONTEXT_COLUMNS):
        attributes[f"uncommon_{attribute}"] = uncommon[:, i]
    return attributes


def sample_cue_conflict(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """Cue-conflict analogue: the shape of class ``label`` wearing the texture typical of class ``texture_label``.

    ``texture_label`` is uniform over all classes, so about one image in ten has shape == texture (the metric leaves
    those out, as upstream). Clean photos by daylight; ``render_split`` sets each object on a close-up of its own
    texture in ``backdrop_colour`` instead of its scene, so that, as in the style-transferred stimuli, the texture
    fills the frame and the shape shows only by its colour and rim.
    """
    rng = _split_rng(seed, "texture")
    texture_label = rng.integers(0, len(CLASSES), n)
    textures = np.array([CLASS_TEXTURE[CLASSES[b]] for b in texture_label], dtype=object)
    attributes = sample_attributes(n, seed, params, {"texture": textures, "time": "day", "weather": "clear",
                                                     "noise": "none"})  # fmt: skip
    attributes["texture_label"] = texture_label
    colours = list(COLOURS)
    shift = rng.integers(1, len(colours), n)  # any colour but the object's, so its silhouette shows
    attributes["backdrop_colour"] = [colours[(colours.index(c) + k) % len(colours)] for c, k in
                                     zip(attributes["colour"], shift)]  # fmt: skip
    return attributes


def _on_texture_backdrop(metadata: pd.DataFrame, params: WorldParams) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each object over a close-up of its own surface (same seed: the pattern runs on) in ``backdrop_colour``."""
    objects = render_layers(metadata, params)
    backdrop = render_layers(metadata.assign(style="closeup", colour=metadata["backdrop_colour"]), params).foreground
    images = acquisition_noise(composite(objects.foreground, objects.alpha, backdrop), "none", 0.0, None)
    return images, render(metadata, params)[1]  # the objects' own masks and depths


def sample_bg_original(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """IN-9 Original analogue: photos on their own background (``background_class`` = label)."""
    attributes = sample_attributes(n, seed, params)
    attributes["background_class"] = attributes["label"]
    return attributes


def _on_backgrounds_of(attributes: pd.DataFrame, donor_labels: np.ndarray, seed: int,
                       params: WorldParams) -> pd.DataFrame:  # fmt: skip
    """``attributes`` with the background columns of fresh photos of the classes ``donor_labels``."""
    donors = sample_attributes(len(attributes), seed, params, {"label": donor_labels})
    mixed = attributes.copy()
    mixed[list(BACKGROUND_COLUMNS)] = donors[list(BACKGROUND_COLUMNS)]
    mixed["background_class"] = donor_labels
    return mixed


def sample_bg_mixed_same(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """IN-9 Mixed-Same analogue: bg_original's objects (same seed: same rows) on another photo's background of
    the same class (its class-correlated scene, time and weather)."""
    original = sample_bg_original(n, seed, params)
    return _on_backgrounds_of(original, original["label"].to_numpy(), derive_seed(seed, "mixed_same"), params)


def sample_bg_mixed_rand(n: int, seed: int, params: WorldParams) -> pd.DataFrame:
    """IN-9 Mixed-Rand analogue: bg_original's objects on another photo's background of a random other class."""
    original = sample_bg_original(n, seed, params)
    shift = _split_rng(seed, "other_class").integers(1, len(CLASSES), n)
    other = (original["label"].to_numpy() + shift) % len(CLASSES)
    return _on_backgrounds_of(original, other, derive_seed(seed, "mixed_rand"), params)


# kind -> attribute sampler (n, seed, params). Each kind draws from its own derived seed, so kinds never share
# images, except the kinds of one seed group (``_SEED_GROUPS``), which are paired row by row.
SPLITS: dict[str, Callable[[int, int, WorldParams], pd.DataFrame]] = {
    "train": sample_attributes,
    "test": sample_attributes,
    "corpus": sample_corpus,
    "renditions": sample_renditions,
    "hard_candidates": sample_hard_candidates,
    "ood_shapes": sample_ood_shapes,
    "ood_scenes": sample_ood_scenes,
    "ood_textures": sample_ood_textures,
    "context": sample_context,
    "cue_conflict": sample_cue_conflict,
    "bg_original": sample_bg_original,
    "bg_mixed_same": sample_bg_mixed_same,
    "bg_mixed_rand": sample_bg_mixed_rand,
}
# The IN-9 triple shares one seed: the same objects in the same order, only the backgrounds differ.
_SEED_GROUPS = dict.fromkeys(("bg_original", "bg_mixed_same", "bg_mixed_rand"), "backgrounds")
_MIXED_BACKGROUNDS = ("bg_mixed_same", "bg_mixed_rand")


def render_split(
    kind: str, n: int, seed: int, params: WorldParams | Mapping[str, Any] | None = None
) -> tuple[np.ndarray, pd.DataFrame, dict[str, np.ndarray]]:
    """Render ``n`` images of a split kind: (uint8 images, metadata = attributes (+ split columns), aux depth/mask)."""
    if kind not in SPLITS:
        raise ValueError(f"unknown mini-world split {kind!r}; kinds: {list(SPLITS)}")
    params = _params(params)
    split_seed = derive_seed(seed, "mini", _SEED_GROUPS.get(kind, kind))
    metadata = SPLITS[kind](n, split_seed, params)
    if kind == "cue_conflict":
        images, aux = _on_texture_backdrop(metadata, params)
    else:
        images, aux = render(metadata, params)
    if kind in _MIXED_BACKGROUNDS:
        # the challenge's cut and paste: the original photo wherever its object's mask is set (the object looks
        # the same, lit as in the original); elsewhere the object's soft edge on the other background
        originals, _ = render(sample_bg_original(n, split_seed, params), params)
        images = np.where(aux["mask"][..., None], originals, images)
    return images, metadata, aux
