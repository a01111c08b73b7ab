"""The designed grid's models table: which models reached the common stopping point and which are
left out, with why, on crafted runs."""
from types import SimpleNamespace

import math

import pandas as pd
import pytest

from landscape.analysis import grid
from landscape.core.errors import ParamsError
from landscape.pipeline.params import load_params
from landscape.verdicts import thresholds


def fake_results(params):
    """Four runs of the smoke grid: one reached the stopping loss, one hit the epoch cap above it,
    one ended at chance, one diverged; only the first two were probed."""
    stop = params.training.stop_train_loss or 1.0
    reps = params.replicas[:4]
    rows = [
        ("completed", [{"full_train_loss": stop / 2, "test_acc": 0.8, "eval_gap": 0.1}] * 2),
        ("completed", [{"full_train_loss": stop * 2, "test_acc": 0.7, "eval_gap": 0.05}] * params.training.epochs),
        ("completed", [{"full_train_loss": stop / 2, "test_acc": 0.1, "eval_gap": 0.0}]),
        ("diverged", []),
    ]
    runs = {rep.id: SimpleNamespace(status=status, history=history, final=history[-1] if history else {},
                                    epochs=len(history), label=rep.label, config=rep.config, seed=rep.seed)
            for rep, (status, history) in zip(reps, rows)}
    measured = pd.DataFrame([{"run": rep.id, **{m: float(i + 1) for m in grid.PROBED["measures"]}}
                             for i, rep in enumerate(reps[:2])])
    probes = SimpleNamespace(measures=measured, complexity=None)
    return SimpleNamespace(runs=runs, probes=probes), reps


def test_the_models_table_says_which_models_reached_the_stopping_point_and_why_the_others_are_left_out():
    params = load_params("measures_grid", "smoke")
    results, reps = fake_results(params)
    models = grid.model_table(params, results, 10)
    assert list(models["stop"]) == [grid.REACHED, "missed", thresholds.DID_NOT_LEARN, "diverged"]
    assert list(grid.compared(models)["run"]) == [reps[0].id]
    assert models.loc[0, "lambda_max"] == 1.0 and math.isnan(models.loc[2, "lambda_max"])
    assert math.isnan(models.loc[0, "path_norm"])  # the complexity probe was not run
    assert models.loc[0, "depth"] == params.design.levels_of()[reps[0].config]["depth"]
    assert math.isnan(models.loc[3, "test_error"]) and models.loc[0, "test_error"] == pytest.approx(0.2)
    out = grid.left_out(models, params.training.stop_train_loss).set_index("run")
    assert "after the cap of 2 epochs" in out.at[reps[1].id, "reason"]
    assert out.at[reps[2].id, "reason"] == "ended at chance accuracy"
    assert out.at[reps[3].id, "reason"] == "training diverged"
    assert grid.counts(models) == {grid.REACHED: 1, "missed": 1, thresholds.DID_NOT_LEARN: 1, "diverged": 1}


def test_a_factor_may_not_take_the_name_of_a_column_of_the_models_table():
    with pytest.raises(ParamsError, match="name a column every model has"):
        load_params("measures_grid", "smoke", {"design": {"factors": {"seed": {"option": "width", "levels": [8, 16]}}}})


def test_statistics_over_models_without_a_measured_value_are_empty_not_an_error():
    models = pd.DataFrame({"a": [0, 1, 0, 1], "seed": [0, 0, 1, 1], "eval_gap": [0.1, 0.2, 0.1, 0.3],
                           **{m: [math.nan] * 4 for m in grid.MEASURES}})
    found = grid.rank_statistics(models, ["a"])
    assert found.summary.empty and list(found.summary.columns) == grid.SUMMARY_COLUMNS


def test_a_grids_models_table_has_one_row_per_architecture_and_its_runs_one_sentence():
    from landscape.reporting import tables

    params = load_params("measures_grid", "smoke")
    counts = {rep.id: 100 * params.config(rep.config).options["depth"] + params.config(rep.config).options["width"]
              for rep in params.replicas}
    shown = tables.design_models_table(params, counts)
    assert len(shown) == 8 and set(shown["configurations"]) == {4}  # depth × width × BatchNorm; lr × batch: 4
    status = pd.DataFrame({"outcome": ["completed", "completed", "diverged"], "epochs": [10, 30, 2],
                           "time_s": [100.0, 300.0, 20.0]})
    assert tables.runs_sentence(status).startswith("3 runs: 2 completed; 1 diverged; epochs completed from 2 to 30 "
                                                   "(median 10); 420 s of training wall time")


def test_without_a_stopping_point_every_completed_model_that_learned_is_compared():
    params = load_params("measures_grid", "smoke", {"training": {"stop_train_loss": None}})
    results, _ = fake_results(params)
    assert list(grid.model_table(params, results, 10)["stop"]) == [grid.REACHED, grid.REACHED,
                                                                   thresholds.DID_NOT_LEARN, "diverged"]
