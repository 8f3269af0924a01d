"""The paper's ablations (its Table 7) as sweeps: each point is a model of its own, with every metric.

A config's ``ablations:`` section names up to two sweeps, each copying a base model of ``models:``:

- ``prompt_size``: prompt strategy x training-set size for a clone trained on generated images (the Scaling
  paper's SynViT-B: class names / captions / CLIP templates at 1M..16M images). Point ``sweep_<strategy>_<m>x``
  trains on the first ``m * base_images_per_class`` generated images of each class (nested subsets of one
  prompt set). With ``matched_compute`` a supervised point trains for ``max(m) / m`` times the base's epochs, so
  every point sees as many images.
- ``mix``: real:synthetic ratio at a fixed size for a CLIP (or any) clone (the Scaling paper's CLIP on REAL /
  Syn_Real / Synthetic). Point ``sweep_mix_<pct>`` takes ``images_per_class`` images per class, the share
  ``fraction`` of them from ``synthetic``, the rest from ``real``.

Points get ``role: ablation``: the default target leaves them out; ``snakemake ablations`` builds them and the
Table 7 analogue. Nothing here imports torch.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from synclone.config import ConfigError

SWEEPS = ("prompt_size", "mix")
ROLE = "ablation"


def _base(config: Mapping[str, Any], sweep: str, spec: Mapping[str, Any], problems: list[str]) -> dict | None:
    base = spec["base"]
    models = config.get("models", {})
    if base not in models:
        problems.append(f"ablations.{sweep}.base: unknown model '{base}'; valid: {', '.join(models)}")
        return None
    if "data" not in models[base]:
        problems.append(f"ablations.{sweep}.base: '{base}' imports published weights; a sweep retrains its base")
        return None
    point = copy.deepcopy(dict(models[base]))
    for key in ("pair", "paper_analogue", "label", "images_per_class", "mix"):
        point.pop(key, None)
    return point | {"role": ROLE}


def _prompt_size_points(config: Mapping[str, Any], spec: Mapping[str, Any], problems: list[str]) -> dict[str, dict]:
    from synclone.train_params import DEFAULT_TRAIN_PARAMS

    base = _base(config, "prompt_size", spec, problems)
    if base is None:
        return {}
    multiples = list(spec["multiples"])
    largest = max(multiples)
    points = {}
    for strategy in spec["prompt_sets"]:
        for multiple in multiples:
            point = copy.deepcopy(base)
            point.update(data=f"synthetic/{strategy}", group="synthetic", label=f"{strategy} {multiple}x",
                         images_per_class=multiple * spec["base_images_per_class"])
            if spec.get("matched_compute", True) and point.get("kind", "supervised") == "supervised":
                epochs = point.get("train", {}).get("epochs", DEFAULT_TRAIN_PARAMS["epochs"])
                point["train"] = {**point.get("train", {}), "epochs": round(epochs * largest / multiple)}
            point["ablation"] = {"sweep": "prompt_size", "setting": strategy, "size": multiple,
                                 "images_per_class": point["images_per_class"]}
            points[f"sweep_{strategy}_{multiple}x"] = point
    return points


def _mix_label(fraction: float) -> str:
    if fraction == 0:
        return "real"
    if fraction == 1:
        return "synthetic"
    return f"{round(100 * fraction)}% synthetic"


def _mix_points(config: Mapping[str, Any], spec: Mapping[str, Any], problems: list[str]) -> dict[str, dict]:
    base = _base(config, "mix", spec, problems)
    if base is None:
        return {}
    points = {}
    for fraction in spec["synthetic_fractions"]:
        point = copy.deepcopy(base)
        point.update(data=spec["real"], mix={"data": spec["synthetic"], "fraction": float(fraction)},
                     images_per_class=spec["images_per_class"], group="real" if fraction == 0 else "synthetic",
                     label=_mix_label(fraction))
        point["ablation"] = {"sweep": "mix", "setting": _mix_label(fraction), "size": float(fraction),
                             "images_per_class": spec["images_per_class"]}
        points[f"sweep_mix_{round(100 * fraction):03d}"] = point
    return points


def ablation_prompt_sets(config: Mapping[str, Any]) -> list[str]:
    """Prompt sets the sweeps generate beyond the config's ``prompt_sets``."""
    sweeps = config.get("ablations") or {}
    wanted = list(sweeps.get("prompt_size", {}).get("prompt_sets", []))
    synthetic = sweeps.get("mix", {}).get("synthetic", "")
    if synthetic.startswith("synthetic/"):
        wanted.append(synthetic.removeprefix("synthetic/"))
    configured = set(config.get("prompt_sets", []))
    return [name for name in dict.fromkeys(wanted) if name not in configured]


def expand_ablations(config: Mapping[str, Any], prompt_strategies: list[str] | None = None) -> dict[str, dict]:
    """The points of every sweep as model entries (``role: ablation``, an ``ablation`` mapping with the sweep,
    its setting and size); any problem raises ConfigError listing all of them."""
    from synclone.clones import check_trained_models

    sweeps = config.get("ablations") or {}
    if not sweeps:
        return {}
    problems: list[str] = []
    generator = config.get("generator")
    if generator is None:
        raise ConfigError("ablations: the sweeps train on generated images; the config has no generator")
    available = generator["images_per_class"]
    if prompt_strategies is not None:
        for strategy in ablation_prompt_sets(config):
            if strategy not in prompt_strategies:
                problems.append(f"ablations: unknown prompt strategy '{strategy}'; valid: {', '.join(prompt_strategies)}")
    points: dict[str, dict] = {}
    if "prompt_size" in sweeps:
        spec = sweeps["prompt_size"]
        most = max(spec["multiples"]) * spec["base_images_per_class"]
        if most > available:
            problems.append(f"ablations.prompt_size: the largest point takes {most} images per class, the generator "
                            f"makes {available} (generator.images_per_class); lower base_images_per_class")
        points |= _prompt_size_points(config, spec, problems)
    if "mix" in sweeps:
        spec = sweeps["mix"]
        if spec["real"] not in config.get("datasets", {}):
            problems.append(f"ablations.mix.real: unknown dataset '{spec['real']}'")
        if not spec["synthetic"].startswith("synthetic/"):
            problems.append(f"ablations.mix.synthetic: must be synthetic/<prompt set>, got '{spec['synthetic']}'")
        points |= _mix_points(config, spec, problems)
    taken = sorted(set(points) & set(config.get("models", {})))
    if taken:
        problems.append(f"models: {', '.join(taken)} are names of ablation points; rename those models")
    datasets = config.get("datasets", {})
    prompt_sets = [*config.get("prompt_sets", []), *ablation_prompt_sets(config)]
    sources = [*datasets, *(f"synthetic/{p}" for p in prompt_sets)]
    if not problems:
        problems += check_trained_models(points, sources, datasets, available)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the ablation sweeps cannot be built:\n{lines}")
    return points


def ablation_points(models: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the ablation report needs of each point: its ``ablation`` mapping plus label and group."""
    return {name: {**spec["ablation"], "label": spec["label"], "group": spec["group"]}
            for name, spec in models.items() if spec.get("role") == ROLE}
