"""Config validation with messages a person can act on.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks structure and types; ``check_names`` then checks
every name against the library's registries (architectures, metrics, prompt strategies, datasets), so a typo
fails when the DAG is built, with the list of valid names, never deep inside a job.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml


# folders under results/ that are not models
RESERVED_MODEL_NAMES = frozenset({"tables", "figures", "generator", "data"})


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and what to do."""


def value_matches(value: Any, hint: Any) -> bool:
    """Whether a config value (YAML/JSON types: lists for tuples, ints for floats) fits a type annotation."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(value_matches(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(value_matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(value_matches(item, arg) for item, arg in zip(value, args))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list [{', '.join(map(_type_name, args))}]"
    if args:
        return " or ".join(map(_type_name, args))
    return getattr(hint, "__name__", str(hint))


def check_field_types(cls: type, values: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of ``values`` whose value does not fit its dataclass field's type,
    before ``__post_init__`` compares it with numbers (a TypeError there would not name the key)."""
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key in hints and not value_matches(value, hints[key]):
            raise ValueError(f"{key} must be {_type_name(hints[key])}, got {value!r} ({type(value).__name__})")


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _path(error) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(error) -> str:
    where = _path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        if allowed:
            return "; ".join(
                f"{where}: unknown key '{key}'{_suggest(key, allowed)}; valid keys: {', '.join(allowed)}"
                for key in unknown
            )
        return f"{where}: unexpected key(s) {', '.join(map(repr, unknown))}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{where}: missing key '{missing}'"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where}: expected {expected}, got {error.instance!r} ({type(error.instance).__name__})"
    if error.validator == "enum":
        options = ", ".join(map(str, error.validator_value))
        return f"{where}: {error.instance!r} is not one of: {options}{_suggest(str(error.instance), map(str, error.validator_value))}"
    if error.validator == "propertyNames":
        return f"{where}: invalid name {error.instance!r}: {error.message}"
    return f"{where}: {error.message}"


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise ConfigError listing every schema violation as ``key.path: what is wrong``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = "\n".join(f"  - {_describe(error)}" for error in errors)
        raise ConfigError(f"the configuration is invalid:\n{lines}\nFix the config file (see config/config.yaml for a complete example).")


def _unknown(kind: str, name: str, where: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    return f"{where}: unknown {kind} '{name}'{_suggest(name, valid)}; valid: {', '.join(valid) or '(none)'}"


# what each dataset source needs besides ``source``
SOURCE_KEYS = {"render": ("kind", "n"), "filter": ("candidates", "reference", "n"),
               "paper": ()}  # paper: checked by synclone.acquire.sources.paper_problems


def _dataset_problems(name: str, spec: Mapping[str, Any], datasets: Mapping[str, Any], models: Mapping[str, Any],
                      render_kinds: set[str]) -> list[str]:
    where = f"datasets.{name}"
    problems = [f"{where}: missing key '{key}' (a {spec['source']} dataset needs {', '.join(SOURCE_KEYS[spec['source']])})"
                for key in SOURCE_KEYS[spec["source"]] if key not in spec]
    if problems:
        return problems
    if spec["source"] == "render" and spec["kind"] not in render_kinds:
        problems.append(_unknown("render kind", spec["kind"], f"{where}.kind", render_kinds))
    if spec["source"] == "filter":
        if spec["candidates"] not in datasets or spec["candidates"] == name:
            problems.append(_unknown("dataset", spec["candidates"], f"{where}.candidates", set(datasets) - {name}))
        if spec["reference"] not in models:
            problems.append(_unknown("model", spec["reference"], f"{where}.reference", models))
    return problems


def check_names(config: Mapping[str, Any], *, architectures: Iterable[str], metrics: Iterable[str],
                prompt_strategies: Iterable[str], render_kinds: Iterable[str]) -> None:
    """Check that every name the config uses exists; raise ConfigError listing all problems."""
    problems: list[str] = []
    architectures, metrics = set(architectures), set(metrics)
    prompt_strategies, render_kinds = set(prompt_strategies), set(render_kinds)
    datasets = config.get("datasets", {})
    models = config.get("models", {})
    prompt_sets = list(config.get("prompt_sets", []))

    for name, spec in datasets.items():
        problems += _dataset_problems(name, spec, datasets, models, render_kinds)
    rendered_as: dict[str, str] = {}
    for name, spec in datasets.items():
        if spec["source"] == "render" and "kind" in spec:
            if spec["kind"] in rendered_as:
                problems.append(f"datasets.{name}: renders kind '{spec['kind']}' like datasets.{rendered_as[spec['kind']]}; "
                                f"the two would hold the same images (a kind's images follow from the seed)")
            rendered_as.setdefault(spec["kind"], name)
    for prompt_set in prompt_sets:
        if prompt_set not in prompt_strategies:
            problems.append(_unknown("prompt strategy", prompt_set, "prompt_sets", prompt_strategies))

    valid_sources = [*datasets, *(f"synthetic/{p}" for p in prompt_sets)]
    for name, spec in models.items():
        if name in RESERVED_MODEL_NAMES:
            problems.append(f"models.{name}: '{name}' is reserved (results/{name}/ holds the report); rename the model")
        if spec["arch"] not in architectures:
            problems.append(_unknown("architecture", spec["arch"], f"models.{name}.arch", architectures))
        if ("data" in spec) == ("weights" in spec):
            problems.append(f"models.{name}: give either data: (the images it trains on here) or weights: (published "
                            f"weights to import, e.g. {{source: hub}}), not {'both' if 'data' in spec else 'neither'}")
        elif "data" in spec and spec["data"] not in valid_sources:
            problems.append(_unknown("training data", spec["data"], f"models.{name}.data", valid_sources))
        pair = spec.get("pair")
        if pair is not None and pair not in models:
            problems.append(_unknown("model", pair, f"models.{name}.pair", models))

    corpus = config.get("generator", {}).get("corpus")
    if corpus is not None and corpus not in datasets:
        problems.append(_unknown("dataset", corpus, "generator.corpus", datasets))
    judge = config.get("generator", {}).get("judge")
    if judge is not None:
        if judge not in models:
            problems.append(_unknown("model", judge, "generator.judge", models))
        elif models[judge].get("data", "").startswith("synthetic/"):
            problems.append(f"generator.judge: '{judge}' is trained on synthetic data; fidelity needs a real-trained judge")

    for metric, spec in config.get("metrics", {}).items():
        if metric not in metrics:
            problems.append(_unknown("metric", metric, "metrics", metrics))
            continue
        for key in ("eval_set", "id_set", "original", "mixed_same", "mixed_rand"):
            if key in spec and spec[key] not in datasets:
                problems.append(_unknown("dataset", spec[key], f"metrics.{metric}.{key}", datasets))
        for key in ("eval_sets", "ood_sets"):
            for eval_set in spec.get(key, []):
                if eval_set not in datasets:
                    problems.append(_unknown("dataset", eval_set, f"metrics.{metric}.{key}", datasets))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"the configuration names things that do not exist:\n{lines}")
