"""The result file: one JSON per (model, metric), validated against ``data/result.schema.json``.

Layout::

    {"schema_version": 1, "model": ..., "metric": ..., "params": {...},
     "datasets": {<eval set, view group or summary>: {"n": int, "values": {name: float | null},
                                                    "ci95": {name: [lo, hi]}, "details": {...}}}}

``values`` holds scalars only (what tables show); ``ci95`` has a bootstrap interval for each of them where one
is defined; ``details`` holds structured extras (reliability bins, per-class tables, conventions).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

SCHEMA_VERSION = 1


def make_result(model: str, metric: str, params: Mapping[str, Any], datasets: Mapping[str, Any]) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "metric": metric,
        "params": dict(params),
        "datasets": dict(datasets),
    }


@lru_cache(maxsize=1)
def result_schema() -> dict:
    return json.loads(resources.files("synclone.data").joinpath("result.schema.json").read_text())


def validate_result(result: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``result`` does not follow the result layout."""
    import jsonschema

    jsonschema.validate(result, result_schema())
