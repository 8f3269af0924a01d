"""Paper datasets through the functions the workflow's rules call: a tiny archive in each real layout is downloaded
from a file:// URL, checked, extracted and indexed (synclone.tasks.download_dataset / prepare_dataset), predicted by
a 1000-class model with random weights (tasks.predict) and scored by its metric with the real label map
(tasks.evaluate_logit_metric); then once through `snakemake` on a tiny paper-layout config."""

from __future__ import annotations

import copy
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sklearn.metrics import roc_auc_score

from synclone import tasks
from synclone.acquire import downloads, sources
from synclone.acquire.downloads import ChecksumError, DownloadError
from synclone.acquire.layouts import LayoutError, cue_conflict_classes
from synclone.acquire.registry import label_classes, label_map_spec, paper_dataset
from synclone.config import ConfigError, load_schema, validate_config
from synclone.io import load_npz, read_json, save_npz
from synclone.metrics import PREDICTION_NAMES
from tests.configs import REPO, SCHEMA
from tests.fixtures.paper_archives import (class_folders, corruption_tree, focus_members, image_bytes,
                                           write_archive)

WNIDS = label_classes("imagenet_1k")
BOOTSTRAP = {"n": 20, "seed": 0, "confidence": 0.95}


def sized_jpeg(width: int, height: int, value: int) -> bytes:
    """A JPEG of its own size: real datasets mix sizes, so predict must resize each image (the model's preprocessing)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (value % 256, 90, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """A 1000-logit classifier with random weights: real logits, ImageNet's label space."""
    import torch

    from synclone.models.classifier import build_classifier, save_classifier

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_classifier(path, build_classifier("mini_resnet", num_classes=1000))
    return path


def served(tmp: Path, registry: str, members: dict) -> dict:
    """The config overrides of a registry entry whose archive is served from a file:// URL."""
    fmt = paper_dataset(registry)["format"]
    archive = write_archive(tmp / "served" / f"{registry}.{fmt}", members, fmt)
    return {"url": archive.as_uri(), "md5": md5_of(archive)}


def val_folder(tmp: Path, wnids: list[str], per_class: int = 1) -> Path:
    """A user's sorted ImageNet val folder; image n is named ILSVRC2012_val_<n>.JPEG as in the real one."""
    folder = tmp / "user" / "val"
    number = 0
    for wnid in wnids:
        (folder / wnid).mkdir(parents=True)
        for _ in range(per_class):
            number += 1
            (folder / wnid / f"ILSVRC2012_val_{number:08d}.JPEG").write_bytes(image_bytes(number))
    return folder


def prepare_all(tmp: Path, datasets: dict, metrics: dict) -> None:
    """What download_dataset and prepare_dataset do for every registry entry the config names."""
    assert sources.paper_problems(datasets, metrics) == []
    for spec in sources.paper_specs(datasets).values():
        inputs = sources.prepare_sources(spec)
        if sources.archive_path(spec):
            tasks.download_dataset(sources.download_params(spec), tmp / inputs["source"])
            inputs["source"] = tmp / inputs["source"]
        tasks.prepare_dataset(sources.prepare_params(spec), inputs["source"], tmp / "data" / spec["name"],
                              tmp / "results" / "data" / f"{spec['name']}.png", grid_images=16)
        assert (tmp / "results" / "data" / f"{spec['name']}.png").stat().st_size > 0


def predict(tmp: Path, model: Path, datasets: dict, name: str, image_set: str | None = None,
            out_name: str | None = None) -> dict:
    out = tmp / "predictions" / f"{out_name or name}.npz"
    tasks.predict(model, [tmp / sources.image_set_folder(name, datasets, image_set)], [out], batch_size=64,
                  threads=1, device="cpu")
    return load_npz(out)


def evaluate(tmp: Path, metric: str, params: dict, datasets: dict, model: str = "tiny") -> dict:
    """The evaluate rule: label maps from the registry (common.smk's metric_params), the predictions by name."""
    names = PREDICTION_NAMES[metric](params)
    label_maps = {n: sources.dataset_label_map(n, datasets) for n in names}
    params = {**params, "bootstrap": BOOTSTRAP,
              "label_maps": {n: m for n, m in label_maps.items() if m is not None}}
    out = tmp / "results" / model / f"{metric}.json"
    tasks.evaluate_logit_metric({n: tmp / "predictions" / f"{n}.npz" for n in names}, out, model, metric, params)
    return read_json(out)


