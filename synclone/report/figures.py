"""The paper's figures from the long result frame, as matplotlib Figures (no pyplot state, rendered by Agg).

Colour says real (blues) or synthetic (oranges), each model has its own shade, marker and the group's line
style; error bars and bands are the results' bootstrap 95% CIs. A figure function returns None when its metric
has no results.
"""

from __future__ import annotations

import math
import os
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from synclone.io import atomic_path
from synclone.report.collect import DETAILS_PREFIX
from synclone.report.models import GROUP_COLOURS, Meta, ModelStyle, model_styles, order_models
from synclone.report.tables import PERCENT, datasets_of, metric_rows

DPI = 150
NO_VALUE = (math.nan, math.nan, math.nan)
Cells = dict[tuple[str, str, str], tuple[float, float, float]]  # (model, dataset, name) -> (value, low, high)


@contextmanager
def themed() -> Iterator[None]:
    """seaborn's theme, for building a figure and again for saving it: ticks are created lazily at draw time."""
    with mpl.rc_context({**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.2)}):
        yield


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Write a PNG atomically; no software tag or date in the metadata, so equal figures give equal bytes."""
    with themed(), atomic_path(path, suffix=".png") as tmp:
        # "tight" grows the canvas to a legend wider than the panels instead of cutting it
        figure.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)


@themed()
def placeholder_figure(message: str) -> Figure:
    """Stands in for a declared figure whose metric has no results."""
    figure = Figure(figsize=(5, 1.2))
    figure.text(0.5, 0.5, message, ha="center", va="center")
    return figure


# ---- shared pieces ---------------------------------------------------------------------------------------


def _cells(data: pd.DataFrame) -> Cells:
    return {(model, dataset, name): (value, low, high) for model, dataset, name, value, low, high in
            data[["model", "dataset", "name", "value", "ci_low", "ci_high"]].itertuples(index=False)}


def _scaled(cell: tuple[float, float, float], scale: float) -> tuple[float, float, float]:
    return cell[0] * scale, cell[1] * scale, cell[2] * scale


def _error(value: float, low: float, high: float) -> tuple[float, float]:
    """Distances from the estimate down and up to the CI ends; 0 where there is no interval."""
    return tuple(0.0 if math.isnan(distance) else max(distance, 0.0) for distance in (value - low, high - value))


def _errors(cells: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """The 2 x N ``yerr``/``xerr`` array matplotlib wants."""
    return np.array([_error(*cell) for cell in cells], dtype=float).reshape(-1, 2).T


def _panels(count: int, ncols: int, width: float, height: float, **subplots) -> tuple[Figure, list[Axes]]:
    ncols = min(count, ncols)
    nrows = math.ceil(count / ncols)
    figure = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = list(figure.subplots(nrows, ncols, squeeze=False, **subplots).ravel())
    for unused in axes[count:]:
        figure.delaxes(unused)
    return figure, axes[:count]


def _models(data: pd.DataFrame, meta: Meta) -> tuple[list[str], dict[str, ModelStyle]]:
    models = order_models(set(data["model"]), meta)
    return models, model_styles(models, meta)


def _model_legend(figure: Figure, models: Sequence[str], styles: Mapping[str, ModelStyle], lines: bool) -> None:
    handles = [Line2D([], [], color=styles[m].colour, marker=styles[m].marker,
                      linestyle=styles[m].linestyle if lines else "none", label=f"{styles[m].label} ({styles[m].group})")
               for m in models]
    # below the panels (a long model list beside them squeezes narrow figures), on extra height so that the
    # panels keep theirs
    ncols = min(len(handles), 4)
    figure.set_figheight(figure.get_figheight() + 0.6 + 0.28 * math.ceil(len(handles) / ncols))
    figure.legend(handles=handles, title="model", loc="outside lower center", ncols=ncols)


def _group_legend(figure: Figure, models: Sequence[str], styles: Mapping[str, ModelStyle]) -> None:
    groups = dict.fromkeys(styles[m].group for m in models)
    figure.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in groups], title="trained on",
                  loc="outside right upper")


@dataclass(frozen=True)
class Panel:
    title: str
    dataset: str
    value: str
    ylabel: str
    scale: float = 1.0
    reference: float | None = None  # a dotted line, e.g. chance level


def _per_dataset_panels(data: pd.DataFrame, specs: Sequence[tuple[str, str, str, float]]) -> list[Panel]:
    """The same panels for each dataset, titled with the dataset only when there are several; panels without
    any result are left out."""
    datasets = datasets_of(data)
    present = set(zip(data["dataset"], data["name"]))
    return [Panel(f"{dataset}: {title}" if len(datasets) > 1 else title, dataset, value, ylabel, scale)
            for dataset in datasets for title, value, ylabel, scale in specs if (dataset, value) in present]


def _bar_figure(data: pd.DataFrame, meta: Meta, panels: Sequence[Panel], title: str) -> Figure | None:
    """One bar per model in each panel, coloured by group; missing or null values are marked n/a."""
    if not panels:
        return None
    models, styles = _models(data, meta)
    cells = _cells(data)
    figure, axes = _panels(len(panels), 4, 0.38 * len(models) + 1.4, 4.6)
    positions = np.arange(len(models))
    for ax, panel in zip(axes, panels):
        bars = [_scaled(cells.get((m, panel.dataset, panel.value), NO_VALUE), panel.scale) for m in models]
        heights = np.array([bar[0] for bar in bars])
        ax.bar(positions, np.nan_to_num(heights), yerr=_errors(bars), color=[styles[m].colour for m in models],
               capsize=2, error_kw={"elinewidth": 0.8})
        for position in positions[np.isnan(heights)]:
            ax.text(position, 0, "n/a", ha="center", va="bottom", rotation=90, fontsize="small")
        ax.axhline(0, color="black", linewidth=0.6)  # a gap can be negative
        if panel.reference is not None:
            ax.axhline(panel.reference, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(positions, [textwrap.fill(styles[m].label, 18) for m in models], rotation=60, ha="right",
                      rotation_mode="anchor")
        for tick, model in zip(ax.get_xticklabels(), models):
            tick.set_color(GROUP_COLOURS[styles[model].group])
        ax.set(title=panel.title, ylabel=panel.ylabel)
    _group_legend(figure, models, styles)
    figure.suptitle(title)
    return figure


# ---- the paper's figures ---------------------------------------------------------------------------------


@themed()
def calibration_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    """Paper Fig. 3 analogue: ECE against accuracy, one point per model, one panel per eval set."""
    data = metric_rows(long, "calibration")
    data = data[data["name"].isin(["accuracy", "ece"])]
    if data.empty:
        return None
    models, styles = _models(data, meta)
    cells = _cells(data)
    datasets = datasets_of(data)
    figure, axes = _panels(len(datasets), 3, 4.2, 3.8)
    for ax, dataset in zip(axes, datasets):
        for model in models:
            accuracy = _scaled(cells.get((model, dataset, "accuracy"), NO_VALUE), PERCENT)
            ece = cells.get((model, dataset, "ece"), NO_VALUE)
            if math.isnan(accuracy[0]) or math.isnan(ece[0]):
                continue
            ax.errorbar(accuracy[0], ece[0], xerr=_errors([accuracy]), yerr=_errors([ece]), fmt=styles[model].marker,
                        color=styles[model].colour, markersize=7, capsize=2, elinewidth=0.8)
        ax.set(title=dataset, xlabel="accuracy (%)", ylabel="ECE (lower is better)")
    _model_legend(figure, models, styles, lines=False)
    figure.suptitle("Calibration (paper Fig. 3): expected calibration error vs accuracy")
    return figure


@themed()
def ood_figure(long: pd.DataFrame, meta: Meta, score: str | None) -> Figure | None:
    data = metric_rows(long, "ood")
    value = f"{score}/auroc"
    present = set(zip(data["dataset"], data["name"]))
    panels = [Panel(dataset, dataset, value, "AUROC (%)", PERCENT, reference=50.0)  # 50% = chance
              for dataset in datasets_of(data) if (dataset, value) in present]
    return _bar_figure(data, meta, panels, f"OOD detection (paper Table 1): AUROC per OOD set, score = {score}")


@themed()
def adversarial_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    data = metric_rows(long, "adversarial")
    panels = _per_dataset_panels(data, [
        ("clean", "clean_accuracy", "accuracy (%)", PERCENT),
        ("FGSM", "fgsm_accuracy", "accuracy (%)", PERCENT),
        ("PGD", "pgd_accuracy", "accuracy (%)", PERCENT),
    ])
    return _bar_figure(data, meta, panels, "Adversarial robustness (paper Table 2): accuracy under attack")


@themed()
def corruption_severity_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    """Accuracy against severity (0 = clean), one panel per corruption, one line per model."""
    data = metric_rows(long, "corruptions")
    curves: dict[tuple[str, str], dict[int, str]] = {}
    for dataset, name in zip(data["dataset"], data["name"]):
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "accuracy" and parts[2].isdigit():
            curves.setdefault((dataset, parts[1]), {})[int(parts[2])] = name
    if not curves:
        return None
    models, styles = _models(data, meta)
    cells = _cells(data)
    several_datasets = len({dataset for dataset, _ in curves}) > 1
    figure, axes = _panels(len(curves), 5, 3.0, 2.8, sharey=True)
    for ax, ((dataset, corruption), names) in zip(axes, curves.items()):
        severities = sorted(names)
        for model in models:
            points = [_scaled(cells.get((model, dataset, name), NO_VALUE), PERCENT) for name in
                      ["clean_accuracy", *(names[s] for s in severities)]]
            values, lows, highs = np.array(points).T
            if np.isnan(values).all():
                continue
            style = styles[model]
            x = [0, *severities]
            ax.plot(x, values, color=style.colour, marker=style.marker, linestyle=style.linestyle,
                    linewidth=1.2, markersize=3.5)
            ax.fill_between(x, lows, highs, color=style.colour, alpha=0.15, linewidth=0)
        ax.set_xticks([0, *severities], ["clean", *map(str, severities)])
        ax.set(title=f"{dataset}: {corruption}" if several_datasets else corruption, xlabel="severity")
        if ax.get_subplotspec().is_first_col():  # the y axis is shared
            ax.set_ylabel("accuracy (%)")
    _model_legend(figure, models, styles, lines=True)
    figure.suptitle("Common corruptions (paper Table 3): accuracy vs severity")
    return figure


@themed()
def corruption_mean_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    data = metric_rows(long, "corruptions")
    panels = _per_dataset_panels(data, [
        ("2D corruptions", "mean_accuracy_2d", "mean accuracy (%)", PERCENT),
        ("3D corruptions", "mean_accuracy_3d", "mean accuracy (%)", PERCENT),
        ("all corruptions", "mean_accuracy", "mean accuracy (%)", PERCENT),
        ("Avg. R_cc", "r_cc", "corrupted / clean accuracy", 1.0),
    ])
    return _bar_figure(data, meta, panels, "Common corruptions (paper Table 3): mean over corruptions and severities")


@themed()
def context_bias_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    """Accuracy against the number of uncommon attributes P_k, and CB_k = Acc(P_k) / Acc(P_0)."""
    data = metric_rows(long, "context_bias")
    data = data[data["name"].str.fullmatch(r"accuracy_p\d|cb_\d")]
    if data.empty:
        return None
    models, styles = _models(data, meta)
    cells = _cells(data)
    datasets = datasets_of(data)
    curves = [(dataset, prefix, title, levels) for dataset in datasets for prefix, title, levels in
              [("accuracy_p", "accuracy", range(4)), ("cb_", "CB_k = Acc(P_k) / Acc(P_0)", range(1, 4))]]
    figure, axes = _panels(len(curves), 2, 4.2, 3.6)
    for ax, (dataset, prefix, title, levels) in zip(axes, curves):
        for model in models:
            points = [_scaled(cells.get((model, dataset, f"{prefix}{k}"), NO_VALUE), PERCENT) for k in levels]
            if all(math.isnan(point[0]) for point in points):
                continue
            style = styles[model]
            ax.errorbar(list(levels), [point[0] for point in points], yerr=_errors(points), color=style.colour,
                        marker=style.marker, linestyle=style.linestyle, capsize=2, elinewidth=0.8, markersize=5)
        ax.set_xticks(list(levels), [f"P{k}" for k in levels])
        ax.set(title=f"{dataset}: {title}" if len(datasets) > 1 else title, ylabel="%",
               xlabel="P_k: images with k uncommon attributes")
    _model_legend(figure, models, styles, lines=True)
    figure.suptitle("Context bias (paper Table 4): uncommon time, weather or location")
    return figure


@themed()
def shape_bias_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    """Paper Fig. 4 in the model-vs-human style: per-class shape bias as dots on a vertical class axis, a
    vertical line at each model's overall shape bias."""
    data = metric_rows(long, "shape_bias")
    per_class_prefix = f"{DETAILS_PREFIX}shape_bias_by_shape_class/"
    data = data[(data["name"] == "shape_bias") | data["name"].str.startswith(per_class_prefix)]
    if data.empty:
        return None
    models, styles = _models(data, meta)
    cells = _cells(data)
    datasets = datasets_of(data)
    classes = list(dict.fromkeys(name.removeprefix(per_class_prefix) for name in data["name"]
                                 if name.startswith(per_class_prefix)))
    figure, axes = _panels(len(datasets), 2, 6.0, 0.32 * len(classes) + 2.2)
    for ax, dataset in zip(axes, datasets):
        rows = np.arange(len(classes))
        for model in models:
            style = styles[model]
            per_class = [cells.get((model, dataset, per_class_prefix + c), NO_VALUE)[0] for c in classes]
            ax.scatter(per_class, rows, marker=style.marker, color=style.colour, s=36, edgecolors="white",
                       linewidths=0.4, zorder=3)
            overall = cells.get((model, dataset, "shape_bias"), NO_VALUE)[0]
            if not math.isnan(overall):
                ax.axvline(overall, color=style.colour, linestyle=style.linestyle, linewidth=1.5)
        ax.set_yticks(rows, classes)
        ax.set_ylim(len(classes) - 0.5, -0.5)  # first class on top
        ax.set_xlim(-0.03, 1.03)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0\ntexture", "0.25", "0.5", "0.75", "1\nshape"])
        ax.set(title=dataset if len(datasets) > 1 else None, xlabel="fraction of 'shape' decisions")
        top = ax.secondary_xaxis("top", functions=(lambda x: 1 - x, lambda x: 1 - x))
        top.set_xlabel("fraction of 'texture' decisions")
    _model_legend(figure, models, styles, lines=True)
    figure.suptitle("Shape bias (paper Fig. 4): per class (dots), overall (lines)")
    return figure


@themed()
def background_bias_figure(long: pd.DataFrame, meta: Meta) -> Figure | None:
    data = metric_rows(long, "background_bias")
    panels = _per_dataset_panels(data, [
        ("original", "original_accuracy", "accuracy (%)", PERCENT),
        ("mixed-same", "mixed_same_accuracy", "accuracy (%)", PERCENT),
        ("mixed-rand", "mixed_rand_accuracy", "accuracy (%)", PERCENT),
        ("BG-Gap (MS - MR)", "bg_gap", "percentage points", PERCENT),
    ])
    return _bar_figure(data, meta, panels, "Background bias (paper Table 6): accuracy on IN-9-style variants")
