"""Ours vs the paper: each of our values beside the authors' published one, the delta, and the known bugs of the
authors' code that could explain it.

The authors' numbers are data (``synclone/data/paper_results``, see its README); ``QUANTITIES`` says which file
column is which of our (metric, value name), and which of the config's eval sets it belongs to (``role``: the
paper's dataset, found in the result's params, so mini-world results compare too, through ``paper_analogue``).
Values are shown in the paper's units. ``KNOWN_BUGS`` maps each bug of protocol.md to the values it changes.

Verdict per row: ``agrees`` when the paper's value lies inside our bootstrap 95% CI; otherwise the bugs that
affect the value and are not already corrected in the compared number: ``explained by`` a bug whose known
direction matches the delta, ``possibly`` one with no known direction, ``not by`` one that would push the other
way; ``unexplained`` when no bug affects it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from synclone.report.figures import _errors, _model_legend, _models, _panels, themed
from synclone.report.models import Meta, model_info, order_models

DATA_DIR = "paper_results"
CORRECTED_NOTE = "*"  # marks a bug whose effect the compared authors' value no longer contains


@dataclass(frozen=True)
class Quantity:
    """One published number per model: file column -> our (metric, eval-set role, value name), in ``panel``."""

    metric: str
    role: str
    name: str
    file: str
    column: str
    panel: str
    published: tuple[str, str] | None = None  # (file, column) of the number as printed, where a bug changed it


# the eval set each paper dataset is, in a result's params: (params key, position in its list or None)
ROLES: dict[tuple[str, str], tuple[str, int | None]] = {
    ("calibration", "imagenet_val"): ("eval_sets", 0),
    ("calibration", "imagenet_r"): ("eval_sets", 1),
    ("calibration", "imagenet_a"): ("eval_sets", 2),
    ("ood", "inaturalist"): ("ood_sets", 0),
    ("ood", "sun"): ("ood_sets", 1),
    ("ood", "places"): ("ood_sets", 2),
    ("adversarial", "imagenet_val"): ("eval_set", None),
    ("corruptions", "imagenet_val"): ("eval_set", None),
    ("context_bias", "focus"): ("eval_set", None),
    ("shape_bias", "cue_conflict"): ("eval_set", None),
}
FIXED_DATASETS = {("ood", "mean"): "mean", ("background_bias", "in9"): "summary"}

CORRUPTIONS = {  # our name: (column of the corrected table, column of the published cumulative table)
    "shot_noise": "shot", "motion_blur": "motion", "snow": "snow", "pixelate": "pixelate",
    "jpeg_compression": "jpeg", "near_focus": "near_focus", "far_focus": "far_focus", "fog_3d": "fog_3d",
    "xy_motion_blur": "xy_motion", "z_motion_blur": "z_motion",
}
CORRUPTIONS_2D = ("shot_noise", "motion_blur", "snow", "pixelate", "jpeg_compression")


def _quantities() -> tuple[Quantity, ...]:
    calibration = [Quantity("calibration", role, name, "fig3_calibration_ece20.csv", f"{prefix} {column}", panel)
                   for role, prefix in (("imagenet_val", "IN-val"), ("imagenet_r", "IN-R"), ("imagenet_a", "IN-A"))
                   for name, column, panel in (("accuracy", "acc", "calibration: accuracy (%)"),
                                               ("ece", "ECE", "calibration: ECE"))]
    ood = [Quantity("ood", role, f"entropy/{name}", "table1_ood_entropy.csv", f"{prefix} {column}", f"OOD: {column} (%)")
           for role, prefix in (("inaturalist", "iNat"), ("sun", "SUN"), ("places", "Places"), ("mean", "mean"))
           for name, column in (("auroc", "AUROC"), ("fpr95", "FPR95"))]
    adversarial = [Quantity("adversarial", "imagenet_val", name, "table2_adversarial.csv", column, panel)
                   for name, column, panel in (
                       ("clean_accuracy", "clean", "adversarial: accuracy (%)"),
                       ("fgsm_accuracy", "FGSM adv", "adversarial: accuracy (%)"),
                       ("fgsm_ratio", "FGSM adv/clean", "adversarial: R_adv"),
                       ("pgd_accuracy", "PGD adv", "adversarial: accuracy (%)"),
                       ("pgd_ratio", "PGD adv/clean", "adversarial: R_adv"))]
    summary = "table3_corruptions_summary_published_vs_corrected.csv"
    cumulative = "table3_corruptions_as_published_cumulative.csv"
    corruptions = [
        *(Quantity("corruptions", "imagenet_val", f"mean/{name}", "table3_corruptions_corrected_per_corruption.csv",
                   name, "corruptions: accuracy (%)", (cumulative, published))
          for name, published in CORRUPTIONS.items()),
        Quantity("corruptions", "imagenet_val", "mean_accuracy_2d", summary, "2DCC avg true",
                 "corruptions: accuracy (%)", (summary, "2DCC avg paper")),
        Quantity("corruptions", "imagenet_val", "mean_accuracy_3d", summary, "3DCC avg true",
                 "corruptions: accuracy (%)", (summary, "3DCC avg paper")),
        Quantity("corruptions", "imagenet_val", "r_cc_2d", summary, "2DCC_true/clean", "corruptions: R_cc"),
        Quantity("corruptions", "imagenet_val", "r_cc_3d", summary, "3DCC_true/clean", "corruptions: R_cc"),
    ]
    focus = "table4_context_bias_focus.csv"
    context = [Quantity("context_bias", "focus", name, focus, column, panel) for name, column, panel in (
        ("accuracy_p0", "P0", "context bias: accuracy (%)"), ("accuracy_p1", "P1", "context bias: accuracy (%)"),
        ("accuracy_p2", "P2", "context bias: accuracy (%)"), ("accuracy_p3", "(P3, n=21)", "context bias: accuracy (%)"),
        ("cb_1", "CB_1 = P1/P0", "context bias: CB (%)"), ("cb_2", "CB_2 = P2/P0", "context bias: CB (%)"))]
    shape = [Quantity("shape_bias", "cue_conflict", "shape_bias", "fig4_shape_bias.csv", "shape bias", "shape bias")]
    background = [Quantity("background_bias", "in9", name, "table6_background_bias_unnormalized.csv", column, panel)
                  for name, column, panel in (
                      ("original_accuracy", "Original", "background bias: accuracy (%)"),
                      ("mixed_same_accuracy", "Mixed-Same", "background bias: accuracy (%)"),
                      ("mixed_rand_accuracy", "Mixed-Rand", "background bias: accuracy (%)"),
                      ("bg_gap", "BG-Gap (MS−MR)", "background bias: BG-Gap (pp)"))]
    return (*calibration, *ood, *adversarial, *corruptions, *context, *shape, *background)


QUANTITIES = _quantities()


def paper_scale(panel: str) -> float:
    """Our value times this is the paper's unit: percent where the panel says so."""
    return 100.0 if panel.endswith("(%)") or panel.endswith("(pp)") else 1.0


