"""The probe registry on tiny models and data: deterministic frames, the study's direction kinds,
the same numbers as the direct calls, and the params built from the registry."""
import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from landscape import probes
from landscape.analysis import synthesis
from landscape.verdicts import claims
from landscape.geometry import complexity, curvature, directions, operators, sharpness
from landscape.learning.data import ImageDataset
from landscape.pipeline.params import ProbeParams, load_params


def tiny_model(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    return model.eval()


def sets_of():
    g = torch.Generator().manual_seed(0)
    make = lambda n, split: ImageDataset("tiny", split, torch.randn(n, 1, 4, 4, generator=g), torch.arange(n) % 10)
    train, test = make(40, "train"), make(30, "test")
    return probes.base.ProbeSets(train, test, train, "eval", 16)


@pytest.fixture
def sets():
    return sets_of()


def compute(name, models, sets, params):
    return probes.REGISTRY[name].compute(models, sets, getattr(params.probes, name))


def test_every_probe_of_the_params_is_in_the_registry_and_the_params_model():
    assert set(ProbeParams.model_fields) == {"eval_set", *probes.REGISTRY}
    assert set(probes.FRAMES) == {frame for p in probes.REGISTRY.values() for frame in p.frames}
    assert probes.FRAMES["barriers"] == "interpolation" and probes.REGISTRY["interpolation"].runs == 2
    with pytest.raises(ValueError, match="unknown key 'nope'"):
        load_params("batchnorm", "smoke", {"probes": {"density": {"nope": 1}}})


@pytest.mark.parametrize("name", ["noise", "slice1d", "density", "hessian", "gradient", "measures", "complexity"])
def test_two_computations_give_identical_frames(name, sets):
    params = load_params("batchnorm", "smoke", {"probes": {"noise": {"sigmas": [0.0, 0.1], "draws": 2},
                                                           "gradient": {}, "measures": {"trace_samples": 3},
                                                           "complexity": {"draws": 2, "halvings": 4}}})
    first = compute(name, [tiny_model(1)], sets, params)
    second = compute(name, [tiny_model(1)], sets, params)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert "run" not in first.columns  # the pipeline adds run ids and labels


def test_noise_has_both_scales_and_the_sets_mode(sets):
    params = load_params("seed_connectivity", "smoke")
    frame = compute("noise", [tiny_model(1)], sets, params)
    assert set(frame["mode"]) == {"eval"} and set(frame["scale"]) == {"absolute", "relative"}


def test_random_direction_adds_the_studys_unnormalized_slice(sets):
    params = load_params("mlp_cnn_rescnn_mnist", "smoke")
    frame = compute("slice1d", [tiny_model(1)], sets, params)
    assert set(frame["direction"]) == {"filter", "random"} and set(frame["split"]) == {"train", "test"}
    grids = {kind: sorted(set(rows["alpha"])) for kind, rows in frame.groupby("direction")}
    assert grids["filter"] == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0])  # its own range: filter_range
    assert grids["random"] == pytest.approx([-0.05, -0.025, 0.0, 0.025, 0.05])
    flat = compute("flatness", [tiny_model(1)], sets, params)
    assert flat.loc[0, "num_draws"] == 2 and flat.loc[0, "mean"] >= 0


def test_sharpness_and_gradient_probes_match_the_direct_calls(sets):
    params = load_params("batchnorm", "smoke", {"probes": {"gradient": {}}})
    model = tiny_model(1)
    sam = compute("sharpness", [model], sets, params).set_index("kind")
    cfg = params.probes.sharpness
    direct = sharpness.epsilon_sharpness(model, sets.train, cfg.rho, tol=cfg.ascent_tol,
                                                max_steps=cfg.max_ascent_steps, chunk_size=16)
    assert sam.loc["sam", "sharpness"] == direct.sharpness and sam.loc["sam", "first_order"] == direct.first_order
    assert (sam.loc["sam", "steps"], sam.loc["sam", "converged"]) == (direct.steps, direct.converged)
    assert sam.loc["sam", "sharpness"] >= sam.loc["sam", "first_order"] > 0
    assert sam.loc["asam", "rho"] == params.probes.sharpness.adaptive_rho
    grads = compute("gradient", [model], sets, params).set_index("split")
    assert grads.loc["test", "grad_norm"] == sharpness.gradient_norm(model, sets.test, chunk_size=16).norm
    assert grads.loc["train", "n"] == len(sets.train)


