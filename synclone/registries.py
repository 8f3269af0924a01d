"""Every registry a config names, gathered for the Snakefile without importing torch.

``names()`` feeds ``synclone.config.check_names``; ``check_params`` runs each library's own hyper-parameter
validation (unknown keys, bad values) on the config's plain mappings, prefixed with the config path.
"""

from __future__ import annotations

from typing import Any, Mapping

from synclone.config import ConfigError


def names(world: str = "mini") -> dict[str, list[str]]:
    from synclone.metrics import METRIC_NAMES
    from synclone.models.registry import ARCHITECTURES
    from synclone.prompts import strategy_names
    from synclone.worlds.mini import SPLITS

    return {
        "architectures": list(ARCHITECTURES),
        "metrics": list(METRIC_NAMES),
        "prompt_strategies": strategy_names(world),
        "render_kinds": list(SPLITS),
    }


def check_params(config: Mapping[str, Any]) -> None:
    """Validate hyper-parameter mappings with the dataclasses that consume them; raise ConfigError on a problem."""
    from synclone.generation.params import GeneratorParams, SampleParams
    from synclone.clones import clone_problems, train_validator
    from synclone.models.weights import weights_problems
    from synclone.worlds.mini import WorldParams

    checks = [("mini_world.params", WorldParams.from_dict, config.get("mini_world", {}).get("params", {}))]
    generator = config.get("generator")
    if generator and generator.get("kind", "mini") == "stable_diffusion":
        from synclone.generation.params import StableDiffusionParams

        checks.append(("generator.sample", StableDiffusionParams.from_dict, generator.get("sample", {})))
    elif generator:
        checks += [("generator.train", GeneratorParams.from_dict, generator.get("train", {})),
                   ("generator.sample", SampleParams.from_dict, generator.get("sample", {}))]
    for name, spec in config.get("models", {}).items():
        checks.append((f"models.{name}.train", train_validator(spec), spec.get("train", {})))
    problems = []
    if (config.get("world") == "paper" and "captions" in config.get("prompt_sets", [])
            and not (generator or {}).get("captions_file")):
        problems.append("prompt_sets: the paper world's 'captions' prompt set reads a caption file; set "
                        "generator.captions_file (a CSV with the columns wnid or label, and caption)")
    problems += weights_problems(config.get("models", {}))
    problems += clone_problems(config)
    for where, validate, values in checks:
        try:
            validate(values)
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the configuration has invalid hyper-parameters:\n{lines}")


def report_outputs(metrics: list[str], paper_comparison: bool = False) -> list[str]:
    from synclone.report.outputs import report_outputs as outputs

    return outputs(metrics, paper_comparison)


def ablation_outputs(points: Mapping[str, Any]) -> list[str]:
    from synclone.report.outputs import ablation_outputs as outputs

    return outputs(points)
