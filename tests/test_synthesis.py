"""The cross-study synthesis on constructed model tables whose answers are known: Kendall τ
overall, within studies and granulated (Jiang et al.), and the groups it is built on."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from landscape.analysis import synthesis


def constructed(seed: int = 0) -> pd.DataFrame:
    """Two studies on two datasets. Study "a": BN on/off x 4 replicates; study "b": skip on/off x
    4 replicates. The gap is mostly set by the dataset (b generalizes far worse), plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for study, dataset, offset, factor in (("a", "d1", 0.0, "batchnorm"), ("b", "d2", 0.5, "skip")):
        for on in (False, True):
            for replicate in range(4):
                rows.append({"study": study, "dataset": dataset, "family": "CNN", "batchnorm": on and factor == "batchnorm",
                             "skip": on and factor == "skip", "dropout": False, "replicate": replicate,
                             "seed": 10 + replicate, "eval_gap": offset + 0.1 * rng.random(),
                             "test_error": offset + 0.2 + 0.1 * rng.random()})
    models = pd.DataFrame(rows)
    models["dataset_only"] = np.where(models["dataset"] == "d2", 10.0, 1.0)  # tracks the dataset, nothing else
    return models


def test_a_measure_equal_to_the_gap_has_tau_one_everywhere():
    models = constructed()
    models["same"] = models["eval_gap"]
    assert synthesis.stats.kendall_tau(models["same"], models["eval_gap"]).estimate == 1.0
    granulated = synthesis.granulated_tau(models, "same", "eval_gap")
    assert set(granulated) == {"seed", "batchnorm", "skip", "all"}  # no group varies the family
    assert all(found.estimate == pytest.approx(1.0) for found in granulated.values())


def test_a_measure_that_tracks_only_the_dataset_gets_a_high_overall_tau_and_zero_granulated():
    models = constructed()
    overall = synthesis.stats.kendall_tau(models["dataset_only"], models["eval_gap"])
    assert overall.estimate > 0.6 and overall.low > 0  # credited for the dataset over all models
    granulated = synthesis.granulated_tau(models, "dataset_only", "eval_gap")
    assert granulated["all"].estimate == 0.0
    assert all(found.estimate == 0.0 for found in granulated.values())


def test_groups_vary_exactly_one_factor_and_hold_the_replicate_fixed():
    models = constructed()
    seed_groups = synthesis.groups(models, "seed")
    assert len(seed_groups) == 4  # one per configuration, its 4 replicates
    assert all(len(g) == 4 and g[["study", "batchnorm", "skip"]].nunique().max() == 1 for g in seed_groups)
    bn_groups = synthesis.groups(models, "batchnorm")
    assert len(bn_groups) == 4 and all(len(g) == 2 and g["replicate"].nunique() == 1 for g in bn_groups)
    assert all(set(g["study"]) == {"a"} for g in bn_groups)
    assert synthesis.groups(models, "family") == []
    with pytest.raises(ValueError, match="unknown factor"):
        synthesis.groups(models, "dataset")


def test_granulated_psi_is_the_mean_of_the_within_group_taus_against_scipy():
    models = constructed(seed=3)
    models["noisy"] = models["eval_gap"] + np.random.default_rng(7).normal(0, 0.05, len(models))
    found = synthesis.granulated_tau(models, "noisy", "eval_gap")
    expected = [scipy.stats.kendalltau(g["noisy"], g["eval_gap"]).statistic for g in synthesis.groups(models, "seed")]
    assert found["seed"].estimate == pytest.approx(np.mean(expected))
    assert found["seed"].n == 4 and not found["seed"].defined  # 4 groups: too few for an interval
    eight = pd.concat([models, models.assign(study=models["study"] + "2")], ignore_index=True)  # 8 seed groups
    doubled = synthesis.granulated_tau(eight, "noisy", "eval_gap")["seed"]
    assert doubled.defined and doubled.n == 8 and doubled.estimate == pytest.approx(found["seed"].estimate)
    assert doubled.low <= doubled.estimate <= doubled.high
    assert found["all"].estimate == pytest.approx(np.mean([found[f].estimate for f in ("seed", "batchnorm", "skip")]))
    assert math.isnan(found["all"].low)  # Ψ is a plain mean: no interval is claimed


