"""The report library on fabricated result files: five models (real and synthetic, two counterpart pairs), every
metric, one missing (model, metric) pair, null values, and a generator's fidelity on two prompt sets."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from synclone.io import write_json
from synclone.report import ResultFileError, collect_results, load_results, report_outputs, write_report
from synclone.report.build import REPORT_METRICS, _layout
from synclone.report.outputs import REPORT_FIGURES
from synclone.report.collect import ood_headline
from synclone.report.figures import (adversarial_figure, background_bias_figure, calibration_figure,
                                     context_bias_figure, corruption_mean_figure, corruption_severity_figure,
                                     ood_figure, shape_bias_figure)
from synclone.report.models import model_styles, order_models
from synclone.report.tables import (adversarial_table, background_bias_table, calibration_table, context_bias_table,
                                    corruptions_table, ood_table, shape_bias_table, table_markdown)
from synclone.results import make_result

META = {
    "vit": {"group": "real", "label": "ViT", "pair": None, "kind": "supervised"},
    "synresnet": {"group": "synthetic", "label": "SynResNet", "pair": "resnet", "kind": "supervised"},
    "clip": {"group": "real", "label": "CLIP", "pair": "synclip", "kind": "clip"},
    "resnet": {"group": "real", "label": "ResNet", "pair": "synresnet", "kind": "supervised"},
    "synclip": {"group": "synthetic", "label": "SynCLIP", "pair": None, "kind": "clip"},
}
MODELS = list(META)
CORRUPTIONS_2D, CORRUPTIONS_3D, SEVERITIES = ["snow", "shot_noise"], ["fog_3d"], [1, 2, 3]
CLASSES = ["knife", "bear", "cat"]


def value(model: str, name: str) -> float:
    """A distinct, reproducible number in (0.05, 0.95) per (model, value name)."""
    digest = sum((i + 1) * ord(c) for i, c in enumerate(f"{model}:{name}"))
    return round(0.05 + (digest % 900) / 1000, 4)


def entry(model: str, names: list[str], n: int = 100, nulls: tuple[str, ...] = (), details: dict | None = None) -> dict:
    values = {name: None if name in nulls else value(model, name) for name in names}
    ci95 = {name: [v - 0.01, v + 0.02] for name, v in values.items() if v is not None}
    return {"n": n, "values": values, "ci95": ci95, "details": details or {}}


def fabricate_results(model: str) -> dict[str, dict]:
    """Every metric's result for ``model`` (the layout the metrics produce)."""
    corruptions = CORRUPTIONS_2D + CORRUPTIONS_3D
    results = {
        "calibration": make_result(model, "calibration", {"eval_sets": ["test", "renditions", "hard"], "bins": 15}, {
            eval_set: entry(model, ["accuracy", "ece", "adaptive_ece", "nll", "confidence"],
                            nulls=("ece",) if (model, eval_set) == ("synresnet", "hard") else (),
                            details={"bins": 15, "reliability": [{"lower": 0.0, "upper": 1.0, "count": 100,
                                                                  "accuracy": 0.5, "confidence": 0.6}]})
            for eval_set in ["hard", "renditions", "test"]}),
        # the config leaves the headline to the metric, which records it in every entry's details
        "ood": make_result(model, "ood", {"id_set": "test", "ood_sets": ["places", "inat"]}, {
            ood_set: entry(model, [f"{score}/{m}" for score in ("msp", "entropy", "energy") for m in ("auroc", "fpr95")],
                           details={"headline": "entropy", "convention": "ID positive"})
            for ood_set in ["inat", "mean", "places"]}),
        "adversarial": make_result(model, "adversarial", {"eval_set": "test", "eps": 1 / 255}, {
            "test": entry(model, ["clean_accuracy", "fgsm_accuracy", "pgd_accuracy", "fgsm_ratio", "pgd_ratio"])}),
        "corruptions": make_result(model, "corruptions", {
            "eval_set": "test", "corruptions_2d": CORRUPTIONS_2D, "corruptions_3d": CORRUPTIONS_3D,
            "severities": SEVERITIES}, {"test": entry(model, [
                "clean_accuracy", *(f"accuracy/{c}/{s}" for c in corruptions for s in SEVERITIES),
                *(f"mean/{c}" for c in corruptions), "mean_accuracy_2d", "mean_accuracy_3d", "mean_accuracy",
                "r_cc_2d", "r_cc_3d", "r_cc"])}),
        "context_bias": make_result(model, "context_bias", {"eval_set": "focus"}, {
            "focus": entry(model, ["accuracy", *(f"accuracy_p{k}" for k in range(4)), *(f"cb_{k}" for k in range(1, 4))],
                           details={"counts": {f"p{k}": 1000 - 300 * k for k in range(4)}})}),
        "shape_bias": make_result(model, "shape_bias", {"eval_set": "cue_conflict"}, {
            "cue_conflict": entry(model, ["shape_bias", "shape_fraction", "texture_fraction"], details={
                "shape_bias_by_shape_class": {c: value(model, c) for c in CLASSES},
                "counts": {"images": 100, "cue_conflict": 90}})}),
        "background_bias": make_result(model, "background_bias", {"original": "in9", "paired": False}, {
            "summary": entry(model, ["original_accuracy", "mixed_same_accuracy", "mixed_rand_accuracy", "bg_gap"])}),
    }
    if model == "synclip":
        del results["shape_bias"]  # the missing (model, metric) pair
    return results


