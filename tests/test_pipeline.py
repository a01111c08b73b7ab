"""The job pipeline and its engines: the same numbers on every engine, the cache read before
anything runs, diverged runs skipped, failed jobs recorded while the rest of the graph goes on,
killed workers retried from their checkpoint, Ctrl-C, and Ray clusters that do not answer."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from child_processes import default_sigint

from landscape.geometry import directions
from landscape.pipeline import driver, engines, estimate, jobs
from landscape import probes
from landscape.core import store
from landscape.learning import training
from landscape.pipeline.params import load_params, snapshots_asked

REPO = Path(__file__).resolve().parents[1]
TINY = {"data": {"train_subset": 300, "test_subset": 100}, "training": {"epochs": 2},
        "probes": {"eval_set": {"train_size": 32, "test_size": 32}, "hessian": None, "surface2d": None,
                   "loss_range": None}}


def tiny_params(**more):
    overrides = {**TINY, **more}
    return load_params("seed_connectivity", "smoke", overrides)


def strip_time(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


def assert_same_results(a: driver.Results, b: driver.Results) -> None:
    """Bitwise the same histories, weights and probe frames (wall times aside)."""
    assert a.runs.keys() == b.runs.keys()
    for run_id in a.runs:
        ra, rb = a.runs[run_id], b.runs[run_id]
        assert (ra.status, ra.key, strip_time(ra.history)) == (rb.status, rb.key, strip_time(rb.history)), run_id
        for name, tensor in ra.state.items():
            assert tensor.equal(rb.state[name]), (run_id, name)
    assert a.probes.frames.keys() == b.probes.frames.keys()
    for name in a.probes.frames:
        pd.testing.assert_frame_equal(a.probes.frames[name], b.probes.frames[name], check_exact=True)


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    cache = tmp_path_factory.mktemp("local-cache")
    return driver.run(tiny_params(), config=engines.settings("local", threads=1), cache=cache), cache


def test_a_graph_has_a_training_job_per_run_and_a_probe_job_per_run_and_pair():
    params = tiny_params()
    graph = jobs.expand(params.run_specs(), params.probes, params.sets_spec(), "cpu", params.probe_targets())
    kinds = [type(job).__name__ for job in graph.jobs.values()]
    assert kinds == ["TrainJob"] * 2 + ["ProbeJob"] * 5  # noise, slice1d per run; one interpolation pair
    assert [(name, runs) for name, runs, _ in graph.probes] == [  # in registry order (the homes by name)
        ("interpolation", ("cnn_s1", "cnn_s2")), ("noise", ("cnn_s1",)), ("noise", ("cnn_s2",)), ("slice1d", ("cnn_s1",)),
        ("slice1d", ("cnn_s2",))]
    pair = graph.jobs[graph.probes[0][2]]
    assert pair.deps == (graph.runs["cnn_s1"], graph.runs["cnn_s2"])
    other = jobs.expand(params.run_specs(), params.probes, params.sets_spec(), "cuda", params.probe_targets())
    assert other.runs == graph.runs and set(other.jobs) != set(graph.jobs)  # probe keys name the device type


def test_a_surface_asks_for_its_finer_grid_on_an_accelerator_only():
    params = load_params("seed_connectivity", "full")
    surface = params.probes.surface2d
    assert (surface.points, surface.accelerator_points) == (31, 51)
    keyed = {}
    for device in ("cpu", "cuda"):
        graph = jobs.expand(params.run_specs(), params.probes, params.sets_spec(), device, params.probe_targets())
        job, = (graph.jobs[key] for name, _, key in graph.probes if name == "surface2d")
        keyed[device] = job
    assert keyed["cpu"].cfg.points == 31 and keyed["cuda"].cfg.points == 51
    plain = surface.model_copy(update={"accelerator_points": None})  # the CPU key is what it was without the option
    assert jobs.probe_key("surface2d", plain, params.sets_spec(), keyed["cpu"].deps, "cpu") == keyed["cpu"].key
    assert load_params("seed_connectivity", "smoke").probes.surface2d.for_device("cuda").points == 3
    with pytest.raises(ValueError, match="misses α = 0"):
        type(surface).model_validate({**surface.model_dump(), "accelerator_points": 50})


def test_a_second_run_reads_every_job_from_the_cache(local_results, monkeypatch):
    first, cache = local_results
    assert first.jobs["computed"] == 7 and first.jobs["failed"] == 0
    assert first.probes.sets["cache"] == {"loaded": 0, "computed": 5}
    monkeypatch.setattr(jobs, "execute", lambda *a, **k: pytest.fail("a cached job ran"))
    second = driver.run(tiny_params(), config=engines.settings("local", threads=1), cache=cache)
    assert second.jobs["cached"] == 7 and second.probes.sets["cache"] == {"loaded": 5, "computed": 0}
    assert_same_results(first, second)
    assert all(r.trained_epochs == 0 for r in second.runs.values())


def test_changed_settings_recompute_only_their_probe(local_results, tmp_path):
    first, cache = local_results
    wider = tiny_params(probes={**TINY["probes"], "noise": {"draws": 3}})
    again = driver.run(wider, config=engines.settings("local", threads=1), cache=cache)
    assert again.jobs["computed"] == 2 and again.jobs["cached"] == 5  # the noise probe of each run


@pytest.mark.slow
def test_processes_engine_gives_the_same_numbers(local_results, tmp_path):
    found = driver.run(tiny_params(), config=engines.settings("processes", threads=1, workers=2), cache=tmp_path)
    assert found.jobs["computed"] == 7
    assert_same_results(local_results[0], found)


@pytest.mark.slow
def test_ray_engine_gives_the_same_numbers(local_results, tmp_path):
    pytest.importorskip("ray")
    found = driver.run(tiny_params(), config=engines.settings("ray", threads=1), cache=tmp_path)
    assert found.jobs["computed"] == 7
    assert_same_results(local_results[0], found)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_engine_joins_a_cluster_by_address(local_results, tmp_path):
    pytest.importorskip("ray")
    ray_cli = Path(sys.executable).with_name("ray")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    subprocess.run([str(ray_cli), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, env=env,
                   capture_output=True, timeout=180)
    try:
        found = driver.run(tiny_params(), config=engines.settings("ray", threads=1, address=f"127.0.0.1:{port}"),
                             cache=tmp_path)
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], env=env, capture_output=True, timeout=180)
    assert found.jobs["computed"] == 7
    assert_same_results(local_results[0], found)


@pytest.mark.slow
def test_a_ray_address_that_does_not_answer_is_one_clear_error_at_once(tmp_path):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(engines.EngineError, match=f"Ray address '{address}' does not answer"):
        driver.run(tiny_params(), config=engines.settings("ray", address=address), cache=tmp_path)
    assert time.perf_counter() - start < 30 and not list(tmp_path.iterdir())
    done = subprocess.run([sys.executable, "-m", "landscape", "probe", "seed_connectivity", "--profile", "smoke",
                           "--engine", "ray", "--address", address, "--cache", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: Ray address '{address}' does not answer (Connection refused); start a cluster with 'ray start "
        "--head' or drop --address for a local Ray"]


@pytest.mark.slow
def test_a_job_no_ray_node_can_hold_is_an_error_not_a_hang():
    ray = pytest.importorskip("ray")
    with pytest.raises(engines.EngineError, match="--threads 64: no node of the Ray cluster has that many CPUs"):
        engines.make_engine(engines.settings("ray", threads=64))
    assert not ray.is_initialized()  # the Ray it started is shut down again


def test_bad_engine_settings_are_user_errors():
    with pytest.raises(engines.EngineError, match="unknown engine 'spark'; allowed: local, processes, ray"):
        engines.settings("spark")
    with pytest.raises(engines.EngineError, match="--workers must be at least 1"):
        engines.settings("processes", workers=0)
    with pytest.raises(engines.EngineError, match="Ray address 'nowhere': expected HOST:PORT"):
        engines.check_address("nowhere")


def test_a_diverged_run_is_a_result_and_its_probes_are_skipped(tmp_path):
    params = load_params("resnet20_ablation", "smoke", {
        "data": {"stand_in": {"train_subset": 256, "test_subset": 64}}, "training": {"epochs": 1}, "replicates": 1,
        "runs": [{"id": "skip_bn", "label": "skip, BN", "model": "resnet20", "options": {"skip": True, "batchnorm": True}},
                 {"id": "skip", "label": "skip, no BN", "model": "resnet20", "options": {"skip": True, "batchnorm": False}}],
        "probes": {"eval_set": {"train_size": 32, "test_size": 32}, "hessian": None, "density": None, "surface2d": None,
                   "loss_range": None, "trajectory": {"early": [0.0], "samples": 8, "max_steps": 3}},
        "reference": {"claims": []}})
    found = driver.run(params, config=engines.settings("local", threads=1), cache=tmp_path)
    assert found.runs["skip_s0"].status == "diverged" and found.runs["skip_s0"].diverged_epoch == 1
    assert found.runs["skip_bn_s0"].status == "completed" and found.jobs["failed"] == 0
    assert found.jobs["skipped"] == 1 and set(found.probes.gradient["run"]) == {"skip_bn_s0"}
    traced = found.probes.trajectory.groupby("run")["epoch"].apply(list).to_dict()  # a diverged run has one too
    assert traced == {"skip_bn_s0": [0.0, 1.0], "skip_s0": [0.0]}
    assert found.probes.skipped.to_dict("records") == [{"run": "skip_s0", "reason": "diverged at epoch 1"}]
    assert (tmp_path / found.runs["skip_s0"].key / "result.pt").exists()  # a diverged run is cached like any other


def trajectory_params(trajectory: dict | None):
    """One tiny MLP (3,190 parameters) of study 001's smoke data, with or without a trajectory."""
    return tiny_params(replicates=1, runs=[{"id": "mlp", "label": "MLP", "model": "mlp", "options": {"hidden": [4]}}],
                       probes={**TINY["probes"], "slice1d": None, "noise": None, "interpolation": None,
                               "trajectory": trajectory},
                       reference={"claims": []})


