"""The commit, attacked: readers see the old dataset or the new one, never a mix; of two
writers one wins whole; nothing of a failed or killed job stays visible. Oracles: row counts
and values written by pyarrow, and the raw listing of the store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import squall

Raw = Callable[[str], list[str]]
Driver = Callable[..., subprocess.CompletedProcess[str]]


def table(rows: int, start: int = 0) -> pa.Table:
    return pa.table({"v": pa.array(range(start, start + rows), pa.int64())})


def values(session: squall.Session, url: str) -> list[int] | None:
    """The dataset's values, sorted; None when there is no dataset."""
    try:
        return sorted(session.read_parquet(url).collect()["v"].to_pylist())
    except squall.StoreNotFoundError:
        return None


def parts(raw: Raw, url: str) -> list[str]:
    return [n for n in raw(url) if n.startswith("part-")]


def test_overwrite_with_fewer_parts_leaves_only_the_new_rows(
    session: squall.Session, where: str, raw: Raw
) -> None:
    out = f"{where}/ds"
    session.from_arrow(table(3000), 4).write_parquet(out)
    manifest = session.from_arrow(table(10, 5000), 1).write_parquet(out, mode="overwrite")
    assert values(session, out) == list(range(5000, 5010))
    assert session.read_parquet(out).count() == 10
    assert parts(raw, out) == [f["name"] for f in manifest["files"]], "the old parts are gone"
    assert manifest["version"] == 2 and manifest["replaced"] and manifest["rows"] == 10
    assert not any(n.startswith("_attempts/") for n in raw(out))


def test_the_default_mode_refuses_a_directory_with_data(
    session: squall.Session, where: str
) -> None:
    out = f"{where}/ds"
    session.from_arrow(table(5), 1).write_parquet(out)
    with pytest.raises(squall.PlanError, match=r'already holds a dataset.*mode="overwrite"'):
        session.from_arrow(table(7), 1).write_parquet(out)
    assert values(session, out) == list(range(5))


def test_the_default_mode_refuses_files_of_other_tools(
    session: squall.Session, tmp_path: Path
) -> None:
    pq.write_table(table(3), tmp_path / "theirs.parquet")
    with pytest.raises(squall.PlanError, match="already holds"):
        session.from_arrow(table(7), 1).write_parquet(f"file://{tmp_path}")
    assert pq.read_table(tmp_path / "theirs.parquet").num_rows == 3


def test_append_adds_a_generation(session: squall.Session, where: str, raw: Raw) -> None:
    out = f"{where}/ds"
    first = session.from_arrow(table(100), 2).write_parquet(out)
    second = session.from_arrow(table(50, 100), 3).write_parquet(out, mode="append")
    assert values(session, out) == list(range(150))
    assert second["version"] == first["version"] + 1 and second["rows"] == 150
    assert second["files"][:2] == first["files"] and len(second["files"]) == 5
    assert parts(raw, out) == sorted(f["name"] for f in second["files"])
    ordered = session.read_parquet(out).collect()["v"].to_pylist()
    assert ordered == list(range(150)), "files are read in the manifest's order"


def test_append_of_other_columns_or_format_is_refused(
    session: squall.Session, where: str, raw: Raw
) -> None:
    out = f"{where}/ds"
    session.from_arrow(table(10), 2).write_parquet(out)
    before = raw(out)
    other = pa.table({"v": pa.array(["a", "b"])})
    with pytest.raises(squall.DataError, match="appended ones"):
        session.from_arrow(other, 1).write_parquet(out, mode="append")
    with pytest.raises(squall.PlanError, match="append parquet files"):
        session.from_arrow(table(2), 1).write_ipc(out, mode="append")
    assert raw(out) == before, "nothing of the refused writes remains"
    assert values(session, out) == list(range(10))


def test_overwrite_of_a_plain_directory_replaces_its_files(
    session: squall.Session, tmp_path: Path
) -> None:
    pq.write_table(table(3), tmp_path / "a.parquet")
    pq.write_table(table(4, 3), tmp_path / "b.parquet")
    session.from_arrow(table(5, 100), 2).write_parquet(f"file://{tmp_path}", mode="overwrite")
    assert values(session, f"file://{tmp_path}") == list(range(100, 105))
    assert not (tmp_path / "a.parquet").exists() and not (tmp_path / "b.parquet").exists()


def test_append_to_a_plain_directory_keeps_its_files(
    session: squall.Session, tmp_path: Path
) -> None:
    pq.write_table(table(3), tmp_path / "a.parquet")
    manifest = session.from_arrow(table(2, 3), 1).write_parquet(f"file://{tmp_path}", mode="append")
    assert values(session, f"file://{tmp_path}") == list(range(5))
    first = manifest["files"][0]
    assert (first["name"], first["rows"]) == ("a.parquet", None)
    assert manifest["rows"] is None, "the other tool's file has no known row count"