def with_oracle(tmp: Path, name: str, index_of) -> None:
    """Replace a predictions file's logits by a one-hot at ``index_of(id)``: the metric must then score every
    image the way the id's name says."""
    path = tmp / "predictions" / f"{name}.npz"
    arrays = load_npz(path)
    logits = np.zeros_like(arrays["logits"])
    logits[np.arange(len(logits)), [index_of(str(i)) for i in arrays["ids"]]] = 10.0
    save_npz(path, **{**arrays, "logits": logits})


def wnid_of(image_id: str) -> str:
    return image_id.split("/")[-2]


# ---- one test per metric and its datasets ----------------------------------------------------------------------


def test_calibration_on_imagenet_val_r_and_a_scores_r_and_a_on_their_200_classes(tmp_path, model_path):
    r_classes, a_classes = label_classes("imagenet_r_200"), label_classes("imagenet_a_200")
    r_members = {**class_folders("imagenet-r", r_classes[:3], per_class=2), "imagenet-r/README.txt": b"readme"}
    for k, (width, height) in enumerate([(40, 25), (17, 64), (300, 200)]):
        r_members[f"imagenet-r/{r_classes[k]}/img_1.jpg"] = sized_jpeg(width, height, 50 * k)
    datasets = {
        "imagenet_val": {"source": "paper", "path": str(val_folder(tmp_path, [WNIDS[1], WNIDS[954], WNIDS[0]])),
                         "counts": {"classes": 3, "images": 3, "images_per_class": 1}},
        "imagenet_r": {"source": "paper", **served(tmp_path, "imagenet_r", r_members),
                       "counts": {"classes": 3, "images": 6}},
        "renditions_a": {"source": "paper", "dataset": "imagenet_a",
                         **served(tmp_path, "imagenet_a", class_folders("imagenet-a", a_classes[-2:])),
                         "counts": {"classes": 2, "images": 2}},
    }
    metrics = {"calibration": {"eval_sets": ["imagenet_val", "imagenet_r", "renditions_a"], "bins": 20}}
    prepare_all(tmp_path, datasets, metrics)
    assert (tmp_path / "data" / "imagenet_val" / "images").is_symlink()  # the user's folder is linked, not copied
    predicted = {name: predict(tmp_path, model_path, datasets, name) for name in metrics["calibration"]["eval_sets"]}

    result = evaluate(tmp_path, "calibration", metrics["calibration"], datasets)
    assert {name: entry["n"] for name, entry in result["datasets"].items()} == {
        "imagenet_val": 3, "imagenet_r": 6, "renditions_a": 2}
    assert result["params"]["bins"] == 20
    # independently of label positions: the wnid of the top logit among the set's own 200 wnids
    for name, members in (("imagenet_r", r_classes), ("renditions_a", a_classes)):
        logits, ids = predicted[name]["logits"], predicted[name]["ids"]
        allowed = np.array([WNIDS.index(w) for w in members])
        top = [WNIDS[allowed[np.argmax(row[allowed])]] for row in logits]
        expected = np.mean([wnid == wnid_of(i) for wnid, i in zip(top, ids)])
        assert result["datasets"][name]["values"]["accuracy"] == pytest.approx(expected)

    for name in metrics["calibration"]["eval_sets"]:
        with_oracle(tmp_path, name, lambda image_id: WNIDS.index(wnid_of(image_id)))
    oracle = evaluate(tmp_path, "calibration", metrics["calibration"], datasets)
    assert all(entry["values"]["accuracy"] == 1.0 for entry in oracle["datasets"].values())