@pytest.mark.slow
def test_a_trajectory_replays_a_cached_run_and_matches_lambda_max_of_its_saved_checkpoints(tmp_path):
    local = engines.settings("local", threads=1)
    plain = driver.run(trajectory_params(None), config=local, cache=tmp_path)
    run = plain.runs["mlp_s0"]
    result_file = tmp_path / run.key / "result.pt"
    cached_bytes = result_file.read_bytes()
    params = trajectory_params({"early": [0.0, 0.5], "samples": 24, "tol": 1e-4})
    traced = driver.run(params, config=local, cache=tmp_path)
    assert traced.runs["mlp_s0"].trained_epochs == 2  # trained again, for the snapshots ...
    assert result_file.read_bytes() == cached_bytes  # ... and the cached run is left as it was
    frame = traced.probes.trajectory
    assert list(frame["epoch"]) == [0.0, 2 / 3, 1.0, 2.0]  # 3 steps an epoch: half of epoch 1 rounds to 2
    assert list(frame["step"]) == [0, 2, 3, 6] and set(frame["status"]) == {"ok"}
    assert frame["replayed"].all() and frame["matches_result"].all()  # the replay ended at the cached weights
    assert (frame["num_hvps"].iloc[1:] < frame["num_hvps"].iloc[0]).all()  # warm starts

    # λmax of the checkpoints a plain training hands out, from the dense Hessian on the same images
    spec = run.spec
    checkpoints = []
    training.train(spec, on_checkpoint=checkpoints.append)
    train_ds, _ = training.load_splits(spec.data)
    initial = training.build_run_model(spec, tuple(train_ds.images.shape[1:]), train_ds.num_classes).state_dict()
    images = probes.base.build_sets(params.sets_spec()).train.stratified(24, 0)
    for epoch, state in ((0.0, initial), (1.0, checkpoints[0]["model"]), (2.0, checkpoints[1]["model"])):
        model = training.trained_model(spec, state).double()
        theta = directions.parameter_vector(model)

        def loss(flat):
            logits = torch.func.functional_call(model, directions.to_dict(flat, model), (images.images.double(),))
            return torch.nn.functional.cross_entropy(logits, images.labels)

        exact = float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))[-1])
        found = frame.loc[frame["epoch"] == epoch, "lambda_max"].item()
        assert found == pytest.approx(exact, rel=1e-3), epoch
    assert driver.run(params, config=local, cache=tmp_path).jobs["computed"] == 0  # all cached now