def test_the_loss_range_is_the_range_of_the_surface_on_the_same_grid(sets):
    params = load_params("resnet20_ablation", "smoke")
    cfg = params.probes.loss_range
    surface = probes.slices.surface2d([tiny_model(1)], sets, probes.slices.SurfaceParams(**cfg.model_dump()))
    found = compute("loss_range", [tiny_model(1)], sets, params).set_index(["direction", "split"])
    assert set(found.index) == {(kind, split) for kind in ("filter", "unit") for split in ("train", "test")}
    for (kind, split), rows in surface.groupby(["direction", "split"]):
        row = found.loc[(kind, split)]
        assert (row["min"], row["max"]) == (rows["loss"].min(), rows["loss"].max())
        assert row["range"] == rows["loss"].max() - rows["loss"].min() and row["n"] == rows["n"].iloc[0]
    assert (found["points"] == cfg.points).all() and (found["mode"] == "eval").all()


def test_unit_direction_adds_the_studys_unit_norm_surface(sets):
    params = load_params("resnet20_ablation", "smoke")
    surface = compute("surface2d", [tiny_model(1)], sets, params)
    assert set(surface["direction"]) == {"filter", "unit"} and set(surface["split"]) == {"train", "test"}
    assert len(surface) == 2 * 2 * params.probes.surface2d.points ** 2
    unit, filt = (surface[(surface["direction"] == k) & (surface["split"] == "train")]["loss"] for k in ("unit", "filter"))
    assert unit.max() - unit.min() < filt.max() - filt.min()  # a unit step over all weights moves the loss less


def test_interpolation_gives_the_path_and_one_barrier_per_split(sets):
    params = load_params("seed_connectivity", "smoke")
    path, barriers = compute("interpolation", [tiny_model(1), tiny_model(2)], sets, params)
    assert set(path["split"]) == {"train", "test"} and len(path) == 2 * params.probes.interpolation.points
    assert list(barriers["split"]) == ["train", "test"] and (barriers["loss_barrier"] >= 0).all()


def test_density_matches_the_spectral_density_and_counts_clearly_negative_eigenvalues(sets):
    params = load_params("batchnorm", "smoke")
    model = tiny_model(3)
    frame = compute("density", [model], sets, params)
    cfg = params.probes.density
    op = operators.HessianOperator(model, sets.train, chunk_size=16)
    direct = curvature.spectral_density(op, num_runs=cfg.runs, num_steps=cfg.steps, num_points=cfg.points,
                                               seed=cfg.seed)
    assert frame["density"].tolist() == direct.density.tolist() and len(frame) == cfg.points
    largest = max(abs(x).max() for x in direct.nodes)
    assert frame["negative_mass"].iloc[0] == direct.mass_between(-float("inf"), -probes.density.NEGATIVE_FRACTION * largest)
    assert 0 <= frame["negative_mass"].iloc[0] <= 1 and frame["num_hvps"].iloc[0] == cfg.runs * cfg.steps


def test_the_hessian_leaves_lambda_min_out_only_when_asked_and_saves_its_products(sets):
    params = load_params("batchnorm", "smoke", {"probes": {"hessian": {"trace_samples": 0}}})
    without = compute("hessian", [tiny_model(2)], sets, params).set_index("method").loc["lanczos"]
    params = load_params("batchnorm", "smoke", {"probes": {"hessian": {"trace_samples": 0, "lambda_min": True}}})
    with_min = compute("hessian", [tiny_model(2)], sets, params).set_index("method").loc["lanczos"]
    assert without["lambda_min_kind"] == probes.base.NOT_COMPUTED and pd.isna(without["lambda_min"])
    assert without["condition_status"] == probes.base.NOT_COMPUTED
    assert with_min["lambda_min_kind"] != probes.base.NOT_COMPUTED and pd.notna(with_min["lambda_min"])
    assert without["lambda_max"] == with_min["lambda_max"] and without["num_hvps"] < with_min["num_hvps"]


