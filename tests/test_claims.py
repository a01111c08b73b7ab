"""Claim checks of the ablation and BatchNorm studies against hand-made frames with known answers."""
import numpy as np
import pandas as pd
import pytest

from landscape import claims
from landscape.params import ParamsError, load_params

RUNS = ["skipTrue_bnTrue", "skipTrue_bnFalse", "skipFalse_bnTrue", "skipFalse_bnFalse"]


def status(diverged=("skipTrue_bnFalse",)):
    return pd.DataFrame([{"run": r, "status": "diverged" if r in diverged else "completed",
                          "epochs": 9 if r in diverged else 20, "diverged_epoch": 10 if r in diverged else None}
                         for r in RUNS])


def history(accs, losses=None):
    """One final epoch per run with the given val accuracies (None: no completed epoch)."""
    rows = [{"run": r, "epoch": 20, "test_acc": a, "test_loss": (losses or {}).get(r, 0.5), "train_loss": 0.1,
             "gap": 0.0} for r, a in accs.items() if a is not None]
    return pd.DataFrame(rows)


STUDY_ACC = {"skipTrue_bnTrue": 0.8505, "skipTrue_bnFalse": None, "skipFalse_bnTrue": 0.8451,
             "skipFalse_bnFalse": 0.1000}
SKIP = [["skipTrue_bnTrue", "skipTrue_bnFalse"], ["skipFalse_bnTrue", "skipFalse_bnFalse"]]
BN = [["skipTrue_bnTrue", "skipFalse_bnTrue"], ["skipTrue_bnFalse", "skipFalse_bnFalse"]]


def test_main_effects_on_the_studys_own_numbers_put_batchnorm_first():
    # skip: (0.8505 + chance) / 2 - (0.8451 + 0.1) / 2 = 0.0027; BN: (0.8505 + 0.8451) / 2 - 0.1 = 0.7478
    verdict, evidence = claims.main_effect_larger(history(STUDY_ACC), status(), larger=SKIP, smaller=BN)
    assert verdict == claims.CONTRADICTED
    assert "effect +0.0027" in evidence and "effect +0.7478" in evidence and "diverged → chance 0.1000" in evidence
    assert claims.main_effect_larger(history(STUDY_ACC), status(), larger=BN, smaller=SKIP)[0] == claims.SUPPORTED
    trained = {**STUDY_ACC, "skipTrue_bnFalse": 0.84, "skipFalse_bnTrue": 0.10}  # no divergence, BN-only fails
    assert claims.main_effect_larger(history(trained), status(()), larger=SKIP, smaller=BN)[0] == claims.SUPPORTED


def test_divergence_and_chance_level_checks():
    assert claims.diverges(status(), ["skipTrue_bnFalse"]) == (claims.SUPPORTED, "skipTrue_bnFalse: diverged at epoch 10")
    verdict, evidence = claims.diverges(status(()), ["skipTrue_bnFalse"])
    assert verdict == claims.CONTRADICTED and "completed after 20 epochs" in evidence
    ln10 = float(np.log(10))
    at_chance = history({"skipFalse_bnFalse": 0.1003}, {"skipFalse_bnFalse": ln10 + 0.0001})
    assert claims.does_not_learn(at_chance, ["skipFalse_bnFalse"])[0] == claims.SUPPORTED
    learned = history({"skipFalse_bnFalse": 0.62}, {"skipFalse_bnFalse": 1.1})
    assert claims.does_not_learn(learned, ["skipFalse_bnFalse"])[0] == claims.CONTRADICTED
    near = history({"skipFalse_bnFalse": 0.13}, {"skipFalse_bnFalse": 2.2})  # between tolerance and twice it
    assert claims.does_not_learn(near, ["skipFalse_bnFalse"])[0] == claims.INCONCLUSIVE


def test_sharpness_order_and_conditioning():
    sharp = pd.DataFrame([{"run": r, "kind": k, "sharpness": v * (2 if k == "asam" else 1), "first_order": v / 2}
                          for r, v in (("A1", 0.18), ("A2", 0.20), ("B", 0.09)) for k in ("sam", "asam")])
    verdict, evidence = claims.sharpness_order(sharp, [["A1", "A2"], "B"])
    assert verdict == claims.SUPPORTED and "SAM sharpness (nats): A1/A2 0.18, 0.2; B 0.09" in evidence
    assert claims.sharpness_order(sharp, ["B", ["A1", "A2"]])[0] == claims.CONTRADICTED
    assert claims.sharpness_order(sharp, ["A2", "A1"])[0] == claims.SUPPORTED  # 0.20 vs 0.18: beyond 5%
    assert claims.sharpness_order(sharp, ["A2", "A1"], rel_tolerance=0.2)[0] == claims.INCONCLUSIVE
    assert claims.sharpness_order(sharp, ["B", "A1"], kind="asam")[0] == claims.CONTRADICTED
    hess = pd.DataFrame([
        {"run": "good", "method": "lanczos", "lambda_max": 4.0, "lambda_min": 1.0, "condition_number": 4.0,
         "condition_status": "defined"},
        {"run": "saddle", "method": "lanczos", "lambda_max": 7.0, "lambda_min": -0.3, "condition_number": np.nan,
         "condition_status": "undefined: negative curvature present"},
        {"run": "open", "method": "lanczos", "lambda_max": 7.0, "lambda_min": np.nan, "condition_number": np.nan,
         "condition_status": "undefined: smallest eigenvalue did not converge"}])
    assert claims.well_conditioned(hess, ["good"])[0] == claims.SUPPORTED
    assert claims.well_conditioned(hess, ["good"], max_condition=2)[0] == claims.CONTRADICTED
    verdict, evidence = claims.well_conditioned(hess, ["saddle"])
    assert verdict == claims.CONTRADICTED and "negative curvature" in evidence
    assert claims.well_conditioned(hess, ["open"])[0] == claims.INCONCLUSIVE


def test_claim_arguments_are_checked_against_the_check_signature():
    params = load_params("resnet20_ablation", "smoke")
    specs = claims.parse(params)
    assert {s.check for s in specs} >= {"diverges", "does_not_learn", "main_effect_larger", "lambda_max_order",
                                        "well_conditioned"}
    entry = {"text": "t", "check": "lambda_max_order", "args": {"order": ["skipTrue_bnTrue"], "tolerance": 0.1}}
    with pytest.raises(ParamsError, match=r"takes \['order'\] \(and optionally \['rel_tolerance'\]\)"):
        claims.parse(load_params("resnet20_ablation", "smoke", {"reference": {"claims": [entry]}}))


def test_a_run_without_a_completed_epoch_leaves_its_claim_pending():
    params = load_params("resnet20_ablation", "smoke")
    verdicts = claims.evaluate(params, {"history": history(STUDY_ACC), "runs": status()})
    by_check = {v.check: v for v in verdicts}
    assert by_check["diverges"].verdict == claims.SUPPORTED
    assert by_check["lambda_max_order"].verdict == claims.PENDING  # no Hessian in this evidence
