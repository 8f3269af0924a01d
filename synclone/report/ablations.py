"""The ablation report (the paper's Table 7): every metric of every sweep point, and each metric against the
sweep's axis (training-set size per prompt strategy; share of synthetic images).

``points`` maps a point's model name to ``synclone.ablations.ablation_points``'s record: ``sweep``, ``setting``
(a prompt strategy, or the mix's label), ``size`` (the size multiple, or the synthetic fraction), ``label``,
``group``. Files under ``out_dir``: ``table7.csv``, ``table7.md``, ``figures/{sweep}.png``, ``report.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from matplotlib.figure import Figure

from synclone.io import atomic_path
from synclone.report.collect import load_results, ood_headline, results_frame
from synclone.report.figures import _errors, _panels, placeholder_figure, save_figure, themed
from synclone.report.outputs import ablation_outputs
from synclone.report.tables import CI_HIGH, CI_LOW, IDENTITY_COLUMNS, PERCENT, Table, table_csv, table_markdown

SWEEP_AXES = {"prompt_size": "training images (x base count)", "mix": "share of synthetic images"}
FIRST = None  # a column's dataset: the first one the metric lists (its main eval set)


@dataclass(frozen=True)
class Table7Column:
    label: str
    metric: str
    value: str  # "{score}" is the OOD headline score
    dataset: str | None = FIRST
    scale: float = 1.0
    digits: int = 2


# The paper's Table 7 columns, on the mini world's analogues (OOD: the mean over the OOD sets).
TABLE7_COLUMNS = (
    Table7Column("accuracy (%)", "calibration", "accuracy", scale=PERCENT),
    Table7Column("ECE", "calibration", "ece", digits=4),
    Table7Column("OOD AUROC (%)", "ood", "{score}/auroc", "mean", PERCENT),
    Table7Column("OOD FPR95 (%)", "ood", "{score}/fpr95", "mean", PERCENT),
    Table7Column("FGSM accuracy (%)", "adversarial", "fgsm_accuracy", scale=PERCENT),
    Table7Column("2D corruptions (%)", "corruptions", "mean_accuracy_2d", scale=PERCENT),
    Table7Column("IN-9 original (%)", "background_bias", "original_accuracy", scale=PERCENT),
    Table7Column("mixed-same (%)", "background_bias", "mixed_same_accuracy", scale=PERCENT),
    Table7Column("mixed-rand (%)", "background_bias", "mixed_rand_accuracy", scale=PERCENT),
    Table7Column("BG-Gap (pp)", "background_bias", "bg_gap", scale=PERCENT),
    Table7Column("shape bias", "shape_bias", "shape_bias", digits=3),
    Table7Column("FOCUS P0 (%)", "context_bias", "accuracy_p0", scale=PERCENT),
    Table7Column("P1/P0", "context_bias", "cb_1", digits=3),
    Table7Column("P2/P0", "context_bias", "cb_2", digits=3),
)
POINT_COLUMNS = ["sweep", "setting", "size"]


def _cells(long: pd.DataFrame, score: str | None) -> dict[tuple[str, str], tuple[float, float, float]]:
    """(model, column label) -> (value, low, high), scaled."""
    cells = {}
    for column in TABLE7_COLUMNS:
        value = column.value.format(score=score)
        rows = long[(long["metric"] == column.metric) & (long["name"] == value)]
        if column.dataset is FIRST:
            first = list(dict.fromkeys(long.loc[long["metric"] == column.metric, "dataset"]))[:1]
            rows = rows[rows["dataset"].isin(first)]
        else:
            rows = rows[rows["dataset"] == column.dataset]
        for model, v, low, high in rows[["model", "value", "ci_low", "ci_high"]].itertuples(index=False):
            cells[(model, column.label)] = (v * column.scale, low * column.scale, high * column.scale)
    return cells


def table7(long: pd.DataFrame, points: Mapping[str, Mapping[str, Any]], score: str | None) -> Table:
    """One row per point, sweep by sweep, setting by setting, size ascending; missing results are NaN."""
    cells = _cells(long, score)
    order = sorted(points, key=lambda m: (list(SWEEP_AXES).index(points[m]["sweep"]), points[m]["setting"],
                                          points[m]["size"]))
    labels = [column.label for column in TABLE7_COLUMNS]
    rows = []
    for model in order:
        point = points[model]
        row = {"model": model, "label": point["label"], "group": point["group"], "kind": point.get("kind", ""),
               **{key: point[key] for key in POINT_COLUMNS}}
        for label in labels:
            row[label], row[label + CI_LOW], row[label + CI_HIGH] = cells.get((model, label), (math.nan,) * 3)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*IDENTITY_COLUMNS, *POINT_COLUMNS, *labels,
                                        *(f"{label}{suffix}" for label in labels for suffix in (CI_LOW, CI_HIGH))])
    missing = tuple(points[m]["label"] for m in order if not any((m, label) in cells for label in labels))
    return Table("Ablations (paper Table 7): prompt strategy x dataset size, and real:synthetic mixing",
                 frame, {column.label: column.digits for column in TABLE7_COLUMNS}, missing,
                 (f"OOD: {score} score, mean over the OOD sets. prompt_size points train on the first "
                  "size x base_images_per_class generated images of each class; mix points on a fixed number of "
                  "images per class, the given share generated.",))


@themed()
def sweep_figure(table: Table, sweep: str) -> Figure | None:
    """One panel per Table 7 column: the value against the sweep's axis, a line per setting, 95% CI bars."""
    frame = table.frame[table.frame["sweep"] == sweep]
    if frame.empty:
        return None
    labels = [column.label for column in TABLE7_COLUMNS]
    figure, axes = _panels(len(labels), 5, 3.4, 3.0)
    settings = list(dict.fromkeys(frame["setting"]))
    lines = {}
    for ax, label in zip(axes, labels):
        if sweep == "mix":  # one line through every point: its settings are the x values
            groups = [("mix", frame)]
        else:
            groups = [(setting, frame[frame["setting"] == setting]) for setting in settings]
        for setting, rows in groups:
            rows = rows.sort_values("size")
            values = rows[[label, label + CI_LOW, label + CI_HIGH]].to_numpy(float)
            lines[setting] = ax.errorbar(rows["size"], values[:, 0], yerr=_errors([tuple(v) for v in values]),
                                         marker="o", capsize=2, elinewidth=0.8, label=setting)
        sizes = sorted(set(frame["size"]))
        if sweep == "prompt_size":
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [f"{size:g}x" for size in sizes])
        else:
            ax.set_xticks(sizes, [f"{100 * size:g}%" for size in sizes])
        ax.set(title=label, xlabel=SWEEP_AXES[sweep])
    if sweep != "mix":
        figure.legend(handles=list(lines.values()), title="prompts", loc="outside right upper")
    figure.suptitle({"prompt_size": "Prompt strategy x training-set size", "mix": "Real:synthetic mixing"}[sweep])
    return figure


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_ablation_report(result_paths: Iterable[str | os.PathLike], points: Mapping[str, Mapping[str, Any]],
                          out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write exactly ``ablation_outputs(points)`` under ``out_dir``; returns {name: path}."""
    results = load_results(result_paths)
    long = results_frame(results)
    long = long[long["model"].isin(points)]
    table = table7(long, points, ood_headline(results))
    out_dir = Path(out_dir)
    written = {name: out_dir / name for name in ablation_outputs(points)}
    _write_text(written["table7.csv"], table_csv(table))
    markdown = table_markdown(table)
    _write_text(written["table7.md"], markdown)
    sections = ["# synclone-bench ablations", markdown]
    for sweep in dict.fromkeys(point["sweep"] for point in points.values()):
        name = f"figures/{sweep}.png"
        save_figure(sweep_figure(table, sweep) or placeholder_figure(f"No {sweep} results."), written[name])
        sections.append(f"![{sweep}]({name})")
    _write_text(written["report.md"], "\n\n".join(sections).rstrip("\n") + "\n")
    return written


__all__ = ["TABLE7_COLUMNS", "ablation_outputs", "sweep_figure", "table7", "write_ablation_report"]
