"""Dataset acquisition on tiny archives laid out like the real ones: download -> checksum -> extract -> layout
check -> metadata.csv -> read back with the real label maps."""

import contextlib
import hashlib
import http.server
import importlib.util
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from synclone.acquire import (
    dataset_names,
    downloads,
    fetch_archive,
    imageset_dirs,
    label_map_spec,
    paper_dataset,
    prepare_dataset,
)
from synclone.acquire.archives import ArchiveError, extract_archive
from synclone.acquire.downloads import ChecksumError, DownloadError, download
from synclone.acquire.layouts import LAYOUTS, LayoutError, cue_conflict_classes, devkit_val_wnids
from synclone.acquire.registry import label_classes, label_data
from synclone.imageset import read_imageset
from synclone.labelmaps import build_label_map
from tests.fixtures.paper_archives import (
    class_folders,
    corruption_tree,
    devkit_members,
    focus_members,
    image_bytes,
    write_archive,
)

WNIDS = label_classes("imagenet_1k")


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def one_hot(index: int, num_logits: int = 1000) -> np.ndarray:
    logits = np.zeros((1, num_logits))
    logits[0, index] = 10.0
    return logits


def fetch_and_prepare(tmp_path: Path, name: str, members: dict, **overrides) -> dict[str, Path]:
    """The real pipeline on a fixture archive served from a file:// URL."""
    spec = paper_dataset(name)
    served = write_archive(tmp_path / "served" / f"{name}.{spec['format']}", members, spec["format"])
    spec.update(url=served.as_uri(), md5=md5_of(served), **overrides)
    archive = fetch_archive(spec, tmp_path / "archives" / served.name)
    assert md5_of(archive) == spec["md5"]
    return prepare_dataset(spec, archive, tmp_path / "data" / name)


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders (``.name.*``) a failed step must not leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


# ---- one test per dataset --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, root, examples", [
    ("imagenet_r", "imagenet-r", {"n01443537": 0, "n07753592": 191}),  # goldfish (1k index 1), banana (954)
    ("imagenet_a", "imagenet-a", {"n07753592": 188}),
])
def test_imagenet_r_and_a_labels_are_positions_in_the_200_class_list(tmp_path, name, root, examples):
    classes = label_classes(paper_dataset(name)["label_map"])
    members = class_folders(root, classes)
    members[f"{root}/README.txt"] = b"the dataset's own readme"
    members[f"{root}/{classes[1]}/0.000116_digital clock _ digital clock_0.865740.jpg"] = image_bytes(3)
    sets = fetch_and_prepare(tmp_path, name, members, images=201)

    assert sets == {name: tmp_path / "data" / name}
    data = read_imageset(sets[name])
    assert len(data) == 201
    metadata = data.metadata.set_index("file")
    for wnid, label in examples.items():
        assert metadata.loc[f"{root}/{wnid}/img_0.jpg", "label"] == label
    assert f"{root}/{classes[1]}/0.000116_digital clock _ digital clock_0.865740.jpg" in set(data.ids)
    # label k means ImageNet logit indices[k]: the wnid's own 1k index
    label_map = build_label_map(label_map_spec(f"{name}_200"))
    assert all(label_map.indices[label] == WNIDS.index(wnid)
               for label, wnid in zip(data.labels, data.metadata["wnid"]))
    assert label_map.decisions(one_hot(WNIDS.index("n07753592")))[0] == examples["n07753592"]


