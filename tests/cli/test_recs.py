"""`reelflow recs recommend` and `reelflow recs evaluate` on small generated files: the
answer's shape, unseen and cold-start items, the stranger's fallback, and every bad file a
message naming line and column with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelflow.cli.app import app
from tests.recs.synthetic import GENRES, ITEMS_PER_GENRE, item_id, rows

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recs")
    users, items, times, weights = rows(users=40, plays=10, seed=5)
    for n in range(20):  # a documentary fan who has seen most documentaries
        users.append("fan")
        items.append(item_id(GENRES.index("Documentary"), n))
        times.append(1_700_000_000 + n)
        weights.append(1.0)
    lines = ["user_id,item_id,timestamp,weight"]
    lines += [f"{u},{i},{t},{w:g}" for u, i, t, w in zip(users, items, times, weights, strict=True)]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    catalog = ["item_id,title,genres,year"]
    for g, genre in enumerate(GENRES):
        catalog += [f'{item_id(g, n)},"Title {g}, {n}",{genre},19{n + 50}.0' for n in range(25)]
    catalog.append("new-doc,A New Documentary,Documentary|History,")
    (folder / "items.csv").write_text("\n".join(catalog) + "\n")
    (folder / "users.txt").write_text("u1\nfan\n\nstranger\n")
    return {"train": folder / "train.csv", "items": folder / "items.csv",
            "users": folder / "users.txt", "folder": folder}  # fmt: skip


def _recommend(files: dict[str, Path], *extra: str) -> dict[str, list[str]]:
    result = runner.invoke(
        app,
        ["recs", "recommend", "--train", str(files["train"]), "--users", str(files["users"]),
         "--items", str(files["items"]), *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer: dict[str, list[str]] = json.loads(result.stdout)
    return answer


def test_recommend_prints_k_unseen_items_per_user(files: dict[str, Path]) -> None:
    answer = _recommend(files, "--k", "7", "--json")
    assert list(answer) == ["u1", "fan", "stranger"]
    watched: dict[str, set[str]] = {}
    for line in files["train"].read_text().splitlines()[1:]:
        user, item = line.split(",")[:2]
        watched.setdefault(user, set()).add(item)
    known = {f"g{g}-{n}" for g in range(len(GENRES)) for n in range(ITEMS_PER_GENRE)}
    for user, items in answer.items():
        assert len(items) == 7 == len(set(items))
        assert not set(items) & watched.get(user, set())
        assert set(items) <= known | {"new-doc"}
    assert "new-doc" in answer["fan"]  # the cold-start title reaches its audience
    assert len(answer["stranger"]) == 7  # unknown: the trending list


def test_recommend_text_output_is_one_line_per_user(files: dict[str, Path]) -> None:
    result = runner.invoke(
        app,
        ["recs", "recommend", "--train", str(files["train"]), "--users", str(files["users"]),
         "--k", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["u1", "fan", "stranger"]
    assert all(len(line.split("\t")[1].split()) == 3 for line in lines)


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("train", "user_id,item_id,timestamp\nu1,i1,100\nu1,i2,yesterday\n",
         "line 3, column timestamp: 'yesterday' is not a number"),
        ("train", "u1,i1,100,-2\n", "line 1, column weight: '-2' is not a non-negative"),
        ("train", "u1,i1\n", "line 1, column timestamp: missing"),
        ("train", "", "no interactions"),
        ("items", "i1,Title,Drama,nineteen\n", "line 1, column year"),
        ("items", "i1,A,Drama,1990\ni1,B,Drama,1991\n", "line 2, column item_id"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_by_line_and_column(
    files: dict[str, Path], name: str, text: str, said: str
) -> None:
    bad = files["folder"] / f"bad-{name}.csv"
    bad.write_text(text)
    paths = {"train": files["train"], "items": files["items"], name: bad}
    result = runner.invoke(
        app,
        ["recs", "recommend", "--train", str(paths["train"]), "--items", str(paths["items"]),
         "--users", str(files["users"]), "--json"],
    )  # fmt: skip
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich may wrap a long message
    assert bad.name in message
    assert said in message
    assert result.stdout.strip() == ""  # no half answer on stdout


def test_missing_users_file_and_bad_options(files: dict[str, Path]) -> None:
    absent = runner.invoke(
        app,
        ["recs", "recommend", "--train", str(files["train"]), "--users", "/nonexistent/u.txt"],
    )
    assert absent.exit_code == 2 and "cannot be read" in absent.output
    zero = runner.invoke(
        app,
        ["recs", "recommend", "--train", str(files["train"]), "--users", str(files["users"]),
         "--k", "0"],
    )  # fmt: skip
    assert zero.exit_code == 2


def test_evaluate_prints_every_model(files: dict[str, Path]) -> None:
    result = runner.invoke(
        app, ["recs", "evaluate", "--train", str(files["train"]), "--items", str(files["items"]),
              "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"] == "time" and report["k"] == 10
    names = [m["name"] for m in report["models"]]
    assert names == ["popularity", "item-knn", "ease", "als", "bpr", "hybrid"]
    for model in report["models"]:
        assert 0.0 <= model["ndcg"] <= 1.0 and model["users"] > 0 and model["settings"]
    table = runner.invoke(
        app,
        ["recs", "evaluate", "--train", str(files["train"]), "--split", "random",
         "--test-fraction", "0.3", "--models", "popularity,ease", "--k", "5"],
    )  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "nDCG@5" in table.stdout and "ease" in table.stdout and "bpr" not in table.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--models", "popularity,magic"], "unknown model 'magic'"),
        (["--split", "sideways"], "--split must be time or random"),
    ],
)
def test_evaluate_refusals(files: dict[str, Path], args: list[str], said: str) -> None:
    result = runner.invoke(app, ["recs", "evaluate", "--train", str(files["train"]), *args])
    assert result.exit_code == 2 and said in result.output
