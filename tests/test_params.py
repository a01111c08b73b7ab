import pytest

from landscape.pipeline import driver
from landscape.learning.data import DatasetNotFoundError
from landscape.pipeline.params import PARAMS_DIR, ParamsError, ReportParams, SynthesisParams, load_params

REPORTS = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml") if isinstance(load_params(p.stem), ReportParams))
SYNTHESES = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml") if isinstance(load_params(p.stem), SynthesisParams))


STUDY_REPORTS = [r for r in REPORTS if load_params(r).design is None]  # the designed grid is the suite's own


def test_the_five_study_configs_exist_and_the_synthesis_reads_them_all():
    studies = {load_params(r).study[:3] for r in STUDY_REPORTS}
    assert studies == {"000", "001", "002", "003", "004"}
    assert SYNTHESES == ["synthesis"] and sorted(load_params("synthesis").studies) == STUDY_REPORTS
    assert [r for r in REPORTS if r not in STUDY_REPORTS] == ["measures_grid", "sgd_dynamics"]  # the suite's own
    assert load_params("synthesis").grid == "measures_grid"  # the grid is the synthesis's conditioned evidence


def test_a_synthesis_grid_must_be_a_designed_report_and_not_a_study():
    with pytest.raises(ParamsError, match="is not a designed grid"):
        load_params("synthesis", "smoke", {"grid": "batchnorm", "studies": ["seed_connectivity", "mlp_vs_cnn_fmnist"],
                                           "trajectory_studies": ["mlp_vs_cnn_fmnist"]})
    with pytest.raises(ParamsError, match="also one of the studies"):
        load_params("synthesis", "smoke", {"grid": "batchnorm", "studies": ["batchnorm", "seed_connectivity"]})
    work = driver.work_of(load_params("synthesis", "smoke"))
    assert [w.params.report for w in work[-2:]] == ["measures_grid", "sgd_dynamics"]  # last, with their own probes
    assert work[-2].probes is None and work[-1].probes is None
    with pytest.raises(ParamsError, match="not a study with a trajectory probe"):
        load_params("synthesis", "smoke", {"dynamics": "seed_connectivity",
                                           "studies": ["batchnorm", "mlp_vs_cnn_fmnist"],
                                           "trajectory_studies": ["batchnorm"]})
    with pytest.raises(ParamsError, match="also a study or the grid"):
        load_params("synthesis", "smoke", {"dynamics": "batchnorm"})


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_a_synthesis_loads_its_studies_in_its_own_profile_and_plans_the_measures_on_every_seed(profile):
    params = load_params("synthesis", profile)
    studies = params.study_params()
    assert [s.report for s in studies] == params.studies and {s.profile for s in studies} == {profile}
    for study in studies:
        work, = driver.work_of(study)
        assert work.probes is None and work.plan == study.probes
    *work, grid, own = driver.work_of(params)  # the designed grid and the optimizer study last, with their own probes
    assert [w.params for w in work] == studies and grid.params == params.grid_params() and grid.probes is None
    assert own.params == params.dynamics_params() and own.probes is None
    traced = [w.params.report for w in work if w.probes.trajectory is not None]
    assert traced == params.trajectory_studies == ["mlp_vs_cnn_fmnist", "batchnorm", "resnet20_ablation"]
    assert all(w.probes == params.probes_for(w.params.report) and w.probes.measures == params.measures for w in work)
    study = studies[0]
    # the runs are the study's own (same training keys), the probe sets and probes the synthesis's
    everyone = [(rep.id,) for rep in study.replicas]
    assert study.probe_targets(params.probes) == {"measures": everyone, "trajectory": everyone}
    assert study.sets_spec(probes=params.probes).eval_set == params.eval_set != study.probes.eval_set
    assert params.digest() != load_params("synthesis", profile, {"measures": {"rho": 0.1}}).digest()


def test_synthesis_params_name_a_bad_study_or_key(tmp_path):
    def write(text):
        path = tmp_path / "s.yaml"
        path.write_text("report: s\ntitle: t\nstudy: all\nnotebook: synthesis\nquestion: q\n" + text)
        return path

    with pytest.raises(ParamsError, match="no report named 'nope'"):
        load_params(write("studies: [batchnorm, nope]\n"))
    with pytest.raises(ParamsError, match=r"studies: \['batchnorm'\] listed twice"):
        load_params(write("studies: [batchnorm, batchnorm]\n"))
    with pytest.raises(ParamsError, match="'synthesis' is not a study report"):
        load_params(write("studies: [batchnorm, synthesis]\n"))
    with pytest.raises(ParamsError, match=r"measures\.rhoo: unknown key 'rhoo'; allowed keys: \[.*'rho'"):
        load_params(write("studies: [batchnorm, seed_connectivity]\nmeasures: {rhoo: 1}\n"))
    with pytest.raises(ParamsError, match=r"trajectory_studies: \['nope'\] not in studies"):
        load_params(write("studies: [batchnorm, seed_connectivity]\ntrajectory: {}\ntrajectory_studies: [nope]\n"))
    with pytest.raises(ParamsError, match=r"early must be increasing fractions of epoch 1 in \[0, 1\)"):
        load_params(write("studies: [batchnorm, seed_connectivity]\ntrajectory: {early: [0.5, 1.0]}\n"))


