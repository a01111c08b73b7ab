"""The published-numbers check: a changed number, verdict or missing report is found; wall
times and what a render computed rather than read from the cache are not compared."""
from __future__ import annotations

import json
import math

from landscape.reporting import same_numbers

METRICS = {"final": [{"run": "A_s1", "test_acc": 0.91, "time_s": 12.5}],
           "status": [{"run": "A_s1", "trained_epochs": 2, "epochs": 2}],
           "probe_sets": {"train": 64, "cache": {"computed": 3, "loaded": 0}},
           "hessian": [{"lambda_max": 3.25, "trace": math.nan}],
           "claims": [{"verdict": "supported", "parts": [{"p": 0.01, "seconds": 3}]}]}


def write(folder, report, metrics):
    (folder / report).mkdir(parents=True)
    (folder / report / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def test_identical_metrics_apart_from_wall_times_are_the_same(tmp_path):
    write(tmp_path / "old", "r", METRICS)
    changed = json.loads(json.dumps(METRICS))
    changed["final"][0]["time_s"] = 99.0
    changed["claims"][0]["parts"][0]["seconds"] = 7
    changed["status"][0]["trained_epochs"] = 0  # read from the cache this time
    changed["probe_sets"]["cache"] = {"computed": 0, "loaded": 3}
    write(tmp_path / "new", "r", changed)
    assert same_numbers.compare_outputs(tmp_path / "old", tmp_path / "new") == []
    assert same_numbers.main([str(tmp_path / "old"), str(tmp_path / "new")]) == 0


def test_a_changed_number_verdict_type_or_length_is_each_one_line(tmp_path, capsys):
    write(tmp_path / "old", "r", METRICS)
    changed = json.loads(json.dumps(METRICS))
    changed["hessian"][0]["lambda_max"] = 3.2500001
    changed["claims"][0]["verdict"] = "mixed"
    changed["final"][0]["test_acc"] = "0.91"
    changed["final"].append({"run": "A_s2"})
    changed["status"][0]["epochs"] = 1
    changed["probe_sets"]["train"] = 32
    write(tmp_path / "new", "r", changed)
    found = same_numbers.compare_outputs(tmp_path / "old", tmp_path / "new")
    assert found == ["r/claims/0/verdict: 'supported' != 'mixed'", "r/final: 1 items != 2 items",
                     "r/final/0/test_acc: 0.91 != '0.91'", "r/hessian/0/lambda_max: 3.25 != 3.2500001",
                     "r/probe_sets/train: 64 != 32", "r/status/0/epochs: 2 != 1"]
    assert same_numbers.main([str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    assert capsys.readouterr().out.splitlines() == found


def test_a_report_or_key_on_one_side_only_is_a_difference(tmp_path):
    write(tmp_path / "old", "r", METRICS)
    write(tmp_path / "old", "gone", METRICS)
    fewer = {k: v for k, v in METRICS.items() if k != "hessian"}
    write(tmp_path / "new", "r", fewer)
    assert same_numbers.compare_outputs(tmp_path / "old", tmp_path / "new") == [
        f"gone: metrics only in {tmp_path / 'old' / 'gone'}", "r/hessian: present != absent"]


def test_anything_but_two_folders_is_one_line_and_status_2(tmp_path, capsys):
    assert same_numbers.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: usage:")
