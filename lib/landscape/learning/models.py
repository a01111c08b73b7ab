"""The model zoo of the five source studies.

Every builder takes ``input_shape`` (C, H, W) and ``num_classes`` and returns a module that maps
float images (N, C, H, W) to logits (N, num_classes). Convolutions are 3x3 with padding 1 unless
stated. Where a study leaves a detail open, the choice made here is written in the docstring.

| name            | study | what it is                                                        |
|-----------------|-------|-------------------------------------------------------------------|
| mlp             | 000, 002 | Flatten -> [Linear -> ReLU] per hidden width -> Linear          |
| cnn_bn_dropout  | 000   | Model B: 2x (conv + BN + ReLU + pool), dropout 0.25, FC128, dropout 0.5 |
| cnn_small       | 001   | conv16, conv32, one pool, FC128                                    |
| cnn_two16       | 002   | conv16, conv16 (+ 1x1 skip when residual), pool, linear            |
| cnn_3264        | 003   | conv32, conv64 (+ BN when batchnorm), one pool, FC128              |
| resnet20        | 004   | ResNet-20, 16-32-64 (``width`` 16), switches ``skip``, ``batchnorm`` |
| cnn_grid        | grid  | ``depth`` x conv(``width``)[+BN]+pool, flatten, [dropout], linear |
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import nn

Shape = tuple[int, int, int]


def _conv(in_ch: int, out_ch: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=bias)


def mlp(input_shape: Shape, num_classes: int = 10, hidden: tuple[int, ...] = (256, 128)) -> nn.Sequential:
    """Flatten -> Linear/ReLU per width in ``hidden`` -> Linear. 000 Model A: hidden (256, 128);
    002 MLP: hidden (256,)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn_bn_dropout(input_shape: Shape, num_classes: int = 10) -> nn.Sequential:
    """000 Model B: conv32+BN+ReLU+pool, conv64+BN+ReLU+pool, Dropout(0.25), FC128+ReLU,
    Dropout(0.5), linear."""
    c, h, w = input_shape
    return nn.Sequential(
        _conv(c, 32), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        _conv(32, 64), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, num_classes),
    )


