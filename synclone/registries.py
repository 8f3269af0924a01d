"""Every registry a config names, gathered for the Snakefile without importing torch.

``names()`` feeds ``synclone.config.check_names``; ``check_params`` runs each library's own hyper-parameter
validation (unknown keys, bad values) on the config's plain mappings, prefixed with the config path.
"""

from __future__ import annotations

from typing import Any, Mapping

from synclone.config import ConfigError


def names() -> dict[str, list[str]]:
    from synclone.metrics import METRIC_NAMES
    from synclone.models.registry import ARCHITECTURES
    from synclone.prompts import STRATEGIES
    from synclone.worlds.mini import SPLITS

    return {
        "architectures": list(ARCHITECTURES),
        "metrics": list(METRIC_NAMES),
        "prompt_strategies": list(STRATEGIES),
        "render_kinds": list(SPLITS),
    }


def check_params(config: Mapping[str, Any]) -> None:
    """Validate hyper-parameter mappings with the dataclasses that consume them; raise ConfigError on a problem."""
    from synclone.generation.params import GeneratorParams, SampleParams
    from synclone.train_params import resolve_train_params
    from synclone.worlds.mini import WorldParams

    checks = [("mini_world.params", WorldParams.from_dict, config.get("mini_world", {}).get("params", {}))]
    generator = config.get("generator")
    if generator:
        checks += [("generator.train", GeneratorParams.from_dict, generator.get("train", {})),
                   ("generator.sample", SampleParams.from_dict, generator.get("sample", {}))]
    for name, spec in config.get("models", {}).items():
        checks.append((f"models.{name}.train", resolve_train_params, spec.get("train", {})))
    problems = []
    for where, validate, values in checks:
        try:
            validate(values)
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the configuration has invalid hyper-parameters:\n{lines}")


def report_outputs(metrics: list[str]) -> list[str]:
    from synclone.report import report_outputs as outputs

    return outputs(metrics)