def test_the_attribution_steps_change_one_thing_at_a_time_from_ours_to_the_study_method():
    """Issue 13: between our λmax (Lanczos, eval mode, probe set) and the study's (power steps on one
    mini-batch, train mode): train mode over the probe set in study-size batches (BatchNorm only),
    then Lanczos on the study's own batch, which the study's power steps approach."""
    from probe_fixtures import bn_net

    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(48, 1, 8, 8, generator=g, dtype=torch.float64), torch.arange(48) % 3
    data = ImageDataset("tiny", "train", images, labels)
    bn_sets = probes.base.ProbeSets(data, data, data, "eval", 48)
    cfg = probes.hessian.HessianParams(top_k=1, trace_samples=0, lambda_min=False, study_batch_size=16,
                               study_iterations=500, attribute=True, tol=1e-8)
    model = bn_net(3)
    frame = probes.hessian.hessian([model], bn_sets, cfg).set_index("method")
    assert list(frame.index) == ["lanczos", "study", "lanczos-train", "lanczos-batch"]
    assert (frame.loc["lanczos-train", "mode"], frame.loc["lanczos-batch", "n"]) == ("train", 16)
    batch = curvature.study_batch(data, 16, seed=0)
    direct = curvature.lanczos(operators.HessianOperator(model, batch, mode="train", chunk_size=16),
                                      k=1, tol=1e-8)
    assert frame.loc["lanczos-batch", "lambda_max"] == pytest.approx(float(direct.eigenvalues[0]), rel=1e-9)
    in_batches = operators.HessianOperator(model, data, mode="train", chunk_size=16)
    assert frame.loc["lanczos-train", "lambda_max"] == pytest.approx(
        float(curvature.lanczos(in_batches, k=1, tol=1e-8).eigenvalues[0]), rel=1e-9)
    assert frame.loc["lanczos-train", "lambda_max"] != pytest.approx(frame.loc["lanczos", "lambda_max"], rel=1e-3)
    assert frame.loc["study", "lambda_max"] == pytest.approx(frame.loc["lanczos-batch", "lambda_max"], rel=1e-3)
    plain = probes.hessian.hessian([tiny_model(1)], sets_of(), cfg.model_copy(update={"study_batch_size": 8}))
    assert list(plain["method"]) == ["lanczos", "study", "lanczos-batch"]  # no BatchNorm: one mode


def test_measures_agree_with_the_dense_hessian_and_the_direct_calls():
    """λmax, the Ritz bound on λmin, the trace and the slice curvatures against the dense Hessian
    of a float64 net; sharpness, noise and gradient against the functions they call."""
    model = tiny_model(1).double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 4, 4, generator=g, dtype=torch.float64)
    train = ImageDataset("tiny", "train", x, torch.arange(40) % 10)
    sets = probes.base.ProbeSets(train, train, train, "eval", 16)
    cfg = probes.measures.MeasuresParams(trace_samples=400, slice_directions=3, noise_draws=2, tol=1e-8)
    row = probes.measures.measures([model], sets, cfg).iloc[0]

    theta = directions.parameter_vector(model)

    def loss(flat):
        params = directions.to_dict(flat, model)
        return torch.nn.functional.cross_entropy(torch.func.functional_call(model, params, (x,)), train.labels)

    dense = torch.autograd.functional.hessian(loss, theta)
    eigenvalues = torch.linalg.eigvalsh(dense)
    assert row["lambda_max"] == pytest.approx(float(eigenvalues[-1]), rel=1e-6)
    assert row["lambda_min_ritz"] >= float(eigenvalues[0]) - 1e-9  # a Ritz value bounds λmin from above
    assert row["negative_curvature"] == (row["lambda_min_ritz"] < -1e-8 * row["lambda_max"])
    assert row["lambda_ratio"] == pytest.approx(row["lambda_max"] / abs(row["lambda_min_ritz"]))
    assert abs(row["trace"] - float(torch.trace(dense))) < 4 * row["trace_stderr"]
    bends = [float(d @ dense @ d) for d in (directions.normalized_direction(model, i) for i in range(3))]
    assert row["slice_curvature"] == pytest.approx(np.mean(bends), rel=1e-9)
    assert row["slice_curvature_sd"] == pytest.approx(np.std(bends, ddof=1), rel=1e-9)
    ascent = {"tol": cfg.ascent_tol, "max_steps": cfg.max_ascent_steps, "chunk_size": 16}
    sam = sharpness.epsilon_sharpness(model, train, cfg.rho, **ascent)
    asam = sharpness.epsilon_sharpness(model, train, cfg.adaptive_rho, adaptive=True, **ascent)
    assert (row["sam"], row["asam"]) == (sam.sharpness, asam.sharpness)
    assert (row["sam_steps"], row["asam_converged"]) == (sam.steps, asam.converged)
    draws = sharpness.noise_draws(model, train, [cfg.noise_sigma], scale="relative", num_draws=2, chunk_size=16)
    assert row["noise_drop"] == pytest.approx(draws["base_accuracy"].iloc[0] - draws["accuracy"].mean())
    assert row["grad_norm"] == sharpness.gradient_norm(model, train, chunk_size=16).norm
    assert row["n"] == 40 and row["mode"] == "eval"