def test_a_study_keeps_the_snapshots_a_synthesis_over_it_will_ask_for_and_no_others():
    smoke = load_params("synthesis", "smoke")
    assert set(smoke.trajectory_studies) < set(smoke.studies)  # a study it does not trace is checked too
    for name in smoke.studies:
        study = load_params(name, "smoke")
        graph = jobs.expand(study.run_specs(), study.probes, study.sets_spec(), "cpu", study.probe_targets(),
                            with_probes=False, keep=snapshots_asked(study))
        expected = tuple(smoke.trajectory.early) if name in smoke.trajectory_studies else None
        assert [job.snapshots for job in graph.jobs.values()] == [expected] * len(study.replicas), name
    assert snapshots_asked(tiny_params()) == {}  # seed_connectivity, with overrides: not traced


def test_training_alone_keeps_the_snapshots_a_trajectory_probe_will_ask_for():
    params = trajectory_params({"early": [0.0, 0.5], "samples": 24})
    trained = jobs.expand(params.run_specs(), params.probes, params.sets_spec(), "cpu", params.probe_targets(),
                          with_probes=False)
    assert [job.snapshots for job in trained.jobs.values()] == [(0.0, 0.5)]
    plain = trajectory_params(None)
    assert [job.snapshots for job in jobs.expand(plain.run_specs(), plain.probes, plain.sets_spec(), "cpu",
                                                 plain.probe_targets(), with_probes=False).jobs.values()] == [None]


