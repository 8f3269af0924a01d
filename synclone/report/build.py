"""The report: which files a set of metrics produces (so the workflow declares them up front) and writing them.

Files under ``out_dir`` (names relative to it)::

    report.md                     every table and figure, and the (model, metric) pairs without results
    missing.csv                   those pairs: model, metric
    results_long.csv              every value of every result file, unscaled, with its CI and n
    tables/{metric}.csv, .md      the paper's table for the metric
    figures/{figure}.png          the metric's figures
    tables/paper_comparison.csv, .md, figures/paper_comparison.png
                                  with ``paper_comparison`` (paper mode): ours vs the authors' numbers
                                  (``synclone.report.paper``)

A declared file always exists: a table without results has its header row and says "No results.", a figure
without results is a small placeholder saying so.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd
from matplotlib.figure import Figure

from synclone.io import atomic_path
from synclone.report.collect import load_results, missing_pairs, ood_headline, results_frame
from synclone.report.figures import (adversarial_figure, background_bias_figure, calibration_figure,
                                     context_bias_figure, corruption_mean_figure, corruption_severity_figure,
                                     ood_figure, placeholder_figure, save_figure, shape_bias_figure)
from synclone.report.models import Meta, model_info, order_models
from synclone.report.outputs import (PAPER_COMPARISON, PAPER_COMPARISON_FILES, REPORT_METRICS, checked_metrics,
                                     report_outputs)
from synclone.report.paper import comparison_figure, comparison_table
from synclone.report.tables import (Table, adversarial_table, background_bias_table, calibration_table,
                                    context_bias_table, corruptions_table, fidelity_table, ood_table,
                                    shape_bias_table, table_csv, table_markdown)

GENERATOR_METRICS = ("fidelity",)  # results of the generator, not of the config's models

TableBuilder = Callable[[pd.DataFrame, Meta], Table]
FigureBuilder = Callable[[pd.DataFrame, Meta], Figure | None]


def _layout(ood_score: str | None) -> dict[str, tuple[TableBuilder, dict[str, FigureBuilder]]]:
    """Metric -> (table, {figure name: figure}), for the metrics and figure names of ``REPORT_FIGURES``."""
    return {
        "calibration": (calibration_table, {"calibration": calibration_figure}),
        "ood": (partial(ood_table, score=ood_score), {"ood_auroc": partial(ood_figure, score=ood_score)}),
        "adversarial": (adversarial_table, {"adversarial": adversarial_figure}),
        "corruptions": (corruptions_table, {"corruptions_severity": corruption_severity_figure,
                                            "corruptions_mean": corruption_mean_figure}),
        "context_bias": (context_bias_table, {"context_bias": context_bias_figure}),
        "shape_bias": (shape_bias_table, {"shape_bias": shape_bias_figure}),
        "background_bias": (background_bias_table, {"background_bias": background_bias_figure}),
        "fidelity": (fidelity_table, {}),
    }




def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _missing_markdown(missing: pd.DataFrame, meta: Meta) -> str:
    if missing.empty:
        return "Every model has a result for every metric."
    lines = []
    for model, pairs in missing.groupby("model", sort=False):
        label, group, _ = model_info(meta, model)
        lines.append(f"- {label} ({group}): {', '.join(pairs['metric'])}")
    return "\n".join(lines)


def write_report(result_paths: Iterable[str | os.PathLike], models_meta: Meta, out_dir: str | os.PathLike,
                 metrics: Sequence[str] = REPORT_METRICS, paper_comparison: bool = False) -> dict[str, Path]:
    """Validate every result file, then write exactly ``report_outputs(metrics, paper_comparison)`` under
    ``out_dir``; ``paper_comparison`` adds ours vs the paper, matching models by their ``paper_analogue``.

    Returns {name from report_outputs: path written}. Results of metrics not in ``metrics`` only go to
    results_long.csv.
    """
    metrics = checked_metrics(metrics)
    results = load_results(result_paths)
    long = results_frame(results)
    layout = _layout(ood_headline(results))
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}

    def put_text(name: str, text: str) -> None:
        written[name] = out_dir / name
        _write_text(written[name], text)

    sections = []
    for metric in metrics:
        table_builder, figure_builders = layout[metric]
        table = table_builder(long, models_meta)
        put_text(f"tables/{metric}.csv", table_csv(table))
        put_text(f"tables/{metric}.md", table_markdown(table))
        section = [table_markdown(table)]
        for figure_name, figure_builder in figure_builders.items():
            name = f"figures/{figure_name}.png"
            written[name] = out_dir / name
            save_figure(figure_builder(long, models_meta) or placeholder_figure(f"No {metric} results."),
                        written[name])
            section.append(f"![{figure_name}]({name})")
        sections.append("\n\n".join(section))
    if paper_comparison:
        frame, markdown = comparison_table(results, long, models_meta)
        csv_name, md_name, figure_name = PAPER_COMPARISON_FILES
        put_text(csv_name, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
        put_text(md_name, markdown)
        written[figure_name] = out_dir / figure_name
        save_figure(comparison_figure(frame, models_meta) or placeholder_figure("No results to compare."),
                    written[figure_name])
        sections.append(f"{markdown}\n![{PAPER_COMPARISON}]({figure_name})")

    models = order_models(models_meta, models_meta)
    missing = missing_pairs(long, models, [m for m in metrics if m not in GENERATOR_METRICS])
    put_text("missing.csv", missing.to_csv(index=False, lineterminator="\n"))
    put_text("results_long.csv", long.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    put_text("report.md", "\n\n".join([
        "# synclone-bench report",
        "Models trained on real data and their synthetic counterparts side by side; every number is an estimate "
        "with its bootstrap 95% confidence interval. Unscaled values of every result are in results_long.csv.",
        "## Missing results",
        _missing_markdown(missing, models_meta),
        *sections,
    ]).rstrip("\n") + "\n")
    return {name: written[name] for name in report_outputs(metrics, paper_comparison)}