@pytest.mark.parametrize("report", REPORTS)
@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_every_params_file_validates(report, profile):
    params = load_params(report, profile)
    assert params.reference.source.startswith("../shared/seeds/") or params.design is not None
    assert len(params.run_specs()) == sum(len(r.seed_list(params.replicates)) for r in params.runs)
    # the issue's floor: 5 seeds, 8 for study 001's seed-to-seed question, 3 for the ResNet-20 stand-in;
    # the grid's statistics pool its 32 configurations: 3 seeds (the robust view's floor), 1 in smoke
    minimum = {"smoke": 2, "full": {"seed_connectivity": 8, "resnet20_ablation": 3}.get(report, 5)}[profile]
    minimum = {"smoke": 1, "full": 3}[profile] if params.design is not None else minimum
    assert all(len(reps) >= minimum for reps in params.replicates_of.values())
    if profile == "smoke":
        full = load_params(report)
        assert params.training.epochs <= full.training.epochs
        assert (params.data.train_subset or 10**9) <= 2000


def test_unknown_key_names_the_key_and_the_allowed_ones():
    with pytest.raises(ParamsError, match=r"training\.lrr: unknown key 'lrr'; allowed keys: \[.*'lr'.*\]"):
        load_params("batchnorm", overrides={"training": {"lrr": 0.1}})
    with pytest.raises(ParamsError, match=r"probes\.noise\.sigma: unknown key.*'sigmas'"):
        load_params("mlp_vs_cnn_fmnist", overrides={"probes": {"noise": {"sigma": 0.1}}})
    # a published number under a key no table reads would silently never appear
    with pytest.raises(ParamsError, match=r"reference: .*unknown key\(s\) \['noise_sigma_0_10'\]; .*noise_loss"):
        load_params("seed_connectivity", overrides={"reference": {"noise_sigma_0_10": {"test_loss": 5.2}}})


def test_wrong_values_name_the_allowed_values():
    with pytest.raises(ParamsError, match=r"runs\.0\.model: Input should be .*'resnet20'"):
        load_params("batchnorm", overrides={"runs": [{"id": "x", "label": "x", "model": "vgg"}]})
    with pytest.raises(ParamsError, match=r"data\.name: Input should be .*'cifar10'.*'mnist'"):
        load_params("batchnorm", overrides={"data": {"name": "imagenet"}})
    with pytest.raises(ParamsError, match=r"training\.epochs: Input should be a valid integer"):
        load_params("batchnorm", overrides={"training": {"epochs": "ten"}})
    with pytest.raises(ParamsError, match=r"no option\(s\) \['hiden'\]; allowed: \['hidden'\]"):
        load_params("batchnorm", overrides={"runs": [{"id": "x", "label": "x", "model": "mlp", "options": {"hiden": [3]}}]})
    with pytest.raises(ParamsError, match=r"model 'mlp' with options \{'hidden': 'ab'\}: .*must be tuple of ints"):
        load_params("batchnorm", overrides={"runs": [{"id": "x", "label": "x", "model": "mlp", "options": {"hidden": "ab"}}]})
    with pytest.raises(ParamsError, match=r"resnet20 width 4: at least 8"):
        load_params("resnet20_ablation", overrides={"runs": [{"id": "x", "label": "x", "model": "resnet20",
                                                              "options": {"width": 4}}]})
    with pytest.raises(ParamsError, match="unknown run id 'C'"):
        load_params("batchnorm", overrides={"probes": {"interpolation": {"configs": ["A", "C"]}}})
    with pytest.raises(ParamsError, match="run 'A' has one seed; interpolation needs two"):
        load_params("batchnorm", overrides={"replicates": 1})
    with pytest.raises(ParamsError, match="give seed .* or seeds .*, not both"):
        load_params("batchnorm", overrides={"runs": [{"id": "x", "label": "x", "model": "mlp", "seed": 1, "seeds": [1, 2]}]})
    with pytest.raises(ParamsError, match=r"probes\.surface2d: .*grid of 10 points on \[-1, 1\] misses α = 0"):
        load_params("resnet20_ablation", overrides={"probes": {"surface2d": {"points": 10}}})
    assert load_params("resnet20_ablation", overrides={"probes": {"surface2d": {"alpha_min": -0.5, "points": 4, "accelerator_points": 7}}})
    with pytest.raises(ParamsError, match=r"probes\.slice1d: .*grid of 21 points on \[-1, 0\.5\] misses α = 0"):
        load_params("mlp_cnn_rescnn_mnist", overrides={"probes": {"slice1d": {"filter_range": [-1.0, 0.5]}}})
    with pytest.raises(ParamsError, match=r"probes\.slice1d: .*the α range \[1, -1\] is empty"):
        load_params("mlp_cnn_rescnn_mnist", overrides={"probes": {"slice1d": {"filter_range": [1.0, -1.0]}}})
    with pytest.raises(ParamsError, match="unknown profile 'fast'; allowed: \\['full', 'smoke'\\]"):
        load_params("batchnorm", "fast")
    with pytest.raises(ParamsError, match="no report named .no_such_report.; available reports"):
        load_params("no_such_report")