def test_training_jobs_asking_for_snapshots_merge_into_one():
    spec = tiny_params().run_specs()["cnn_s1"]
    graph = jobs.Graph()
    graph.add(jobs.TrainJob(spec.key(), "a", spec))
    graph.add(jobs.TrainJob(spec.key(), "a", spec, snapshots=(0.0,)))
    graph.add(jobs.TrainJob(spec.key(), "a", spec))
    assert list(graph.jobs.values()) == [jobs.TrainJob(spec.key(), "a", spec, snapshots=(0.0,))]
    with pytest.raises(ValueError, match="snapshots asked"):
        graph.add(jobs.TrainJob(spec.key(), "a", spec, snapshots=(0.5,)))


def test_a_job_that_raises_is_recorded_and_the_rest_of_the_graph_goes_on(tmp_path, monkeypatch):
    real = training.train

    def fails_for_seed_2(spec, *args, **kwargs):
        if spec.seed == 2:
            raise ValueError("no good")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(training, "train", fails_for_seed_2)
    found = driver.run(tiny_params(), config=engines.settings("local", threads=1), cache=tmp_path)
    a, b = found.runs["cnn_s1"], found.runs["cnn_s2"]
    assert a.status == "completed" and b.status == "failed" and b.error == "ValueError: no good"
    assert b.outcome == "failed (ValueError: no good)" and not (tmp_path / b.key).exists()
    assert set(found.probes.noise["run"]) == {"cnn_s1"} and found.probes.interpolation is None
    assert (found.jobs["failed"], found.jobs["skipped"], found.jobs["computed"]) == (1, 3, 3)
    monkeypatch.undo()
    again = driver.run(tiny_params(), config=engines.settings("local", threads=1), cache=tmp_path)
    assert again.jobs["computed"] == 4 and again.runs["cnn_s2"].status == "completed"  # a rerun finishes the graph


def test_a_probe_that_raises_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError("cannot orthogonalize")

    monkeypatch.setattr("landscape.geometry.sharpness.noise_robustness", boom)
    found = driver.run(tiny_params(), config=engines.settings("local", threads=1), cache=tmp_path)
    assert found.probes.noise is None and set(found.probes.slice1d["run"]) == {"cnn_s1", "cnn_s2"}
    assert found.probes.barriers is not None
    assert found.probes.unavailable["noise"] == ("run cnn_s1: noise failed: ValueError: cannot orthogonalize; "
                                                 "run cnn_s2: noise failed: ValueError: cannot orthogonalize")
    assert list(found.probes.skipped.columns) == ["run", "reason"] and len(found.probes.skipped) == 2
    assert not list((tmp_path / "probes").glob("*.corrupt"))


