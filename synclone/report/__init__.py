"""Tables and figures of the benchmark from the result JSON files (the paper's Fig. 3-4, Tables 1-4 and 6).

``report_outputs(metrics)`` names the files ``write_report(result_paths, models_meta, out_dir, metrics)``
writes, so a workflow rule can declare them; the finer functions (``collect_results``, ``*_table``,
``*_figure``) work on the long frame for notebooks and tests. No torch here.
"""

from synclone.report.build import REPORT_METRICS, report_outputs, write_report
from synclone.report.collect import ResultFileError, collect_results, load_results, missing_pairs, results_frame

__all__ = [
    "REPORT_METRICS",
    "ResultFileError",
    "collect_results",
    "load_results",
    "missing_pairs",
    "report_outputs",
    "results_frame",
    "write_report",
]
