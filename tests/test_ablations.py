"""The ablation sweeps: points expanded from the config, their checks, the Table 7 analogue, and the DAG (a change
to one point reruns that point only; the default target holds no point)."""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synclone.ablations import ablation_points, ablation_prompt_sets, expand_ablations
from synclone.clones import first_per_class, mix_counts
from synclone.config import ConfigError
from synclone.report.ablations import ablation_outputs, table7
from synclone.report.tables import CI_LOW
from tests.configs import REPO, default_config, tiny_config, write_config


def test_the_default_sweeps_expand_to_table7s_grid():
    config = default_config()
    points = expand_ablations(config, ["classname", "hypernym_scene", "templates", "captions"])
    size = config["ablations"]["prompt_size"]
    assert len(points) == len(size["prompt_sets"]) * len(size["multiples"]) + len(config["ablations"]["mix"]
                                                                                   ["synthetic_fractions"])
    base, per_class = config["models"]["resnet_syn"], size["base_images_per_class"]
    one, sixteen = points["sweep_captions_1x"], points["sweep_captions_16x"]
    assert one["data"] == "synthetic/captions" and one["images_per_class"] == per_class
    assert sixteen["images_per_class"] == 16 * per_class
    assert one["train"]["epochs"] == 16 * base["train"]["epochs"] and sixteen["train"]["epochs"] == base["train"]["epochs"]
    assert one["arch"] == base["arch"] and one["role"] == "ablation" and "pair" not in one
    mixed, mix_size = points["sweep_mix_050"], config["ablations"]["mix"]["images_per_class"]
    assert mixed["kind"] == "clip" and mixed["mix"] == {"data": "synthetic/captions", "fraction": 0.5}
    assert mix_counts(mixed) == {"train": mix_size // 2, "synthetic/captions": mix_size // 2}
    assert mix_counts(points["sweep_mix_000"]) == {"train": mix_size}
    assert mix_counts(points["sweep_mix_100"]) == {"synthetic/captions": mix_size}
    assert ablation_prompt_sets(config) == ["templates"]  # the others are generated for the default models anyway
    meta = ablation_points(points)
    assert meta["sweep_templates_4x"] == {"sweep": "prompt_size", "setting": "templates", "size": 4,
                                          "images_per_class": 4 * per_class, "label": "templates 4x",
                                          "group": "synthetic"}
    assert ablation_outputs(meta) == ["table7.csv", "table7.md", "figures/prompt_size.png", "figures/mix.png",
                                      "report.md"]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["ablations"]["prompt_size"].update(base="resnet_sin"), "unknown model 'resnet_sin'"),
    (lambda c: c["ablations"]["prompt_size"].update(base_images_per_class=100), "lower base_images_per_class"),
    (lambda c: c["ablations"]["prompt_size"]["prompt_sets"].append("blip"), "unknown prompt strategy 'blip'"),
    (lambda c: c["ablations"]["mix"].update(real="trian"), "unknown dataset 'trian'"),
    (lambda c: c["ablations"]["mix"].update(images_per_class=10_000), "which has 160"),
    (lambda c: c["models"].update(sweep_mix_000=c["models"]["clip_syn"]), "names of ablation points"),
])
def test_bad_sweeps_fail_with_what_to_fix(change, message):
    config = copy.deepcopy(default_config())
    change(config)
    with pytest.raises(ConfigError, match=message):
        expand_ablations(config, ["classname", "hypernym_scene", "templates", "captions"])


def test_subsets_are_the_first_images_of_each_class_and_nested():
    labels = [2, 0, 1, 0, 2, 1, 0, 2, 1]
    assert first_per_class(labels, 1).tolist() == [0, 1, 2]
    assert set(first_per_class(labels, 1)) < set(first_per_class(labels, 2))
    with pytest.raises(ValueError, match="fewer than the 4"):
        first_per_class(labels, 4)


def _long(rows):
    return pd.DataFrame(rows, columns=["model", "metric", "dataset", "name", "value", "ci_low", "ci_high", "n"])


def test_table7_takes_each_column_from_the_metrics_main_eval_set():
    points = {"b": {"sweep": "prompt_size", "setting": "classname", "size": 4, "label": "classname 4x",
                    "group": "synthetic"},
              "a": {"sweep": "prompt_size", "setting": "classname", "size": 1, "label": "classname 1x",
                    "group": "synthetic"},
              "m": {"sweep": "mix", "setting": "real", "size": 0.0, "label": "real", "group": "real"}}
    long = _long([
        ("a", "calibration", "test", "accuracy", 0.5, 0.4, 0.6, 100),
        ("a", "calibration", "renditions", "accuracy", 0.2, 0.1, 0.3, 100),  # not the first eval set
        ("b", "calibration", "test", "accuracy", 0.7, 0.6, 0.8, 100),
        ("b", "ood", "ood_scenes", "entropy/auroc", 0.9, 0.8, 1.0, 100),
        ("b", "ood", "mean", "entropy/auroc", 0.6, 0.5, 0.7, 100),
        ("m", "shape_bias", "cue_conflict", "shape_bias", 0.3, 0.2, 0.4, 80),
    ])
    frame = table7(long, points, score="entropy").frame
    assert frame["model"].tolist() == ["a", "b", "m"]  # sweep, setting, size ascending
    assert frame["accuracy (%)"].tolist()[:2] == pytest.approx([50.0, 70.0])
    assert frame[f"accuracy (%){CI_LOW}"].iloc[0] == pytest.approx(40.0)
    assert frame["OOD AUROC (%)"].iloc[1] == pytest.approx(60.0)  # the mean over OOD sets
    assert frame["shape bias"].iloc[2] == pytest.approx(0.3) and math.isnan(frame["shape bias"].iloc[0])


