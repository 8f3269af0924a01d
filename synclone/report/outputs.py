"""The names of the files the report writes, without the plotting stack.

The workflow asks for these names every time it builds the DAG; keeping them here (no pandas, matplotlib or
seaborn) takes ~1.7 s off each Snakemake start. ``synclone.report.build`` writes exactly these files.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

SUMMARY_FILES = ("report.md", "missing.csv", "results_long.csv")
PAPER_COMPARISON = "paper_comparison"
PAPER_COMPARISON_FILES = (f"tables/{PAPER_COMPARISON}.csv", f"tables/{PAPER_COMPARISON}.md",
                          f"figures/{PAPER_COMPARISON}.png")
# metric -> the figures of its table (each figures/{name}.png); the builders are in synclone.report.build
REPORT_FIGURES: dict[str, tuple[str, ...]] = {
    "calibration": ("calibration",),
    "ood": ("ood_auroc",),
    "adversarial": ("adversarial",),
    "corruptions": ("corruptions_severity", "corruptions_mean"),
    "context_bias": ("context_bias",),
    "shape_bias": ("shape_bias",),
    "background_bias": ("background_bias",),
    "fidelity": (),
}
REPORT_METRICS = tuple(REPORT_FIGURES)


def checked_metrics(metrics: Iterable[str]) -> list[str]:
    metrics = list(dict.fromkeys(metrics))
    unknown = [metric for metric in metrics if metric not in REPORT_METRICS]
    if unknown:
        raise ValueError(f"no report layout for metric(s) {', '.join(unknown)}; known: {', '.join(REPORT_METRICS)}")
    return metrics


def report_outputs(metrics: Iterable[str], paper_comparison: bool = False) -> list[str]:
    """The files ``write_report`` writes for ``metrics``, relative to its ``out_dir``.

    Include ``fidelity`` when the config has a generator.
    """
    names = list(SUMMARY_FILES)
    for metric in checked_metrics(metrics):
        names += [f"tables/{metric}.csv", f"tables/{metric}.md",
                  *(f"figures/{figure}.png" for figure in REPORT_FIGURES[metric])]
    return names + list(PAPER_COMPARISON_FILES if paper_comparison else ())


def ablation_outputs(points: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The files ``write_ablation_report`` writes, relative to its ``out_dir``."""
    sweeps = list(dict.fromkeys(point["sweep"] for point in points.values()))
    return ["table7.csv", "table7.md", *(f"figures/{sweep}.png" for sweep in sweeps), "report.md"]