@pytest.mark.parametrize("name, corruptions", [
    ("imagenet_c_noise", ["gaussian_noise", "shot_noise", "impulse_noise"]),
    ("imagenet_3dcc_near_focus", ["near_focus"]),
])
def test_corruptions_give_one_set_per_corruption_and_severity(tmp_path, name, corruptions):
    wnids = [WNIDS[0], WNIDS[999]]
    sets = fetch_and_prepare(tmp_path, name, corruption_tree(corruptions, wnids), classes=2, images=2,
                             images_per_class=1)

    assert set(sets) == {f"{c}-{s}" for c in corruptions for s in range(1, 6)}
    corruption = corruptions[-1]
    data = read_imageset(sets[f"{corruption}-3"])
    assert sets[f"{corruption}-3"] == tmp_path / "data" / name / corruption / "3"
    assert list(data.labels) == [0, 999]
    assert list(data.ids) == [f"{WNIDS[0]}/ILSVRC2012_val_00000001.JPEG", f"{WNIDS[999]}/ILSVRC2012_val_00000002.JPEG"]
    assert set(data.metadata["corruption"]) == {corruption} and set(data.metadata["severity"]) == {3}
    assert set(imageset_dirs(paper_dataset(name))) == set(sets)


def test_in9_variants_with_spaces_in_folder_names_and_the_top1_map(tmp_path):
    folders = label_classes("in9")
    assert "02_wheeled vehicle" in folders and "06_musical instrument" in folders
    members = {}
    for variant in ("original", "mixed_same", "mixed_rand", "only_fg"):  # the tarball holds more variants
        members.update(class_folders(f"bg_challenge/{variant}/val", folders, suffix=".JPEG"))
    members["bg_challenge/fg_mask/val/00_dog/img_0.npy"] = b"\x93NUMPY"
    sets = fetch_and_prepare(tmp_path, "in9", members, images=9, images_per_class=1)

    assert set(sets) == {"original", "mixed_same", "mixed_rand"}
    assert sets["mixed_rand"] == tmp_path / "data" / "in9" / "bg_challenge" / "mixed_rand" / "val"
    data = read_imageset(sets["mixed_same"])
    vehicle = data.metadata.set_index("file").loc["02_wheeled vehicle/img_0.JPEG"]
    assert vehicle["label"] == 2 and vehicle["variant"] == "mixed_same"
    label_map = build_label_map(label_map_spec("in9"))
    assert label_map.decisions(one_hot(407))[0] == 2  # 407 ambulance is a wheeled vehicle
    assert list(data.labels) == list(range(9))


def test_cue_conflict_shape_from_folder_and_texture_from_file_name(tmp_path):
    categories = label_classes("cue_conflict_16")
    members = {f"cue-conflict/{c}/{c}1-{categories[(k + 1) % 16]}1.png": image_bytes(k, "PNG")
               for k, c in enumerate(categories)}
    members["cue-conflict/cat/cat3-elephant2.png"] = image_bytes(1, "PNG")
    sets = fetch_and_prepare(tmp_path, "cue_conflict", members, images=17)

    data = read_imageset(sets["cue_conflict"])
    row = data.metadata.set_index("file").loc["cue-conflict/cat/cat3-elephant2.png"]
    assert (row["shape"], row["texture"]) == ("cat", "elephant")
    assert row["label"] == categories.index("cat") and row["texture_label"] == categories.index("elephant")
    label_map = build_label_map(label_map_spec("cue_conflict_16"))
    assert label_map.decisions(one_hot(385))[0] == row["texture_label"]  # 385: an elephant index
    assert cue_conflict_classes("airplane10-bicycle3.png") == ("airplane", "bicycle")


FOCUS_ROWS = [
    # file_name, category, time, weather, locations, humans -> expected uncommon count
    ("/car-night/1.jpg", "car", "night", "cloudy", "street", "no"),         # time -> 1
    ("/frog-night/2.jpg", "frog", "night", "sunny", "grass", "no"),         # frog has no uncommon time -> 0
    ("/cat-fog/3.jpg", "cat", "day", "foggy", "grass, water", "yes"),       # weather + one of two locations -> 2
    ("/deer-snow/4.jpg", "deer", "night", "snowing", "forest, snow", "no"),  # all three -> 3
    ("/dog-grass/5.jpg", "dog", "none", "none", "none", "no"),              # -> 0
    ("/other/6.jpg", "person", "day", "sunny", "street", "no"),             # not one of the 10: the query drops it
]


