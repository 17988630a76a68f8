"""Reading a user's data files: formats, label encoding, and a clear error for every bad file."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.io.datafiles import (
    DataFileError,
    Standardizer,
    encode_labels,
    load_dataset,
    split,
)


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_header_and_label_last(tmp_path):
    d = load_dataset(write(tmp_path, "a,b,label\n1,2,0\n3,4,1\n\n5,6.5,1\n"))
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4], [5, 6.5]])
    np.testing.assert_array_equal(d.y, [[0], [1], [1]])
    assert d.feature_names == ["a", "b"] and list(d.classes) == [0, 1]


def test_csv_without_header_label_by_name_and_index(tmp_path):
    p = write(tmp_path, "1,7,2\n3,8,4\n")
    d = load_dataset(p, label_col=1)
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(d.y[:, 0], [0, 1])  # labels 7, 8 -> 0, 1
    d = load_dataset(write(tmp_path, "y,a\n1,5\n2,6\n3,7\n", "h.csv"), label_col="y")
    np.testing.assert_array_equal(d.X[:, 0], [5, 6, 7])
    np.testing.assert_array_equal(d.y, np.eye(3))  # three classes: one-hot
    assert load_dataset(p, label_col=-1).X.shape == (2, 2)


def test_multiclass_keeps_class_values(tmp_path):
    y, classes = encode_labels(np.array([3.0, 1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(classes, [1, 2, 3])
    np.testing.assert_array_equal(y.argmax(axis=1), [2, 0, 1, 2])


def test_npz_and_npy_pairs(tmp_path):
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 1, 0])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    d = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y[:, 0], y)
    np.save(tmp_path / "train_X.npy", X)
    np.save(tmp_path / "train_y.npy", y)
    np.testing.assert_array_equal(load_dataset(tmp_path / "train_X.npy").y[:, 0], y)


BAD_CSV = [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("a,b,c\n", "has a header but no data rows"),
    ("1,2,0\n3,4\n", "ragged row at line 2: 2 fields, expected 3"),
    ("a,b,y\n1,2,0\n\n3,x,1\n", "non-numeric cell 'x' at line 4, column 2"),
    ("1,2,0\n3,nan,1\n", "nan (NaN or inf) at line 2, column 2"),
    ("1,2,0\n3,4,inf\n", "inf (NaN or inf) at line 2, column 3"),
    ("1,2,1\n3,4,1\n", "every label is 1: a single class cannot be learned"),
    ("5\n6\n", "need at least 2 (features and a label)"),
]


@pytest.mark.parametrize("text, message", BAD_CSV)
def test_bad_csv(tmp_path, text, message):
    with pytest.raises(DataFileError, match=None) as info:
        load_dataset(write(tmp_path, text))
    assert message in str(info.value) and "d.csv" in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(DataFileError, match="unknown data format '.txt'"):
        load_dataset(write(tmp_path, "1,2", "d.txt"))
    with pytest.raises(DataFileError, match="no column named 'label'; columns: a, b"):
        load_dataset(write(tmp_path, "a,b\n1,0\n2,1\n"), label_col="label")
    with pytest.raises(DataFileError, match="has no header row"):
        load_dataset(write(tmp_path, "1,0\n2,1\n"), label_col="label")
    with pytest.raises(DataFileError, match="out of range for 2 columns"):
        load_dataset(write(tmp_path, "1,0\n2,1\n"), label_col=5)
    np.savez(tmp_path / "noy.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataFileError, match="no array named 'y'"):
        load_dataset(tmp_path / "noy.npz")
    np.savez(tmp_path / "nan.npz", X=np.array([[0.0, np.nan]]), y=np.zeros(1))
    with pytest.raises(DataFileError, match=r"array X holds NaN or inf at index \(0, 1\)"):
        load_dataset(tmp_path / "nan.npz")
    np.savez(tmp_path / "rows.npz", X=np.zeros((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataFileError, match="3 rows of X but 2 labels"):
        load_dataset(tmp_path / "rows.npz")
    np.save(tmp_path / "lonely.npy", np.zeros((3, 2)))
    with pytest.raises(DataFileError, match="cannot tell where its labels are"):
        load_dataset(tmp_path / "lonely.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataFileError, match="not a readable .npz archive"):
        load_dataset(tmp_path / "junk.npz")


def test_labels_that_do_not_fit_the_model(tmp_path):
    with pytest.raises(DataFileError, match="labels 7 are not among the model's classes 0, 1"):
        encode_labels(np.array([0.0, 7.0]), "f.csv", classes=np.array([0.0, 1.0]))


def test_split_is_seeded_and_disjoint():
    tr, va = split(100, 0.2, seed=3)
    assert len(va) == 20 and len(tr) == 80 and not set(tr) & set(va)
    assert np.array_equal(split(100, 0.2, seed=3)[1], va)
    assert not np.array_equal(split(100, 0.2, seed=4)[1], va)
    with pytest.raises(ValueError, match=r"validation split must be in \(0, 1\)"):
        split(100, 1.5, seed=0)
    with pytest.raises(ValueError, match="need both > 0"):
        split(2, 0.1, seed=0)


def test_standardizer():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = Standardizer.fit(X)
    np.testing.assert_array_equal(s(X), [[-1, 0], [1, 0]])  # constant column: centred only


csv_text = st.lists(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers(-5, 5).map(str),
                       st.text(alphabet=",\"\n\r ab.-e1\x00", max_size=4)),
             min_size=0, max_size=4).map(lambda cells: ",".join(cells)),
    max_size=6).map("\n".join)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_text)
def test_malformed_csv_only_raises_our_error(tmp_path, text):
    p = tmp_path / "fuzz.csv"
    p.write_text(text)
    try:
        d = load_dataset(p)
    except DataFileError:
        return
    assert np.isfinite(d.X).all() and d.X.shape[0] == d.y.shape[0] >= 2
