"""Deterministic SGD training of one run, resumable from a checkpoint.

A run is defined by a :class:`RunSpec` (data, model, training config, seed). Its cache key is a
hash of everything in the spec (not of where the data lives). :func:`train` is pure: it reads and
writes no file. It hands a checkpoint (model, optimizer, scheduler, random-generator states,
history) to its caller after every epoch, and a run resumed from such a checkpoint produces the
same numbers as an uninterrupted one. The pipeline (``landscape.pipeline.driver``) stores checkpoints
and results in the cache (``landscape.core.store``) and skips runs already there.

History rows (one per recorded epoch, see Records below; units in brackets):
  epoch [1-based], lr [learning rate used during the epoch],
  train_loss, train_acc [running mean over the epoch's mini-batches, train mode, as the studies report],
  eval_train_loss, eval_train_acc [after the epoch, eval mode, on the train probe set: the stratified
    subset ``TrainConfig.train_probe`` of the training split; NaN without one],
  test_loss, test_acc [full test split, eval mode], gap [train_acc - test_acc, the studies' gap],
  eval_gap [eval_train_acc - test_acc: both measured on the same weights in the same mode],
  grad_norm [mean over the epoch's mini-batches of the L2 norm of the mini-batch gradient],
  time_s [wall seconds of the epoch, training + test evaluation].
A non-finite loss stops the run: ``status == "diverged"``, ``diverged_epoch`` is the epoch it
happened in, and the history keeps every completed record.

Records: by default every epoch is recorded (a history row, the evaluations, a checkpoint, a
snapshot when snapshots are kept). With ``record_steps`` (full-batch gradient descent takes one
step per epoch), only every ``ceil(record_steps / steps per epoch)``-th epoch and the last are: a
row then describes its own epoch (train_loss, train_acc, grad_norm, lr) and its time_s covers the
epochs since the previous record; the stopping loss is checked at records only. ``max_steps``
caps the optimizer steps: training ends with the epoch in which they reach it (or at ``epochs``).

Snapshots (for probes of the training trajectory): with ``snapshots`` (fractions of epoch 1 in
[0, 1)), :func:`train` also keeps the weights after round(fraction × steps per epoch) steps of
epoch 1 (fraction 0: the initialization) and at the end of every recorded epoch. Each is
``{"epoch": progress in epochs (0.125, 1.0, ...), "step": optimizer steps taken, "model": state}``;
they are in the result and in every checkpoint. Keeping them changes no number of the run.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import data as data_mod
from ..core import progress, store
from ..core.runtime import accumulator_dtype, make_deterministic, select_device
from .evaluation import evaluate
from .models import build_model, count_parameters, use_fast_layout

ENGINE_VERSION = 3  # bump when a change alters the numbers a cached run would produce
SCHEDULES = ("constant", "step", "cosine")
DIVERGENCE_CHECK_EVERY = 20  # steps between non-finite checks (each check syncs an accelerator)


@dataclass(frozen=True)
class DataSpec:
    """Which data a run sees. Subsets are stratified and seeded by ``subset_seed``."""

    name: str
    normalization: str
    pad_to: int | None = None
    channels: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    subset_seed: int = 0
    root: str | None = field(default=None, compare=False)
    download: bool = field(default=False, compare=False)

    def identity(self) -> dict:
        """The fields that change the data (not where it is read from)."""
        d = asdict(self)
        d.pop("root")
        d.pop("download")
        return d


@dataclass(frozen=True)
class TrainConfig:
    """SGD with momentum; ``schedule`` steps once per epoch (step: x gamma every step_size epochs;
    cosine: from lr to 0 over ``epochs``)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 1
    gamma: float = 0.1
    augment: bool = False  # random crop (padding 4) + horizontal flip, on tensors
    eval_chunk: int = 1000
    train_probe: tuple[int, int] | None = None  # (size, seed) of the train probe set evaluated each epoch
    # a common stopping point: stop after the first epoch whose cross-entropy over the whole training
    # split (eval mode, nats) is at most this; ``epochs`` is then the cap (Jiang et al. 2020: 0.01)
    stop_train_loss: float | None = None
    record_steps: int | None = None  # optimizer steps between records at least (module docstring); None: every epoch
    max_steps: int | None = None  # a cap on optimizer steps (the epoch that reaches it is the last)

    def steps_per_epoch(self, train_size: int) -> int:
        return math.ceil(train_size / self.batch_size)

    def last_epoch(self, train_size: int) -> int:
        """The epoch training ends with unless it stops or diverges first: ``epochs``, or the one
        whose steps reach ``max_steps``."""
        if self.max_steps is None:
            return self.epochs
        return min(self.epochs, math.ceil(self.max_steps / self.steps_per_epoch(train_size)))

    def records(self, epoch: int, train_size: int) -> bool:
        """Whether ``epoch`` (1-based) is recorded (module docstring)."""
        if self.record_steps is None or epoch == self.last_epoch(train_size):
            return True
        return epoch % math.ceil(self.record_steps / self.steps_per_epoch(train_size)) == 0