def test_focus_labels_and_uncommon_counts_follow_the_authors_code(tmp_path):
    sets = fetch_and_prepare(tmp_path, "focus", focus_members(FOCUS_ROWS), images=5)

    data = read_imageset(sets["focus"])
    assert list(data.ids) == [f"focus{row[0]}" for row in FOCUS_ROWS[:5]]  # the table's order
    assert list(data.labels) == [1, 8, 4, 7, 5]
    assert list(data.metadata["uncommon_count"]) == [1, 0, 2, 3, 0]
    assert list(data.metadata["uncommon_location"]) == [0, 0, 1, 1, 0]
    assert list(data.metadata["locations"]) == ["street", "grass", "grass, water", "forest, snow", "none"]
    label_map = build_label_map(label_map_spec("focus"))
    assert label_map.decisions(one_hot(436))[0] == 1  # 436 is a car index


def test_focus_unknown_attribute_value_names_the_database(tmp_path):
    rows = [("/car/1.jpg", "car", "dusk", "sunny", "street", "no")]
    with pytest.raises(LayoutError, match=r"annotations\.db: FOCUS time values \['dusk'\]"):
        fetch_and_prepare(tmp_path, "focus", focus_members(rows), images=1)


@pytest.mark.parametrize("name", ["ood_inaturalist", "ood_sun", "ood_places"])
def test_ood_sets_are_one_folder_of_images_labelled_minus_one(tmp_path, name):
    root = paper_dataset(name)["root"]
    members = {f"{root}/{k:05d}.jpg": image_bytes(k) for k in range(3)}
    sets = fetch_and_prepare(tmp_path, name, members, images=3)

    data = read_imageset(sets[name])
    assert list(data.labels) == [-1, -1, -1]
    assert data.ids[0] == f"{root}/00000.jpg"


def val_devkit_fixture(folder: Path, ground_truth: list[int]) -> tuple[Path, Path]:
    """ILSVRC2012_img_val.tar (flat) and the devkit, with the real ID facts: ID 1 = kit fox, ID 490 = sea snake."""
    order = list(np.random.default_rng(0).permutation(WNIDS))
    for ilsvrc_id, wnid in ((1, "n02119789"), (490, "n01751748")):
        order.remove(wnid)
        order.insert(ilsvrc_id - 1, wnid)
    devkit = write_archive(folder / "ILSVRC2012_devkit_t12.tar.gz",
                           devkit_members(dict(enumerate(order, start=1)), ground_truth), "tar.gz")
    images = {f"ILSVRC2012_val_{n:08d}.JPEG": image_bytes(n) for n in range(1, len(ground_truth) + 1)}
    return write_archive(folder / "ILSVRC2012_img_val.tar", images, "tar"), devkit


def test_imagenet_val_tar_is_sorted_into_wnid_folders_by_the_devkit(tmp_path):
    val_tar, devkit = val_devkit_fixture(tmp_path / "user", [490, 1, 490])
    spec = paper_dataset("imagenet_val")
    with pytest.raises(ChecksumError, match=f"ILSVRC2012_img_val.tar: its md5 is {md5_of(val_tar)}, expected "
                                            f"{spec['files']['images']['md5']}"):
        prepare_dataset(spec, val_tar, tmp_path / "data" / "imagenet_val")
    spec["files"]["images"]["md5"], spec["files"]["devkit"]["md5"] = md5_of(val_tar), md5_of(devkit)
    sets = prepare_dataset({**spec, "classes": 2, "images": 3, "images_per_class": None}, val_tar,
                           tmp_path / "data" / "imagenet_val")

    data = read_imageset(sets["imagenet_val"])
    assert list(data.ids) == ["images/n01751748/ILSVRC2012_val_00000001.JPEG",
                              "images/n01751748/ILSVRC2012_val_00000003.JPEG",
                              "images/n02119789/ILSVRC2012_val_00000002.JPEG"]
    # sea snake and kit fox are classes 65 and 278 of the sorted-wnid order, not their ILSVRC2012_IDs 490 and 1
    assert list(data.labels) == [65, 65, 278]