# ---- known bugs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """A bug of the authors' code (protocol.md); ``applies(quantity, paper model, our result params)``."""

    id: str
    summary: str
    applies: Callable[[Quantity, str, Mapping[str, Any]], bool]
    direction: int = 0  # +1: it makes the authors' value higher than a correct run's, -1 lower, 0 unknown
    corrected: bool = False  # the authors' value compared here already has it undone


def _metric(*metrics: str) -> Callable[[Quantity, str, Mapping[str, Any]], bool]:
    return lambda quantity, model, params: quantity.metric in metrics


def _corruption_2d(quantity: Quantity) -> bool:
    return quantity.name in {f"mean/{c}" for c in CORRUPTIONS_2D} | {"mean_accuracy_2d", "r_cc_2d"}


KNOWN_BUGS: tuple[KnownBug, ...] = (
    KnownBug("1", "corruption accuracies are a running mean over all (corruption, severity) folders; compared here "
                  "with the de-cumulated values",
             lambda q, m, p: q.metric == "corruptions" and q.published is not None, corrected=True),
    KnownBug("2", "IN-9 images are fed without normalisation", _metric("background_bias")),
    KnownBug("3", "CLIP models get ImageNet mean/std in the corruption evaluation",
             lambda q, m, p: q.metric == "corruptions" and m in ("CLIP", "SynCLIP")),
    KnownBug("4a", "ViT-B and SynViT-B get ImageNet mean/std instead of 0.5",
             lambda q, m, p: m in ("ViT-B", "SynViT-B")),
    KnownBug("4b", "no model gets its own preprocessing (Resize 256, CenterCrop 224, bilinear for all)",
             lambda q, m, p: True),
    KnownBug("5", "PGD step 2/225 is larger than eps: a weaker attack",
             lambda q, m, p: q.name.startswith("pgd_") and not p.get("paper_compat"), direction=+1),
    KnownBug("6", "ID and OOD images are preprocessed differently", _metric("ood")),
    KnownBug("7", "ImageNet-C images (224 px) are resized to 256 and cropped again",
             lambda q, m, p: q.metric == "corruptions" and _corruption_2d(q)),
)


def _bug_label(bug: KnownBug) -> str:
    return bug.id + (CORRECTED_NOTE if bug.corrected else "")


