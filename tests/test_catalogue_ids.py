"""Embeddings paired with catalogue rows by id (sklearn_ssl._catalogue_ids), never silently by order."""

import numpy as np
import pandas as pd
import pytest

from sklearn_ssl.io import ID_COLUMNS, find_id_columns, match_catalogue


def test_recognised_id_columns_any_case_in_order_of_preference():
    cat = pd.DataFrame({"SpecObjID": [1], "ObjID": [2], "z": [0.1]})
    assert find_id_columns(cat) == ["ObjID", "SpecObjID"]
    assert "objid" in ID_COLUMNS and "object_id" in ID_COLUMNS
    assert find_id_columns(pd.DataFrame({"ra": [1.0]})) == []


def test_rows_follow_the_ids_not_the_order():
    Z = np.arange(4)[:, None] * np.ones((4, 2))
    cat = pd.DataFrame({"OBJID": [13, 11, 10, 12], "y": ["d", "b", "a", "c"]})
    Zm, rows, report = match_catalogue(Z, np.array(["10", "11", "12", "13"]), cat)
    assert list(rows.y) == ["d", "b", "a", "c"] and list(Zm[:, 0]) == [3, 1, 0, 2] and report == ""


def test_integer_ids_read_as_floats_still_match():
    """A catalogue id column with a gap is read by pandas as float (123456789012.0 must match "123456789012")."""
    big = 123456789012
    cat = pd.DataFrame({"objid": [float(big), np.nan, 5.0], "y": [1, 2, 3]})
    Zm, rows, report = match_catalogue(np.eye(2), np.array([5, big]), cat)
    assert list(rows.y) == [1, 3] and list(Zm[:, 0]) == [0, 1]


def test_several_id_columns_take_the_one_that_matches():
    cat = pd.DataFrame({"id": [7, 8, 9], "objid": [1, 2, 3], "y": [0, 1, 0]})
    Zm, rows, report = match_catalogue(np.eye(3), [3, 2, 1], cat)
    assert list(rows.objid) == [1, 2, 3] and list(Zm.argmax(1)) == [2, 1, 0] and "'objid'" in report


@pytest.mark.parametrize("kwargs, ids, message", [
    ({}, None, "carries no object ids"),
    ({"id_column": "nope"}, [1, 2, 3], "no id column 'nope'"),
    ({}, [1, 1, 2], "duplicated id"),
    ({"match_by_order": True}, None, "3 embeddings but 4 catalogue rows"),
])
def test_refusals_name_the_problem(kwargs, ids, message):
    cat = pd.DataFrame({"objid": [1, 2, 3, 3], "y": [0, 1, 0, 1]})
    with pytest.raises(ValueError, match=message):
        match_catalogue(np.eye(3), ids, cat, **kwargs)


def test_duplicated_catalogue_ids_are_refused_where_they_match():
    cat = pd.DataFrame({"objid": [1, 2, 2, 9, 9], "y": range(5)})
    with pytest.raises(ValueError, match="column 'objid' has 1 duplicated id"):
        match_catalogue(np.eye(2), [1, 2], cat)
    Zm, rows, _ = match_catalogue(np.eye(1), [1], cat)  # 9 is repeated but matches no embedding
    assert list(rows.y) == [0]