def kill_worker_on_checkpoint(monkeypatch, seed, times):
    """SIGKILL the worker training the run of ``seed`` after its first epoch, ``times`` times."""
    made, killed = [], []
    real_make, real_save = driver.make_engine, store.Cache.save_checkpoint

    def make(config):
        made.append(real_make(config))
        return made[-1]

    def save(self, key, checkpoint):
        real_save(self, key, checkpoint)
        worker = next((w for w in made[-1].workers if w.job is not None and w.job.key == key), None)
        if worker is not None and worker.job.spec.seed == seed and len(killed) < times:
            killed.append(worker.process.pid)
            os.kill(worker.process.pid, signal.SIGKILL)

    monkeypatch.setattr(driver, "make_engine", make)
    monkeypatch.setattr(store.Cache, "save_checkpoint", save)
    return killed


def assert_cache_intact(cache: Path) -> None:
    for path in cache.rglob("*"):
        assert not path.name.endswith(".corrupt") and ".tmp" not in path.name, path
        if path.suffix == ".pt":
            store.read_verified(path)
    for path in (cache / "probes").glob("*.json"):
        store.read_verified(path)


@pytest.mark.slow
def test_a_killed_worker_is_retried_from_its_checkpoint(local_results, tmp_path, monkeypatch):
    killed = kill_worker_on_checkpoint(monkeypatch, seed=2, times=1)
    found = driver.run(tiny_params(), config=engines.settings("processes", threads=1, workers=2), cache=tmp_path)
    assert len(killed) == 1 and found.jobs["failed"] == 0 and found.jobs["computed"] == 7
    assert found.runs["cnn_s2"].trained_epochs == 1  # the retry resumed after the epoch the killed worker finished
    assert_same_results(local_results[0], found)
    assert_cache_intact(tmp_path)


@pytest.mark.slow
def test_a_worker_killed_twice_fails_its_job_and_a_rerun_finishes_the_graph(local_results, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        killed = kill_worker_on_checkpoint(patch, seed=2, times=2)
        found = driver.run(tiny_params(), config=engines.settings("processes", threads=1, workers=2),
                             cache=tmp_path)
    assert len(killed) == 2 and found.runs["cnn_s2"].status == "failed"
    assert found.runs["cnn_s2"].error == "its worker process died (killed by signal 9) (retried 1 time)"
    assert found.runs["cnn_s1"].status == "completed" and set(found.probes.noise["run"]) == {"cnn_s1"}
    assert_cache_intact(tmp_path)
    again = driver.run(tiny_params(), config=engines.settings("processes", threads=1, workers=2), cache=tmp_path)
    # the two kills came after the checkpoints of epochs 1 and 2: the rerun resumes from the second
    assert again.jobs["failed"] == 0 and again.jobs["computed"] == 4 and again.runs["cnn_s2"].trained_epochs == 0
    assert_same_results(local_results[0], again)


def worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "landscape.pipeline.engines import worker_main"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if Path(f"/proc/{p}/stat").exists()
            and int(Path(f"/proc/{p}/stat").read_text().split()[3]) == parent]


@pytest.mark.slow
def test_ctrl_c_on_the_processes_engine_kills_its_workers_and_a_rerun_resumes(tmp_path):
    command = [sys.executable, "-m", "landscape", "train", "seed_connectivity", "--profile", "smoke", "--set",
               "training.epochs=3", "--engine", "processes", "--workers", "2", "--threads", "1", "--cache", str(tmp_path)]
    env = {**os.environ, "LANDSCAPE_PROGRESS": "lines", "PYTHONPATH": str(REPO / "lib")}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, preexec_fn=default_sigint)
    lines = []
    for line in process.stderr:  # wait until both workers train
        lines.append(line)
        if sum("epoch" in x and "0/3" in x for x in lines) >= 2:
            break
    workers = worker_pids(process.pid)
    assert len(workers) == 2
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert rest.strip().splitlines()[-1].startswith("interrupted:") and "Traceback" not in rest
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stdout and "0 failed" in again.stdout