def test_imagenet_val_sorted_folder_is_linked_not_copied(tmp_path):
    user = tmp_path / "user" / "val"
    for wnid in (WNIDS[0], WNIDS[1]):
        (user / wnid).mkdir(parents=True)
        (user / wnid / "ILSVRC2012_val_00000001.JPEG").write_bytes(image_bytes())
    spec = {**paper_dataset("imagenet_val"), "classes": 2, "images": 2, "images_per_class": 1}
    sets = prepare_dataset(spec, user, tmp_path / "data" / "imagenet_val")

    assert (sets["imagenet_val"] / "images").is_symlink()
    data = read_imageset(sets["imagenet_val"])
    assert list(data.labels) == [0, 1] and data.ids[1] == f"images/{WNIDS[1]}/ILSVRC2012_val_00000001.JPEG"


def test_imagenet_val_without_devkit_says_what_to_provide(tmp_path):
    val_tar, devkit = val_devkit_fixture(tmp_path / "user", [1])
    devkit.unlink()
    with pytest.raises(LayoutError, match="ILSVRC2012_devkit_t12.tar.gz beside it"):
        prepare_dataset(paper_dataset("imagenet_val"), val_tar, tmp_path / "data" / "imagenet_val")


def test_devkit_leaves_must_cover_the_1000_classes():
    with pytest.raises(ValueError, match="IDs 1..3"):
        devkit_val_wnids([1, 2, 1001], ["b", "a", "x"], [0, 0, 2], [1], ["a", "b", "c"])
    assert devkit_val_wnids([2, 1, 1001], ["a", "b", "x"], [0, 0, 2], [1, 2, 1], ["a", "b"]) == ["b", "a", "b"]


# ---- download --------------------------------------------------------------------------------------------------


def test_download_verifies_md5_and_sha256_and_leaves_no_partial_file(tmp_path):
    source = tmp_path / "archive.bin"
    source.write_bytes(b"dataset bytes" * 1000)
    dest = download(source.as_uri(), tmp_path / "out" / "archive.bin", md5=md5_of(source),
                    sha256=hashlib.sha256(source.read_bytes()).hexdigest(), wait=0)
    assert dest.read_bytes() == source.read_bytes()
    assert leftovers(dest.parent) == []


def test_wrong_checksum_is_retried_then_fails_naming_file_and_both_checksums(tmp_path, monkeypatch):
    source = tmp_path / "imagenet-r.tar"
    source.write_bytes(b"not the published archive")
    attempts = []
    transfer = downloads._transfer
    monkeypatch.setattr(downloads, "_transfer", lambda *args: attempts.append(1) or transfer(*args))
    expected = "a61312130a589d0ca1a8fca1f2bd3337"
    with pytest.raises(DownloadError) as error:
        download(source.as_uri(), tmp_path / "out" / "imagenet-r.tar", md5=expected, retries=3, wait=0)

    message = str(error.value)
    assert f"the downloaded imagenet-r.tar: its md5 is {md5_of(source)}, expected {expected}" in message
    assert "update its md5" in message and "by hand" in message
    assert len(attempts) == 3
    assert not (tmp_path / "out" / "imagenet-r.tar").exists() and leftovers(tmp_path / "out") == []


