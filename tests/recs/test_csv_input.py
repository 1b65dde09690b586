"""Reading interactions, items and user lists, and refusing bad files by line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelflow.recs.csv_input import (
    InputError,
    load_dataset,
    read_interactions,
    read_items,
    read_user_ids,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_interactions_with_and_without_header(tmp_path: Path) -> None:
    plain = read_interactions(write(tmp_path / "a.csv", "u1,i1,100,4.5\nu2,i1,200\n"))
    assert plain.users == ["u1", "u2"] and plain.items == ["i1", "i1"]
    assert plain.times == [100, 200] and plain.weights == [4.5, 1.0]
    named = read_interactions(
        write(tmp_path / "b.csv", "\ufeffuser_id,item_id,timestamp,weight\nu1,i1,1.0e2,0\n")
    )
    assert named.times == [100] and named.weights == [0.0]


def test_header_columns_in_any_order_with_watching_facts(tmp_path: Path) -> None:
    path = write(
        tmp_path / "w.csv",
        "item_id,user_id,timestamp,watched_fraction,thumb,country\n"
        "i1,u1,10,0.95,,fr\ni2,u1,20,0.02,,fr\ni3,u1,30,0.5,-1,fr\n",
    )
    rows = read_interactions(path)
    assert rows.items == ["i1", "i2", "i3"]
    assert rows.weights == pytest.approx([1.0, 0.1, 0.0])
    assert rows.countries == {"u1": "FR"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("u1,i1,abc\n", "line 1, column timestamp: 'abc' is not a number"),
        ("user_id,item_id,timestamp\nu1,i1,5\nu1,i2,-3\n", "line 3, column timestamp"),
        ("u1,i1,5,-1\n", "line 1, column weight: '-1' is not a non-negative number"),
        ("u1,i1,5,nan\n", "column weight"),
        ("u1,i1,5.5\n", "line 1, column timestamp: '5.5' is not Unix seconds"),
        ("u1,i1\n", "line 1, column timestamp: missing"),
        ("u1,,5\n", "line 1, column item_id: empty"),
        ("u1,i1,5,1,extra\n", "line 1: 5 fields, at most 4"),
        ("user_id,item_id\nu1,i1\n", "line 1, column timestamp: the header has no timestamp"),
        ("user_id,item_id,timestamp,thumb\nu,i,5,2\n", "line 2, column thumb"),
        ("", "no interactions"),
        ('u1,"i1,5\n', "not valid CSV"),
    ],
)
def test_bad_interactions_name_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError) as caught:
        read_interactions(path)
    assert str(caught.value).startswith(str(path))
    assert where in str(caught.value)


def test_not_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"u1,caf\xe9,5\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_interactions(path)
    with pytest.raises(InputError, match="cannot be read"):
        read_interactions(tmp_path / "absent.csv")


def test_items_years_genres_and_quoted_titles(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        'item_id,title,genres,year\n1,"Toy Story (1995), remastered",Animation|Children,1995.0\n'
        "2,Untitled,(no genres listed),\n",
    )
    catalog = read_items(path)
    assert catalog.ids == ("1", "2")
    assert catalog.titles[0] == "Toy Story (1995), remastered"
    assert catalog.genres == (("Animation", "Children"), ())
    assert catalog.years == (1995, None)


def test_items_language_and_cast_when_named(tmp_path: Path) -> None:
    path = write(tmp_path / "i.csv", "item_id,title,genres,year,language,cast\n1,A,Drama,,FR,X|Y\n")
    catalog = read_items(path)
    assert catalog.languages == ("fr",) and catalog.cast == (("X", "Y"),)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("1,A,Drama,1995.5\n", "line 1, column year"),
        ("1,A,Drama,year\n", "line 1, column year: 'year' is not a number"),
        ("1,A,,1990\n1,B,,1991\n", "line 2, column item_id: '1' also on line 1"),
    ],
)
def test_bad_items_name_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(InputError, match=where):
        read_items(write(tmp_path / "items.csv", text))


def test_user_list_skips_blanks_and_repeats(tmp_path: Path) -> None:
    assert read_user_ids(write(tmp_path / "u.txt", "a\n\n b \na\n")) == ["a", "b"]


def test_load_dataset_adds_unwatched_catalog_items(tmp_path: Path) -> None:
    train = write(tmp_path / "t.csv", "u1,i1,5\nu1,i2,6\n")
    items = write(tmp_path / "items.csv", "i3,New,Drama,2024\ni1,Old,Drama,1990\n")
    data = load_dataset(train, items)
    assert data.item_ids == ("i3", "i1", "i2")
    assert np.isnan(data.meta.years[2]) and data.meta.years[0] == 2024
    assert data.item_counts().tolist() == [0, 1, 1]