# ---------------------------------------------------------------------------- rendered reports

RENDER_SET = ["--set", "data.train_subset=300", "--set", "data.test_subset=100", "--set", "training.epochs=1",
              "--set", "probes.eval_set.train_size=32", "--set", "probes.eval_set.test_size=32",
              "--set", "probes.hessian.top_k=1", "--set", "probes.surface2d.points=3"]


def start_render(tmp_path, name, *options, env=None) -> subprocess.Popen:
    """The tiny seed_connectivity smoke report rendered (no PDF) into ``tmp_path/name``, in a subprocess."""
    out, cache = tmp_path / name / "out", tmp_path / name / "cache"
    out.mkdir(parents=True)
    with (tmp_path / name / "stderr.log").open("w") as log:  # a file, not a pipe: nothing blocks a render waited on later
        return subprocess.Popen([sys.executable, "-m", "landscape", "report", "seed_connectivity", "--profile", "smoke",
                                 *RENDER_SET, "--no-pdf", "--no-index", "--threads", "1", "--output-dir", str(out),
                                 "--cache", str(cache), *options], stdout=subprocess.DEVNULL, stderr=log,
                                cwd=REPO, env={**os.environ, "LANDSCAPE_PROGRESS": "lines", **(env or {})})


def rendered_metrics(tmp_path, name, process: subprocess.Popen):
    """(metrics.json, folder) of a render :func:`start_render` started, once it ends (killed after 900 s)."""
    try:
        process.wait(timeout=900)
    finally:
        process.kill()  # a no-op once it has ended
    assert process.returncode == 0, (tmp_path / name / "stderr.log").read_text()[-3000:]
    folder = tmp_path / name / "out" / "seed_connectivity"
    return json.loads((folder / "metrics.json").read_text()), folder


def render(tmp_path, name, *options, env=None):
    return rendered_metrics(tmp_path, name, start_render(tmp_path, name, *options, env=env))


