"""Metrics as pure functions of arrays, their bootstrap intervals, and the evaluators the workflow calls.

``LOGIT_METRICS[name](predictions, params)`` turns prediction files into a result's ``datasets`` dict
(synclone.results): ``predictions`` maps a prediction name (an eval set such as ``test``, or a view such as
``test@shot_noise-3``, see ``corruption_view``) to the arrays of its predictions file (``logits`` N x C,
``labels``, ``ids``, plus per-image extras some metrics need); ``params`` is the metric's config entry, with
``label_maps`` (eval set -> label-map dict, synclone.labelmaps; identity when absent) and ``bootstrap``
(``n``, ``seed``, ``confidence``). ``PREDICTION_NAMES[name](params)`` lists the predictions an evaluator reads.
The adversarial rule computes per-image correctness itself and calls ``evaluate_adversarial``.
The pure metric functions live in the submodules (``calibration.calibration``, ``ood.ood``,
``robustness.adversarial`` / ``corruptions``, ``bias.context_bias`` / ``shape_bias`` / ``background_bias``),
intervals in ``bootstrap``; they are not re-exported, so no function hides its module's name.

Numpy and scipy only: never import torch, sklearn or torchmetrics here (evaluate jobs must start fast).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from synclone.metrics.bias import VARIANTS, evaluate_background_bias, evaluate_context_bias, evaluate_shape_bias
from synclone.metrics.calibration import evaluate_calibration
from synclone.metrics.ood import evaluate_ood
from synclone.metrics.robustness import corruption_view, evaluate_adversarial, evaluate_corruptions

Evaluator = Callable[[Mapping[str, Mapping[str, Any]], Mapping[str, Any]], dict]

LOGIT_METRICS: dict[str, Evaluator] = {
    "calibration": evaluate_calibration,
    "corruptions": evaluate_corruptions,
    "ood": evaluate_ood,
    "context_bias": evaluate_context_bias,
    "shape_bias": evaluate_shape_bias,
    "background_bias": evaluate_background_bias,
}

# every metric a config may name: the logit metrics plus the adversarial summary, which the attack rule computes
METRIC_NAMES = (*LOGIT_METRICS, "adversarial")


def _corruption_views(params: Mapping[str, Any]) -> list[str]:
    eval_set = params["eval_set"]
    corruptions_all = [*params["corruptions_2d"], *params.get("corruptions_3d", [])]
    return [eval_set, *(corruption_view(eval_set, c, s) for c in corruptions_all for s in params["severities"])]


PREDICTION_NAMES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "calibration": lambda params: list(params["eval_sets"]),
    "corruptions": _corruption_views,
    "ood": lambda params: [params["id_set"], *params["ood_sets"]],
    "context_bias": lambda params: [params["eval_set"]],
    "shape_bias": lambda params: [params["eval_set"]],
    "background_bias": lambda params: [params[variant] for variant in VARIANTS],
}

__all__ = ["LOGIT_METRICS", "METRIC_NAMES", "PREDICTION_NAMES", "corruption_view", "evaluate_adversarial"]
