"""Result JSON files -> one long table (one row per model, metric, dataset and value name).

Numeric ``details`` are kept too, under names starting with ``details/`` (a scalar ``bins: 15`` becomes
``details/bins``, a flat mapping ``counts: {p0: 120}`` becomes ``details/counts/p0``), so tables and figures read
everything from one frame; lists (reliability bins), strings and deeper nesting stay out.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from synclone.results import validate_result

LONG_COLUMNS = ["model", "metric", "dataset", "name", "value", "ci_low", "ci_high", "n"]
DETAILS_PREFIX = "details/"
MEAN_DATASET = "mean"  # the OOD summary over OOD sets; always listed last


class ResultFileError(ValueError):
    """A result file that cannot be read into the report; the message names the file."""


def load_result(path: str | os.PathLike) -> dict:
    """Read and validate one result file; any problem is raised as ResultFileError naming ``path``."""
    import jsonschema

    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultFileError(f"{path}: cannot read result JSON: {error}") from error
    try:
        validate_result(result)
    except jsonschema.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "<top level>"
        raise ResultFileError(f"{path}: not a valid result file at {where}: {error.message}") from error
    return result


def load_results(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Read and validate every file; two files reporting the same (model, metric, dataset) is an error."""
    results, seen = [], {}
    for path in paths:
        result = load_result(path)
        for dataset in result["datasets"]:
            key = (result["model"], result["metric"], dataset)
            if key in seen:
                raise ResultFileError(f"{path}: model {key[0]!r}, metric {key[1]!r}, dataset {key[2]!r} "
                                      f"is also reported by {seen[key]}")
            seen[key] = path
        results.append(result)
    return results


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: Any) -> float:
    return float(value) if value is not None else math.nan


def _numeric_details(details: Mapping[str, Any]) -> dict[str, float]:
    flat = {}
    for key, value in details.items():
        if _is_number(value):
            flat[f"{DETAILS_PREFIX}{key}"] = float(value)
        elif isinstance(value, Mapping) and value and all(_is_number(v) or v is None for v in value.values()):
            flat.update({f"{DETAILS_PREFIX}{key}/{sub}": _as_float(v) for sub, v in value.items()})
    return flat


def _listed_names(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Names the metric configs list (eval sets, OOD sets, corruptions), in the config's order.

    Result files are written with sorted keys, so the config's order survives only in ``params``.
    """
    listed: dict[str, int] = {}
    for result in results:
        for key in sorted(result["params"]):
            value = result["params"][key]
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str):
                    listed.setdefault(name, len(listed))
    return listed


def results_frame(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The long table of validated results.

    Rows are ordered so that first appearance gives the display order: datasets and name parts (e.g. the
    corruption in ``accuracy/snow/3``) in the order the configs list them, others alphabetically, ``mean`` last.
    """
    # the input order of files must not change the output
    results = sorted(results, key=lambda result: (result["model"], result["metric"], sorted(result["datasets"])))
    rows = []
    for result in results:
        for dataset, entry in result["datasets"].items():
            ci95 = entry.get("ci95", {})
            for name, value in entry["values"].items():
                low, high = ci95.get(name) or (None, None)
                rows.append((result["model"], result["metric"], dataset, name,
                             _as_float(value), _as_float(low), _as_float(high), entry["n"]))
            for name, value in _numeric_details(entry.get("details", {})).items():
                rows.append((result["model"], result["metric"], dataset, name, value, math.nan, math.nan, entry["n"]))

    listed = _listed_names(results)

    def rank(part: str) -> tuple:
        if part == MEAN_DATASET:
            return (2, part)
        return (0, listed[part]) if part in listed else (1, part)

    rows.sort(key=lambda row: (rank(row[2]), [rank(part) for part in row[3].split("/")]))
    frame = pd.DataFrame(rows, columns=LONG_COLUMNS)
    return frame.astype({"value": float, "ci_low": float, "ci_high": float, "n": int})


def collect_results(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Columns: model, metric, dataset, name, value, ci_low, ci_high, n; null values and intervals are NaN."""
    return results_frame(load_results(paths))


def _headline(result: Mapping[str, Any]) -> str | None:
    """``params.headline`` where the config sets it, else the one every entry records in its details (the metric's
    default)."""
    if result["params"].get("headline"):
        return result["params"]["headline"]
    recorded = {entry.get("details", {}).get("headline") for entry in result["datasets"].values()}
    return recorded.pop() if len(recorded) == 1 else None


def ood_headline(results: Sequence[Mapping[str, Any]], metric: str = "ood") -> str | None:
    """The OOD score the tables lead with; None when there is no OOD result.

    Different headlines across models would put incomparable numbers in one column, so that is an error.
    """
    headlines = {result["model"]: _headline(result) for result in results if result["metric"] == metric}
    if not headlines:
        return None
    if None in headlines.values():
        unnamed = sorted(model for model, headline in headlines.items() if headline is None)
        raise ResultFileError(f"{metric} results that name no headline score (params.headline or "
                              f"details.headline): {', '.join(unnamed)}")
    if len(set(headlines.values())) > 1:
        raise ResultFileError(f"{metric} results disagree on the headline score: {headlines}")
    return next(iter(headlines.values()))


def missing_pairs(long: pd.DataFrame, models: Iterable[str], metrics: Iterable[str]) -> pd.DataFrame:
    """The (model, metric) pairs with no result at all (a null value is a result, not a missing one)."""
    present = set(zip(long["model"], long["metric"]))
    pairs = [(model, metric) for model in models for metric in metrics if (model, metric) not in present]
    return pd.DataFrame(pairs, columns=["model", "metric"])