LATER_TRAIN_FIELDS = ("stop_train_loss", "record_steps", "max_steps")  # added after runs were cached: in a run's key only when set


@dataclass(frozen=True)
class RunSpec:
    data: DataSpec
    model: str
    model_options: tuple = ()  # sorted (key, value) pairs, so the spec is hashable
    train: TrainConfig = None  # type: ignore[assignment]
    seed: int = 0

    @staticmethod
    def make(data: DataSpec, model: str, train: TrainConfig, seed: int, **options) -> "RunSpec":
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))
        return RunSpec(data, model, frozen, train, seed)

    def key(self) -> str:
        train = {k: v for k, v in asdict(self.train).items() if not (k in LATER_TRAIN_FIELDS and v is None)}
        payload = {"engine": ENGINE_VERSION, "data": self.data.identity(), "model": self.model,
                   "options": [list(kv) for kv in self.model_options], "train": train, "seed": self.seed}
        return store.content_key(payload, 16)


def outcome(status: str, diverged_epoch: int | None) -> str:
    """How a run ended, in words: its status, and the epoch where it diverged."""
    return status if diverged_epoch is None else f"{status} at epoch {int(diverged_epoch)}"


# ---------------------------------------------------------------------------- data

_DATA_CACHE: dict[tuple[DataSpec, str | None], tuple[data_mod.ImageDataset, data_mod.ImageDataset]] = {}


def load_splits(spec: DataSpec) -> tuple[data_mod.ImageDataset, data_mod.ImageDataset]:
    """(train, test) datasets of ``spec`` on the CPU, subsets applied; memoized per process and
    data root (the same data read from another root is read again, so its files are checked)."""
    key = (spec, spec.root)
    if key not in _DATA_CACHE:
        splits = []
        for split, n in (("train", spec.train_subset), ("test", spec.test_subset)):
            splits.append(data_mod.load_dataset(spec.name, split, spec.normalization, root=spec.root,
                                                download=spec.download, pad_to=spec.pad_to, channels=spec.channels,
                                                subset=None if n is None else (n, spec.subset_seed)))
        _DATA_CACHE[key] = (splits[0], splits[1])
    return _DATA_CACHE[key]


# ---------------------------------------------------------------------------- training

def _optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=cfg.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=0.0)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; allowed: {list(SCHEDULES)}")


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"shuffle": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def build_run_model(spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int) -> torch.nn.Module:
    """The spec's model, initialized from ``spec.seed``."""
    torch.manual_seed(spec.seed)
    return use_fast_layout(build_model(spec.model, input_shape, num_classes, **dict(spec.model_options)))


def snapshot_steps(fractions: Sequence[float], steps_per_epoch: int) -> dict[int, float]:
    """Steps taken in epoch 1 -> epoch progress, for the epoch-1 snapshots at ``fractions``
    (each in [0, 1); see module docstring)."""
    bad = [f for f in fractions if not 0 <= f < 1]
    if bad:
        raise ValueError(f"snapshot fractions must be in [0, 1), got {bad}")
    return {round(f * steps_per_epoch): round(f * steps_per_epoch) / steps_per_epoch for f in fractions}