def verdict(ours: float, low: float, high: float, paper: float, bugs: Sequence[KnownBug]) -> str:
    """How the known bugs relate to the difference between our value (with its CI) and the paper's."""
    if math.isnan(ours) or math.isnan(paper):
        return "n/a"
    if not (math.isnan(low) or math.isnan(high)) and low <= paper <= high:
        return "agrees (paper inside our 95% CI)"
    candidates = [bug for bug in bugs if not bug.corrected]
    if not candidates:
        return "unexplained"
    sign = int(np.sign(paper - ours))
    parts = {"explained by": [], "possibly": [], "not by": []}
    for bug in candidates:
        key = "possibly" if bug.direction == 0 else ("explained by" if bug.direction == sign else "not by")
        parts[key].append(bug.id)
    return "; ".join(f"{key} {', '.join(ids)}" for key, ids in parts.items() if ids)


# ---- the authors' values ---------------------------------------------------------------------------------------


@cache
def _read(file: str) -> pd.DataFrame:
    with resources.files("synclone.data").joinpath(DATA_DIR, file).open(encoding="utf-8") as stream:
        return pd.read_csv(stream, keep_default_na=False, na_values=[""])


def paper_models() -> pd.DataFrame:
    """paper_name, key, table3_name, table4_name (see the data README)."""
    return _read("models.csv")


def _rows_by_paper_name(file: str) -> pd.DataFrame:
    table = _read(file)
    models = paper_models()
    if "key" in table:
        names = dict(zip(models["key"], models["paper_name"]))
        column = "key"
    else:
        names = {**dict(zip(models["table3_name"], models["paper_name"])),
                 **dict(zip(models["table4_name"], models["paper_name"]))}
        column = "model"
    unknown = sorted(set(table[column]) - set(names))
    if unknown:
        raise ValueError(f"synclone/data/{DATA_DIR}/{file}: models {unknown} are not in models.csv")
    return table.assign(paper_name=table[column].map(names)).set_index("paper_name")


def paper_values() -> dict[tuple[str, Quantity], tuple[float, float, str]]:
    """(paper model, quantity) -> (the value compared, the value as printed where a bug changed it else NaN,
    source ``file: column``)."""
    values = {}
    for quantity in QUANTITIES:
        table = _rows_by_paper_name(quantity.file)
        published = _rows_by_paper_name(quantity.published[0]) if quantity.published else None
        for paper_name, value in table[quantity.column].items():
            printed = math.nan if published is None else float(published.loc[paper_name, quantity.published[1]])
            values[paper_name, quantity] = (float(value), printed, f"{quantity.file}: {quantity.column}")
    return values


# ---- ours vs theirs --------------------------------------------------------------------------------------------


def our_dataset(metric: str, role: str, params: Mapping[str, Any]) -> str | None:
    """The dataset key of our result that plays the paper dataset ``role`` (None when the config has none)."""
    if (metric, role) in FIXED_DATASETS:
        return FIXED_DATASETS[metric, role]
    key, position = ROLES[metric, role]
    value = params.get(key)
    if position is None:
        return value
    return value[position] if isinstance(value, list) and len(value) > position else None


COMPARISON_COLUMNS = ["model", "label", "group", "paper_name", "metric", "dataset", "quantity", "panel", "ours",
                      "ours_ci_low", "ours_ci_high", "paper", "paper_as_published", "delta", "bugs", "verdict",
                      "source"]


def comparison_frame(results: Sequence[Mapping[str, Any]], long: pd.DataFrame, meta: Meta) -> pd.DataFrame:
    """Every (model with a known paper_analogue, quantity): ours in the paper's units (NaN without a result), the
    paper's, delta = ours - paper, the bugs that affect it and the verdict."""
    params = {(r["model"], r["metric"]): r["params"] for r in results}
    cells = {(m, me, d, n): (v, lo, hi) for m, me, d, n, v, lo, hi in
             long[["model", "metric", "dataset", "name", "value", "ci_low", "ci_high"]].itertuples(index=False)}
    theirs = paper_values()
    records = []
    for model in order_models(meta, meta):
        paper_name = meta[model].get("paper_analogue")
        label, group, _ = model_info(meta, model)
        for quantity in QUANTITIES:
            if (paper_name, quantity) not in theirs:
                continue
            paper, printed, source = theirs[paper_name, quantity]
            result_params = params.get((model, quantity.metric))
            dataset = our_dataset(quantity.metric, quantity.role, result_params) if result_params else None
            scale = paper_scale(quantity.panel)
            ours, low, high = (x * scale for x in cells.get((model, quantity.metric, dataset, quantity.name),
                                                            (math.nan,) * 3))
            bugs = [bug for bug in KNOWN_BUGS if bug.applies(quantity, paper_name, result_params or {})]
            records.append({
                "model": model, "label": label, "group": group, "paper_name": paper_name, "metric": quantity.metric,
                "dataset": dataset or "", "quantity": quantity.name, "panel": quantity.panel, "ours": ours,
                "ours_ci_low": low, "ours_ci_high": high, "paper": paper, "paper_as_published": printed,
                "delta": ours - paper, "bugs": ", ".join(_bug_label(bug) for bug in bugs),
                "verdict": verdict(ours, low, high, paper, bugs), "source": source,
            })
    return pd.DataFrame(records, columns=COMPARISON_COLUMNS)


