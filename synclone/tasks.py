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

from synclone.imageset import ImageSet, ImageSetIndex, open_imageset, open_imagesets, read_imageset, write_imageset
from synclone.io import atomic_path, load_npz, save_npz, save_torch, write_json
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


# ---- data and generation ---------------------------------------------------------------------------------


def render_dataset(out_dir, grid_png, kind: str, n: int, world: Mapping[str, Any], seed: int, grid_images: int):
    from synclone.worlds import mini

    images, metadata, aux = mini.render_split(kind, n, seed, world)
    logger.info("rendered %d %s images", len(images), kind)
    write_imageset(out_dir, images, metadata, aux)
    _save_grid(grid_png, images, metadata["label"].to_numpy(), grid_images)


def download_dataset(spec: Mapping[str, Any], out_path) -> None:
    """A paper dataset's archive, md5-verified (one already at ``out_path`` with the right md5 is kept)."""
    from synclone.acquire import fetch_archive

    fetch_archive(spec, out_path)


def prepare_dataset(spec: Mapping[str, Any], source, out_dir, grid_png, grid_images: int) -> None:
    """Extract and check a paper dataset (``source``: its archive, or the user's ImageNet val folder / tar), write
    each image set's metadata.csv, and a preview grid of up to ``grid_images`` images spread over the classes:
    16 a row for one image set, one row per set when there are several (IN-9's variants, the severities)."""
    from synclone.acquire import prepare_dataset as prepare
    from synclone.acquire.downloads import verify_file
    from synclone.acquire.preview import thumbnails
    from synclone.imageset import read_metadata
    from synclone.viz import save_grid_png

    if not spec.get("user_path"):  # an archive put in place by hand never went through the download's check
        verify_file(source, md5=spec.get("md5"), sha256=spec.get("sha256"))
    sets = prepare(spec, source, out_dir)
    per_set = max(1, grid_images // len(sets))
    rows = []
    for folder in sets.values():
        metadata = read_metadata(folder)
        picked = _grid_sample(metadata["label"].to_numpy(), per_set)
        rows.append(thumbnails(folder, metadata["file"].iloc[picked].tolist()))
    if len(rows) == 1:
        save_grid_png(grid_png, rows[0], ncols=min(16, len(rows[0])))
        return
    columns = max(len(row) for row in rows)
    padded = [np.concatenate([row, np.full((columns - len(row), *row.shape[1:]), 255, np.uint8)]) for row in rows]
    save_grid_png(grid_png, np.concatenate(padded), ncols=columns, titles=list(sets))


def build_prompts(out_csv, strategy: str, images_per_class: int, seed: int, world: str = "mini",
                  captions_csv=None) -> None:
    from synclone.prompts import build_prompts as make
    from synclone.prompts import read_captions

    captions = read_captions(captions_csv) if captions_csv else None
    prompts = make(strategy, images_per_class, seed, world, captions)
    logger.info("%d prompts (%s), e.g. %r", len(prompts), strategy, prompts["prompt"].iloc[0])
    _write_csv(out_csv, prompts)


def train_generator(corpus_dir, out_path, params: Mapping[str, Any], seed: int, threads: int, device: str) -> None:
    from synclone.generation.train import train_generator as train
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    corpus = read_imageset(corpus_dir)
    if "caption" not in corpus.metadata:
        raise ValueError(f"{corpus_dir}/metadata.csv has no 'caption' column: the generator needs a captioned corpus")
    checkpoint = train(corpus.images, corpus.metadata["caption"].tolist(), params, seed, device)
    save_torch(out_path, checkpoint)


def generate_shard(generator_path, prompts_csv, out_dir, shard: int, shards: int, sample: Mapping[str, Any],
                   threads: int, device: str) -> None:
    from synclone.generation.sample import generate_shard as generate
    from synclone.generation.sample import load_generator
    from synclone.prompts import shard_rows
    from synclone.runtime import setup_torch

    device = setup_torch(threads, derive_seed(0, "shard", shard), device)
    rows = shard_rows(pd.read_csv(prompts_csv, keep_default_na=False), shard, shards)
    images, metadata = generate(load_generator(generator_path, device), rows, sample)
    write_imageset(out_dir, images, metadata)


def generate_shard_sd(prompts_csv, out_dir, shard: int, shards: int, model: Mapping[str, Any],
                      sample: Mapping[str, Any], threads: int, device: str) -> None:
    """One shard of a prompt set with Stable Diffusion (``model``: model_id and optional revision)."""
    from synclone.generation.stable_diffusion import generate_shard as generate
    from synclone.generation.stable_diffusion import load_stable_diffusion
    from synclone.prompts import shard_rows
    from synclone.runtime import setup_torch

    device = setup_torch(threads, derive_seed(0, "shard", shard), device)
    prompts = pd.read_csv(prompts_csv, keep_default_na=False)
    rows = shard_rows(prompts, shard, shards)
    if rows.empty:
        raise ValueError(f"shard {shard} of {shards} has no prompts: {prompts_csv} has only {len(prompts)} rows; "
                         f"lower generator.shards")
    generator = load_stable_diffusion(model["model_id"], sample, model.get("revision"), device)
    logger.info("shard %d of %d: prompts %d..%d (classes %d..%d) on %s", shard, shards, rows["index"].iloc[0],
                rows["index"].iloc[-1], rows["label"].iloc[0], rows["label"].iloc[-1], device)
    generate(generator, rows, out_dir)


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
    from synclone.runtime import setup_torch
    from synclone.streaming import loader_workers, predict_imageset

    device = setup_torch(threads, 0, device)
    generated = open_imagesets(shard_dirs)
    model = load_classifier(judge_path, device)
    logits = predict_imageset(model, generated, device=device, workers=loader_workers(threads, device), desc="judge")
    correct = (logits.argmax(axis=1) == generated.labels).astype(np.float64)
    entry = _accuracy_entry(correct, generated.labels, bootstrap, "fidelity", "fidelity", prompt_set)
    result = make_result(generator, "fidelity", {"judge": judge, "prompt_set": prompt_set, "bootstrap": bootstrap},
                         {prompt_set: entry})
    validate_result(result)
    write_json(out_json, result)
    logger.info("fidelity of %s on %s: %.3f", generator, prompt_set, entry["values"]["fidelity"])
    grid = generated.subset(_grid_sample(generated.labels, grid_images)).load()  # only the grid's images
    _save_grid(grid_png, grid.images, grid.labels, grid_images)


# ---- models --------------------------------------------------------------------------------------------------


def train_model(data_dirs: Sequence[str], out_path, arch: str, arch_kwargs: Mapping[str, Any],
                params: Mapping[str, Any], seed: int, threads: int, device: str, gpus: int = 0) -> None:
    """Train one classifier; with ``gpus`` > 1 (the rule's ``resources: gpu``) data-parallel, one process per GPU."""
    from synclone.models.classifier import save_classifier
    from synclone.runtime import setup_torch
    from synclone.streaming import loader_workers
    from synclone.training import TrainJob, run_train_job

    device = setup_torch(threads, seed, device)
    processes = int(gpus) if device.type == "cuda" and int(gpus) > 1 else 1
    if int(gpus) > 1 and device.type != "cuda":
        logger.warning("the rule asks for %d GPUs but trains on the %s: one process", gpus, device)
    job = TrainJob(arch, dict(arch_kwargs), [str(d) for d in data_dirs], dict(params), seed,
                   max(1, int(threads) // processes))
    if processes == 1:
        model, history = run_train_job(job, device, loader_workers(threads, device))
    else:
        from synclone.distributed import launch_training

        model, history = launch_training(job, processes, device.type)
    save_classifier(out_path, model, {"history": history, "data": job.data_dirs})


def fetch_weights(out_json, model: str, arch: str, weights: Mapping[str, Any], cache_dir: str | None) -> None:
    """Make a pretrained model's weight files local (downloads: internet needed) and record where they are."""
    from synclone.models.weights import fetch_weights as fetch

    write_json(out_json, fetch(model, arch, weights, cache_dir))


def import_model(manifest_json, out_path, arch: str, arch_kwargs: Mapping[str, Any], zero_shot: Mapping[str, Any],
                 seed: int, threads: int, device: str) -> None:
    """Our classifier checkpoint of a pretrained model, from the files fetch_weights recorded (no network)."""
    from synclone.io import read_json
    from synclone.models.pretrained import import_pretrained
    from synclone.models.weights import verify_manifest
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    manifest = read_json(manifest_json)
    files = verify_manifest(manifest)
    logger.info("importing %s (%s) from %s", manifest["model"], arch, ", ".join(map(str, files.values())))
    import_pretrained(arch, files, out_path, arch_kwargs, zero_shot, device, meta={"weights": manifest})


# per-image metadata that metrics read beside the logits (FOCUS-like context, cue conflict, IN-9-like sets)
PER_IMAGE_ARRAYS = ("uncommon_count", "texture_label", "background_class")


def _per_image_arrays(data: ImageSet | ImageSetIndex) -> dict[str, np.ndarray]:
    return {key: data.metadata[key].to_numpy(dtype=np.int64) for key in PER_IMAGE_ARRAYS if key in data.metadata}


def predict(model_path, data_dirs: Sequence[str], out_paths: Sequence[str], batch_size: int, threads: int,
            device: str) -> None:
    """The predictions cache: logits, labels, ids (and per-image extras) of a model on each image set of
    ``data_dirs``, written to the matching ``out_paths``; the model is loaded once."""
    from synclone.models.classifier import load_classifier
    from synclone.runtime import setup_torch
    from synclone.streaming import loader_workers, predict_imageset

    if len(data_dirs) != len(out_paths):
        raise ValueError(f"{len(data_dirs)} image sets but {len(out_paths)} output files")
    device = setup_torch(threads, 0, device)
    model = load_classifier(model_path, device)
    for data_dir, out_path in zip(data_dirs, out_paths):
        data = open_imageset(data_dir)
        logits = predict_imageset(model, data, batch_size, device, loader_workers(threads, device), desc=str(data_dir))
        save_npz(out_path, logits=logits, labels=data.labels, ids=data.ids, **_per_image_arrays(data))


def filter_misclassified(candidates_dir, reference_path, out_dir, grid_png, n: int, seed: int, grid_images: int,
                         batch_size: int, threads: int, device: str) -> None:
    """Keep (a seeded random choice of at most ``n`` of) the candidates the reference model misclassifies."""
    from synclone.models.classifier import load_classifier
    from synclone.runtime import setup_torch
    from synclone.streaming import loader_workers, predict_imageset

    device = setup_torch(threads, seed, device)
    candidates = open_imageset(candidates_dir)
    reference = load_classifier(reference_path, device)
    predicted = predict_imageset(reference, candidates, batch_size, device, loader_workers(threads, device),
                                 desc="reference").argmax(axis=1)
    wrong = np.flatnonzero(predicted != candidates.labels)
    if len(wrong) == 0:
        raise ValueError(f"the reference model {reference_path} gets every candidate in {candidates_dir} right; "
                         f"render more or harder candidates")
    kept = np.sort(np.random.default_rng(seed).choice(wrong, size=min(n, len(wrong)), replace=False))
    logger.info("reference wrong on %d of %d candidates; keeping %d", len(wrong), len(candidates), len(kept))
    if len(kept) < n:
        logger.warning("only %d misclassified candidates for the %d asked: render more candidates", len(kept), n)
    hard = candidates.subset(kept).load()  # the kept images as they are on disk
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
    from synclone.runtime import setup_torch
    from synclone.streaming import loader_workers, predict_imageset_views

    device = setup_torch(threads, corruption_seed, device)
    data = open_imageset(data_dir)
    data = data.subset(_subset(len(data), n_images, subset_seed))
    depth = torch.from_numpy(data.aux["depth"].astype(np.float32)) if "depth" in data.aux else None
    model = load_classifier(model_path, device)

    def view_transform(view: str):
        corruption, severity = _parse_view(view)
        if needs_depth(corruption) and depth is None:
            raise ValueError(f"{corruption} needs depth maps, but {data_dir} has no depth in aux.npz")
        if needs_depth(corruption) and tuple(depth.shape[1:]) != tuple(model.preprocess.input_size[1:]):
            raise ValueError(f"{corruption} needs depth maps at the model's input size "
                             f"{tuple(model.preprocess.input_size[1:])}, but {data_dir} has {tuple(depth.shape[1:])}: "
                             f"its images would be resized, their depth maps not")

        def transform(batch: torch.Tensor, rows: slice) -> torch.Tensor:
            seed = derive_seed(corruption_seed, view, rows.start)
            batch_depth = None if depth is None else depth[rows].to(batch.device)
            return corrupt(batch, corruption, severity, generator=seed, depth=batch_depth)

        return transform

    views = {view: view_transform(view) for view in out_paths}
    logits = predict_imageset_views(model, data, views, batch_size, device, loader_workers(threads, device),
                                    desc="corruptions")
    for view, path in out_paths.items():
        save_npz(path, logits=logits[view], labels=data.labels, ids=data.ids)


# ---- evaluation ----------------------------------------------------------------------------------------------


def _image_key(image_id: str) -> str:
    """An image's ``<class folder>/<file>``: the same in ImageNet val (``images/<wnid>/<file>``) and in an
    ImageNet-C / 3DCC image set (``<wnid>/<file>``)."""
    return "/".join(str(image_id).split("/")[-2:])


def _restrict(arrays: Mapping[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of a predictions file whose ids are ``ids``, in that order, under those ids.

    A view computed on a subset of the eval set has the eval set's ids; a view read from its own folder
    (ImageNet-C) matches by ``<class folder>/<file>``.
    """
    position = {image_id: row for row, image_id in enumerate(arrays["ids"])}
    keys = list(ids)
    if any(image_id not in position for image_id in keys):
        position = {_image_key(image_id): row for row, image_id in enumerate(arrays["ids"])}
        if len(position) < len(arrays["ids"]):
            raise ValueError("the clean predictions list two images with the same <class folder>/<file>, so views "
                             "read from their own folder cannot be matched to them")
        keys = [_image_key(image_id) for image_id in keys]
    missing = [key for key in keys if key not in position]
    if missing:
        raise ValueError(f"{len(missing)} images of a view are not in the clean predictions, e.g. {missing[0]!r}")
    rows = np.array([position[key] for key in keys], dtype=np.int64)
    return {**{key: value[rows] for key, value in arrays.items()}, "ids": np.asarray(ids)}


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
    from synclone.streaming import PreprocessedImages

    device = setup_torch(threads, attack_seed, device)
    data = open_imageset(data_dir)
    data = data.subset(_subset(len(data), params.get("n_images"), subset_seed))
    eps = float(params["eps"])
    step = PAPER_PGD_STEP if params.get("paper_compat") else eps * float(params.get("pgd_step_ratio", 0.25))
    classifier = load_classifier(model_path, device)
    images = PreprocessedImages(data, classifier.preprocess, threads)  # each batch decoded when attacked
    correct = attack_correctness(
        classifier, images, data.labels, eps=eps, step_size=step, steps=int(params.get("pgd_steps", 20)),
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
                 expected_outputs: Sequence[str], paper_comparison: bool = False) -> None:
    from synclone.report import write_report as write

    written = write(result_paths, models, out_dir, metrics, paper_comparison)
    missing = [path for path in expected_outputs if not Path(path).exists()]
    if missing:
        raise RuntimeError(f"the report did not write {missing}; it wrote {sorted(map(str, written.values()))}")


# ---- self-supervised and CLIP clones, ablation sweeps ------------------------------------------------------


def subset_images(data_dirs: Sequence[str], out_dir, images_per_class: int) -> None:
    """A copy of the first ``images_per_class`` images of each class of ``data_dirs`` (nested across counts)."""
    from synclone.clones import first_per_class

    source = open_imagesets(data_dirs)
    subset = source.subset(first_per_class(source.labels, images_per_class)).load()
    logger.info("keeping %d of %d images (%d per class) from %s", len(subset), len(source), images_per_class,
                ", ".join(map(str, data_dirs)))
    metadata = subset.metadata.rename(columns={"file": "source_file"})
    write_imageset(out_dir, subset.images, metadata, subset.aux)


def pretrain_ssl(data_dirs: Sequence[str], out_path, arch: str, arch_kwargs: Mapping[str, Any],
                 params: Mapping[str, Any], seed: int, threads: int, device: str) -> None:
    """Contrastive pretraining of a backbone on the images of ``data_dirs`` (concatenated); the checkpoint's
    classifier layer is still random (rule linear_probe fits it)."""
    from synclone.models.classifier import build_classifier, save_classifier
    from synclone.runtime import setup_torch
    from synclone.ssl import prompt_groups, pretrain_contrastive

    device = setup_torch(threads, seed, device)
    sets = [read_imageset(folder) for folder in data_dirs]
    images = np.concatenate([part.images for part in sets])
    groups = prompt_groups([part.metadata for part in sets])
    logger.info("pretraining %s on %d images (%d prompt groups) from %s", arch, len(images), groups.max() + 1,
                ", ".join(map(str, data_dirs)))
    model = build_classifier(arch, arch_kwargs=arch_kwargs).to(device)
    history = pretrain_contrastive(model, images, groups, params, seed, device)
    save_classifier(out_path, model, {"pretrain": history, "data": [str(d) for d in data_dirs],
                                      "head": "random: the linear_probe rule fits it"})


def linear_probe(pretrained_path, data_dir, out_path, out_json, params: Mapping[str, Any], seed: int, threads: int,
                 device: str) -> None:
    """The pretrained backbone with a linear head whose learning rate won on held-out real training images."""
    from synclone.linear_probe import linear_probe as probe
    from synclone.models.classifier import load_classifier, save_classifier
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    model = load_classifier(pretrained_path, device)
    data = read_imageset(data_dir)
    record = {**probe(model, data.images, data.labels, params, seed, device), "data": str(data_dir)}
    save_classifier(out_path, model, {**model.meta, "probe": record})
    write_json(out_json, record)


def train_clip(data_dirs: Sequence[str], out_path, arch: str, arch_kwargs: Mapping[str, Any],
               params: Mapping[str, Any], seed: int, threads: int, device: str) -> None:
    """A tiny CLIP on (image, text) pairs: generated images with their prompts, rendered ones with captions."""
    from synclone.clip_mini import build_clip, pair_texts, save_clip
    from synclone.clip_mini import train_clip as train
    from synclone.clone_params import ClipParams
    from synclone.models.classifier import build_classifier
    from synclone.runtime import setup_torch

    device = setup_torch(threads, seed, device)
    params = ClipParams.from_dict(params)
    wrapper = build_classifier(arch, arch_kwargs=arch_kwargs)  # the full tower kwargs and the normalisation
    sets = [read_imageset(folder) for folder in data_dirs]
    images = np.concatenate([part.images for part in sets])
    texts = [text for i, part in enumerate(sets)
             for text in pair_texts(part.metadata, derive_seed(seed, "captions", i), params.caption_drop_p)]
    logger.info("training a CLIP on %d pairs from %s, e.g. %r", len(texts), ", ".join(map(str, data_dirs)), texts[:3])
    clip = build_clip(wrapper.arch_kwargs, params).to(device)
    history = train(clip, images, texts, wrapper.preprocess.mean, wrapper.preprocess.std, params, seed, device)
    save_clip(out_path, clip, arch, wrapper.arch_kwargs, params,
              {"history": history, "data": [str(d) for d in data_dirs], "example_texts": texts[:10]})


def zero_shot_head(clip_path, out_path, zero_shot: Mapping[str, Any], threads: int, device: str) -> None:
    """The CLIP's image tower plus class-name x template embeddings, as a classifier checkpoint."""
    from synclone.clip_mini import load_clip, zero_shot_classifier
    from synclone.clone_params import ZeroShotParams
    from synclone.models.classifier import save_classifier
    from synclone.runtime import setup_torch

    device = setup_torch(threads, 0, device)
    params = ZeroShotParams.from_dict(zero_shot)
    clip, checkpoint = load_clip(clip_path, device)
    model = zero_shot_classifier(clip, checkpoint["arch"], checkpoint["arch_kwargs"],
                                 checkpoint["params"]["context_length"], params.logit_scale, device)
    logger.info("zero-shot head: logit scale %.3f (%s)", model.backbone.logit_scale, params.logit_scale)
    save_classifier(out_path, model, {"clip": checkpoint["meta"], "zero_shot": {
        "logit_scale": model.backbone.logit_scale, "logit_scale_source": str(params.logit_scale)}})


def write_ablation_report(result_paths: Sequence[str], points: Mapping[str, Any], out_dir,
                          expected_outputs: Sequence[str]) -> None:
    from synclone.report.ablations import write_ablation_report as write

    written = write(result_paths, points, out_dir)
    missing = [path for path in expected_outputs if not Path(path).exists()]
    if missing:
        raise RuntimeError(f"the ablation report did not write {missing}; it wrote {sorted(map(str, written.values()))}")
