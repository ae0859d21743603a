"""results.csv: rows appended as runs finish; a crash loses no finished run and a rerun skips them."""

import pytest

from recsim_meta.evaluation.results import ResultsFile, run_all

COLUMNS = ("method", "seed", "return")
KEY = ("method", "seed")
JOBS = [{"method": m, "seed": s} for m in ("random", "oracle") for s in range(3)]


def test_a_rerun_after_a_crash_skips_the_finished_runs(tmp_path):
    path = tmp_path / "results.csv"
    calls = []

    def crashing(job):
        calls.append((job["method"], job["seed"]))
        if len(calls) == 4:
            raise RuntimeError("the machine went down")
        return {"return": 10 * job["seed"]}

    with pytest.raises(RuntimeError):
        run_all(JOBS, crashing, ResultsFile(path, COLUMNS, KEY))
    assert len(ResultsFile(path, COLUMNS, KEY).rows()) == 3  # the three finished runs are on disk

    calls.clear()
    ran = run_all(JOBS, lambda job: calls.append(job["method"]) or {"return": 1}, ResultsFile(path, COLUMNS, KEY))
    assert ran == 3 and len(calls) == 3
    rows = ResultsFile(path, COLUMNS, KEY).rows()
    assert [(r["method"], r["seed"]) for r in rows] == [(j["method"], str(j["seed"])) for j in JOBS]
    assert run_all(JOBS, lambda job: pytest.fail("nothing is left to run"), ResultsFile(path, COLUMNS, KEY)) == 0


def test_a_row_cut_short_is_dropped_and_rerun(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("method,seed,return\nrandom,0,1.0\nrandom,1,2")  # killed while writing the second row
    results = ResultsFile(path, COLUMNS, KEY)
    assert results.finished() == {("random", "0")}
    results.append({"method": "random", "seed": 1, "return": 2.5})
    assert path.read_text() == "method,seed,return\nrandom,0,1.0\nrandom,1,2.5\n"


def test_bad_rows_and_foreign_files_are_refused(tmp_path):
    results = ResultsFile(tmp_path / "results.csv", COLUMNS, KEY)
    with pytest.raises(ValueError, match="exactly the columns"):
        results.append({"method": "random", "seed": 0})
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has the columns"):
        ResultsFile(tmp_path / "other.csv", COLUMNS, KEY)
    with pytest.raises(ValueError, match="key column"):
        ResultsFile(tmp_path / "x.csv", COLUMNS, ("budget",))


def square(job):
    return {"return": job["seed"] ** 2}


def test_worker_processes_append_every_row_once(tmp_path):
    results = ResultsFile(tmp_path / "results.csv", COLUMNS, KEY)
    assert run_all(JOBS, square, results, workers=2) == len(JOBS)
    rows = results.rows()
    assert sorted((r["method"], r["seed"], r["return"]) for r in rows) == sorted(
        (j["method"], str(j["seed"]), str(j["seed"] ** 2)) for j in JOBS
    )
    assert run_all(JOBS, square, results, workers=2) == 0
    with pytest.raises(ValueError, match="workers"):
        run_all(JOBS, square, ResultsFile(tmp_path / "other.csv", COLUMNS, KEY), workers=0)


def test_the_ray_backend_appends_every_row_once(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'recsim_meta[ray]'")
    results = ResultsFile(tmp_path / "results.csv", COLUMNS, KEY)

    def square(job):  # a local function travels by value (cloudpickle); Ray workers cannot import this test file
        return {"return": job["seed"] ** 2}

    assert run_all(JOBS, square, results, workers=2, backend="ray") == len(JOBS)
    assert sorted(int(r["return"]) for r in results.rows()) == sorted(j["seed"] ** 2 for j in JOBS)


def test_an_unknown_backend_is_named(tmp_path):
    with pytest.raises(ValueError, match="accepted: processes, ray"):
        run_all(JOBS, square, ResultsFile(tmp_path / "results.csv", COLUMNS, KEY), backend="dask")


def test_a_damaged_row_in_the_middle_names_its_line_and_the_repair(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("method,seed,return\nrandom,0,1.0\nrandom,1\nrandom,2,3.0\n")
    with pytest.raises(ValueError, match=r"line 3: 2 values where the header has 3 columns; delete that line"):
        ResultsFile(path, COLUMNS, KEY).rows()
