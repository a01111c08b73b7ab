"""Findings and limitations are generated from the verdicts and what the report computed."""
import numpy as np
import pandas as pd
import scipy.stats

from landscape import claims, findings
from landscape.params import load_params
from landscape.probes import ProbeResults


def claim(verdict, study=None, evidence="effect 0.1 [0.05, 0.15] (Welch; n = 5, 5); per seed: 1, 2"):
    return claims.Claim("X is better.", verdict, evidence, "check", study, None if study is None else "study evidence")


def test_the_answer_quotes_each_checked_claim_with_its_effect():
    found = findings.answer([claim(claims.SUPPORTED), claim(claims.PENDING),
                             claim(claims.SUPPORTED, study=claims.INCONCLUSIVE)])
    assert found[0] == "“X is better.” — supported: effect 0.1 [0.05, 0.15] (Welch; n = 5, 5)."
    assert len(found) == 2 and "supported by our method, inconclusive by the study's" in found[1]


def test_the_answer_quotes_the_comparison_that_decides_a_claim_of_several():
    _, evidence = claims.conclude([(claims.SUPPORTED, "a 1 [0.5, 2]"), (claims.INCONCLUSIVE, "b 0.1 [-1, 1]"),
                                   (claims.SUPPORTED, "c 3 [2, 4]")])
    found, = findings.answer([claim(claims.INCONCLUSIVE, evidence=evidence)])
    assert found == "“X is better.” — inconclusive, decided by this one of its 3 comparisons: b 0.1 [-1, 1]."
    _, evidence = claims.conclude([(claims.SUPPORTED, "a 1 [0.5, 2]"), (claims.SUPPORTED, "c 3 [2, 4]")])
    found, = findings.answer([claim(claims.SUPPORTED, evidence=evidence)])
    assert found == "“X is better.” — supported, as is each of its 2 comparisons, the first: a 1 [0.5, 2]."


def test_a_difference_is_called_one_of_method_only_when_the_studys_method_agrees_with_the_study():
    params = load_params("batchnorm", "smoke")
    found = findings.differences(params, [
        claim(claims.INCONCLUSIVE, study=claims.SUPPORTED), claim(claims.CONTRADICTED, study=claims.CONTRADICTED),
        claim(claims.CONTRADICTED), claim(claims.SUPPORTED), claim(claims.INCONCLUSIVE, study=claims.CONTRADICTED)],
        None)
    assert len(found) == 4  # a supported claim is no difference
    by_method, by_result, no_variant, other = found
    assert "not established by" in by_method and "one of method" in by_method
    assert "contradicted by" in by_result and "does not explain it" in by_result
    assert "no variant" in no_variant
    assert "gives contradicted:" not in other and other.endswith("gives contradicted.")
    assert len(findings.differences(params, [claim(claims.SUPPORTED)], None)) == 0


def test_published_numbers_are_set_beside_the_study_method_and_ours():
    params = load_params("batchnorm", "smoke")
    hess = pd.DataFrame([{"run": f"{c}_s{s}", "config": c, "seed": s, "method": m, "lambda_max": v + s}
                         for c, v in (("A", 40.0), ("B", 20.0)) for s in ((1, 2) if c == "A" else (3, 4))
                         for m in ("lanczos", "study")])
    probes = ProbeResults({"hessian": hess}, pd.DataFrame(columns=["run", "reason"]), {}, {})
    found = findings.differences(params, [], probes)
    assert found[0].startswith("λmax of A: CNN + BN: published 57.18; the study's method on our study-seed run 41")
    assert "over 2 seeds" in found[0] and len(found) == 2


def test_limitations_name_the_stand_in_the_seeds_and_what_was_not_checked():
    params = load_params("resnet20_ablation", "smoke")
    status = pd.DataFrame([{"run": rep.id, "config": rep.config, "status": "diverged" if rep.seed else "completed"}
                           for rep in params.replicas])
    history = pd.DataFrame([{"run": rep.id, "config": rep.config, "seed": rep.seed, "epoch": 1,
                             "test_acc": 0.5 + rep.seed / 10}
                            for rep in params.replicas])
    found = findings.limitations(params, params.resolve_data(), status, history, 400, None, [claim(claims.PENDING)])
    text = " ".join(found)
    assert "stand-in (fashion_mnist for cifar10)" in text
    half = scipy.stats.t.ppf(0.975, 399) * np.sqrt(0.55 * 0.45 / 399)  # 220 of 400 right: the t interval over images
    assert f"skip + BN ± {half:.4f} over images, seed standard deviation {np.std([0.5, 0.6], ddof=1):.4f}" in text
    assert "skip + BN 1 of 2" in text and "trained for 1 epoch " in text
    assert "Not checked here: “X is better.”" in text