def test_runs_without_a_measure_are_left_out_and_a_group_needs_two_of_them():
    models = constructed()
    models["partial"] = models["eval_gap"]
    models.loc[models["batchnorm"], "partial"] = np.nan  # e.g. every BN run diverged
    found = synthesis.granulated_tau(models, "partial", "eval_gap")
    assert "batchnorm" not in found  # every BN group lost one of its two members
    assert found["seed"].n == 3  # the BN configuration's seed group is gone


def test_correlations_add_the_no_batchnorm_subset_only_for_measures_that_are_not_invariant():
    models = constructed()
    for name in synthesis.MEASURES:
        models[name] = models["eval_gap"] * (2 if synthesis.MEASURES[name].invariant else 3)
    table = synthesis.correlations(models, measures=["lambda_max", "asam"], targets=["eval_gap"])
    assert set(table[table["measure"] == "lambda_max"]["subset"]) == {"all", "no BatchNorm"}
    assert set(table[table["measure"] == "asam"]["subset"]) == {"all"}
    overall = table[(table["kind"] == "overall") & (table["subset"] == "all")]
    assert (overall["estimate"] == 1.0).all() and (overall["n"] == len(models)).all()
    no_bn = table[(table["subset"] == "no BatchNorm") & (table["kind"] == "overall")]
    assert no_bn["n"].iloc[0] == (~models["batchnorm"]).sum()
    assert set(table[table["kind"] == "study"]["scope"]) == {"a", "b"}


def test_the_headline_names_the_measure_with_the_largest_granulated_psi():
    models = constructed()
    for name, measure in synthesis.MEASURES.items():
        models[name] = models["dataset_only"]  # credited over all models, never within a group
    models["asam"] = models["eval_gap"]
    table = synthesis.correlations(models, targets=["eval_gap"])
    line = synthesis.tau_headline(table)
    assert line.startswith("generalization gap: largest granulated Ψ ASAM sharpness (+1.00)")
    assert line.endswith(f"overall τ excludes 0 for {len(synthesis.MEASURES)} of {len(synthesis.MEASURES)} measures (BH)")


def test_a_network_that_ended_at_chance_is_listed_as_not_learning_and_left_out_of_the_comparisons():
    from types import SimpleNamespace

    from landscape.pipeline.params import load_params

    params = load_params("batchnorm", "smoke")
    accuracies = {"A_s1": 0.85, "A_s2": 0.105, "B_s3": 0.80, "B_s4": 0.09}  # 10 classes: chance 0.1 ± 0.02
    runs = {run_id: SimpleNamespace(status="completed", seed=int(run_id.split("_s")[1]), outcome="completed",
                                    final={"test_acc": acc, "eval_gap": 0.05}) for run_id, acc in accuracies.items()}
    runs["B_s4"].status, runs["B_s4"].outcome = "diverged", "diverged at epoch 2"  # diverged: not "did not learn"
    results = SimpleNamespace(runs=runs, probes=None, data=SimpleNamespace(num_classes=10))
    models = synthesis.model_table([(params, params.resolve_data(), results)]).set_index("run")
    assert list(models["outcome"]) == ["completed", "did not learn", "completed", "diverged at epoch 2"]
    assert list(synthesis.learned(models.reset_index())["run"]) == ["A_s1", "B_s3"]


def test_the_trait_effect_groups_list_the_models_each_ratio_compares():
    models = pd.DataFrame([
        {"study": "s", "source": "003", "family": "CNN", "batchnorm": bn, "skip": False, "dropout": False,
         "replicate": rep, "label": "A" if bn else "B", "seed": rep + 1, "lambda_max": 2.0 if bn else 1.0}
        for bn in (True, False) for rep in range(2)])
    found = synthesis.effect_groups(models)
    assert list(found["factor"]) == ["batchnorm", "batchnorm"] and list(found["replicate"]) == [0, 1]
    assert found.iloc[0]["on"] == "A (seed 1)" and found.iloc[0]["off"] == "B (seed 1)"
    effects = synthesis.trait_effects(models, ["lambda_max"])
    assert effects.iloc[0]["groups"] == len(found) and effects.iloc[0]["ratio"] == pytest.approx(2.0)