def test_ood_sets_are_scored_by_entropy_against_imagenet_val(tmp_path, model_path):
    datasets = {"imagenet_val": {"source": "paper", "path": str(val_folder(tmp_path, WNIDS[:4], per_class=2)),
                                 "counts": {"classes": 4, "images": 8, "images_per_class": 2}}}
    for key, registry in (("inaturalist", "ood_inaturalist"), ("sun", "ood_sun"), ("places", "ood_places")):
        root = paper_dataset(registry)["root"]
        members = {f"{root}/{k:05d}.jpg": image_bytes(40 * k + 7) for k in range(5)}
        datasets[key] = {"source": "paper", "dataset": registry, **served(tmp_path, registry, members),
                         "counts": {"images": 5}}
    params = {"id_set": "imagenet_val", "ood_sets": ["inaturalist", "sun", "places"], "headline": "entropy"}
    prepare_all(tmp_path, datasets, {"ood": params})
    logits = {name: predict(tmp_path, model_path, datasets, name)["logits"] for name in datasets}

    result = evaluate(tmp_path, "ood", params, datasets)

    def neg_entropy(values):  # ID positive: a confident (low-entropy) image scores high
        p = np.exp(values - values.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return (p * np.log(p)).sum(axis=1)

    for name in params["ood_sets"]:
        scores = np.concatenate([neg_entropy(logits["imagenet_val"]), neg_entropy(logits[name])])
        truth = np.r_[np.ones(8), np.zeros(5)]
        assert result["datasets"][name]["values"]["entropy/auroc"] == pytest.approx(roc_auc_score(truth, scores))
        assert result["datasets"][name]["n"] == 5


def test_corruptions_are_read_from_imagenet_c_and_3dcc_image_sets(tmp_path, model_path):
    wnids = [WNIDS[0], WNIDS[999]]
    datasets = {
        "imagenet_val": {"source": "paper", "path": str(val_folder(tmp_path, wnids)),
                         "counts": {"classes": 2, "images": 2, "images_per_class": 1}},
        "imagenet_c_noise": {"source": "paper", **served(tmp_path, "imagenet_c_noise", corruption_tree(
            ["gaussian_noise", "shot_noise", "impulse_noise"], wnids)),
            "counts": {"classes": 2, "images": 2, "images_per_class": 1}},
        "near_focus": {"source": "paper", "dataset": "imagenet_3dcc_near_focus", **served(
            tmp_path, "imagenet_3dcc_near_focus", corruption_tree(["near_focus"], wnids)),
            "counts": {"classes": 2, "images": 2}},
    }
    params = {"eval_set": "imagenet_val", "corruptions_2d": ["shot_noise"], "corruptions_3d": ["near_focus"],
              "severities": [1, 3], "from_datasets": {"shot_noise": "imagenet_c_noise", "near_focus": "near_focus"}}
    prepare_all(tmp_path, datasets, {"corruptions": params})
    views = sources.disk_corruption_views(params, datasets)
    assert views["imagenet_val@shot_noise-3"] == ("imagenet_c_noise", "shot_noise-3")
    assert sources.image_set_folder("imagenet_c_noise", datasets, "shot_noise-3") == "data/imagenet_c_noise/shot_noise/3"
    assert set(views) == set(PREDICTION_NAMES["corruptions"](params)) - {"imagenet_val"}
    assert sources.computed_corruptions(params) == []  # nothing is left to compute on the fly
    predict(tmp_path, model_path, datasets, "imagenet_val")
    view_logits = {view: predict(tmp_path, model_path, datasets, dataset, image_set, out_name=view)
                   for view, (dataset, image_set) in views.items()}

    result = evaluate(tmp_path, "corruptions", params, datasets)
    values = result["datasets"]["imagenet_val"]["values"]
    assert result["datasets"]["imagenet_val"]["n"] == 2  # val ids images/<wnid>/<file> matched to <wnid>/<file>
    for view, arrays in view_logits.items():
        corruption, severity = view.split("@")[1].rsplit("-", 1)
        expected = np.mean([WNIDS[int(np.argmax(row))] == wnid_of(i) for row, i in zip(arrays["logits"],
                                                                                      arrays["ids"])])
        assert values[f"accuracy/{corruption}/{severity}"] == pytest.approx(expected)


def test_in9_variants_share_one_download_and_map_1000_logits_to_9_classes(tmp_path, model_path):
    folders = label_classes("in9")
    members = {}
    for variant in ("original", "mixed_same", "mixed_rand", "only_fg"):
        members.update(class_folders(f"bg_challenge/{variant}/val", folders, suffix=".JPEG"))
    overrides = {**served(tmp_path, "in9", members), "counts": {"images": 9, "images_per_class": 1}}
    datasets = {f"in9_{v}": {"source": "paper", "dataset": "in9", "image_set": v, **overrides}
                for v in ("original", "mixed_same", "mixed_rand")}
    params = {"original": "in9_original", "mixed_same": "in9_mixed_same", "mixed_rand": "in9_mixed_rand"}
    prepare_all(tmp_path, datasets, {"background_bias": params})
    assert list(sources.paper_specs(datasets)) == ["in9"]
    for name in datasets:
        predict(tmp_path, model_path, datasets, name)
    assert evaluate(tmp_path, "background_bias", params, datasets)["datasets"]["summary"]["n"] == 9

    # an index of each class folder's own class (the IN-9 map read as data) scores 1; 0 for the wrong class
    lookup = np.array(label_map_spec("in9")["map"])
    first_index = {folder: int(np.flatnonzero(lookup == k)[0]) for k, folder in enumerate(folders)}
    for name in datasets:
        with_oracle(tmp_path, name, lambda image_id: first_index[image_id.split("/")[0]])
    values = evaluate(tmp_path, "background_bias", params, datasets)["datasets"]["summary"]["values"]
    assert values["original_accuracy"] == values["mixed_rand_accuracy"] == 1.0 and values["bg_gap"] == 0.0
    with_oracle(tmp_path, "in9_mixed_rand", lambda image_id: 999)  # 999 (toilet tissue) is unmapped: wrong
    values = evaluate(tmp_path, "background_bias", params, datasets)["datasets"]["summary"]["values"]
    assert values["mixed_rand_accuracy"] == 0.0 and values["bg_gap"] == 1.0


def test_cue_conflict_shape_bias_with_the_16_class_mean_aggregation(tmp_path, model_path):
    categories = label_classes("cue_conflict_16")
    members = {f"cue-conflict/{c}/{c}1-{categories[(k + 3) % 16]}2.png": image_bytes(k, "PNG")
               for k, c in enumerate(categories)}
    members["cue-conflict/cat/cat2-cat1.png"] = image_bytes(2, "PNG")  # shape = texture: left out
    datasets = {"cue_conflict": {"source": "paper", **served(tmp_path, "cue_conflict", members),
                                 "counts": {"images": 17}}}
    params = {"eval_set": "cue_conflict"}
    prepare_all(tmp_path, datasets, {"shape_bias": params})
    predict(tmp_path, model_path, datasets, "cue_conflict")
    assert evaluate(tmp_path, "shape_bias", params, datasets)["datasets"]["cue_conflict"]["n"] == 17

    groups = label_map_spec("cue_conflict_16")["groups"]
    shape_index = {c: groups[k][0] for k, c in enumerate(categories)}
    with_oracle(tmp_path, "cue_conflict", lambda image_id: shape_index[image_id.split("/")[1]])
    values = evaluate(tmp_path, "shape_bias", params, datasets)["datasets"]["cue_conflict"]["values"]
    assert values["shape_bias"] == 1.0 and values["shape_fraction"] == pytest.approx(16 / 17)
    with_oracle(tmp_path, "cue_conflict", lambda image_id: shape_index[cue_conflict_classes(image_id.split("/")[-1])[1]])
    assert evaluate(tmp_path, "shape_bias", params, datasets)["datasets"]["cue_conflict"]["values"]["shape_bias"] == 0.0


def test_focus_annotations_reach_the_context_bias_metric(tmp_path, model_path):
    rows = [("/car/1.jpg", "car", "day", "sunny", "street", "no"),               # 0 uncommon
            ("/car/2.jpg", "car", "night", "cloudy", "street", "no"),            # 1 (time)
            ("/deer/3.jpg", "deer", "night", "snowing", "forest, snow", "no"),   # 3
            ("/frog/4.jpg", "frog", "night", "sunny", "grass", "no"),            # 0 (frog: no uncommon time)
            ("/dog/5.jpg", "dog", "day", "foggy", "snow", "no")]                 # 2
    datasets = {"focus": {"source": "paper", **served(tmp_path, "focus", focus_members(rows)),
                          "counts": {"images": 5}}}
    params = {"eval_set": "focus"}
    prepare_all(tmp_path, datasets, {"context_bias": params})
    predict(tmp_path, model_path, datasets, "focus")
    category_index = {"car": 436, "deer": 351, "frog": 30, "dog": 151}  # members of the FOCUS index sets
    with_oracle(tmp_path, "focus", lambda image_id: category_index[image_id.split("/")[1]])

    entry = evaluate(tmp_path, "context_bias", params, datasets)["datasets"]["focus"]
    assert entry["details"]["counts"] == {"p0": 2, "p1": 1, "p2": 1, "p3": 1}
    assert all(entry["values"][f"accuracy_p{k}"] == 1.0 for k in range(4))


# ---- failures: what the user sees -----------------------------------------------------------------------------


def test_a_wrong_checksum_fails_the_download_and_a_hand_placed_archive_fails_preparing(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads.time, "sleep", lambda seconds: None)  # the download retries a wrong file
    members = {**class_folders("imagenet-r", label_classes("imagenet_r_200")[:2]), "imagenet-r/README.txt": b"r"}
    overrides = served(tmp_path, "imagenet_r", members)
    actual = overrides["md5"]
    spec = sources.paper_specs({"imagenet_r": {"source": "paper", **overrides, "md5": "0" * 32}})["imagenet_r"]
    archive = tmp_path / sources.archive_path(spec)
    with pytest.raises(DownloadError, match=f"its md5 is {actual}, expected {'0' * 32}"):
        tasks.download_dataset({**sources.download_params(spec)}, archive)
    assert not archive.exists() and list(archive.parent.iterdir()) == []

    # an archive put in place by hand (Snakemake then skips the download) is checked before it is extracted
    archive.write_bytes((tmp_path / "served" / "imagenet_r.tar").read_bytes()[:-10])
    with pytest.raises(ChecksumError, match=rf"imagenet_r\.tar: its md5 is [0-9a-f]{{32}}, expected {'0' * 32}"):
        tasks.prepare_dataset(sources.prepare_params(spec), archive, tmp_path / "data" / "imagenet_r",
                              tmp_path / "grid.png", 16)
    assert not (tmp_path / "data" / "imagenet_r").exists()


def test_a_wrong_layout_names_the_folder_and_what_it_expected(tmp_path):
    classes = label_classes("imagenet_r_200")
    members = {**class_folders("imagenet-r", classes[:2]), "imagenet-r/n99999999/x.jpg": image_bytes()}
    datasets = {"imagenet_r": {"source": "paper", **served(tmp_path, "imagenet_r", members),
                               "counts": {"classes": 3, "images": 3}}}
    spec = sources.paper_specs(datasets)["imagenet_r"]
    archive = tmp_path / sources.archive_path(spec)
    tasks.download_dataset(sources.download_params(spec), archive)
    with pytest.raises(LayoutError, match=r"imagenet-r holds folders that are none of the 200 classes of label map "
                                          r"'imagenet_r_200': 'n99999999'"):
        tasks.prepare_dataset(sources.prepare_params(spec), archive, tmp_path / "data" / "imagenet_r",
                              tmp_path / "grid.png", 16)
    assert not (tmp_path / "data" / "imagenet_r").exists() and not (tmp_path / "grid.png").exists()


# ---- the config: names, image sets, overrides --------------------------------------------------------------------


def paper_config() -> dict:
    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


def test_paper_yaml_datasets_and_metrics_are_valid():
    config = paper_config()
    assert sources.paper_problems(config["datasets"], config["metrics"]) == []
    try:
        validate_config(config, load_schema(SCHEMA))
    except ConfigError as error:  # the model section follows the model registry's schema, checked elsewhere
        assert all(line.strip().startswith("- models.") for line in str(error).splitlines()[1:-1]), str(error)
    views = sources.disk_corruption_views(config["metrics"]["corruptions"], config["datasets"])
    assert len(views) == 10 * 5 and sources.computed_corruptions(config["metrics"]["corruptions"]) == []
    assert sources.image_set_folder("in9_mixed_rand", config["datasets"]) == "data/in9/bg_challenge/mixed_rand/val"
    assert sources.prepare_sources(sources.paper_specs(config["datasets"])["imagenet_val"]) == {
        "source": "/datasets/imagenet/ILSVRC2012_img_val.tar",
        "devkit": "/datasets/imagenet/ILSVRC2012_devkit_t12.tar.gz"}
    assert sources.dataset_label_map("imagenet_r", config["datasets"])["kind"] == "subset"
    assert sources.dataset_label_map("sun", config["datasets"]) is None  # OOD: scored through the ID set's map


def test_user_files_not_there_yet_are_listed_and_archives_never(tmp_path):
    datasets = {"imagenet_val": {"source": "paper", "path": str(tmp_path / "ILSVRC2012_img_val.tar")},
                "imagenet_r": {"source": "paper"}}
    specs = sources.paper_specs(datasets)
    tar, devkit = sources.prepare_sources(specs["imagenet_val"]).values()
    assert sources.missing_user_files(specs["imagenet_val"]) == [tar, devkit]
    Path(tar).write_bytes(b"")
    assert sources.missing_user_files(specs["imagenet_val"]) == [devkit]
    assert sources.missing_user_files(specs["imagenet_r"]) == []  # the download rule makes it


@pytest.mark.parametrize("change, message", [
    (lambda c: c["datasets"].update(imagenet_r={"source": "paper", "dataset": "imagenet_rr"}),
     r"datasets.imagenet_r: unknown paper dataset 'imagenet_rr' \(did you mean 'imagenet_r'\?\)"),
    (lambda c: c["datasets"]["in9_original"].pop("image_set"),
     r"metrics.background_bias: datasets.in9_original holds 3 image sets \(original, mixed_same, mixed_rand\); "
     r"give it an image_set"),
    (lambda c: c["datasets"]["in9_original"].update(image_set="mixed"),
     r"datasets.in9_original.image_set: 'mixed' is not an image set of in9"),
    (lambda c: c["datasets"]["imagenet_val"].pop("path"),
     r"datasets.imagenet_val: imagenet_val has no public download; set path to your folder of 1000 wnid folders, "
     r"or to ILSVRC2012_img_val.tar with ILSVRC2012_devkit_t12.tar.gz beside it"),
    (lambda c: c["datasets"]["imagenet_val"].update(url="https://example.org/val.tar"),
     r"datasets.imagenet_val: url does not apply to imagenet_val"),
    (lambda c: c["datasets"]["imagenet_r"].update(path="/data/imagenet-r.tar"),
     r"datasets.imagenet_r: path applies only to datasets without a public download; .* put it at "
     r"downloads/imagenet_r.tar"),
    (lambda c: c["datasets"]["in9_mixed_rand"].update(url="https://mirror.example.org/bg.tar.gz"),
     r"datasets.in9_original, datasets.in9_mixed_same, datasets.in9_mixed_rand: all prepare in9, so they must "
     r"give the same url"),
    (lambda c: c["metrics"]["corruptions"]["from_datasets"].update(snow="imagenet_c_noise"),
     r"metrics.corruptions.from_datasets.snow: imagenet_c_noise does not hold snow; it holds gaussian_noise, "
     r"shot_noise, impulse_noise"),
    (lambda c: c["metrics"]["corruptions"]["from_datasets"].update(snow="imagenet_c_snow"),
     r"'imagenet_c_snow' is no source: paper dataset"),
    (lambda c: c["datasets"].update(test={"source": "render", "kind": "test", "n": 5, "image_set": "x"}),
     r"datasets.test: key 'image_set' applies only to source: paper"),
])
def test_config_mistakes_fail_with_what_to_do(change, message):
    config = paper_config()
    change(config)
    with pytest.raises(ConfigError, match=message):
        sources.check_paper_datasets(config)


# ---- the rules, once, through Snakemake ---------------------------------------------------------------------------


def tiny_paper_config(tmp: Path) -> dict:
    """Paper mode on tiny archives: the user's ImageNet val folder, a download with a 200-class mask, IN-9's three
    variants from one archive, shot noise read from ImageNet-C, the attack, and the report's paper comparison."""
    config = copy.deepcopy(paper_config())
    wnids = [label_classes("imagenet_r_200")[0], WNIDS[999]]
    in9_members = {}
    for variant in ("original", "mixed_same", "mixed_rand"):
        in9_members.update(class_folders(f"bg_challenge/{variant}/val", label_classes("in9"), suffix=".JPEG"))
    in9 = {**served(tmp, "in9", in9_members), "counts": {"images": 9, "images_per_class": 1}}
    config["datasets"] = {
        "imagenet_val": {"source": "paper", "path": str(val_folder(tmp, wnids)),
                         "counts": {"classes": 2, "images": 2, "images_per_class": 1}},
        "imagenet_r": {"source": "paper", **served(tmp, "imagenet_r", class_folders("imagenet-r", wnids[:1])),
                       "counts": {"classes": 1, "images": 1}},
        **{f"in9_{v}": {"source": "paper", "dataset": "in9", "image_set": v, **in9}
           for v in ("original", "mixed_same", "mixed_rand")},
        "imagenet_c_noise": {"source": "paper", **served(tmp, "imagenet_c_noise", corruption_tree(
            ["gaussian_noise", "shot_noise", "impulse_noise"], wnids)),
            "counts": {"classes": 2, "images": 2, "images_per_class": 1}},
        "train": {"source": "render", "kind": "train", "n": 10},  # the model's (pretend) training data
    }
    metrics = {key: config["metrics"][key] for key in ("calibration", "adversarial", "corruptions", "background_bias")}
    metrics["calibration"]["eval_sets"] = ["imagenet_val", "imagenet_r"]
    metrics["corruptions"].update(corruptions_2d=["shot_noise"], corruptions_3d=[], severities=[2],
                                  from_datasets={"shot_noise": "imagenet_c_noise"})
    metrics["adversarial"].update(n_images=2, pgd_steps=2)
    config["metrics"] = metrics
    config["models"] = {"tiny": {"arch": "mini_resnet", "data": "train", "group": "real", "label": "tiny",
                                 "paper_analogue": "ResNet50"}}
    config["compute"] = {"device": "cpu", "predict_batch_size": 8, "jobs": {}}
    config["bootstrap"]["n"] = 10
    return config


@pytest.mark.e2e
def test_the_paper_rules_run_through_snakemake(tmp_path, model_path):
    config = tiny_paper_config(tmp_path)
    workdir = tmp_path / "work"
    (workdir / "data" / "train").mkdir(parents=True)  # the checkpoint is given: nothing is rendered or trained
    (workdir / "checkpoints").mkdir()
    (workdir / "checkpoints" / "tiny.pt").write_bytes(model_path.read_bytes())
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [*(f"results/tiny/{metric}.json" for metric in config["metrics"]), "results/report.md",
               "results/tables/paper_comparison.csv",
               *(f"results/data/{name}.png" for name in sources.paper_specs(config["datasets"]))]
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(tmp_path / "tiny.yaml"), "--cores", "2", *targets]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    logs = "\n".join(f"== {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-5000:]}\n{logs}"

    assert sorted(p.name for p in (workdir / "downloads").iterdir()) == ["imagenet_c_noise.tar", "imagenet_r.tar",
                                                                         "in9.tar.gz"]
    assert (workdir / "predictions" / "tiny" / "imagenet_val@shot_noise-2.npz").is_file()
    corruptions = read_json(workdir / "results" / "tiny" / "corruptions.json")
    assert corruptions["datasets"]["imagenet_val"]["n"] == 2
    calibration = read_json(workdir / "results" / "tiny" / "calibration.json")
    assert calibration["params"]["label_maps"]["imagenet_r"]["kind"] == "subset"
    comparison = (workdir / "results" / "tables" / "paper_comparison.csv").read_text()
    assert comparison.count("ResNet50") > 40  # the model's paper_analogue: every published quantity
    rerun = subprocess.run([*command, "-n"], capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