def test_writing_into_the_root_directory_or_a_file_is_refused(
    session: squall.Session, where: str
) -> None:
    for url in ("file:///", "/"):
        with pytest.raises(squall.PlanError, match="root directory"):
            session.from_arrow(table(1), 1).write_parquet(url)
    squall._native.write_bytes(f"{where}/notes.txt", b"mine")
    with pytest.raises(squall.PlanError, match=r"notes\.txt is a file"):
        session.from_arrow(table(1), 1).write_parquet(f"{where}/notes.txt")
    assert squall._native.read_bytes(f"{where}/notes.txt") == b"mine"


def test_partitions_with_different_columns_fail_the_write(
    session: squall.Session, where: str, raw: Raw
) -> None:
    def drift(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows and batch["v"][0].as_py() >= 50:
            return pa.record_batch({"v": batch["v"].cast(pa.string())})
        return batch

    out = f"{where}/ds"
    with pytest.raises(
        squall.DataError,
        match=r"partition 0 has the columns v: Int64, partition 1 the columns v: Utf8",
    ):
        session.from_arrow(table(100), 2).map_batches(drift).write_parquet(out)
    assert parts(raw, out) == [] and "_manifest.json" not in raw(out)


def test_empty_partitions_with_the_inputs_columns_are_left_out(
    session: squall.Session, tmp_path: Path
) -> None:
    def widen(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch  # an empty partition keeps the input's columns
        return batch.append_column("w", pc.multiply(batch["v"], 2))

    # Three rows over five partitions: the two empty ones are left out of the dataset.
    manifest = (
        session.from_arrow(table(3), 5).map_batches(widen).write_parquet(f"file://{tmp_path}/ds")
    )
    back = session.read_parquet(f"file://{tmp_path}/ds").collect()
    assert back.column_names == ["v", "w"] and back["w"].to_pylist() == [0, 2, 4]
    assert [f["rows"] for f in manifest["files"]] == [1, 1, 1]


def test_readers_read_exactly_what_the_manifest_lists(
    session: squall.Session, where: str, raw: Raw
) -> None:
    out = f"{where}/ds"
    manifest = session.from_arrow(table(10), 2).write_parquet(out)
    stray = "part-00009-0123456789ab.parquet"  # as a killed job's moved part would look
    squall._native.write_table(table(5, 900), f"{out}/{stray}", "parquet")
    assert values(session, out) == list(range(10))
    assert values(session, f"{out}/*.parquet") == list(range(10)), "globs too"
    removed = squall.clean(out)
    assert [u.rsplit("/", 1)[1] for u in removed] == [stray]
    assert parts(raw, out) == [f["name"] for f in manifest["files"]]


def test_a_missing_listed_file_fails_clearly(session: squall.Session, where: str) -> None:
    out = f"{where}/ds"
    manifest = session.from_arrow(table(10), 2).write_parquet(out)
    squall._native.delete([f"{out}/{manifest['files'][1]['name']}"])
    with pytest.raises(squall.StoreNotFoundError, match=r"_manifest.json: it lists .*missing"):
        session.read_parquet(out).count()


def test_a_failed_job_leaves_the_old_data_and_nothing_else(
    session: squall.Session, where: str, raw: Raw
) -> None:
    out = f"{where}/ds"
    session.from_arrow(table(30), 3).write_parquet(out)
    before = raw(out)

    def fail_on_the_last(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows and batch["v"][0].as_py() >= 20:
            raise RuntimeError("instrument offline")
        return batch

    with pytest.raises(squall.TaskError, match="instrument offline"):
        session.from_arrow(table(30, 100), 3).map_batches(fail_on_the_last).write_parquet(
            out, mode="overwrite"
        )
    assert raw(out) == before
    assert values(session, out) == list(range(30))


def test_manifests_of_squall_0_1_are_read(session: squall.Session, tmp_path: Path) -> None:
    pq.write_table(table(4), tmp_path / "part-00000.parquet")
    pq.write_table(table(9, 50), tmp_path / "stale.parquet")  # never committed
    size = (tmp_path / "part-00000.parquet").stat().st_size
    old = {"format": "parquet", "compression": "zstd", "created": "2026-01-01T00:00:00Z", "rows": 4}
    old["files"] = [{"url": f"file://{tmp_path}/part-00000.parquet", "rows": 4, "bytes": size}]
    (tmp_path / "_manifest.json").write_text(json.dumps(old))
    assert values(session, f"file://{tmp_path}") == list(range(4))


WRITER = """
import sys, squall, pyarrow as pa
url, mode = sys.argv[1], sys.argv[5]
start, rows, parts = (int(a) for a in sys.argv[2:5])
table = pa.table({"v": pa.array(range(start, start + rows), pa.int64())})
with squall.Session(workers=2) as s:
    s.from_arrow(table, parts).write_parquet(url, mode=mode)
"""

OLD = list(range(1000))
NEW = list(range(5000, 5010))


@pytest.mark.parametrize("step", [0, 1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("before", ["dataset", "nothing"])
def test_kill_9_at_every_step_of_the_commit_leaves_old_or_new(
    session: squall.Session, where: str, raw: Raw, driver: Driver, step: int, before: str
) -> None:
    out = f"{where}/ds"
    if before == "dataset":
        session.from_arrow(table(1000), 4).write_parquet(out)
    done = driver(
        WRITER, out, "5000", "10", "3", "overwrite", env={"SQUALL_TEST_COMMIT_KILL": str(step)}
    )
    old = OLD if before == "dataset" else None
    reached = done.returncode == -9
    # Step 2 (a manifest taking over a directory that had none) comes only where there was none.
    assert reached == (step != 2 or before == "nothing"), done.stderr
    seen = values(session, out)
    assert seen == (NEW if step >= 5 or not reached else old), f"step {step}: {seen}"
    # What the crash left is invisible, and `clean` or the next writer removes it.
    squall.clean(out)
    assert values(session, out) == seen
    assert not any(n.startswith("_attempts/") for n in raw(out)), raw(out)
    if seen == NEW:
        assert len(parts(raw, out)) == 3, raw(out)
    session.from_arrow(table(2, 9000), 1).write_parquet(out, mode="overwrite")
    assert values(session, out) == [9000, 9001]
    assert len(parts(raw, out)) == 1 and not any(n.startswith("_attempts/") for n in raw(out))


def test_the_next_writer_removes_a_dead_jobs_attempts(
    session: squall.Session, where: str, raw: Raw, driver: Driver
) -> None:
    out = f"{where}/ds"
    session.from_arrow(table(10), 1).write_parquet(out)
    done = driver(WRITER, out, "0", "10", "2", "append", env={"SQUALL_TEST_COMMIT_KILL": "1"})
    assert done.returncode == -9, done.stderr
    assert [n for n in raw(out) if n.startswith("_attempts/")], "the dead job left its attempts"
    session.from_arrow(table(1, 20), 1).write_parquet(out, mode="append")
    assert not any(n.startswith("_attempts/") for n in raw(out))
    assert values(session, out) == [*range(10), 20]


RACER = """
import json, os, sys, time, squall, pyarrow as pa
base, me, other, barrier = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6]
rows, trials = int(sys.argv[4]), int(sys.argv[5])
def slow(batch):
    time.sleep(0.2)
    return batch
outcomes = []
with squall.Session(workers=2) as s:
    for i in range(trials):
        open(f"{barrier}/{i}-{me}", "w").close()
        while not os.path.exists(f"{barrier}/{i}-{other}"):
            time.sleep(0.002)
        ds = s.from_arrow(pa.table({"v": pa.array(range(rows), pa.int64())}), 2).map_batches(slow)
        try:
            outcomes.append(ds.write_parquet(f"{base}/t{i}", mode="overwrite")["job"])
        except squall.CommitConflict as exc:
            outcomes.append("conflict: " + str(exc))
print(json.dumps(outcomes))
"""


@pytest.mark.timeout(300)
def test_two_writers_at_once_one_wins_whole(
    session: squall.Session, where: str, raw: Raw, tmp_path: Path
) -> None:
    trials = 20
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    args = {"a": ("a", "b", "100"), "b": ("b", "a", "200")}
    procs = {
        who: subprocess.Popen(
            [sys.executable, "-c", RACER, where, me, other, rows, str(trials), str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, (me, other, rows) in args.items()
    }
    results = {}
    for who, p in procs.items():
        out, err = p.communicate(timeout=280)
        assert p.returncode == 0, err
        results[who] = json.loads(out)
    for i in range(trials):
        a, b = results["a"][i], results["b"][i]
        won = [who for who, o in (("a", a), ("b", b)) if not o.startswith("conflict")]
        assert len(won) == 1, f"trial {i}: {a!r} / {b!r}"
        rows = 100 if won == ["a"] else 200
        url = f"{where}/t{i}"
        assert values(session, url) == list(range(rows)), f"trial {i}"
        tag = (a if won == ["a"] else b).rsplit("-", 1)[1]
        names = raw(url)
        assert all(n.endswith(f"-{tag}.parquet") for n in names if n.startswith("part-")), names
        assert not any(n.startswith("_attempts/") for n in names), names
        loser = b if won == ["a"] else a
        assert url.rsplit("/", 1)[1] in loser and "run this write again" in loser
