"""The paper's tables from the long result frame: one row per model, real and synthetic side by side.

Each table is a DataFrame (model, label, group, kind, the value columns, then a low and a high 95% CI column per
value column) plus what Markdown needs (title, digits). Units are in the column names; percentages are scaled
from the fractions the result files hold, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from synclone.report.collect import DETAILS_PREFIX
from synclone.report.models import Meta, model_info, order_models

IDENTITY_COLUMNS = ["model", "label", "group", "kind"]
CI_LOW, CI_HIGH = " 95% CI low", " 95% CI high"
PERCENT = 100.0


@dataclass(frozen=True)
class Column:
    label: str
    dataset: str | None
    value: str
    scale: float = 1.0
    digits: int = 2
    optional: bool = False  # dropped when no result has it (a run without 3D corruptions, without P_k counts)


@dataclass(frozen=True, eq=False)  # holds a DataFrame: compared by identity
class Table:
    title: str
    frame: pd.DataFrame
    digits: Mapping[str, int]  # value column -> decimals shown in Markdown
    missing: tuple[str, ...] = ()  # labels of models with no result for the metric
    notes: tuple[str, ...] = ()


def metric_rows(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    return long[long["metric"] == metric]


def datasets_of(data: pd.DataFrame) -> list[str]:
    """Datasets in display order (the long frame's row order)."""
    return list(dict.fromkeys(data["dataset"]))


def _per_dataset(data: pd.DataFrame, specs: Sequence[tuple[str, str, float, int, bool]]) -> list[Column]:
    """The same value columns for each dataset, prefixed by the dataset only when there are several."""
    datasets = datasets_of(data)
    return [Column(f"{dataset}: {label}" if len(datasets) > 1 else label, dataset, value, scale, digits, optional)
            for dataset in datasets or [None]
            for label, value, scale, digits, optional in specs]


def build_table(title: str, data: pd.DataFrame, columns: Sequence[Column], meta: Meta,
                expected_models: Sequence[str] = (), notes: Sequence[str] = ()) -> Table:
    """Rows = models with any result in ``data``; ``expected_models`` without one are listed as missing."""
    present = set(zip(data["dataset"], data["name"]))
    columns = [c for c in columns if not c.optional or (c.dataset, c.value) in present]
    cells = {(m, d, n): (v, lo, hi) for m, d, n, v, lo, hi in
             data[["model", "dataset", "name", "value", "ci_low", "ci_high"]].itertuples(index=False)}
    models = order_models(set(data["model"]), meta)
    rows = []
    for model in models:
        label, group, kind = model_info(meta, model)
        row = {"model": model, "label": label, "group": group, "kind": kind}
        for column in columns:
            value, low, high = cells.get((model, column.dataset, column.value), (math.nan,) * 3)
            row[column.label] = value * column.scale
            row[column.label + CI_LOW] = low * column.scale
            row[column.label + CI_HIGH] = high * column.scale
        rows.append(row)
    labels = [c.label for c in columns]
    frame = pd.DataFrame(rows, columns=[*IDENTITY_COLUMNS, *labels,
                                        *(f"{label}{suffix}" for label in labels for suffix in (CI_LOW, CI_HIGH))])
    missing = tuple(model_info(meta, m)[0] for m in order_models(expected_models, meta) if m not in models)
    return Table(title, frame, {c.label: c.digits for c in columns}, missing, tuple(notes))


# ---- the paper's tables ----------------------------------------------------------------------------------


def calibration_table(long: pd.DataFrame, meta: Meta) -> Table:
    data = metric_rows(long, "calibration")
    columns = [column for dataset in datasets_of(data) for column in (
        Column(f"{dataset} accuracy (%)", dataset, "accuracy", PERCENT, 2),
        Column(f"{dataset} ECE", dataset, "ece", 1.0, 4),
    )]
    return build_table("Calibration (paper Fig. 3): top-1 accuracy and ECE per eval set",
                       data, columns, meta, list(meta), ["ECE: lower is better."])


def ood_table(long: pd.DataFrame, meta: Meta, score: str | None) -> Table:
    data = metric_rows(long, "ood")
    columns = [column for dataset in datasets_of(data) for column in (
        Column(f"{dataset} AUROC (%)", dataset, f"{score}/auroc", PERCENT, 2),
        Column(f"{dataset} FPR95 (%)", dataset, f"{score}/fpr95", PERCENT, 2),
    )]
    return build_table(f"OOD detection (paper Table 1): score = {score}, in-distribution positive",
                       data, columns, meta, list(meta),
                       ["AUROC: higher is better; FPR95: false-positive rate at 95% true-positive rate, lower is better."])


def adversarial_table(long: pd.DataFrame, meta: Meta) -> Table:
    data = metric_rows(long, "adversarial")
    columns = _per_dataset(data, [
        ("clean accuracy (%)", "clean_accuracy", PERCENT, 2, False),
        ("FGSM accuracy (%)", "fgsm_accuracy", PERCENT, 2, False),
        ("FGSM/clean", "fgsm_ratio", 1.0, 3, False),
        ("PGD accuracy (%)", "pgd_accuracy", PERCENT, 2, False),
        ("PGD/clean", "pgd_ratio", 1.0, 3, False),
    ])
    return build_table("Adversarial robustness (paper Table 2): accuracy under L-inf attacks",
                       data, columns, meta, list(meta), ["R_adv = adversarial accuracy / clean accuracy."])


def corruption_names(data: pd.DataFrame) -> list[str]:
    """Corruptions with a per-corruption mean, in display order."""
    return list(dict.fromkeys(name.split("/", 1)[1] for name in data["name"] if name.startswith("mean/")))


def corruptions_table(long: pd.DataFrame, meta: Meta) -> Table:
    data = metric_rows(long, "corruptions")
    specs = [
        ("clean accuracy (%)", "clean_accuracy", PERCENT, 2, False),
        *((f"{name} (%)", f"mean/{name}", PERCENT, 2, False) for name in corruption_names(data)),
        ("2D mean (%)", "mean_accuracy_2d", PERCENT, 2, False),
        ("3D mean (%)", "mean_accuracy_3d", PERCENT, 2, True),
        ("mean (%)", "mean_accuracy", PERCENT, 2, False),
        ("R_cc 2D", "r_cc_2d", 1.0, 3, False),
        ("R_cc 3D", "r_cc_3d", 1.0, 3, True),
        ("Avg. R_cc", "r_cc", 1.0, 3, False),
    ]
    return build_table("Common corruptions (paper Table 3): accuracy per corruption, "
                       "mean over severities", data, _per_dataset(data, specs), meta, list(meta),
                       ["R_cc = mean corrupted accuracy / clean accuracy (per-severity accuracies are in "
                        "results_long.csv)."])


def context_bias_table(long: pd.DataFrame, meta: Meta) -> Table:
    levels = range(4)
    data = metric_rows(long, "context_bias")
    columns = _per_dataset(data, [
        *((f"P{k} accuracy (%)", f"accuracy_p{k}", PERCENT, 2, False) for k in levels),
        *((f"CB_{k} (%)", f"cb_{k}", PERCENT, 2, False) for k in levels[1:]),
        *((f"P{k} images", f"{DETAILS_PREFIX}counts/p{k}", 1.0, 0, True) for k in levels),
    ])
    return build_table("Context bias on FOCUS-style data (paper Table 4)", data, columns, meta,
                       list(meta), ["P_k: images with k uncommon attributes; CB_k = Acc(P_k) / Acc(P_0), "
                                    "higher is less context-biased."])


def shape_bias_table(long: pd.DataFrame, meta: Meta) -> Table:
    data = metric_rows(long, "shape_bias")
    columns = _per_dataset(data, [
        ("shape bias", "shape_bias", 1.0, 3, False),
        ("shape fraction", "shape_fraction", 1.0, 3, False),
        ("texture fraction", "texture_fraction", 1.0, 3, False),
    ])
    return build_table("Shape bias on cue-conflict images (paper Fig. 4)", data, columns, meta,
                       list(meta), ["Shape bias = shape decisions / (shape + texture decisions); the "
                                    "fractions are those decisions over all images."])


def background_bias_table(long: pd.DataFrame, meta: Meta) -> Table:
    data = metric_rows(long, "background_bias")
    columns = _per_dataset(data, [
        ("original accuracy (%)", "original_accuracy", PERCENT, 2, False),
        ("mixed-same accuracy (%)", "mixed_same_accuracy", PERCENT, 2, False),
        ("mixed-rand accuracy (%)", "mixed_rand_accuracy", PERCENT, 2, False),
        ("BG-Gap (pp)", "bg_gap", PERCENT, 2, False),
    ])
    return build_table("Background bias on IN-9-style data (paper Table 6)", data, columns,
                       meta, list(meta), ["BG-Gap = Acc(mixed-same) - Acc(mixed-rand) in percentage points, "
                                          "lower is less background-biased."])


def fidelity_table(long: pd.DataFrame, meta: Meta) -> Table:
    """One row per generator, one column per prompt set (the dataset key of its fidelity result)."""
    data = metric_rows(long, "fidelity")
    columns = [Column(f"{prompt_set} fidelity (%)", prompt_set, "fidelity", PERCENT, 2)
               for prompt_set in datasets_of(data)]
    return build_table("Generator fidelity: accuracy of a real-trained judge on generated images",
                       data, columns, meta)


# ---- output formats --------------------------------------------------------------------------------------


def table_csv(table: Table) -> str:
    # %.10g drops float noise (80.10000000000001) and never writes counts in exponent notation
    return table.frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _cell(value: float, low: float, high: float, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return _number(value, digits)
    return f"{_number(value, digits)} [{_number(low, digits)}, {_number(high, digits)}]"


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def table_markdown(table: Table) -> str:
    paragraphs = [f"## {table.title}"]
    if table.frame.empty:
        paragraphs.append("No results.")
    else:
        lines = [_markdown_row(["Model", "Group", *table.digits]),
                 _markdown_row(["---"] * (len(table.digits) + 2))]
        for row in table.frame.to_dict("records"):
            lines.append(_markdown_row([row["label"], row["group"], *(
                _cell(row[label], row[label + CI_LOW], row[label + CI_HIGH], digits)
                for label, digits in table.digits.items())]))
        paragraphs += ["\n".join(lines), "Cells: estimate [bootstrap 95% CI]; n/a: undefined (null) value."]
    paragraphs += table.notes
    if table.missing:
        paragraphs.append(f"No results for: {', '.join(table.missing)}.")
    return "\n\n".join(paragraphs) + "\n"