def cnn_small(input_shape: Shape, num_classes: int = 10) -> nn.Sequential:
    """001: conv16+ReLU, conv32+ReLU, MaxPool(2), FC(32*14*14 -> 128)+ReLU, linear."""
    c, h, w = input_shape
    return nn.Sequential(
        _conv(c, 16), nn.ReLU(), _conv(16, 32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * (h // 2) * (w // 2), 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


class CnnTwo16(nn.Module):
    """002 CNN and residual CNN: conv16+ReLU, conv16, [+ 1x1 conv of the input when ``residual``],
    ReLU, MaxPool(2), linear. The study names only the layer widths and "an additional 1x1 skip
    connection"; the skip is taken around both convolutions, projecting the input to 16 channels."""

    def __init__(self, input_shape: Shape, num_classes: int = 10, residual: bool = False):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = _conv(c, 16)
        self.conv2 = _conv(16, 16)
        self.skip = nn.Conv2d(c, 16, kernel_size=1) if residual else None
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * (h // 2) * (w // 2), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(torch.relu(self.conv1(x)))
        if self.skip is not None:
            out = out + self.skip(x)
        return self.fc(torch.flatten(self.pool(torch.relu(out)), 1))


def cnn_3264(input_shape: Shape, num_classes: int = 10, batchnorm: bool = True) -> nn.Sequential:
    """003: conv32[+BN]+ReLU, conv64[+BN]+ReLU, MaxPool(2), FC128+ReLU, linear (one pool, as listed)."""
    c, h, w = input_shape

    def norm(ch: int) -> nn.Module:
        return nn.BatchNorm2d(ch) if batchnorm else nn.Identity()

    return nn.Sequential(
        _conv(c, 32), norm(32), nn.ReLU(), _conv(32, 64), norm(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (h // 2) * (w // 2), 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def cnn_grid(input_shape: Shape, num_classes: int = 10, width: int = 16, depth: int = 2, batchnorm: bool = False,
             dropout: float = 0.0) -> nn.Sequential:
    """The designed grid's family (one architecture whose hyperparameters vary one at a time):
    ``depth`` blocks of conv(``width``)[+BN]+ReLU+MaxPool(2), flatten, dropout ``dropout`` when
    above 0, linear. A flattening classifier, not global pooling: with global pooling these small
    networks did not reach a train cross-entropy of 0.01 on 1,000 Fashion-MNIST images in 60
    epochs (0.39-0.91), with it they did in 27-47 (width 16-32, depth 2-3, lr 0.05, batch 64)."""
    c, h, w = input_shape
    if not 1 <= depth <= int(math.log2(min(h, w))):
        raise ValueError(f"cnn_grid depth {depth}: from 1 to {int(math.log2(min(h, w)))} for a {h}×{w} input "
                         "(each block halves it)")
    if width < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(f"cnn_grid: width {width} must be at least 1 and dropout {dropout} in [0, 1)")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [_conv(c if i == 0 else width, width)] + ([nn.BatchNorm2d(width)] if batchnorm else []) + \
            [nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Flatten()] + ([nn.Dropout(dropout)] if dropout > 0 else []) + \
        [nn.Linear(width * (h >> depth) * (w >> depth), num_classes)]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convs (no bias) with BN (optional); a shortcut when ``skip``: identity, or a 1x1
    stride-2 conv (+BN) where the shape changes (this reproduces 004's parameter counts)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, skip: bool, batchnorm: bool):
        super().__init__()

        def norm(ch: int) -> nn.Module:
            return nn.BatchNorm2d(ch) if batchnorm else nn.Identity()

        self.conv1, self.bn1 = _conv(in_ch, out_ch, bias=False, stride=stride), norm(out_ch)
        self.conv2, self.bn2 = _conv(out_ch, out_ch, bias=False), norm(out_ch)
        self.skip = skip
        self.shortcut: nn.Module = nn.Identity()
        if skip and (stride != 1 or in_ch != out_ch):
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        if self.skip:
            out = out + self.shortcut(x)
        return torch.relu(out)


class ResNet20(nn.Module):
    """004: conv16 + 3 stages x 3 basic blocks (16, 32, 64 channels; stride 1, 2, 2), global
    average pool, linear. Kaiming-normal conv init. 272,474 / 270,906 / 269,722 / 268,346
    parameters for (skip, batchnorm) = (T, T) / (T, F) / (F, T) / (F, F) on 3x32x32 input.
    ``width``: the first stage's channels (the others 2x and 4x it); 16 is ResNet-20, 8 the same
    architecture at half the cost (the smoke profile's). Below 8 torch 2.14's channels_last CPU
    backward crashes (segmentation fault at width 4), so it is refused."""

    def __init__(self, input_shape: Shape, num_classes: int = 10, skip: bool = True, batchnorm: bool = True,
                 width: int = 16):
        super().__init__()
        if width < 8:
            raise ValueError(f"resnet20 width {width}: at least 8 (narrower nets crash torch's channels_last backward)")
        c = input_shape[0]
        self.conv1 = _conv(c, width, bias=False)
        self.bn1 = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        blocks: list[nn.Module] = []
        in_ch = width
        for out_ch, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
            for i in range(3):
                blocks.append(BasicBlock(in_ch, out_ch, stride if i == 0 else 1, skip, batchnorm))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(4 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


MODELS = {
    "mlp": mlp,
    "cnn_bn_dropout": cnn_bn_dropout,
    "cnn_small": cnn_small,
    "cnn_two16": CnnTwo16,
    "cnn_3264": cnn_3264,
    "resnet20": ResNet20,
    "cnn_grid": cnn_grid,
}


def model_options(name: str) -> dict[str, object]:
    """The options (beyond input_shape and num_classes) a zoo model accepts, with defaults."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {sorted(MODELS)}")
    signature = inspect.signature(MODELS[name])
    return {k: p.default for k, p in signature.parameters.items() if k not in ("input_shape", "num_classes")}


def build_model(name: str, input_shape: Shape, num_classes: int = 10, **options) -> nn.Module:
    """Instantiate zoo model ``name``; unknown options are an error naming the allowed ones."""
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"model {name!r}: unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    if "hidden" in options:
        options["hidden"] = tuple(options["hidden"])
    return MODELS[name](tuple(input_shape), num_classes, **options)


FAMILIES = {"mlp": "MLP", "cnn_bn_dropout": "CNN", "cnn_small": "CNN", "cnn_two16": "CNN", "cnn_3264": "CNN",
            "resnet20": "ResNet", "cnn_grid": "CNN"}


@dataclass(frozen=True)
class Traits:
    """What sets architectures apart when models of several studies are compared: the family
    (MLP, CNN, ResNet) and whether the network has BatchNorm, skip connections and dropout."""

    family: str
    batchnorm: bool
    skip: bool
    dropout: bool


def traits(name: str, **options) -> Traits:
    """The traits of zoo model ``name`` with ``options``, read off the module itself (built on
    the meta device: nothing allocated)."""
    with torch.device("meta"):
        model = build_model(name, (1, 32, 32), 10, **options)
    modules = list(model.modules())
    return Traits(FAMILIES[name], any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules),
                  any(getattr(m, "skip", None) not in (None, False) for m in modules),
                  any(isinstance(m, nn.Dropout) for m in modules))


def use_fast_layout(model: nn.Module) -> nn.Module:
    """Convert a model with 2-D convolutions to channels_last (measured faster on CPU, see
    ``make bench``); other models are returned unchanged. Numbers agree to float rounding."""
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
