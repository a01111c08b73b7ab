"""Findings and limitations are generated from the verdicts and what the report computed."""
from dataclasses import replace

import numpy as np
import pandas as pd

from landscape.verdicts import claims, stats
from landscape.reporting import findings
from landscape.core.escaping import literal
from landscape.pipeline.params import load_params
from landscape.probes import ProbeResults


CTX = claims.Context()


def part(low, high, name="effect"):
    """A comparison of two groups of 5 seeds whose difference has the interval [low, high]."""
    interval = stats.Interval((low + high) / 2, low, high, (5, 5), 0.95, "Welch", lambda null: 0.5)
    group = claims.Group("A", 5, stats.Interval(1.0, 0.9, 1.1, 5, 0.95, "t"))
    return claims.compare(CTX, name, [group, replace(group, name="B")], "seeds", "difference", interval,
                          claims.ABOVE, [0.0])


def claim(*parts, study=(), pending=None):
    return claims.Claim("X is better.", "check", tuple(parts), tuple(replace(p, method=claims.STUDY)
                                                                     for p in study),
                        "a change of method" if study else None, pending)


def test_the_answer_counts_the_verdicts_and_gives_each_claim_one_item_with_what_carries_it():
    supported = claim(part(0.05, 0.15))
    lead, items = findings.answer([supported, claim(pending="no check implemented yet"),
                                   claim(part(0.05, 0.15), study=[part(-0.1, 0.1)]), claim(part(-1, 1, "b"))],
                                  "5 seeds each")
    assert lead == ("This report's seeds (5 seeds each) decide 2 of the study's 4 claims (1 supported, 1 "
                    "inconclusive, 1 pending, 1 depends on the method; Holm-corrected over 3 comparisons).")
    first, by_method, inconclusive, pending = items
    assert first == f"“X is better” is **supported**: {literal(supported.parts[0].brief())}."
    assert r"effect, A vs B: difference 0.1 \[0.05, 0.15\]" in first  # Markdown, shown as brackets
    assert by_method.startswith("“X is better” is **supported by our method, inconclusive by the study's**: ")
    assert inconclusive == r"“X is better” is **inconclusive**; closest: b, A vs B: difference 0 \[-1, 1\]."
    assert pending == "**Pending** (no check, or no evidence for one): “X is better”."
    assert findings.answer([], "5 seeds each") == ("", [])


def test_the_answer_quotes_the_parts_that_carry_a_mixed_claim_and_names_undecidable_ones():
    a, b, c = part(0.5, 2, "a"), part(-1, 1, "b"), part(-4, -2, "c")
    _, [mixed] = findings.answer([claim(a, b, c)], "5 seeds each")
    assert mixed.startswith("“X is better” is **mixed**: a, A vs B: ") and "; c, A vs B: " in mixed
    assert "b, A vs B" not in mixed
    four = claim(a, c, a, c)
    _, [mixed] = findings.answer([four], "5 seeds each")
    assert mixed.endswith("; 2 more in the claims table.")
    undecidable = claim(replace(b, raw=claims.UNDECIDABLE))
    assert undecidable.headline == claims.UNDECIDABLE
    _, [named] = findings.answer([undecidable], "2 seeds each")
    assert named == ("**Undecidable with these seeds** (a group has fewer than 3 independent units, or no outcome "
                     "could decide it): “X is better”.")


def test_a_difference_of_method_names_the_change_that_flips_it():
    params = load_params("batchnorm", "smoke")
    found = findings.differences(params, [
        claim(part(-1, 1), study=[part(1, 2)]), claim(part(-2, -1), study=[part(-2, -1)]),
        claim(part(-2, -1)), claim(part(1, 2)), claim(part(1, 2), part(-2, -1))], None)
    assert len(found) == 4  # a supported claim is no difference
    by_method, by_result, no_variant, mixed = found
    assert "not established by" in by_method and "the change of method decides it: a change of method" in by_method
    assert "neither verdict alone says the study is wrong" in by_method
    assert "contradicted by" in by_result and "does not explain it" in by_result
    assert "no variant" in no_variant
    assert "only partly borne out by" in mixed and "(mixed)" in mixed
    assert len(findings.differences(params, [claim(part(1, 2))], None)) == 0


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
    status = pd.DataFrame([{"run": rep.id, "config": rep.config, "status": "diverged" if rep.seed else "completed",
                            "outcome": "diverged" if rep.seed else "completed"} for rep in params.replicas])
    history = pd.DataFrame([{"run": rep.id, "config": rep.config, "seed": rep.seed, "epoch": 1,
                             "test_acc": 0.5 + rep.seed / 10}
                            for rep in params.replicas])
    found = findings.limitations(params, params.resolve_data(), status, history, 400, None,
                                 [claim(pending="no check implemented yet")])
    text = " ".join(found)
    assert "stand-in (fashion_mnist for cifar10)" in text
    images = np.sqrt(0.55 * 0.45 / 400)  # a standard deviation beside a standard deviation
    assert f"skip + BN {images:.4f} over images, {np.std([0.5, 0.6], ddof=1):.4f} over seeds" in text
    assert "skip + BN 1 of 2" in text and "trained for 1 epoch " in text
    assert "Not checked here: “X is better.”" in text