def train(spec: RunSpec, device: str | torch.device = "auto", resume: dict | None = None,
          on_checkpoint: Callable[[dict], None] | None = None, on_epoch_end: Callable[[dict], None] | None = None,
          label: str | None = None, snapshots: Sequence[float] | None = None) -> dict:
    """Train ``spec`` from scratch, or from ``resume`` (a checkpoint: ``store.CHECKPOINT_KEYS``), and return
    the result (``store.RESULT_KEYS``, plus ``trained_epochs``: epochs trained by this call). The model
    state in the result is on the CPU. After every epoch ``on_checkpoint`` receives the checkpoint
    (the caller stores it; the pipeline writes it to the cache), then ``on_epoch_end`` the history
    row. ``snapshots``: the epoch-1 fractions of the snapshots to keep (module docstring; a resumed
    run needs a checkpoint that kept them). With ``stop_train_loss``, every epoch also records the
    cross-entropy over the whole training split (``full_train_loss``, eval mode) and training stops
    after the first epoch where it is at most that (:func:`reached_stop`); a run that reaches
    ``epochs`` first has missed it. Pure: no file is read or written here. Epochs are
    counted by ``landscape.core.progress`` under ``label`` (default: model and seed)."""
    if resume is not None and snapshots is not None and \
            tuple(resume.get("snapshot_fractions", ())) != tuple(snapshots):
        raise ValueError(f"cannot keep snapshots at {list(snapshots)} when resuming from a checkpoint that kept "
                         f"{resume.get('snapshot_fractions') or 'none'}")
    dev = select_device(device) if isinstance(device, str) else device
    make_deterministic()
    train_ds, test_ds = load_splits(spec.data)
    model = build_run_model(spec, tuple(train_ds.images.shape[1:]), train_ds.num_classes).to(dev)
    cfg = spec.train
    optimizer = _optimizer(model, cfg)
    scheduler = _scheduler(optimizer, cfg)
    generator = torch.Generator().manual_seed(spec.seed)
    history: list[dict] = []
    kept: list[dict] = []  # snapshots
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        _set_rng_state(resume["rng"], generator, dev)
        history = list(resume["history"])
        kept = list(resume.get("snapshots", []))

    train_probe = train_ds.stratified(*cfg.train_probe) if cfg.train_probe is not None else None  # = probes' train set
    train_x, train_y = train_ds.images.to(dev), train_ds.labels.to(dev)
    fill = data_mod.black_pixel(spec.data.normalization, train_x.shape[1]) if cfg.augment else None
    status, diverged_epoch, trained = "completed", None, 0
    steps_per_epoch = cfg.steps_per_epoch(train_x.shape[0])
    last_epoch = cfg.last_epoch(train_x.shape[0])
    early = snapshot_steps(snapshots, steps_per_epoch) if snapshots is not None else {}

    def keep(step: int, epoch: float, state: dict | None = None) -> None:
        kept.append({"epoch": epoch, "step": step, "model": state if state is not None else _cpu(model.state_dict())})

    def on_step(done: int) -> None:
        if done in early:
            keep(done, early[done])

    if not history and 0 in early:
        keep(0, 0.0)
    done_epochs = int(history[-1]["epoch"]) if history else 0
    with progress.task(f"train {label or spec.model} (seed {spec.seed})", last_epoch, "epoch", done_epochs):
        start = time.perf_counter()
        for epoch in range(done_epochs + 1, last_epoch + 1):
            if history and reached_stop(cfg, history[-1]):  # a resumed run that had already stopped
                break
            lr = optimizer.param_groups[0]["lr"]
            stats = _train_epoch(model, optimizer, train_x, train_y, cfg, generator, fill,
                                 on_step if epoch == 1 and early else None)
            trained += 1
            if stats is None:
                status, diverged_epoch = "diverged", epoch
                progress.tick(0, diverged=f"at epoch {epoch}")
                break
            scheduler.step()
            if not cfg.records(epoch, train_x.shape[0]):
                progress.tick()
                continue
            test = evaluate(model, test_ds, chunk_size=cfg.eval_chunk)
            seen = evaluate(model, train_probe, chunk_size=cfg.eval_chunk) if train_probe is not None else None
            eval_loss, eval_acc = (seen.loss, seen.accuracy) if seen is not None else (float("nan"), float("nan"))
            loss, acc, grad_norm = stats
            row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc": acc, "eval_train_loss": eval_loss,
                   "eval_train_acc": eval_acc, "test_loss": test.loss, "test_acc": test.accuracy,
                   "gap": acc - test.accuracy, "eval_gap": eval_acc - test.accuracy, "grad_norm": grad_norm}
            if cfg.stop_train_loss is not None:
                row["full_train_loss"] = evaluate(model, train_ds, chunk_size=cfg.eval_chunk).loss
            row["time_s"] = time.perf_counter() - start
            start = time.perf_counter()
            history.append(row)
            weights = _cpu(model.state_dict()) if snapshots is not None or on_checkpoint is not None else None
            if snapshots is not None:
                keep(epoch * steps_per_epoch, float(epoch), weights)  # not modified afterwards: shared is safe
            if on_checkpoint is not None:
                checkpoint = {"model": weights, "optimizer": copy.deepcopy(optimizer.state_dict()),
                              "scheduler": scheduler.state_dict(), "rng": _rng_state(generator, dev),
                              "history": list(history)}  # a copy: training goes on after the call
                on_checkpoint(checkpoint if snapshots is None else
                              {**checkpoint, "snapshots": list(kept), "snapshot_fractions": list(snapshots)})
            progress.tick(train_loss=f"{loss:.4f}", test_acc=f"{test.accuracy:.4f}")
            if on_epoch_end is not None:
                on_epoch_end(row)
            if reached_stop(cfg, row):
                break
    result = {"model": _cpu(model.state_dict()), "history": history, "status": status,
              "diverged_epoch": diverged_epoch, "trained_epochs": trained}
    return result if snapshots is None else {**result, "snapshots": kept}


