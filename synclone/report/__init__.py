"""Tables and figures of the benchmark from the result JSON files (the paper's Fig. 3-4, Tables 1-4 and 6).

``report_outputs(metrics)`` names the files ``write_report(result_paths, models_meta, out_dir, metrics)``
writes, so a workflow rule can declare them; the finer functions (``collect_results``, ``*_table``,
``*_figure``) work on the long frame for notebooks and tests. No torch here.

Names are imported on first use: the workflow needs only ``synclone.report.outputs`` to build its DAG, and
importing the plotting stack would cost every Snakemake start ~1.7 s.
"""

from importlib import import_module

_EXPORTS = {
    "REPORT_METRICS": "synclone.report.outputs",
    "report_outputs": "synclone.report.outputs",
    "write_report": "synclone.report.build",
    "ResultFileError": "synclone.report.collect",
    "collect_results": "synclone.report.collect",
    "load_results": "synclone.report.collect",
    "missing_pairs": "synclone.report.collect",
    "results_frame": "synclone.report.collect",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'synclone.report' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