def test_missing_data_fails_before_any_training(tmp_path, monkeypatch):
    import landscape.learning.data as data

    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path)
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    params = load_params("resnet20_ablation", "smoke")
    spec = params.run_specs(params.data)["skipTrue_bnTrue_s0"]
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        driver.train_runs({"run": spec}, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pt"))


def test_missing_cifar10_falls_back_to_the_named_stand_in(tmp_path, monkeypatch):
    import landscape.learning.data as data
    from landscape.pipeline.params import is_stand_in
    from test_data import _write_cifar_fixture

    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "empty")
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    params = load_params("resnet20_ablation", "smoke")
    chosen = params.resolve_data()
    assert is_stand_in(chosen) and chosen.name == "fashion_mnist" and "CIFAR-10" in chosen.reason
    assert params.run_specs()["skipTrue_bnTrue_s0"].data.pad_to == 32
    _write_cifar_fixture(tmp_path / "cifar" / "cifar-10-batches-py")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "cifar"))
    assert params.resolve_data().name == "cifar10" and not is_stand_in(params.resolve_data())
    no_fallback = load_params("resnet20_ablation", "smoke", overrides={"data": {"stand_in": None}})
    monkeypatch.delenv(data.DATA_ENV)
    with pytest.raises(DatasetNotFoundError, match="LANDSCAPE_DATA"):
        no_fallback.resolve_data()


def test_replicates_put_the_study_seed_first_and_pair_seeds_disjointly():
    params = load_params("batchnorm")
    assert [rep.id for rep in params.replicates_of["B"]] == [f"B_s{s}" for s in range(3, 11)]
    assert [rep.study_seed for rep in params.replicates_of["B"]] == [True] + [False] * 7
    assert params.seed_pairs("A") == [("A_s1", "A_s2"), ("A_s3", "A_s4"), ("A_s5", "A_s6"), ("A_s7", "A_s8")]
    targets = load_params("resnet20_ablation").probe_targets()
    assert targets["surface2d"] == [(f"{c.id}_s0",) for c in load_params("resnet20_ablation").runs]  # seeds: study
    assert len(targets["hessian"]) == len(targets["loss_range"]) == 12  # every seed
    listed = load_params("batchnorm", overrides={"runs": [{"id": "x", "label": "x", "model": "mlp", "seeds": [7, 3]}],
                                                 "probes": {"interpolation": {"configs": ["x"]}},
                                                 "reference": {"claims": []}})  # its claims name runs A and B
    assert [rep.id for rep in listed.replicas] == ["x_s7", "x_s3"]


def test_a_configuration_may_change_the_reports_training_and_only_its_runs_see_it():
    runs = [{"id": "x", "label": "x", "model": "mlp", "seeds": [0]},
            {"id": "y", "label": "y", "model": "mlp", "seeds": [0], "training": {"lr": 0.5, "batch_size": 32}}]
    others = {"reference": {"claims": []}, "probes": {"interpolation": None}}  # they name the file's runs
    params = load_params("batchnorm", "smoke", {"runs": runs, **others})
    specs = params.run_specs()
    assert (specs["y_s0"].train.lr, specs["y_s0"].train.batch_size) == (0.5, 32)
    assert specs["x_s0"].train.lr == params.training.lr and specs["x_s0"].train == params.training.config(
        (params.probes.eval_set.train_size, params.probes.eval_set.seed))
    assert params.training_of("y").epochs == params.training.epochs  # what it does not change is the report's
    for change, message in (({"lrr": 0.1}, r"runs\.1\.training: unknown key\(s\) \['lrr'\]; allowed: \[.*'lr'"),
                            ({"lr": -1}, r"runs\.1\.training: lr: Input should be greater than 0")):
        bad = [runs[0], {**runs[1], "training": change}]
        with pytest.raises(ParamsError, match=message):
            load_params("batchnorm", "smoke", {"runs": bad, **others})