# ---- the DAG ---------------------------------------------------------------------------------------------

DIRECTORY_OUTPUT = re.compile(r"data/[^/.]+|synthetic/.+/shard-\d+|subsets/.+/per_class-\d+")


def snakemake(workdir: Path, config: Path, *args: str) -> str:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(config), "--cores", "1", *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def planned(text: str) -> set[str]:
    return {path for line in re.findall(r"^\s*output: (.+)$", text, re.M) for path in line.split(", ")}


@pytest.fixture(scope="module")
def sweep_config() -> dict:
    """The tiny world with only the mix sweep and one metric, so the DAG stays small."""
    config = tiny_config()
    del config["ablations"]["prompt_size"]
    config["metrics"] = {"calibration": {**config["metrics"]["calibration"], "eval_sets": ["test"]}}
    return config


def test_changing_one_mixing_ratio_reruns_only_that_point(tmp_path, sweep_config):
    config = write_config(sweep_config, tmp_path / "tiny.yaml")
    # pretend every job of the target ran: create the outputs a dry run plans, then let snakemake record them
    for output in planned(snakemake(tmp_path, config, "-n", "ablations")):
        path = tmp_path / output
        if DIRECTORY_OUTPUT.fullmatch(output):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    snakemake(tmp_path, config, "--touch", "ablations")

    changed = copy.deepcopy(sweep_config)
    changed["ablations"]["mix"]["synthetic_fractions"] = [0.0, 0.75, 1.0]  # 0.5 -> 0.75
    outputs = planned(snakemake(tmp_path, write_config(changed, tmp_path / "changed.yaml"), "-n", "ablations"))
    assert {"checkpoints/clip/sweep_mix_075.pt", "checkpoints/sweep_mix_075.pt", "predictions/sweep_mix_075/test.npz",
            "results/sweep_mix_075/calibration.json"} <= outputs
    others = {path for path in outputs if "sweep_mix_075" not in path and not path.startswith("results/ablations/")}
    assert others == set()  # 0.75 of 2 images per class = 2 generated ones: the 1.0 point's subset already exists

    # the default target trains none of the points
    default = planned(snakemake(tmp_path, config, "-n"))
    assert default and not any("sweep_" in path or path.startswith("subsets/") for path in default)


def test_the_ablation_report_writes_exactly_its_declared_files(tmp_path):
    from synclone.io import write_json
    from synclone.metrics import LOGIT_METRICS
    from synclone.report.ablations import write_ablation_report
    from synclone.results import make_result

    rng = np.random.default_rng(0)
    points = {name: {"sweep": "prompt_size", "setting": setting, "size": size, "label": f"{setting} {size}x",
                     "group": "synthetic"}
              for name, setting, size in [("p1", "classname", 1), ("p4", "classname", 4), ("c1", "captions", 1)]}
    points["m0"] = {"sweep": "mix", "setting": "real", "size": 0.0, "label": "real", "group": "real"}
    params = {"eval_sets": ["test"], "bins": 5, "bootstrap": {"n": 10, "seed": 0, "confidence": 0.95}}
    paths = []
    for model in points:
        labels = rng.integers(0, 10, 60)
        logits = rng.normal(size=(60, 10)) + 3 * np.eye(10)[labels] * rng.random((60, 1))
        predictions = {"test": {"logits": logits, "labels": labels, "ids": np.arange(60).astype(str)}}
        path = tmp_path / "results" / model / "calibration.json"
        write_json(path, make_result(model, "calibration", params, LOGIT_METRICS["calibration"](predictions, params)))
        paths.append(path)
    out = tmp_path / "results" / "ablations"
    written = write_ablation_report(paths, points, out)
    assert sorted(written) == sorted(ablation_outputs(points))
    assert all(path.stat().st_size > 0 for path in written.values())
    frame = pd.read_csv(out / "table7.csv")
    assert frame["model"].tolist() == ["c1", "p1", "p4", "m0"] and frame["accuracy (%)"].notna().all()
    assert "classname 4x" in (out / "table7.md").read_text()