@contextlib.contextmanager
def serve(payload: bytes, behaviour: str):
    """A local HTTP server: ``truncate_once`` cuts the first answer short and honours ranges afterwards,
    ``always_truncate`` always cuts it short and ignores ranges, ``missing`` answers 404. Yields (url, ranges asked)."""
    ranges = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked = self.headers.get("Range")
            ranges.append(asked)
            if behaviour == "missing":
                self.send_error(404)
                return
            if asked and behaviour == "truncate_once":
                start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Length", str(len(payload) - start))
                self.end_headers()
                self.wfile.write(payload[start:])
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = behaviour == "always_truncate" or len(ranges) == 1
            self.wfile.write(payload[: len(payload) // 2] if cut else payload)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/archive.tar", ranges
    finally:
        server.shutdown()
        server.server_close()


def test_a_transfer_that_breaks_off_is_resumed_with_a_range_request(tmp_path):
    payload = bytes(range(256)) * 400
    with serve(payload, "truncate_once") as (url, ranges):
        dest = download(url, tmp_path / "archive.tar", md5=hashlib.md5(payload).hexdigest(), wait=0)
    assert dest.read_bytes() == payload
    assert ranges == [None, f"bytes={len(payload) // 2}-"]


def test_a_transfer_that_always_breaks_off_fails_clearly_and_removes_the_partial_file(tmp_path):
    with serve(b"x" * 10000, "always_truncate") as (url, ranges), pytest.raises(DownloadError, match="broke off"):
        download(url, tmp_path / "archive.tar", retries=2, wait=0)
    assert len(ranges) == 2 and list(tmp_path.iterdir()) == []


def test_a_missing_file_fails_at_once(tmp_path):
    with serve(b"", "missing") as (url, ranges), pytest.raises(DownloadError, match="HTTP 404.*fix the url"):
        download(url, tmp_path / "archive.tar", wait=0)
    assert len(ranges) == 1


def test_fetch_reuses_an_archive_whose_md5_matches_and_refuses_user_path_datasets(tmp_path):
    archive = tmp_path / "imagenet-r.tar"
    archive.write_bytes(b"fetched by hand")
    spec = {**paper_dataset("imagenet_r"), "url": (tmp_path / "nowhere").as_uri(), "md5": md5_of(archive)}
    assert fetch_archive(spec, archive) == archive
    with pytest.raises(ValueError, match="no public download: get ILSVRC2012_img_val.tar and "
                                         "ILSVRC2012_devkit_t12.tar.gz"):
        fetch_archive(paper_dataset("imagenet_val"), tmp_path / "val.tar")


# ---- archives --------------------------------------------------------------------------------------------------


def test_a_truncated_archive_fails_naming_it_and_leaves_nothing(tmp_path):
    classes = label_classes("imagenet_r_200")
    archive = write_archive(tmp_path / "imagenet-r.tar.gz", class_folders("imagenet-r", classes), "tar.gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    spec = {**paper_dataset("imagenet_r"), "format": "tar.gz"}
    with pytest.raises(ArchiveError, match=rf"{re.escape(str(archive))} is not a readable tar.gz archive: it is "
                                           r"truncated"):
        prepare_dataset(spec, archive, tmp_path / "data" / "imagenet_r")
    assert not (tmp_path / "data" / "imagenet_r").exists() and leftovers(tmp_path / "data") == []


def test_a_truncated_zip_fails_naming_it(tmp_path):
    archive = write_archive(tmp_path / "focus.zip", focus_members(FOCUS_ROWS), "zip")
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(ArchiveError, match="focus.zip is not a readable zip archive"):
        prepare_dataset(paper_dataset("focus"), archive, tmp_path / "data" / "focus")


def unsafe_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("imagenet-r/n01443537/ok.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"jpg"))
        if kind == "symlink":
            info = tarfile.TarInfo("imagenet-r/escape")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc"
            tar.addfile(info)
        else:
            info = tarfile.TarInfo({"parent": "../evil.txt", "absolute": str(path.parent / "evil.txt")}[kind])
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    return path


@pytest.mark.parametrize("kind, reason", [
    ("parent", "outside the extraction folder"),
    ("absolute", "outside the extraction folder"),
    ("symlink", r"a link or special file \(dataset archives hold only files and folders\)"),
])
def test_path_traversal_and_links_in_a_tar_are_refused(tmp_path, kind, reason):
    archive = unsafe_tar(tmp_path / "evil.tar", kind)
    with pytest.raises(ArchiveError, match=f"holds .* {reason}: refusing to extract it"):
        extract_archive(archive, tmp_path / "out" / "extracted", "tar")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert not (tmp_path / "out" / "extracted").exists() and leftovers(tmp_path / "out") == []


def test_path_traversal_in_a_zip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("focus/ok.jpg", b"jpg")
        zip_file.writestr("../evil.txt", b"evil")
    with pytest.raises(ArchiveError, match="'../evil.txt', a path that leads outside"):
        extract_archive(archive, tmp_path / "out" / "extracted", "zip")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "extracted").exists()


# ---- wrong layouts ---------------------------------------------------------------------------------------------


def _drop_class(members, classes):
    return {name: data for name, data in members.items() if f"/{classes[7]}/" not in name}


def _empty_class(members, classes):
    kept = {name: data for name, data in members.items() if f"/{classes[7]}/" not in name}
    return {**kept, f"imagenet-r/{classes[7]}/": b""}


LAYOUT_ERRORS = {
    "missing class folder": (_drop_class, {"images": 199},
                             r"imagenet-r holds 199 class folders, expected 200; missing: '{missing}'"),
    "empty class folder": (_empty_class, {"images": 199}, r"imagenet-r/{missing} is empty: expected image files"),
    "unknown file": (lambda m, c: {**m, "imagenet-r/notes.txt": b"?"}, {"images": 200},
                     r"imagenet-r holds files beside its class folders: 'notes.txt'"),
    "unknown class folder": (lambda m, c: {**m, "imagenet-r/n99999999/x.jpg": image_bytes()}, {"images": 201},
                             r"imagenet-r holds folders that are none of the 200 classes .* 'n99999999'"),
    "not an image": (lambda m, c: {**m, f"imagenet-r/{c[0]}/x.txt": b"?"}, {"images": 200},
                     r"imagenet-r/{first} holds entries that are not image files .*: 'x.txt'"),
    "wrong count": (lambda m, c: m, {"images": 199}, r"imagenet-r holds 200 images, expected exactly 199"),
}


@pytest.mark.parametrize("case", list(LAYOUT_ERRORS))
def test_a_wrong_layout_fails_naming_the_folder_and_what_is_expected(tmp_path, case):
    change, overrides, pattern = LAYOUT_ERRORS[case]
    classes = label_classes("imagenet_r_200")
    members = change(class_folders("imagenet-r", classes), classes)
    pattern = pattern.format(missing=classes[7], first=classes[0])
    with pytest.raises(LayoutError, match=pattern):
        fetch_and_prepare(tmp_path, "imagenet_r", members, **overrides)
    assert not (tmp_path / "data" / "imagenet_r").exists() and leftovers(tmp_path / "data") == []


def test_a_missing_severity_names_the_corruption_folder(tmp_path):
    members = {name: data for name, data in corruption_tree(["near_focus"], [WNIDS[0]]).items()
               if not name.startswith("near_focus/5/")}
    with pytest.raises(LayoutError, match=r"near_focus must hold exactly the severity folders .*missing: '5'"):
        fetch_and_prepare(tmp_path, "imagenet_3dcc_near_focus", members, classes=1, images=1)


def test_a_misnamed_cue_conflict_file_is_refused(tmp_path):
    members = {f"cue-conflict/{c}/{c}1-{c}2.png": image_bytes(0, "PNG") for c in label_classes("cue_conflict_16")}
    members["cue-conflict/cat/dog1-cat2.png"] = image_bytes(0, "PNG")
    with pytest.raises(LayoutError, match=r"cat/dog1-cat2.png names shape 'dog' .* must be its folder's class"):
        fetch_and_prepare(tmp_path, "cue_conflict", members, images=17)


# ---- registry and label maps -----------------------------------------------------------------------------------


def test_every_registry_entry_is_complete():
    for name in dataset_names():
        spec = paper_dataset(name)
        assert spec["layout"] in LAYOUTS, name
        if spec.get("user_path"):
            assert all(re.fullmatch(r"[0-9a-f]{32}", f["md5"]) for f in spec["files"].values())
        else:
            assert re.fullmatch(r"https?://\S+", spec["url"]) and spec["format"] in ("tar", "tar.gz", "zip"), name
            assert spec["md5"] is None or re.fullmatch(r"[0-9a-f]{32}", spec["md5"]), name
        if spec["label_map"] is None:
            assert spec["layout"] == "image_folder"
        else:
            assert len(label_classes(spec["label_map"])) == spec["classes"], name
        assert isinstance(spec.get("images"), int), name
    with pytest.raises(ValueError, match="no paper dataset 'imagenet_x'.*imagenet_r"):
        paper_dataset("imagenet_x")


@pytest.mark.parametrize("name, num_classes", [("imagenet_1k", 1000), ("imagenet_r_200", 200),
                                               ("imagenet_a_200", 200), ("cue_conflict_16", 16), ("in9", 9),
                                               ("focus", 10)])
def test_label_maps_build_with_their_class_count_and_name_their_source(name, num_classes):
    data = label_data(name)
    assert len(data["source"]) > 40 and len(data["classes"]) == len(set(data["classes"])) == num_classes
    assert build_label_map(data["label_map"]).num_classes(1000) == num_classes


def timm_info(file_name: str) -> list[str]:
    """A list timm ships (read as a file: importing timm would pull in torch)."""
    folder = Path(importlib.util.find_spec("timm").submodule_search_locations[0]) / "data" / "_info"
    return (folder / file_name).read_text().split()


def test_wnid_lists_agree_with_the_copies_timm_ships():
    assert WNIDS == timm_info("imagenet_synsets.txt") == sorted(WNIDS)
    for key in ("r", "a"):
        assert label_classes(f"imagenet_{key}_200") == timm_info(f"imagenet_{key}_synsets.txt")
        assert label_map_spec(f"imagenet_{key}_200")["indices"] == [int(i) for i in
                                                                   timm_info(f"imagenet_{key}_indices.txt")]


def _ranges(*bounds):
    return {i for low, high in bounds for i in range(low, high + 1)}


def test_in9_map_matches_the_documented_ranges():
    lookup = np.array(label_map_spec("in9")["map"])
    documented = {"00_dog": _ranges((151, 170), (173, 268)), "01_bird": _ranges((7, 24), (87, 100), (127, 146)),
                  "03_reptile": _ranges((33, 68)), "04_carnivore": _ranges((269, 280), (286, 299), (356, 362),
                                                                            (387, 388)),
                  "05_insect": _ranges((300, 326)), "07_primate": _ranges((365, 384)),
                  "08_fish": _ranges((0, 6), (389, 397))}
    folders = label_classes("in9")
    for folder, members in documented.items():
        assert set(np.flatnonzero(lookup == folders.index(folder))) == members, folder
    assert (lookup == folders.index("02_wheeled vehicle")).sum() == 42
    assert (lookup == folders.index("06_musical instrument")).sum() == 26
    assert (lookup == -1).sum() == 630


def test_focus_sets_and_uncommon_values_match_the_documentation():
    data = label_data("focus")
    sets = dict(zip(data["classes"], map(set, data["label_map"]["sets"])))
    assert sets["truck"] == {407, 555, 569, 654, 675, 717, 757, 779, 864, 867}
    assert sets["plane"] == {404, 895} and sets["cat"] == _ranges((281, 285)) and sets["frog"] == {30, 31, 32}
    assert sets["dog"] == _ranges((151, 268), (273, 275)) and sets["bird"] == _ranges((7, 24), (80, 100), (127, 146))
    uncommon = data["uncommon"]
    assert uncommon["frog"]["time"] == [] and all(uncommon[c]["time"] == ["night"] for c in data["classes"]
                                                  if c != "frog")
    assert all(set(u["weather"]) == {"foggy", "raining", "snowing"} for u in uncommon.values())
    assert set(uncommon["ship"]["locations"]) == {"forest", "grass", "indoors", "rocks", "sand", "street", "snow"}
    assert set(uncommon["bird"]["locations"]) == set(uncommon["frog"]["locations"]) == {"indoors", "street", "snow"}


def test_cue_conflict_groups_are_sorted_categories_with_disjoint_indices():
    data = label_data("cue_conflict_16")
    members = [i for group in data["label_map"]["groups"] for i in group]
    assert data["classes"] == sorted(data["classes"]) and len(members) == len(set(members)) == 207