def without_times(value):
    """Metrics without what says where and when the work was done (wall times, whether a run was
    trained or a probe computed by this execution or read from the cache)."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in ("time_s", "trained_epochs", "cache")}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


@pytest.mark.slow
def test_the_same_smoke_report_on_every_engine_has_the_same_metrics(tmp_path):
    started = {"local": start_render(tmp_path, "local"),  # side by side: each job has one thread
               "processes": start_render(tmp_path, "processes", "--engine", "processes", "--workers", "2")}
    try:
        (local, _), (processes, _) = (rendered_metrics(tmp_path, name, p) for name, p in started.items())
    finally:
        for process in started.values():
            process.kill()  # the other render, when one failed
    assert without_times(processes) == without_times(local)
    assert set(local) >= {"history", "status", "noise", "hessian", "surface2d", "barriers", "claims"}
    if importlib.util.find_spec("ray") is not None:
        ray_metrics, _ = render(tmp_path, "ray", "--engine", "ray")
        assert without_times(ray_metrics) == without_times(local)


@pytest.mark.slow
def test_a_report_whose_training_job_raises_renders_with_the_run_marked_failed(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    # the notebook's kernel imports this first (sitecustomize): run B's training job raises
    (hook / "sitecustomize.py").write_text(
        "import landscape.learning.training as training\n"
        "real = training.train\n"
        "def train(spec, *args, **kwargs):\n"
        "    if spec.seed == 2:\n"
        "        raise ValueError('injected failure')\n"
        "    return real(spec, *args, **kwargs)\n"
        "training.train = train\n")
    metrics, folder = render(tmp_path, "failing", env={"PYTHONPATH": os.pathsep.join([str(REPO / "lib"), str(hook)])})
    status = {row["run"]: row for row in metrics["status"]}
    assert status["cnn_s1"]["status"] == "completed" and status["cnn_s2"]["status"] == "failed"
    assert status["cnn_s2"]["error"] == "ValueError: injected failure"
    page = (folder / "seed_connectivity.html").read_text()
    assert "why it failed" in page and "ValueError: injected failure" in page
    claims = {c["check"]: c for c in metrics["claims"]}
    assert claims["loss_barrier"]["verdict"] == "pending"
    assert claims["loss_barrier"]["pending"] == "pending because run cnn_s2 failed (ValueError: injected failure)"
    assert "Not computed: the loss on the straight line between two trained minima" in page


def test_a_graph_says_what_it_will_compute_and_estimates_it_from_the_same_work_timed_here(tmp_path, capsys,
                                                                                            monkeypatch):
    monkeypatch.setenv("LANDSCAPE_PROGRESS", "lines")
    config = engines.settings("local", threads=1)
    first = driver.run(tiny_params(), config=config, cache=tmp_path)
    said = capsys.readouterr().err
    computed = first.jobs["computed"]
    assert f"{computed} jobs: 0 in the cache, {computed} to compute (2 trainings, {computed - 2} probes); none of " \
           "this work was ever timed" in said
    logged = [json.loads(p.read_text()) for p in (tmp_path / estimate.TIMINGS_DIR).glob("*.json")]
    assert len(logged) == computed and all(e["seconds"] > 0 and e["threads"] == 1 and e["device"] == "cpu" for e in logged)
    assert first.cost and all(c.timed == c.jobs > 0 and c.seconds > 0 for c in first.cost.values())  # what each probe cost
    # a third seed is the same work as the first two: its jobs are estimated from their times
    driver.run(tiny_params(replicates=3), config=config, cache=tmp_path)
    said = capsys.readouterr().err
    assert "in the cache" in said and "from the times of the same work measured on this machine" in said
    assert "left ≈" in said  # the board's estimate of the time left


def test_a_jobs_time_is_its_log_entry_else_a_trainings_history(tmp_path):
    params = tiny_params()
    driver.run(params, config=engines.settings("local", threads=1), cache=tmp_path)
    cache, graph = store.Cache(tmp_path), driver.report_jobs(params)
    logged = {json.loads(p.read_text())["job"]: json.loads(p.read_text())["seconds"]
              for p in (tmp_path / estimate.TIMINGS_DIR).glob("*.json")}
    assert {job.name: estimate.job_seconds(cache, job) for job in graph.values()} == logged
    training = next(job for job in graph.values() if isinstance(job, jobs.TrainJob))
    assert estimate.job_seconds(cache, training, "cuda") is None  # timed on the CPU
    (tmp_path / estimate.TIMINGS_DIR / f"{training.key}.json").unlink()  # computed before the log existed
    history = cache.run_result(training.key)["history"]
    assert estimate.job_seconds(cache, training) == pytest.approx(sum(row["time_s"] for row in history))
    probe = next(job for job in graph.values() if not isinstance(job, jobs.TrainJob))
    (tmp_path / estimate.TIMINGS_DIR / f"{probe.key}.json").unlink()
    assert estimate.job_seconds(cache, probe) is None


def test_a_fresh_machine_scales_the_reference_machines_times_by_the_two_speeds(tmp_path):
    spec = training.RunSpec.make(training.DataSpec("fashion_mnist", "fashion_mnist"), "mlp",
                                 training.TrainConfig(epochs=1, batch_size=32, lr=0.1), seed=1)
    known, other = (jobs.TrainJob(f"k{i}", f"a_s{i}", replace(spec, seed=i, train=replace(spec.train, epochs=i)))
                    for i in (1, 2))
    cache = store.Cache(tmp_path)
    reference = estimate.Reference({estimate.family(known): 100.0}, speed=2000.0)
    calls = []
    found = estimate.plan(2, [known, other], cache, "cpu", reference, lambda: calls.append(1) or 1000.0)
    assert found.estimates == {"k1": 200.0, "k2": None}  # half the reference's speed: twice its time
    assert found.scaled == 1 and calls == [1]
    said = found.sentence(1)
    assert "about 3 min on 1 slot for 1 of them (1 from the reference machine's times scaled by this machine's " \
           "speed (1000 images/s on one thread here, 2000 there))" in said
    estimate.record(cache, known, 50.0, "local", 1, "cpu")  # once timed here, this machine's own time wins
    assert estimate.plan(2, [known], cache, "cpu", reference, lambda: calls.append(1) or 1000.0).estimates == {"k1": 50.0}
    assert calls == [1]  # no calibration when nothing needs the reference
    # on an accelerator neither the CPU's log nor the CPU reference machine's times estimate anything
    on_cuda = estimate.plan(2, [known, other], cache, "cuda", reference, lambda: calls.append(1) or 1000.0)
    assert on_cuda.estimates == {"k1": None, "k2": None} and on_cuda.scaled == 0 and calls == [1]
    estimate.record(cache, other, 2.0, "local", 1, "cuda")
    assert estimate.plan(2, [other], cache, "cuda", reference).estimates == {"k2": 2.0}
    assert estimate.plan(2, [other], cache, "cpu", reference, lambda: 1000.0).estimates == {"k2": None}
    # an entry from before the log named devices counts as a CPU time
    (cache.root / estimate.TIMINGS_DIR / "k2.json").write_text(json.dumps(
        {"job": "a_s2", "family": estimate.family(other), "seconds": 7.0, "engine": "local", "threads": 1}))
    assert estimate.plan(2, [other], cache, "cpu", reference, lambda: 1000.0).estimates == {"k2": 7.0}
    path = tmp_path / "reference.json"
    reference.write(path)
    assert estimate.Reference.read(path) == reference
    path.write_text("{not json")
    assert estimate.Reference.read(path) is None  # it only ever informs an estimate
    path.write_text(json.dumps({"speed": 0, "families": {"train-x": 1.0}}))
    assert estimate.Reference.read(path) is None  # a speed of 0 would scale every time to infinity
    shipped = estimate.Reference.read()  # the reference machine's table, as bench/reference_times.py wrote it
    assert shipped is not None and shipped.speed > 0 and shipped.families
    assert all(seconds >= 0 for seconds in shipped.families.values())
    assert all(name.split("-")[0] in {"train", *probes.REGISTRY} for name in shipped.families)


def test_the_speed_calibration_trains_on_one_thread_and_restores_the_thread_count_and_random_state():
    before, state = torch.get_num_threads(), torch.random.get_rng_state()
    assert estimate.speed(seconds=0.2) > 0
    assert torch.get_num_threads() == before and torch.equal(torch.random.get_rng_state(), state)


def test_a_family_is_the_work_without_its_seed_and_the_clock_falls_back_to_the_times_of_this_run():
    spec = training.RunSpec.make(training.DataSpec("fashion_mnist", "fashion_mnist"), "mlp",
                                 training.TrainConfig(epochs=1, batch_size=32, lr=0.1), seed=1)
    one, two = (jobs.TrainJob(replace(spec, seed=s).key(), f"a_s{s}", replace(spec, seed=s)) for s in (1, 2))
    other = jobs.TrainJob("k", "b", replace(spec, train=replace(spec.train, epochs=2)))
    assert estimate.family(one) == estimate.family(two) != estimate.family(other)
    clock = estimate.Clock({"a": 10.0, "b": None, "c": 30.0, "d": None}, slots=2,
                           kinds={"a": "train", "b": "train", "c": "train", "d": "hessian"})
    assert clock.remaining() is None  # nothing timed for b yet
    clock.finished("a", 20.0)
    assert clock.remaining() is None  # b counts as this run's trainings, but no hessian job has finished
    clock.finished("d", 5.0)
    assert clock.remaining() == (20.0 + 30.0) / 2  # b counts as the median of this run's trainings
    assert clock.guessed() == 1 and clock.words() == "25 s (1 job guessed from other work)"
    clock = estimate.Clock({"a1": None, "a2": None, "b1": None, "c": 10.0}, slots=1,
                           kinds={k: "measures" for k in ("a1", "a2", "b1", "c")},
                           families={"a1": "resnet", "a2": "resnet", "b1": "mlp"})
    clock.finished("a1", 600.0)  # a ResNet's measures: its sibling counts as its family's time, not its kind's
    assert clock.remaining() == 600.0 + 600.0 + 10.0 and clock.guessed() == 1  # b1: the kind's median, guessed
    assert [estimate.duration_words(s) for s in (40, 720, 7500)] == ["40 s", "12 min", "2 h 05 min"]
