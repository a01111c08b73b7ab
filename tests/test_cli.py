"""The command line as a user meets it: every kind of bad input is one line and exit status 2 on
every subcommand, before anything is computed; params paths are used as given; progress is
shown; Ctrl-C or SIGTERM during a report ends with one line and an ``interrupted`` manifest,
leaves no temporary file, and a rerun resumes; the Makefile's help and lab targets."""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from child_processes import default_sigint
import yaml

from landscape import cli
from landscape.core import progress
from landscape.reporting import render, sink
from landscape.pipeline.params import PARAMS_DIR

REPO = Path(__file__).resolve().parents[1]
REPORT = "mlp_vs_cnn_fmnist"
SUBCOMMANDS = ["check", "train", "probe", "report"]


def bad_inputs(tmp_path):
    """kind -> arguments after the subcommand, each one mistake."""
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes((PARAMS_DIR / f"{REPORT}.yaml").read_bytes().replace(b"MLP", "MLP \xe9".encode("latin-1"), 1))
    broken = tmp_path / "broken.yaml"
    broken.write_text("report: [unclosed\n")
    typo_in_smoke = tmp_path / "typo.yaml"
    raw = yaml.safe_load((PARAMS_DIR / f"{REPORT}.yaml").read_text())
    raw["profiles"]["smoke"]["training"]["epochz"] = 1
    typo_in_smoke.write_text(yaml.safe_dump(raw))
    no_data = tmp_path / "no_data.yaml"
    raw = yaml.safe_load((PARAMS_DIR / "resnet20_ablation.yaml").read_text())
    raw["data"].pop("stand_in")
    for profile in raw["profiles"].values():
        profile.get("data", {}).pop("stand_in", None)
    raw["data"]["root"] = str(tmp_path / "empty")
    no_data.write_text(yaml.safe_dump(raw))
    raw = yaml.safe_load((PARAMS_DIR / f"{REPORT}.yaml").read_text())
    raw["reference"]["barriers"] = "BOMB"
    laughs = ", ".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9))
    alias_bomb = tmp_path / "alias_bomb.yaml"  # about 387 million strings once expanded, from 1 KB
    alias_bomb.write_text(yaml.safe_dump(raw).replace("barriers: BOMB", f"barriers: {{l0: &l0 [lol], {laughs}}}"))
    huge = tmp_path / "huge.yaml"
    huge.write_text("".join(f"junk_key_{i}_{'x' * 80}: {i}\n" for i in range(20_000)))  # 2 MB
    junk = tmp_path / "junk.yaml"
    junk.write_text(yaml.safe_dump({**raw, **{f"junk_{i}_{'y' * 5000}": i for i in range(150)}}))  # 750 KB
    return {
        "YAML alias bomb": [str(alias_bomb)],
        "params file over 1 MiB": [str(huge)],
        "thousands of junk keys": [str(junk)],
        "notebook outside notebooks/": [REPORT, "--set", "notebook=../../evil"],
        "infinite learning rate": [REPORT, "--set", "training.lr=.inf"],
        "infinite weight decay": [REPORT, "--set", "training.weight_decay=.inf"],
        "unknown claim check": [REPORT, "--set", "reference.claims=[{text: x, check: no_such_check, args: {}}]"],
        "threshold override without a reason": [REPORT, "--set", "reference.thresholds={barrier: {value: 0.01}}"],
        "data root is a file": [REPORT, "--set", f"data.root={latin1}"],
        **{f"{kind} dataset file": [REPORT, "--set", f"data.root={folder}"]
           for kind, folder in broken_datasets(tmp_path).items()},
        "answering address that is not Ray": [REPORT, "--engine", "ray", "--address", not_ray_address()],
        "Ray address that does not answer": [REPORT, "--engine", "ray", "--address", "127.0.0.1:1"],
        "unknown report": ["no_such_report"],
        "missing path": [str(tmp_path / "missing.yaml")],
        "directory": [str(tmp_path)],
        "not UTF-8": [str(latin1)],
        "not YAML": [str(broken)],
        "typo in another profile": [str(typo_in_smoke)],
        "unknown profile": [REPORT, "--profile", "fast"],
        "unknown key in --set": [REPORT, "--set", "training.lrr=0.1"],
        "wrong type in --set": [REPORT, "--set", "training.epochs=ten"],
        "--set not KEY=VALUE": [REPORT, "--set", "training.epochs"],
        "--set value not YAML": [REPORT, "--set", "training.lr=[1,"],
        "unknown device": [REPORT, "--device", "tpu"],
        "absent device": [REPORT, "--device", "mps"],
        "missing dataset": [str(no_data)],
        "unknown option": [REPORT, "--epochs", "3"],
        "no report": [],
    }


