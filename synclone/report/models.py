"""Model order and look from the config's model metadata.

``meta`` maps a model name to ``{"group": "real" | "synthetic", "label": ..., "pair": counterpart or None,
"kind": "supervised" | "self-supervised" | "clip" ...}``. Names without metadata (generators in the fidelity
table, a model dropped from the config) are shown under their own name in the group ``other``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import seaborn as sns
from matplotlib import colors as mpl_colors

Meta = Mapping[str, Mapping[str, Any]]

GROUP_RANK = {"real": 0, "synthetic": 1}
OTHER_GROUP = "other"
# real in blues, synthetic in oranges: the paper's comparison is visible at a glance in every figure. A group's
# models get shades from dark to light (none so light that it vanishes on white); legends use the middle one.
GROUP_SHADES = {
    "real": ("#0b2e59", "#1f5fa8", "#86b4e3"),
    "synthetic": ("#6e2405", "#d9541e", "#f0a27e"),
    OTHER_GROUP: ("#2b2b2b", "#6b6b6b", "#b0b0b0"),
}
GROUP_COLOURS = {group: shades[1] for group, shades in GROUP_SHADES.items()}
GROUP_LINESTYLES = {"real": "-", "synthetic": "--", OTHER_GROUP: ":"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "p", "h", "<", ">", "*", "d", "H", "8")


@dataclass(frozen=True)
class ModelStyle:
    label: str
    group: str
    kind: str
    colour: tuple[float, float, float]
    marker: str
    linestyle: str


def model_info(meta: Meta, model: str) -> tuple[str, str, str]:
    """(label, group, kind) of a model, with fallbacks for names the metadata does not know."""
    info = meta.get(model, {})
    group = info.get("group") if info.get("group") in GROUP_RANK else OTHER_GROUP
    return info.get("label") or model, group, info.get("kind") or ""


def _group_rank(meta: Meta, model: str) -> int:
    return GROUP_RANK.get(model_info(meta, model)[1], len(GROUP_RANK))


def _counterparts(meta: Meta, a: str, b: str) -> bool:
    return meta[a].get("pair") == b or meta[b].get("pair") == a


def order_models(models: Iterable[str], meta: Meta) -> list[str]:
    """``models`` in display order: blocks by kind (first-seen order of the config), within a block the config's
    order with each real model followed by its synthetic counterpart(s) (the paper's layout), then names without
    metadata alphabetically."""
    wanted = set(models)
    kinds = list(dict.fromkeys(info.get("kind") for info in meta.values()))
    ordered: list[str] = []
    for kind in kinds:
        for name in meta:
            if meta[name].get("kind") != kind or name in ordered:
                continue
            cluster = [name, *(other for other in meta if other != name and other not in ordered
                               and _counterparts(meta, name, other))]
            ordered += sorted(cluster, key=lambda model: _group_rank(meta, model))
    ordered += sorted(wanted - set(meta))
    return [model for model in ordered if model in wanted]


def model_styles(models: Iterable[str], meta: Meta) -> dict[str, ModelStyle]:
    """Colour (a shade of the group's colour), marker and line style per model.

    Styles are assigned over every model of ``meta`` plus ``models``, so a model looks the same in every figure
    whichever subset of models a figure shows.
    """
    ordered = order_models(set(meta) | set(models), meta)
    by_group: dict[str, list[str]] = {}
    for model in ordered:
        by_group.setdefault(model_info(meta, model)[1], []).append(model)
    colours = {}
    for group, members in by_group.items():
        shades = sns.blend_palette(GROUP_SHADES[group], len(members)) if len(members) > 1 else [GROUP_COLOURS[group]]
        shades = [mpl_colors.to_rgb(shade) for shade in shades]
        colours.update({model: tuple(map(float, shade)) for model, shade in zip(members, shades)})
    styles = {}
    for index, model in enumerate(ordered):
        label, group, kind = model_info(meta, model)
        styles[model] = ModelStyle(label, group, kind, colours[model], MARKERS[index % len(MARKERS)],
                                   GROUP_LINESTYLES[group])
    return styles