def test_the_complexity_probe_gives_the_geometry_functions_numbers(sets):
    """The probe's row is ``norm_measures`` and the σ' search on the train probe set, with
    1/σ'² as the flatness."""
    model = tiny_model(1)
    cfg = probes.complexity.ComplexityParams(draws=2, halvings=5, target_drop=0.2, tolerance=0.05)
    row = probes.complexity.complexity([model], sets, cfg).iloc[0]
    norms = complexity.norm_measures(model, sets.train, (1, 4, 4), chunk_size=16)
    search = complexity.magnitude_aware_sigma(model, sets.train, 0.2, 0.05, 2, cfg.epsilon, 5, 0, "eval", 16)
    assert row["path_norm"] == norms["path_norm"] and row["log_prod_spec"] == norms["log_prod_spec"]
    assert row["layers"] == 2 and row["n"] == len(sets.train.labels)
    assert row["pacbayes_sigma"] == search.sigma and row["pacbayes_flatness"] == pytest.approx(search.sigma ** -2)
    assert set(probes.complexity.SCALARS) <= set(row.index)


def test_the_ggn_probe_gives_both_matrices_by_the_same_method_and_agrees_with_the_operators(sets):
    """G and H of one model, each by Lanczos and a Hutchinson trace with the same vectors, agree
    with the operators called directly (G itself is checked against the dense Jᵀ S J in
    test_curvature); G is positive, and the frame is the same when computed again."""
    cfg = probes.ggn.GGNParams(tol=1e-8, trace_samples=4)
    model = tiny_model(1)
    frame = probes.ggn.ggn([model], sets, cfg).set_index("matrix")
    assert list(frame.index) == ["ggn", "hessian"] and set(frame["mode"]) == {"eval"} and set(frame["n"]) == {40}
    for matrix, operator in probes.ggn.MATRICES.items():
        op = operator(model, sets.train, chunk_size=16)
        top = curvature.lanczos(op, k=1, tol=1e-8).eigenvalues[0]
        assert frame.loc[matrix, "lambda_max"] == pytest.approx(top, rel=1e-6)
        trace = curvature.hutchinson_trace(op, 4, seed=0)
        assert frame.loc[matrix, "trace"] == pytest.approx(trace.trace, rel=1e-9)
        assert frame.loc[matrix, "trace_stderr"] == pytest.approx(trace.stderr, rel=1e-9)
    assert frame.loc["ggn", "lambda_max"] > 0 and frame.loc["ggn", "trace"] > 0
    again = probes.ggn.ggn([model], sets, cfg)
    pd.testing.assert_frame_equal(frame.reset_index(), again, check_exact=True)


def test_the_synthesis_ranks_the_scalars_the_measures_homes_expose_and_takes_them_from_there():
    """``synthesis.MEASURES`` is the measures probe's composition of each home's ``SCALARS``;
    every scalar names the registered probe whose home computes it, and the sharpness the
    synthesis ranks is the sharpness probe's own number at the same settings."""
    assert synthesis.MEASURES is probes.measures.SCALARS
    for home in probes.measures.COMPOSED:
        for name, scalar in home.SCALARS.items():
            assert synthesis.MEASURES[name] is scalar and scalar.probe in probes.REGISTRY
            assert callable(home.scalars)
    assert list(synthesis.MEASURES) == ["lambda_max", "trace", "lambda_ratio", "slice_curvature", "sam", "asam",
                                        "noise_drop", "grad_norm"]
    model, sets = tiny_model(1), sets_of()
    cfg = probes.measures.MeasuresParams(trace_samples=2, slice_directions=2, noise_draws=2, max_ascent_steps=3)
    row = probes.measures.measures([model], sets, cfg).iloc[0]
    own = probes.sharpness.sam_and_asam([model], sets, probes.sharpness.SharpnessParams(
        rho=cfg.rho, adaptive_rho=cfg.adaptive_rho, ascent_tol=cfg.ascent_tol, max_ascent_steps=3)).set_index("kind")
    assert (row["sam"], row["asam"]) == (own.at["sam", "sharpness"], own.at["asam", "sharpness"])


def test_a_measure_with_its_own_reporting_half_is_found_by_the_registry():
    ggn = probes.REGISTRY["ggn"]
    assert ggn.settings is probes.ggn.GGNParams and ggn.report == "landscape.probes.ggn.report"
    homes = [p for p in probes.REGISTRY.values() if p.report]
    assert {"ggn", "density", "hessian", "noise", "sharpness", "slice1d", "surface2d", "interpolation"} <= \
        {p.name for p in homes}
    for probe in homes:  # each reporting half has the probe's section and its term
        module = importlib.import_module(probe.report)
        assert callable(module.SECTIONS[probe.name]) and len(module.TERM) == 2
    homed = [p for p in probes.REGISTRY.values() if p.checks]
    assert {"hessian", "noise", "sharpness", "flatness", "slice1d", "interpolation"} <= {p.name for p in homed}
    for probe in homed:  # the claim checks kept in a home read its frames, and the claims registry holds them
        for name, check in importlib.import_module(probe.checks).CHECKS.items():
            assert set(check.keys) & set(probe.frames) and claims.registry()[name] is check
