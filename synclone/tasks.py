"""One function per workflow rule: read inputs, call the library, write outputs atomically.

The scripts in ``workflow/scripts/`` only unpack ``snakemake.*`` into these calls, so every step can also be run
and tested without Snakemake. Heavy imports (torch) happen inside the functions that need them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from synclone.imageset import ImageSet, read_imageset, read_imagesets, write_imageset
from synclone.io import atomic_path, load_npz, save_npz, write_json
from synclone.results import make_result, validate_result
from synclone.seeding import derive_seed

logger = logging.getLogger("synclone")


def _grid_sample(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to ``count`` images, ordered by label, as many per label as fit (a row per class)."""
    classes = np.unique(labels)
    per_class = max(1, count // max(1, len(classes)))
    picked = [np.flatnonzero(labels == label)[:per_class] for label in classes]
    return np.concatenate(picked)[:count]


def _save_grid(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, count: int) -> None:
    from synclone.viz import save_grid_png

    index = _grid_sample(labels, count)
    columns = max(1, len(index) // max(1, len(np.unique(labels[index]))))
    save_grid_png(path, images[index], ncols=columns, upscale=2)


def _write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _torch_save(path: str | os.PathLike, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# ---- data and generation ---------------------------------------------------------------------------------


def render_dataset(out_dir, grid_png, kind: str, n: int, world: Mapping[str, Any], seed: int, grid_images: int):
    from synclone.worlds import mini

    images, metadata, aux = mini.render_split(kind, n, seed, world)
    logger.info("rendered %d %s images", len(images), kind)
    write_imageset(out_dir, images, metadata, aux)
    _save_grid(grid_png, images, metadata["label"].to_numpy(), grid_images)


def build_prompts(out_csv, strategy: str, images_per_class: int, seed: int) -> None:
    from synclone.prompts import build_prompts as make

    prompts = make(strategy, images_per_class, seed)
    logger.info("%d prompts (%s), e.g. %r", len(prompts), strategy, prompts["prompt"].iloc[0])
    _write_csv(out_csv, prompts)


def train_generator(corpus_dir, out_path, params: Mapping[str, Any], seed: int, threads: int, device: str) -> None:
    from synclone import generation
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    corpus = read_imageset(corpus_dir)
    if "caption" not in corpus.metadata:
        raise ValueError(f"{corpus_dir}/metadata.csv has no 'caption' column: the generator needs a captioned corpus")
    checkpoint = generation.train_generator(corpus.images, corpus.metadata["caption"].tolist(), params, seed, device)
    _torch_save(out_path, checkpoint)


def generate_shard(generator_path, prompts_csv, out_dir, shard: int, shards: int, sample: Mapping[str, Any],
                   threads: int, device: str) -> None:
    from synclone import generation
    from synclone.prompts import shard_rows
    from synclone.runtime import setup_torch

    device = setup_torch(threads, derive_seed(0, "shard", shard), device)
    rows = shard_rows(pd.read_csv(prompts_csv, keep_default_na=False), shard, shards)
    generator = generation.load_generator(generator_path, device)
    images, metadata = generation.generate_shard(generator, rows, sample)
    write_imageset(out_dir, images, metadata)


def _accuracy_entry(correct: np.ndarray, labels: np.ndarray, bootstrap: Mapping[str, Any], name: str, *seed_names):
    from synclone.metrics.common import bootstrap_estimate, dataset_entry

    estimate, interval = bootstrap_estimate(
        lambda index: {name: correct[index].mean(axis=1)}, len(correct), {"bootstrap": bootstrap}, *seed_names
    )
    per_class = {int(label): float(correct[labels == label].mean()) for label in np.unique(labels)}
    return dataset_entry(len(correct), estimate.values, estimate.ci95, {"per_class": per_class, "bootstrap": interval})


def generator_fidelity(shard_dirs: Sequence[str], judge_path, out_json, grid_png, generator: str, judge: str,
                       prompt_set: str, bootstrap: Mapping[str, Any], grid_images: int, threads: int,
                       device: str) -> None:
    """Fidelity = accuracy of a real-trained judge on generated images, the label being the prompt's class."""
    from synclone.models.classifier import load_classifier
    from synclone.predict import predict_logits
    from synclone.runtime import setup_torch

    device = setup_torch(threads, 0, device)
    generated = read_imagesets(shard_dirs)
    model = load_classifier(judge_path, device)
    logits = predict_logits(model, generated.images, device=device, desc="judge")
    correct = (logits.argmax(axis=1) == generated.labels).astype(np.float64)
    entry = _accuracy_entry(correct, generated.labels, bootstrap, "fidelity", "fidelity", prompt_set)
    result = make_result(generator, "fidelity", {"judge": judge, "prompt_set": prompt_set, "bootstrap": bootstrap},
                         {prompt_set: entry})
    validate_result(result)
    write_json(out_json, result)
    logger.info("fidelity of %s on %s: %.3f", generator, prompt_set, entry["values"]["fidelity"])
    _save_grid(grid_png, generated.images, generated.labels, grid_images)


# ---- models --------------------------------------------------------------------------------------------------


def _read_training_data(data_dirs: Sequence[str]) -> ImageSet:
    return read_imageset(data_dirs[0]) if len(data_dirs) == 1 else read_imagesets(data_dirs)


def train_model(data_dirs: Sequence[str], out_path, arch: str, arch_kwargs: Mapping[str, Any],
                params: Mapping[str, Any], seed: int, threads: int, device: str) -> None:
    from synclone.models.classifier import build_classifier, save_classifier
    from synclone.runtime import setup_torch
    from synclone.training import train_classifier

    device = setup_torch(threads, seed, device)
    data = _read_training_data(data_dirs)
    logger.info("training %s on %d images from %s", arch, len(data), ", ".join(map(str, data_dirs)))
    model = build_classifier(arch, arch_kwargs=arch_kwargs).to(device)
    history = train_classifier(model, data, params, seed, device)
    save_classifier(out_path, model, {"history": history, "data": [str(d) for d in data_dirs]})


# per-image metadata that metrics read beside the logits (FOCUS-like context, cue conflict, IN-9-like sets)
PER_IMAGE_ARRAYS = ("uncommon_count", "texture_label", "background_class")


def _per_image_arrays(data: ImageSet) -> dict[str, np.ndarray]:
    return {key: data.metadata[key].to_numpy(dtype=np.int64) for key in PER_IMAGE_ARRAYS if key in data.metadata}


def predict(model_path, data_dir, out_path, batch_size: int, threads: int, device: str) -> None:
    """The predictions cache: logits, labels, ids (and per-image extras) of one (model, eval set)."""
    from synclone.models.classifier import load_classifier
    from synclone.predict import predict_logits
    from synclone.runtime import setup_torch

    device = setup_torch(threads, 0, device)
    data = read_imageset(data_dir)
    model = load_classifier(model_path, device)
    logits = predict_logits(model, data.images, batch_size, device)
    save_npz(out_path, logits=logits, labels=data.labels, ids=data.ids, **_per_image_arrays(data))


def filter_misclassified(candidates_dir, reference_path, out_dir, grid_png, n: int, seed: int, grid_images: int,
                         batch_size: int, threads: int, device: str) -> None:
    """Keep (a seeded random choice of at most ``n`` of) the candidates the reference model misclassifies."""
    from synclone.models.classifier import load_classifier
    from synclone.predict import predict_logits
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    candidates = read_imageset(candidates_dir)
    reference = load_classifier(reference_path, device)
    predicted = predict_logits(reference, candidates.images, batch_size, device, desc="reference").argmax(axis=1)
    wrong = np.flatnonzero(predicted != candidates.labels)
    if len(wrong) == 0:
        raise ValueError(f"the reference model {reference_path} gets every candidate in {candidates_dir} right; "
                         f"render more or harder candidates")
    kept = np.sort(np.random.default_rng(seed).choice(wrong, size=min(n, len(wrong)), replace=False))
    logger.info("reference wrong on %d of %d candidates; keeping %d", len(wrong), len(candidates), len(kept))
    if len(kept) < n:
        logger.warning("only %d misclassified candidates for the %d asked: render more candidates", len(kept), n)
    hard = candidates.subset(kept)
    metadata = hard.metadata.drop(columns="file").assign(reference_prediction=predicted[kept])
    write_imageset(out_dir, hard.images, metadata, hard.aux)
    _save_grid(grid_png, hard.images, hard.labels, grid_images)


def _subset(n_total: int, n_images: int | None, seed: int) -> np.ndarray:
    """A fixed, sorted random subset (the same for every model, so their numbers compare)."""
    if n_images is None or n_images >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n_images, replace=False))


def _parse_view(view: str) -> tuple[str, int]:
    corruption, severity = view.rsplit("-", 1)
    return corruption, int(severity)


def predict_corruptions(model_path, data_dir, out_paths: Mapping[str, str], n_images: int | None, subset_seed: int,
                        corruption_seed: int, batch_size: int, threads: int, device: str) -> None:
    """Every corrupted view (``{corruption}-{severity}``) of an eval set, corrupted batch by batch on the device."""
    import torch

    from synclone.corruptions import corrupt, needs_depth
    from synclone.models.classifier import load_classifier
    from synclone.predict import predict_views
    from synclone.runtime import setup_torch

    device = setup_torch(threads, corruption_seed, device)
    data = read_imageset(data_dir)
    data = data.subset(_subset(len(data), n_images, subset_seed))
    depth = torch.from_numpy(data.aux["depth"].astype(np.float32)) if "depth" in data.aux else None

    def view_transform(view: str):
        corruption, severity = _parse_view(view)
        if needs_depth(corruption) and depth is None:
            raise ValueError(f"{corruption} needs depth maps, but {data_dir} has no depth in aux.npz")

        def transform(batch: torch.Tensor, rows: slice) -> torch.Tensor:
            seed = derive_seed(corruption_seed, view, rows.start)
            batch_depth = None if depth is None else depth[rows].to(batch.device)
            return corrupt(batch, corruption, severity, generator=seed, depth=batch_depth)

        return transform

    model = load_classifier(model_path, device)
    logits = predict_views(model, data.images, {view: view_transform(view) for view in out_paths}, batch_size,
                           device, desc="corruptions")
    for view, path in out_paths.items():
        save_npz(path, logits=logits[view], labels=data.labels, ids=data.ids)


# ---- evaluation ----------------------------------------------------------------------------------------------


def _restrict(arrays: Mapping[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of a predictions file whose ids are ``ids``, in that order (a view made on a subset)."""
    position = {image_id: row for row, image_id in enumerate(arrays["ids"])}
    missing = [image_id for image_id in ids if image_id not in position]
    if missing:
        raise ValueError(f"{len(missing)} ids of a view are not in the clean predictions, e.g. {missing[0]!r}")
    rows = np.array([position[image_id] for image_id in ids], dtype=np.int64)
    return {key: value[rows] for key, value in arrays.items()}


def evaluate_logit_metric(prediction_paths: Mapping[str, str], out_json, model: str, metric: str,
                          params: Mapping[str, Any]) -> None:
    from synclone.metrics import LOGIT_METRICS

    predictions = {name: load_npz(path) for name, path in prediction_paths.items()}
    if metric == "corruptions":  # views may cover a subset of the eval set: score the clean set on the same images
        eval_set = params["eval_set"]
        views = [name for name in predictions if name != eval_set]
        if views:
            predictions[eval_set] = _restrict(predictions[eval_set], predictions[views[0]]["ids"])
    result = make_result(model, metric, params, LOGIT_METRICS[metric](predictions, params))
    validate_result(result)
    write_json(out_json, result)


def evaluate_adversarial(model_path, data_dir, out_json, model: str, params: Mapping[str, Any], subset_seed: int,
                         attack_seed: int, threads: int, device: str) -> None:
    from synclone.attacks import PAPER_PGD_STEP, attack_correctness
    from synclone.metrics import evaluate_adversarial as summarise
    from synclone.models.classifier import load_classifier
    from synclone.runtime import setup_torch

    device = setup_torch(threads, attack_seed, device)
    data = read_imageset(data_dir)
    data = data.subset(_subset(len(data), params.get("n_images"), subset_seed))
    eps = float(params["eps"])
    step = PAPER_PGD_STEP if params.get("paper_compat") else eps * float(params.get("pgd_step_ratio", 0.25))
    classifier = load_classifier(model_path, device)
    correct = attack_correctness(
        classifier, data.images, data.labels, eps=eps, step_size=step, steps=int(params.get("pgd_steps", 20)),
        batch_size=int(params.get("batch_size", 256)), device=device, seed=attack_seed,
        random_start=bool(params.get("random_start", True)),
    )
    eval_set = params["eval_set"]
    result = make_result(model, "adversarial", {**params, "pgd_step": step},
                         summarise({name: np.asarray(v) for name, v in correct.items()}, params))
    validate_result(result)
    write_json(out_json, result)
    logger.info("%s on %s: %s", model, eval_set, result["datasets"])


# ---- report --------------------------------------------------------------------------------------------------


def write_report(result_paths: Sequence[str], models: Mapping[str, Any], metrics: Sequence[str], out_dir,
                 expected_outputs: Sequence[str]) -> None:
    from synclone.report import write_report as write

    written = write(result_paths, models, out_dir, metrics)
    missing = [path for path in expected_outputs if not Path(path).exists()]
    if missing:
        raise RuntimeError(f"the report did not write {missing}; it wrote {sorted(map(str, written.values()))}")