def broken_datasets(tmp_path):
    """kind -> a data root whose Fashion-MNIST files are broken that way (the labels and test split
    are the real ones)."""
    real = Path("/usr/share/datasets/fashion-mnist")
    header = (0x0803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (60000, 28, 28))
    kinds = {"truncated": header + bytes(1000), "garbage": os.urandom(5000),
             "oversized": (0x0803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10**5, 10**3, 10**3)),
             "gzip bomb": gzip.compress(header + bytes(60000 * 28 * 28 + 50 * 2**20), compresslevel=1)}
    roots = {}
    for kind, images in kinds.items():
        root = tmp_path / "data" / kind.replace(" ", "_")
        root.mkdir(parents=True)
        (root / "train-images-idx3-ubyte.gz").write_bytes(images if kind == "gzip bomb" else gzip.compress(images))
        for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            (root / f"{name}.gz").symlink_to(real / f"{name}.gz")
        roots[kind] = root
    return roots


def not_ray_address() -> str:
    """HOST:PORT of a loopback listener that answers every connection with a line of text, as a
    web server or another service on a mistyped port would (it serves until the tests end)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}"


def report_only_inputs(tmp_path):
    """kind -> arguments that only a render would refuse (``check`` refuses them too)."""
    raw = yaml.safe_load((PARAMS_DIR / f"{REPORT}.yaml").read_text())
    dots = tmp_path / "...yaml"  # its stem, the output folder's name, would be '..'
    dots.write_text(yaml.safe_dump(raw))
    return {"output folder named '..'": [str(dots)],
            "missing notebook": [REPORT, "--set", "notebook=no_such_notebook"]}


def test_what_a_render_refuses_check_refuses_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    for kind, args in report_only_inputs(tmp_path).items():
        for command in ("check", "report"):
            extra = ["--output-dir", str(tmp_path / "outputs")] if command == "report" else []
            assert cli.main([command, *args, *extra]) == 2, (kind, command)
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (kind, command, lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["...yaml"], "nothing may be written, above all not in '..'"


def test_every_bad_input_is_one_line_and_exit_2_on_every_subcommand(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    outputs = tmp_path / "outputs"
    for kind, args in bad_inputs(tmp_path).items():
        for command in SUBCOMMANDS:
            extra = ["--output-dir", str(outputs)] if command == "report" else []
            code = cli.main([command, *args, *extra])
            captured = capsys.readouterr()
            lines = captured.err.strip().splitlines()
            assert code == 2, (kind, command, captured.err)
            assert len(lines) == 1 and lines[0].startswith("error: "), (kind, command, captured.err)
            assert len(lines[0]) < 1500, (kind, command, len(lines[0]))
            assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "cache").exists() and not outputs.exists(), "nothing may be computed or written"


def test_errors_name_what_is_wrong_and_what_is_allowed(tmp_path, capsys):
    expected = {"unknown report": "available reports: ['batchnorm',", "directory": "is a directory",
                "not UTF-8": "not UTF-8 text", "typo in another profile": "profile 'smoke'): training.epochz: unknown key",
                "unknown device": "allowed: auto, cpu, cuda, cuda:N or mps",
                "absent device": "MPS is not available on this machine",
                "missing dataset": "dataset 'cifar10' not found", "--set value not YAML": "not valid YAML",
                "YAML alias bomb": "YAML alias *l0 at line", "params file over 1 MiB": "a params file is at most",
                "thousands of junk keys": "and 145 more",
                "notebook outside notebooks/": "notebook: String should match pattern",
                "infinite learning rate": "training.lr: Input should be a finite number",
                "unknown claim check": "reference.claims.0.check: unknown check 'no_such_check'",
                "threshold override without a reason": "reference.thresholds.barrier: expected {value, reason}",
                "data root is a file": "is a file, not a folder of datasets",
                "truncated dataset file": "header says (60000, 28, 28) but the file holds fewer bytes",
                "gzip bomb dataset file": "header says (60000, 28, 28) but the file holds more bytes",
                "oversized dataset file": "not a dataset split of at most 256 MiB",
                "garbage dataset file": "unreadable train split",
                "answering address that is not Ray": "answers, but not as a Ray cluster"}
    for kind, args in bad_inputs(tmp_path).items():
        if kind in expected:
            cli.main(["check", *args])
            assert expected[kind] in capsys.readouterr().err, kind


def test_the_real_entry_point_prints_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "landscape", "train", REPORT, "--device", "tpu"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == "error: unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N or mps"


def test_a_params_path_is_used_as_given_and_names_the_output_folder(tmp_path, monkeypatch):
    raw = yaml.safe_load((PARAMS_DIR / f"{REPORT}.yaml").read_text())
    raw["report"], raw["title"] = "my_variant", "My variant"
    copy = tmp_path / "my_copy.yaml"
    copy.write_text(yaml.safe_dump(raw))
    seen = {}

    def fake_execute(notebook, output, parameters, **kwargs):
        seen.update(parameters)

    monkeypatch.setattr(render, "execute_notebook", fake_execute)
    code = cli.main(["report", str(copy), "--profile", "smoke", "--no-pdf", "--no-index",
                     "--output-dir", str(tmp_path / "out")])
    manifest = json.loads((tmp_path / "out" / "my_copy" / "manifest.json").read_text())
    assert Path(seen["params_file"]).resolve() == copy.resolve() == Path(manifest["params_file"]).resolve()
    assert manifest["title"] == "My variant" and Path(seen["output_dir"]).name == "my_copy"
    assert code == 1  # the fake execution wrote no notebook: the report is marked failed, not passed off
    assert cli.main(["check", str(copy)]) == 0


def test_renders_other_than_the_published_kind_stay_out_of_outputs():
    published = sink.OUTPUTS_DIR
    assert render.default_output_root("full") == published
    assert render.default_output_root("smoke") == published / "_smoke"
    assert render.default_output_root("full", {"training": {"epochs": 1}}) == published / "_custom"
    assert render.default_output_root("full", None, Path("/tmp/elsewhere.yaml")) == published / "_custom"
    assert render.default_output_root("full", None, PARAMS_DIR / f"{REPORT}.yaml") == published
    assert "outputs/_*/" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.slow
def test_train_probe_and_check_take_set_and_profile(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    small = ["--set", "training.epochs=1", "--set", "data.train_subset=400", "--set", "data.test_subset=100"]
    assert cli.main(["train", REPORT, "--profile", "smoke", *small]) == 0
    captured = capsys.readouterr()
    assert re.search(r"A_s0 +completed +epochs  1 \(trained now: 1\)", captured.out)
    assert re.search(r"train A_s0 \(seed 0\): 1/1 epoch, train_loss \d\.\d{4}, test_acc \d\.\d{4} \(\d+ s\) done",
                     captured.err)
    assert cli.main(["train", REPORT, "--profile", "smoke", "--set", "training.lr=1000", *small]) == 0
    assert "diverged at epoch 1" in capsys.readouterr().out
    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    assert cli.main(["probe", REPORT, "--profile", "smoke", *small, "--set", "probes.noise=null", "--set",
                     "probes.hessian.trace_samples=0", "--set", "probes.eval_set.train_size=32"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"hessian A_s0: \d+ HVPs \(\d+ s\) done", err) and re.search(r"slice1d B_s1: (\d+)/\1 points", err)


def test_progress_lines_count_and_nest():
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(progress.PROGRESS_ENV, "lines")
        mp.setattr(progress, "LINE_INTERVAL_S", 0.0)
        mp.setattr(sys, "stderr", type("Sink", (), {"write": lambda self, t: lines.append(t), "flush": lambda self: 0})())
        with progress.task("outer", 3, "point"):
            progress.tick()
            with progress.task("inner", 4, "point"):  # counted by the outer task
                progress.tick(2)
            with progress.task("other", 99, "step"):  # another unit: not counted
                progress.tick(5)
                with progress.task("innermost", 7, "point"):
                    progress.tick()
        progress.tick()  # no open task: nothing
    text = "".join(lines)
    assert "outer: 0/3 points" in text and "outer: 3/7 points" in text and "done" in text
    assert "inner" not in text and "other" not in text and "/106" not in text and "4/" not in text


def test_bars_of_unknown_size_show_their_count_and_the_board_shows_running_jobs(monkeypatch):
    """In JupyterLab (tqdm bars): a Lanczos probe's bar says how many products it took, never
    "7/?", and the jobs bar shows a job running while it runs, not only once it is done."""
    import io

    shown = io.StringIO()
    monkeypatch.setattr(progress, "mode", lambda: "auto")
    monkeypatch.setattr(sys, "stderr", shown)
    with progress.task("hessian A_s0", unit="HVP"):
        progress.tick(7)
    board = progress.Board("report: 2 jobs", 2)
    board.started()
    running = shown.getvalue()
    board.finished("hessian A_s0", "done")
    board.close()
    assert "hessian A_s0: 7 HVP (" in shown.getvalue() and "/?" not in shown.getvalue()
    assert "0/2" in running and "running=1" in running


def running_report(tmp_path, cache, log):
    """``report`` in a subprocess (the smoke profile on a fifth of its data, one epoch, 32 probe
    images a split), its stderr going to ``log``."""
    env = {**os.environ, "LANDSCAPE_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "landscape", "report", REPORT, "--profile", "smoke", "--no-pdf",
                             "--set", "data.train_subset=400", "--set", "data.test_subset=100", "--set",
                             "training.epochs=1", "--set", "probes.eval_set.train_size=32", "--set",
                             "probes.eval_set.test_size=32", "--no-index", "--output-dir", str(tmp_path / "out")],
                            cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True, preexec_fn=default_sigint)


def wait_for(path, text, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never held {text!r}")


@pytest.mark.slow
@pytest.mark.parametrize("sig, during", [(signal.SIGINT, "train A_s0 (seed 0): 0/"), (signal.SIGTERM, "executing")],
                         ids=["ctrl-c-while-computing", "sigterm-in-the-notebook"])
def test_an_interrupted_report_ends_cleanly_and_a_rerun_resumes(sig, during, tmp_path):
    """Interrupted while its jobs compute (before any notebook runs: no manifest is written, a
    published one stays as it was) or while its notebook runs (its manifest says interrupted),
    a report ends in one line and leaves no temporary file; run again, it resumes from the caches."""
    cache, log = tmp_path / "cache", tmp_path / "first.log"
    proc = running_report(tmp_path, cache, log)
    manifest_path = tmp_path / "out" / REPORT / "manifest.json"
    wait_for(log, during, timeout=600)  # the notebook starts once every job is computed
    proc.send_signal(sig)
    proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Task exception" not in err and "DeadKernelError" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: ")
    if during == "executing":
        assert json.loads(manifest_path.read_text())["status"] == "interrupted"
    else:
        assert not manifest_path.exists()
    leftovers = [p for p in [*cache.rglob("*"), *(tmp_path / "out").rglob("*")] if ".tmp" in p.name]
    assert not leftovers
    rerun = running_report(tmp_path, cache, tmp_path / "rerun.log")
    rerun.wait(timeout=300)
    err = (tmp_path / "rerun.log").read_text()
    assert rerun.returncode == 0, err
    assert json.loads(manifest_path.read_text())["status"] == "ok"
    assert "§ Probes" in err and "§ Claims" in err  # a line per section, streamed
    done = [line for line in err.splitlines() if " ok in " in line]
    assert done and done[0].endswith(f"{REPORT}.html"), done  # --no-pdf: no PDF is announced


def test_a_running_manifest_whose_process_is_gone_reads_as_interrupted(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    folder = tmp_path / REPORT
    sink.write_json({"report": REPORT, "status": "running", "title": "t", "study": "s",
                          "process": {"pid": int(gone), "host": render.socket.gethostname()}},
                         folder / "manifest.json")
    assert render.manifest_status(folder) == "interrupted"
    sink.write_json({"report": REPORT, "status": "running", "process": {"pid": os.getpid(),
                                                                              "host": render.socket.gethostname()}},
                         folder / "manifest.json")
    assert render.manifest_status(folder) == "running"
    assert cli.main(["report", "--index-only", "--output-dir", str(tmp_path), REPORT]) == 1


def test_make_help_lists_the_targets_and_lab_runs_as_root():
    shown = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for target in ("reports", "test", "setup", "bench", "lab", "clean"):
        assert f"make {target}" in shown
    lab = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "jupyter lab notebooks/" in lab and "--allow-root" in lab


@pytest.mark.parametrize("engine", ["local", "processes", "ray"])
def test_make_reports_runs_every_report_as_one_graph_on_any_engine(engine):
    planned = subprocess.run(["make", "-n", "reports", f"ENGINE={engine}", "PROFILE=smoke",
                              "REPORTS=batchnorm seed_connectivity"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    command = f"-m landscape report batchnorm seed_connectivity --profile smoke --no-index --engine {engine}"
    wanted = command + ("" if engine == "local" else " --threads 1")  # local: every core for each job
    assert any(line.rstrip().endswith(wanted) for line in planned.splitlines()), planned
    assert "--index-only --profile smoke batchnorm seed_connectivity" in planned


def test_readme_examples_name_the_profile():
    readme = (REPO / "README.md").read_text()
    examples = re.findall(r"python -m landscape (?:check|train|probe|report) [^\n`]*", readme)
    assert examples and all("--profile" in e or "--index-only" in e for e in examples), examples


@pytest.mark.slow
def test_a_cell_timeout_fails_the_report_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    manifest = render.run_report(REPORT, "smoke", output_root=tmp_path / "out", pdf=False, timeout=1, log=None)
    assert manifest["status"] == "failed" and manifest["error"].startswith("CellTimeoutError: A cell timed out")
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert (tmp_path / "out" / REPORT / f"{REPORT}.html").exists()  # rendered up to the cell that timed out
