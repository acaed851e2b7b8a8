"""Datasets: embedded digits, IDX files, user arrays, seeded splits and binarisation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ppvae.data import DEBIAN_FASHION_MNIST, DataConfig, load_data, resolve_binarize
from ppvae.errors import UserInputError
from ppvae.idx import read_idx
from tests.idx_files import idx_bytes, write_mnist_like


def test_digits_splits_are_fixed_by_seed():
    a = load_data(DataConfig(name="digits", binarize="none", split_seed=1))
    b = load_data(DataConfig(name="digits", binarize="none", split_seed=1))
    c = load_data(DataConfig(name="digits", binarize="none", split_seed=2))
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_test, c.x_test)
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert a.x_shape == (1, 8, 8) and a.num_classes == 10
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1


def test_dynamic_binarisation_redraws_training_batches_only():
    data = load_data(DataConfig(name="digits", binarize="dynamic", binarization_seed=7))
    assert not ((data.x_train == 0) | (data.x_train == 1)).all()  # grey levels kept
    for split in (data.x_val, data.x_test):
        assert ((split == 0) | (split == 1)).all()
    g = torch.Generator().manual_seed(0)
    first = next(data.batches("train", 2000, g, shuffle=False))[0]
    second = next(data.batches("train", 2000, g, shuffle=False))[0]
    assert ((first == 0) | (first == 1)).all() and not torch.equal(first, second)
    # Over many draws the binarised mean matches the grey levels.
    mean = torch.stack(
        [next(data.batches("train", 2000, g, shuffle=False))[0] for _ in range(50)]
    ).mean(0)
    assert (mean - data.x_train).abs().mean() < 0.05


def test_test_binarisation_is_recorded_by_its_seed():
    a = load_data(DataConfig(name="digits", binarize="dynamic", binarization_seed=3))
    b = load_data(DataConfig(name="digits", binarize="static", binarization_seed=3))
    c = load_data(DataConfig(name="digits", binarize="dynamic", binarization_seed=4))
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    assert ((b.x_train == 0) | (b.x_train == 1)).all()  # static: drawn once


def test_batches_cover_the_split_once():
    data = load_data(DataConfig(name="digits", binarize="none"))
    seen = torch.cat([x for x, _ in data.batches("val", 64, torch.Generator().manual_seed(0))])
    assert seen.shape == data.x_val.shape
    assert torch.equal(seen.sum(0), data.x_val.sum(0))


def test_resolve_binarize():
    assert resolve_binarize("auto", True) == "dynamic"
    assert resolve_binarize("static", False) == "static"
    with pytest.raises(UserInputError, match="binarize"):
        resolve_binarize("sometimes", True)


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_a_data_dir(tmp_path, layout, gz):
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    write_mnist_like(folder, gz=gz)
    data = load_data(
        DataConfig(name="mnist", data_dir=str(tmp_path), binarize="dynamic", val_size=8)
    )
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (32, 8, 12)
    assert data.x_shape == (1, 28, 28) and data.y_test.shape == (12,)


def test_missing_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(UserInputError, match="--data-dir") as err:
        load_data(DataConfig(name="fashion-mnist", data_dir=str(tmp_path / "nowhere")))
    assert "nowhere" in str(err.value) and "--download" in str(err.value)


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)
def test_fashion_mnist_from_debian_package():
    data = load_data(DataConfig(name="fashion-mnist", binarize="dynamic"))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (55000, 5000, 10000)


def test_idx_reader_refuses_truncated_corrupt_and_foreign_files(tmp_path):
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    (tmp_path / "ok").write_bytes(good)
    assert read_idx(tmp_path / "ok").shape == (3, 4)
    cases = {
        "truncated": good[:-2],
        "header": good[:6],
        "magic": b"\x89PNG\r\n\x1a\n" + good,
        "badgz": b"\x1f\x8b" + b"garbage",
        "cutgz": gzip.compress(good)[:-6],
        "empty": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserInputError):
            read_idx(tmp_path / name)


def test_user_arrays_npy_npz_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((50, 6)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", x=x, y=rng.integers(0, 3, 50))
    np.savetxt(tmp_path / "c.csv", x, delimiter=",", header="a,b,c,d,e,f", comments="")
    for name in ("a.npy", "b.npz", "c.csv"):
        data = load_data(DataConfig(name=str(tmp_path / name), binarize="none"))
        assert data.x_shape == (6,) and len(data.x_train) + len(data.x_val) + len(data.x_test) == 50
    assert load_data(DataConfig(name=str(tmp_path / "b.npz"))).num_classes is not None


def _bad(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content, allow_pickle=True)
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.csv", "a,b\n1,2\n3,cat\n", "not numeric"),
        ("ragged.csv", "1,2\n3\n" * 10, "columns"),
        ("empty.csv", "", "empty"),
        ("nan.npy", np.full((20, 3), np.nan), "NaN"),
        ("flat.npy", np.zeros(20), "shape"),
        ("few.npy", np.zeros((3, 4)), "too few"),
        ("objects.npy", np.array([{"a": 1}] * 20, dtype=object), "could not be read|numeric"),
        ("huge.npy", np.full((20, 3), 1e30), "rescale"),
        ("notnpy.npy", b"this is not numpy", "could not be read"),
        ("strings.npy", np.array([["a", "b"]] * 20), "numeric"),
    ],
)
def test_bad_user_arrays_are_refused(tmp_path, name, content, message):
    with pytest.raises(UserInputError, match=message):
        load_data(DataConfig(name=_bad(tmp_path, name, content), binarize="none"))


def test_binarising_out_of_range_data_is_refused(tmp_path):
    np.save(tmp_path / "big.npy", np.full((20, 3), 5.0))
    with pytest.raises(UserInputError, match="outside"):
        load_data(DataConfig(name=str(tmp_path / "big.npy"), binarize="dynamic"))


def test_unknown_dataset_name():
    with pytest.raises(UserInputError, match="unknown dataset"):
        load_data(DataConfig(name="cifar"))


def test_splits_are_disjoint_and_labels_stay_with_their_examples(tmp_path):
    # Each example carries its own id in column 0 and its label in column 1.
    n = 200
    ids = np.arange(n, dtype=np.float32)
    labels = np.random.default_rng(0).integers(0, 5, n)
    x = np.stack([ids, labels.astype(np.float32), np.zeros(n, np.float32)], axis=1)
    np.savez(tmp_path / "ids.npz", x=x, y=labels)
    data = load_data(DataConfig(name=str(tmp_path / "ids.npz"), binarize="none", context="labels"))
    seen = [data.x_train[:, 0], data.x_val[:, 0], data.x_test[:, 0]]
    all_ids = torch.cat(seen).long().sort().values
    assert torch.equal(all_ids, torch.arange(n))  # every example once: disjoint and complete
    for split in ("train", "val", "test"):
        x_split, y_split = data.split(split)  # y: one-hot labels
        assert torch.equal(x_split[:, 1].long(), y_split.argmax(-1))
        for xb, yb in data.batches(split, 16, torch.Generator().manual_seed(1)):
            assert torch.equal(xb[:, 1].long(), yb.argmax(-1))


def test_mismatched_idx_files_are_refused(tmp_path):
    write_mnist_like(tmp_path, n_train=40, n_test=12)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(5, dtype=np.uint8)))
    )
    with pytest.raises(UserInputError, match="do not match"):
        load_data(DataConfig(name="mnist", data_dir=str(tmp_path), val_size=8))


def test_config_values_are_type_checked():
    with pytest.raises(UserInputError, match="must be int"):
        DataConfig(split_seed="1")
    with pytest.raises(UserInputError, match="binarize"):
        DataConfig(binarize="sometimes")
    with pytest.raises(UserInputError, match="val_size"):
        DataConfig(val_size=0)