def test_a_design_generates_the_full_factorial_grid_of_configurations():
    design = {"model": "cnn_grid", "options": {"width": 8}, "seeds": [0, 1],
              "factors": {"depth": {"option": "depth", "levels": [1, 2]},
                          "bn": {"option": "batchnorm", "levels": [False, True]},
                          "lr": {"training": "lr", "levels": [0.01, 0.05, 0.1]}}}
    others = {"runs": [], "reference": {"claims": []}, "probes": {"interpolation": None}}
    params = load_params("batchnorm", "smoke", {**others, "design": design})
    assert len(params.runs) == 2 * 2 * 3 and len(params.replicas) == 24
    run = params.config("g_depth1_bn0_lr2")
    assert run.label == "depth 2, bn False, lr 0.1" and run.options == {"width": 8, "depth": 2, "batchnorm": False}
    spec = params.run_specs()["g_depth1_bn0_lr2_s1"]
    assert spec.train.lr == 0.1 and dict(spec.model_options)["depth"] == 2 and spec.seed == 1
    assert params.design.levels_of()["g_depth0_bn1_lr0"] == {"depth": 1, "bn": True, "lr": 0.01}
    for change, message in (({"runs": [{"id": "x", "label": "x", "model": "mlp"}]}, "give runs or a design"),
                            ({"design": {**design, "factors": {"d": {"levels": [1, 2]}}}}, "either a model option"),
                            ({"design": {**design, "factors": {"d": {"option": "depth", "levels": [1, 9]}}}},
                             "depth 9: from 1 to"),
                            ({"design": {**design, "factors": {"w": {"option": "depth", "levels": list(range(1, 300))}}}},
                             "at most 256"),
                            ({"design": {**design, "factors": {**design["factors"], "w": {"option": "depth",
                                                                                           "levels": [1, 3]}}}},
                             "two factors set the same option depth"),
                            ({"design": {**design, "factors": {"w": {"option": "width", "levels": [8, 16]}}}},
                             r"option\(s\) \['width'\] are both fixed and a factor")):
        with pytest.raises(ParamsError, match=message):
            load_params("batchnorm", "smoke", {**others, "design": design, **change})


def test_a_design_of_blocks_generates_each_blocks_grid_with_its_own_ids_and_fixed_training():
    """A study that varies step size and momentum under full-batch descent, and batch size under
    SGD, is a mapping of block id -> factorial; a profile override reaches a block by its id."""
    others = {"runs": [], "reference": {"claims": []}, "probes": {"interpolation": None}}
    design = {"gd": {"label": "GD", "model": "mlp", "options": {"hidden": [8]}, "seeds": [0, 1],
                     "training": {"batch_size": 128, "momentum": 0.0},
                     "factors": {"lr": {"training": "lr", "levels": [0.1, 0.2]}}},
              "sgd": {"model": "cnn_grid", "seeds": [0], "training": {"momentum": 0.0},
                      "factors": {"batch": {"training": "batch_size", "levels": [32, 128]},
                                  "lr": {"training": "lr", "levels": [0.1, 0.2]}}}}
    params = load_params("batchnorm", "smoke", {**others, "design": design})
    assert [r.id for r in params.runs] == ["gd_lr0", "gd_lr1", "sgd_batch0_lr0", "sgd_batch0_lr1", "sgd_batch1_lr0",
                                           "sgd_batch1_lr1"]
    assert params.config("gd_lr1").label == "GD: lr 0.2" and params.training_of("gd_lr1").momentum == 0.0
    assert params.training_of("sgd_batch1_lr0").batch_size == 128 and [b.id for b in params.blocks] == ["gd", "sgd"]
    again = load_params("batchnorm", "smoke", {**others, "design": {**design, "sgd": {**design["sgd"], "seeds": [0, 1]}}})
    assert len(again.replicas) == 4 + 8
    for change, message in (({"gd": {**design["gd"], "factors": {"m": {"training": "momentum", "levels": [0, 0.9]}}}},
                             r"design\.gd: .*\['momentum'\] are both fixed and a factor"),
                            ({"Bad": design["gd"]}, r"design\.Bad: id: String should match")):
        with pytest.raises(ParamsError, match=message):
            load_params("batchnorm", "smoke", {**others, "design": {**design, **change}})