def reached_stop(cfg: TrainConfig, row: dict) -> bool:
    """Whether the epoch of history ``row`` met ``cfg.stop_train_loss`` (False without one)."""
    return cfg.stop_train_loss is not None and row.get("full_train_loss", math.inf) <= cfg.stop_train_loss


def _cpu(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def trained_model(spec: RunSpec, state: dict, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The spec's model with the trained ``state`` loaded, in eval mode, on ``device``."""
    train_ds, _ = load_splits(spec.data)
    model = build_run_model(spec, tuple(train_ds.images.shape[1:]), train_ds.num_classes)
    model.load_state_dict(state)
    return model.to(device).eval()


def parameter_count(spec: RunSpec, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Trainable parameters of the spec's model (built on the meta device: nothing allocated)."""
    with torch.device("meta"):
        model = build_model(spec.model, input_shape, num_classes, **dict(spec.model_options))
    return count_parameters(model)


def _train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 cfg: TrainConfig, generator: torch.Generator, fill: torch.Tensor | None,
                 on_step: Callable[[int], None] | None = None) -> tuple[float, float, float] | None:
    """One pass over (x, y) in shuffled mini-batches. Returns (mean loss, accuracy, mean gradient
    norm) over the epoch, or None as soon as the loss is not finite. ``on_step(steps taken)`` is
    called after every optimizer step.

    Per-step bookkeeping is written into buffers allocated once per epoch (a few small ops per
    step, no host sync) and reduced at the end, so it costs little next to the step itself
    (``make bench``). Nothing allocated in a step outlives it: with the Makefile's glibc settings
    (no trim, no mmap) small tensors kept for the epoch would sit between each step's large
    freed blocks and grow the heap by gigabytes over an epoch."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    batches = data_mod.batch_indices(x.shape[0], cfg.batch_size, shuffle=True, generator=generator)
    steps = len(batches)
    losses = torch.empty(steps, dtype=torch.float32, device=x.device)  # per mini-batch: mean loss,
    norms = torch.empty(steps, len(params), dtype=torch.float32, device=x.device)  # gradient norm per tensor,
    correct = torch.empty(steps, dtype=torch.int64, device=x.device)  # right answers
    for step, idx in enumerate(batches):
        idx = idx.to(x.device)
        xb, yb = x[idx], y[idx]
        if fill is not None:
            xb = data_mod.augment_crop_flip(xb, generator, fill=fill)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            losses[step] = loss.detach()
            torch.stack(torch._foreach_norm([p.grad for p in params]), out=norms[step])
            correct[step] = (logits.argmax(1) == yb).sum()
        done = step + 1
        if (done % DIVERGENCE_CHECK_EVERY == 0 or done == steps) and \
                not torch.isfinite(losses[max(0, done - DIVERGENCE_CHECK_EVERY):done]).all():
            return None
        optimizer.step()
        if on_step is not None:
            on_step(done)
    acc_dtype = accumulator_dtype(x.device)
    sizes = torch.tensor([b.numel() for b in batches], dtype=acc_dtype, device=x.device)
    n = x.shape[0]
    loss_sum = (losses.to(acc_dtype) * sizes).sum()
    grad_norms = torch.linalg.vector_norm(norms.to(acc_dtype), dim=1)
    return float(loss_sum) / n, int(correct.sum()) / n, float(grad_norms.mean())


def spec_json(spec: RunSpec) -> dict:
    """The spec as plain JSON types (written beside a cached run, for people)."""
    return {"data": asdict(spec.data), "model": spec.model, "options": dict(spec.model_options),
            "train": asdict(spec.train), "seed": spec.seed}