@pytest.fixture(scope="module")
def result_paths(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fabricated")
    paths = []
    for model in MODELS:
        for metric, result in fabricate_results(model).items():
            paths.append(tmp_path / "results" / model / f"{metric}.json")
            write_json(paths[-1], result)
    for prompt_set in ["templates", "classname"]:
        paths.append(tmp_path / "results" / "generator" / f"{prompt_set}.json")
        write_json(paths[-1], make_result("toygen", "fidelity", {"prompt_set": prompt_set},
                                          {prompt_set: entry("toygen", ["fidelity"], n=50)}))
    return paths


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def report(result_paths, report_dir):
    return write_report(result_paths, META, report_dir)


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


# ---- collecting --------------------------------------------------------------------------------------------


def test_collect_results_long_format(result_paths):
    long = collect_results(result_paths)
    assert list(long.columns) == ["model", "metric", "dataset", "name", "value", "ci_low", "ci_high", "n"]
    row = long[(long.model == "resnet") & (long.metric == "calibration") & (long.dataset == "test")
               & (long.name == "accuracy")].iloc[0]
    expected = value("resnet", "accuracy")
    assert (row.value, row.ci_low, row.ci_high, row.n) == pytest.approx((expected, expected - 0.01, expected + 0.02, 100))
    null = long[(long.model == "synresnet") & (long.dataset == "hard") & (long.name == "ece")].iloc[0]
    assert math.isnan(null.value) and math.isnan(null.ci_low)
    per_class = long[(long.model == "vit") & (long.name == "details/shape_bias_by_shape_class/bear")]
    assert per_class.value.tolist() == [value("vit", "bear")]
    assert long[(long.model == "vit") & (long.name == "details/counts/p1")].value.tolist() == [700]
    assert not long.name.str.contains("reliability|headline").any()  # lists and strings are not flattened
    # display order: as the configs list them (params), not the files' sorted keys; the OOD mean last
    assert list(dict.fromkeys(long[long.metric == "calibration"].dataset)) == ["test", "renditions", "hard"]
    assert list(dict.fromkeys(long[long.metric == "ood"].dataset)) == ["places", "inat", "mean"]


def test_bad_json_is_named(result_paths, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, ')
    with pytest.raises(ResultFileError, match=str(broken)):
        collect_results([*result_paths, broken])


def test_schema_violation_is_named(result_paths, tmp_path):
    invalid = tmp_path / "invalid.json"
    result = fabricate_results("vit")["adversarial"]
    result["datasets"]["test"]["values"]["fgsm_accuracy"] = "high"
    invalid.write_text(json.dumps(result))
    with pytest.raises(ResultFileError, match=rf"{invalid}.*datasets/test/values/fgsm_accuracy"):
        write_report([invalid], META, tmp_path / "out")


def test_same_result_in_two_files_is_an_error(result_paths, tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_text(result_paths[0].read_text())
    with pytest.raises(ResultFileError, match=f"{copy}.*also reported by {result_paths[0]}"):
        collect_results([*result_paths, copy])


def test_ood_headline_must_agree(result_paths):
    results = load_results(result_paths)
    assert ood_headline(results) == "entropy"
    ood = [result for result in results if result["metric"] == "ood"]
    ood[0]["params"]["headline"] = "msp"  # the config's choice wins over the recorded default
    with pytest.raises(ResultFileError, match="disagree"):
        ood_headline(results)
    ood[1]["datasets"]["mean"]["details"]["headline"] = "energy"
    with pytest.raises(ResultFileError, match=f"name no headline score.*{ood[1]['model']}"):
        ood_headline(results)


# ---- model order -------------------------------------------------------------------------------------------


def test_models_ordered_by_kind_with_counterparts_side_by_side():
    assert order_models(MODELS, META) == ["vit", "resnet", "synresnet", "clip", "synclip"]
    assert order_models(["toygen", "synclip", "resnet"], META) == ["resnet", "synclip", "toygen"]


def test_styles_tell_real_from_synthetic():
    styles = model_styles(["toygen"], META)
    for model in MODELS:
        red, _, blue = styles[model].colour
        assert (blue > red) == (META[model]["group"] == "real"), model
    assert styles["resnet"].linestyle != styles["synresnet"].linestyle
    assert len({style.marker for style in styles.values()}) == len(styles)  # one marker per model
    assert styles["toygen"].group == "other"


def test_library_does_not_import_torch():
    code = "import sys, synclone.report; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---- files -------------------------------------------------------------------------------------------------


def test_writes_exactly_the_declared_outputs(report, report_dir):
    assert list(report) == report_outputs(REPORT_METRICS)
    on_disk = sorted(str(p.relative_to(report_dir)) for p in report_dir.rglob("*") if p.is_file())
    assert on_disk == sorted(report)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="no report layout for metric.*lpips"):
        report_outputs(["calibration", "lpips"])


def test_calibration_table_numbers(report):
    table = read_csv(report["tables/calibration.csv"])
    assert list(table.columns[:8]) == ["model", "label", "group", "kind", "test accuracy (%)", "test ECE",
                                       "renditions accuracy (%)", "renditions ECE"]
    assert table.model.tolist() == ["vit", "resnet", "synresnet", "clip", "synclip"]
    resnet = table.set_index("model").loc["resnet"]
    accuracy = value("resnet", "accuracy")
    assert resnet["test accuracy (%)"] == pytest.approx(100 * accuracy)
    assert resnet["test accuracy (%) 95% CI low"] == pytest.approx(100 * (accuracy - 0.01))
    assert resnet["hard ECE"] == pytest.approx(value("resnet", "ece"))
    assert (resnet.group, resnet.label) == ("real", "ResNet")
    assert math.isnan(table.set_index("model").loc["synresnet", "hard ECE"])  # null stays empty, not 0


def test_tables_follow_the_paper_columns(report):
    columns = {metric: list(read_csv(report[f"tables/{metric}.csv"]).columns) for metric in REPORT_METRICS}
    assert columns["ood"][4:8] == ["places AUROC (%)", "places FPR95 (%)", "inat AUROC (%)", "inat FPR95 (%)"]
    assert columns["ood"][8:10] == ["mean AUROC (%)", "mean FPR95 (%)"]
    assert columns["adversarial"][4:9] == ["clean accuracy (%)", "FGSM accuracy (%)", "FGSM/clean",
                                           "PGD accuracy (%)", "PGD/clean"]
    assert columns["corruptions"][4:14] == [
        "clean accuracy (%)", "snow (%)", "shot_noise (%)", "fog_3d (%)", "2D mean (%)", "3D mean (%)",
        "mean (%)", "R_cc 2D", "R_cc 3D", "Avg. R_cc"]
    assert columns["background_bias"][4:8] == ["original accuracy (%)", "mixed-same accuracy (%)",
                                               "mixed-rand accuracy (%)", "BG-Gap (pp)"]
    assert columns["fidelity"][4:6] == ["classname fidelity (%)", "templates fidelity (%)"]


def test_table_cells_match_the_inputs(report):
    ood = read_csv(report["tables/ood.csv"]).set_index("model")
    assert ood.loc["clip", "inat FPR95 (%)"] == pytest.approx(100 * value("clip", "entropy/fpr95"))
    adversarial = read_csv(report["tables/adversarial.csv"]).set_index("model")
    assert adversarial.loc["synclip", "PGD/clean"] == pytest.approx(value("synclip", "pgd_ratio"))
    corruptions = read_csv(report["tables/corruptions.csv"]).set_index("model")
    assert corruptions.loc["vit", "fog_3d (%)"] == pytest.approx(100 * value("vit", "mean/fog_3d"))
    background = read_csv(report["tables/background_bias.csv"]).set_index("model")
    assert background.loc["resnet", "BG-Gap (pp)"] == pytest.approx(100 * value("resnet", "bg_gap"))
    fidelity = read_csv(report["tables/fidelity.csv"])
    assert fidelity.model.tolist() == ["toygen"] and fidelity.group.tolist() == ["other"]
    assert fidelity.loc[0, "classname fidelity (%)"] == pytest.approx(100 * value("toygen", "fidelity"))


def test_context_bias_table(result_paths):
    table = context_bias_table(collect_results(result_paths), META).frame.set_index("model")
    assert table.loc["resnet", "P2 images"] == 400
    assert table.loc["resnet", "P0 accuracy (%)"] == pytest.approx(100 * value("resnet", "accuracy_p0"))
    assert table.loc["resnet", "CB_3 (%)"] == pytest.approx(100 * value("resnet", "cb_3"))


def test_markdown_tables_are_well_formed(report):
    for metric in REPORT_METRICS:
        text = report[f"tables/{metric}.md"].read_text()
        rows = [line for line in text.splitlines() if line.startswith("|")]
        assert text.startswith("## ") and rows, metric
        assert all(line.endswith(" |") for line in rows)
        assert len({line.count(" | ") for line in rows}) == 1, metric
        assert set(rows[1].replace("|", "").split()) == {"---"}
    calibration = report["tables/calibration.md"].read_text()
    accuracy = value("resnet", "accuracy")
    resnet_row = next(line for line in calibration.splitlines() if line.startswith("| ResNet |"))
    assert f"{100 * accuracy:.2f} [{100 * (accuracy - 0.01):.2f}, {100 * (accuracy + 0.02):.2f}]" in resnet_row
    synresnet_row = next(line for line in calibration.splitlines() if line.startswith("| SynResNet |"))
    assert synresnet_row.endswith("| n/a |")  # the null ECE on the last eval set


def test_missing_pairs_are_reported(report):
    missing = read_csv(report["missing.csv"])
    assert missing.to_dict("records") == [{"model": "synclip", "metric": "shape_bias"}]
    assert "No results for: SynCLIP." in report["tables/shape_bias.md"].read_text()
    assert "- SynCLIP (synthetic): shape_bias" in report["report.md"].read_text()
    shape = read_csv(report["tables/shape_bias.csv"])
    assert "synclip" not in shape.model.tolist() and len(shape) == 4


def test_report_markdown_links_every_figure(report):
    text = report["report.md"].read_text()
    for name in report:
        if name.startswith("figures/"):
            assert f"]({name})" in text


def test_long_csv_holds_every_value(report, result_paths):
    long = read_csv(report["results_long.csv"])
    assert len(long) == len(collect_results(result_paths))
    assert set(long.metric) == {*REPORT_METRICS}


def test_pngs_are_images(report):
    for name, path in report.items():
        if name.endswith(".png"):
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
            assert b"Software" not in data and b"matplotlib" not in data


def test_output_is_deterministic(report, result_paths, tmp_path):
    again = write_report(list(reversed(result_paths)), META, tmp_path)  # file order must not matter either
    for name in report:
        assert report[name].read_bytes() == again[name].read_bytes(), name


def test_metric_without_results_still_gets_its_files(result_paths, tmp_path):
    only_calibration = [p for p in result_paths if p.name == "calibration.json"]
    report = write_report(only_calibration, META, tmp_path / "partial", metrics=["calibration", "adversarial"])
    assert list(report) == report_outputs(["calibration", "adversarial"])
    header = report["tables/adversarial.csv"].read_text()
    assert header.splitlines() == [header.splitlines()[0]] and header.startswith("model,label,group,kind,clean")
    assert "No results." in report["tables/adversarial.md"].read_text()
    placeholder, figure = (report[f"figures/{name}.png"].read_bytes() for name in ("adversarial", "calibration"))
    assert placeholder.startswith(b"\x89PNG") and len(placeholder) < len(figure)
    missing = read_csv(report["missing.csv"])
    assert sorted(missing.model) == sorted(MODELS) and set(missing.metric) == {"adversarial"}


def test_figures_skip_metrics_without_results(result_paths):
    long = collect_results(result_paths)
    assert calibration_figure(long[long.metric != "calibration"], META) is None
    assert shape_bias_figure(long[long.metric != "shape_bias"], META) is None
    assert calibration_figure(long, META) is not None


def test_empty_table_markdown_says_no_results():
    table = calibration_table(collect_results([]), META)
    assert table.frame.empty and list(table.frame.columns) == ["model", "label", "group", "kind"]
    text = table_markdown(table)
    assert "No results." in text and "No results for: ViT, ResNet, SynResNet, CLIP, SynCLIP." in text
    assert pd.read_csv(io.StringIO(table.frame.to_csv(index=False))).empty


# ---- the contract with synclone.metrics ------------------------------------------------------------------


def metric_results(model: str, seed: int) -> list[dict]:
    """Every metric evaluated by synclone.metrics on random predictions (the names the report must read)."""
    from synclone.metrics import LOGIT_METRICS, PREDICTION_NAMES, evaluate_adversarial

    rng = np.random.default_rng(seed)
    n, classes = 80, 4
    labels = rng.integers(0, classes, n)
    bootstrap = {"n": 20, "seed": seed}
    params = {
        "calibration": {"eval_sets": ["test", "hard"], "bins": 5},
        "ood": {"id_set": "test", "ood_sets": ["far", "near"]},
        "corruptions": {"eval_set": "test", "corruptions_2d": ["noise"], "corruptions_3d": ["fog_3d"],
                        "severities": [1, 2]},
        "context_bias": {"eval_set": "focus"},
        "shape_bias": {"eval_set": "cue"},
        "background_bias": {"original": "in9", "mixed_same": "in9_ms", "mixed_rand": "in9_mr"},
    }
    results = []
    for metric, metric_params in params.items():
        metric_params = {**metric_params, "bootstrap": bootstrap}
        predictions = {name: {"logits": rng.normal(size=(n, classes)) + 2 * np.eye(classes)[labels],
                              "labels": labels, "ids": np.arange(n), "uncommon_count": rng.integers(0, 4, n),
                              "texture_label": rng.integers(0, classes, n)}
                       for name in PREDICTION_NAMES[metric](metric_params)}
        results.append(make_result(model, metric, metric_params, LOGIT_METRICS[metric](predictions, metric_params)))
    adversarial = {"eval_set": "test", "bootstrap": bootstrap}
    correct = {attack: rng.random(n) < p for attack, p in [("clean", 0.8), ("fgsm", 0.4), ("pgd", 0.2)]}
    results.append(make_result(model, "adversarial", adversarial, evaluate_adversarial(correct, adversarial)))
    return results


def test_reads_what_the_metrics_write(tmp_path):
    paths = []
    for seed, model in enumerate(["resnet", "synresnet"]):
        for result in metric_results(model, seed):
            paths.append(tmp_path / model / f"{result['metric']}.json")
            write_json(paths[-1], result)
    results = load_results(paths)
    long = collect_results(paths)
    score = ood_headline(results)
    assert score == "entropy"
    tables = [calibration_table(long, META), ood_table(long, META, score), adversarial_table(long, META),
              corruptions_table(long, META), context_bias_table(long, META), shape_bias_table(long, META),
              background_bias_table(long, META)]
    for table in tables:
        assert table.frame.model.tolist() == ["resnet", "synresnet"], table.title
        for column in table.digits:  # every column the table promises is filled by what the metrics write
            assert table.frame[column].notna().any(), (table.title, column)
    assert "P3 images" in tables[4].digits and "3D mean (%)" in tables[3].digits
    figures = [calibration_figure(long, META), ood_figure(long, META, score), adversarial_figure(long, META),
               corruption_severity_figure(long, META), corruption_mean_figure(long, META),
               context_bias_figure(long, META), shape_bias_figure(long, META), background_bias_figure(long, META)]
    assert all(figure is not None for figure in figures)
    per_class = long[long.name.str.startswith("details/shape_bias_by_shape_class/")]
    assert per_class.model.nunique() == 2  # the dots of the shape-bias figure


def test_output_names_match_the_builders():
    # the workflow declares outputs from synclone.report.outputs (no plotting imports); build must agree with it
    assert {metric: tuple(figures) for metric, (_, figures) in _layout(None).items()} == REPORT_FIGURES


def test_output_names_need_no_plotting_stack():
    code = ("import sys; from synclone.registries import report_outputs; report_outputs(['calibration']); "
            "print(sorted(m for m in ('matplotlib', 'seaborn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