def _missing_analogues(meta: Meta) -> list[str]:
    known = set(paper_models()["paper_name"])
    return [model_info(meta, model)[0] for model in order_models(meta, meta)
            if meta[model].get("paper_analogue") not in known]


def _number(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _digits(panel: str) -> int:
    return 2 if paper_scale(panel) != 1.0 else 3 if "ECE" not in panel else 4


def comparison_markdown(frame: pd.DataFrame, meta: Meta) -> str:
    """One section per metric: model, quantity, ours [CI], paper (as published), delta, bugs, verdict."""
    lines = ["## Ours vs the paper",
             "Our value [bootstrap 95% CI] and the authors' published one, in the paper's units (percent for "
             "accuracies, AUROC, FPR95, CB and BG-Gap); delta = ours - paper. Bugs: the known bugs of the authors' "
             f"code that affect the value ({CORRECTED_NOTE} = already undone in the compared number; the number as "
             "printed is in parentheses). " + " ".join(f"{_bug_label(b)}: {b.summary}." for b in KNOWN_BUGS)]
    if frame.empty:
        lines.append("No model has a paper_analogue with published values.")
    for metric, rows in frame.groupby("metric", sort=False):
        table = ["| Model | Dataset | Quantity | Ours | Paper | Delta | Bugs | Verdict |", "|" + " --- |" * 8]
        for row in rows.itertuples(index=False):
            digits = _digits(row.panel)
            ours = _number(row.ours, digits)
            if not (math.isnan(row.ours_ci_low) or math.isnan(row.ours_ci_high)):
                ours += f" [{_number(row.ours_ci_low, digits)}, {_number(row.ours_ci_high, digits)}]"
            paper = _number(row.paper, digits)
            if not math.isnan(row.paper_as_published):
                paper += f" ({_number(row.paper_as_published, digits)})"
            table.append(f"| {row.label} | {row.dataset or 'n/a'} | {row.quantity} | {ours} | {paper} | "
                         f"{_number(row.delta, digits)} | {row.bugs} | {row.verdict} |")
        lines += [f"### {metric}", "\n".join(table)]
    missing = _missing_analogues(meta)
    if missing:
        lines.append(f"Not compared (no paper_analogue with published values): {', '.join(missing)}.")
    return "\n\n".join(lines) + "\n"


def comparison_table(results: Sequence[Mapping[str, Any]], long: pd.DataFrame, meta: Meta) -> tuple[pd.DataFrame, str]:
    """The comparison as a frame (CSV) and its Markdown."""
    frame = comparison_frame(results, long, meta)
    return frame, comparison_markdown(frame, meta)


@themed()
def comparison_figure(frame: pd.DataFrame, meta: Meta) -> Figure | None:
    """One panel per kind of quantity: the paper's value (x) against ours (y, with its CI); dashed: y = x."""
    data = frame.dropna(subset=["ours", "paper"])
    if data.empty:
        return None
    models, styles = _models(data, meta)
    panels = list(dict.fromkeys(data["panel"]))
    figure, axes = _panels(len(panels), 4, 3.6, 3.4)
    for ax, panel in zip(axes, panels):
        rows = data[data["panel"] == panel]
        for model, points in rows.groupby("model", sort=False):
            cells = list(zip(points["ours"], points["ours_ci_low"], points["ours_ci_high"]))
            ax.errorbar(points["paper"], points["ours"], yerr=_errors(cells), fmt=styles[model].marker,
                        color=styles[model].colour, markersize=5, capsize=2, elinewidth=0.8, linestyle="none")
        ends = [min(rows["paper"].min(), rows["ours"].min()), max(rows["paper"].max(), rows["ours"].max())]
        ax.plot(ends, ends, color="grey", linestyle="--", linewidth=1)
        ax.set(title=panel, xlabel="paper", ylabel="ours")
    _model_legend(figure, models, styles, lines=False)
    figure.suptitle("Ours vs the paper, in the paper's units")
    return figure
