"""How one stretch of epochs is trained: per-layer kernels on the full batch, mini-batches, or a
backend's fused step. The trainer picks one per stretch (:meth:`Trainer._strategy`); each
``run(X, y, epochs, target_accuracy)`` trains at most ``epochs`` epochs and returns their
losses and accuracies (lists, one entry per epoch that ran).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from ..backends.base import FusedHook, FusedSpec, FusedStep, FusedUnsupported
from ..nn.layers import Activation, Dense
from ..nn.losses import LOSSES, POINTWISE, SOFTMAX, same_side
from ..nn.model import Sequential
from ..nn.optim import Optimizer, clip

logger = logging.getLogger("fastnn")

#: One training step on a batch: ``step(X, y) -> (loss, correct count)``.
Step = Callable[[np.ndarray, np.ndarray], tuple[float, float]]

#: A fused stretch aims to last about this long, so Ctrl-C is noticed promptly (``math.inf``:
#: no time limit); the first stretch, PROBE_EPOCHS long, measures the speed.
STRETCH_SECONDS = 0.25
PROBE_EPOCHS = 10


class PerLayer:
    """The full batch through the backend's per-layer kernels (``step``), one epoch per call."""

    def __init__(self, step: Step) -> None:
        self.step = step

    def run(self, X, y, epochs, target_accuracy=None):
        loss, correct = self.step(X, y)
        return [loss], [correct / len(X)]


def epoch_order(rng: np.random.Generator, N: int, shuffle: bool) -> np.ndarray:
    """The order of the N samples in one mini-batch epoch: a fresh permutation drawn from
    ``rng`` when ``shuffle``, else 0..N-1 (the one definition both mini-batch paths draw by)."""
    return rng.permutation(N) if shuffle else np.arange(N)


class MiniBatch:
    """Mini-batches of ``batch_size`` (reshuffled each epoch when ``shuffle``), one epoch per
    call; the epoch's loss is the sample-weighted mean of its batches' losses."""

    def __init__(self, step: Step, batch_size: int, shuffle: bool,
                 rng: np.random.Generator) -> None:
        self.step, self.batch_size, self.shuffle, self.rng = step, batch_size, shuffle, rng

    def run(self, X, y, epochs, target_accuracy=None):
        N = len(X)
        order = epoch_order(self.rng, N, self.shuffle)
        loss, correct = 0.0, 0
        for first in range(0, N, self.batch_size):
            idx = order[first:first + self.batch_size]
            batch_loss, batch_correct = self.step(X[idx], y[idx])
            loss += batch_loss * len(idx)
            correct += batch_correct
        return [loss / N], [correct / N]


def fused_spec(model: Sequential, loss: str, loss_fn: Callable,
               opt: Optimizer) -> FusedSpec | None:
    """What a fused step for this run is built from, or None when it cannot be fused.

    Fusable: layers exactly ``Dense`` (with or without bias), each optionally followed by one
    ``Activation``, on flat inputs; a pointwise or softmax loss
    (:data:`fastnn.nn.losses.POINTWISE`, :data:`~fastnn.nn.losses.SOFTMAX`) that ``loss_fn``
    still is; an optimizer whose step is :meth:`Optimizer.step` (its ``rule`` is then all it
    does).
    """
    point = POINTWISE.get(loss) or SOFTMAX.get(loss)
    if point is None or loss_fn is not LOSSES[loss] \
            or type(opt).step is not Optimizer.step or len(model.input_shape) != 1:
        return None
    dims, acts, biases, prev = [model.input_shape[0]], [], [], None
    for layer in model.layers:
        if type(layer) is Dense:
            dims.append(layer.dout)
            acts.append("identity")
            biases.append(layer.bias)
        elif type(layer) is Activation and type(prev) is Dense:
            acts[-1] = layer.name
        else:
            return None
        prev = layer
    return FusedSpec(dims=tuple(dims), activations=tuple(acts), biases=tuple(biases),
                     dtype=model.dtype.name, slots=len(opt.slots), loss_point=point,
                     coefficients=opt.coefficients, rule=opt.rule, clip=clip,
                     same_side=same_side, softmax=loss in SOFTMAX)


#: A fused mini-batch stretch holds its epochs' shuffled orders, at most this many indices
#: (8 bytes each) at once: a big data set gets shorter stretches instead of a big array.
MAX_ORDER_ENTRIES = 1 << 22


class Fused:
    """Whole epochs in one call of the backend's compiled step: full-batch, or mini-batches
    shuffled exactly as :class:`MiniBatch` shuffles them (the same draws from the same
    generator), so both paths train on the same batches.

    A stretch is cut to about STRETCH_SECONDS by the speed measured so far (kept per data and
    batch size across fit calls), the first one to PROBE_EPOCHS epochs. When the backend cannot
    compile the step after all (a rule it cannot type), a warning is logged and the fallback
    strategy trains instead, from then on.
    """

    def __init__(self, compiled: FusedStep, model: Sequential, optimizer: Optimizer,
                 clip: tuple[float, float] | None, fallback: PerLayer) -> None:
        self.compiled, self.model, self.optimizer, self.clip = compiled, model, optimizer, clip
        self.fallback = fallback
        self.unsupported = False
        self.per_epoch: dict[tuple[int, int | None], float] = {}
        self.batch_size: int | None = None
        self.shuffle, self.rng = False, None

    def batches(self, batch_size: int | None, shuffle: bool = False,
                rng: np.random.Generator | None = None,
                fallback: PerLayer | MiniBatch | None = None) -> Fused:
        """Train full-batch (``batch_size`` None) or on mini-batches from now on, with
        ``fallback`` (the matching unfused strategy) when the step cannot be compiled."""
        self.batch_size, self.shuffle, self.rng = batch_size, shuffle, rng
        if fallback is not None:
            self.fallback = fallback
        return self

    def stretch(self, N: int) -> int:
        """The most epochs the next call should run on N samples."""
        if STRETCH_SECONDS == math.inf:
            return 2**62
        seconds = self.per_epoch.get((N, self.batch_size))
        if seconds is None:
            return PROBE_EPOCHS
        return max(1, int(min(STRETCH_SECONDS / seconds, 2**62)))

    def _orders(self, N: int, epochs: int) -> np.ndarray | None:
        """Each epoch's order of the samples, drawn as MiniBatch draws them; None full-batch."""
        if self.batch_size is None or self.batch_size >= N:
            return None
        if not self.shuffle:
            return epoch_order(self.rng, N, False)[None, :]
        return np.stack([epoch_order(self.rng, N, True) for _ in range(epochs)])

    def run(self, X, y, epochs, target_accuracy=None):
        if self.unsupported:
            return self.fallback.run(X, y, epochs, target_accuracy)
        opt, params, N = self.optimizer, self.model.params, len(X)
        opt.ensure_state(params)  # what Optimizer.step does on its first call
        for k in opt.slots:
            if not opt.state[k].flags.c_contiguous:
                opt.state[k] = np.ascontiguousarray(opt.state[k])
        epochs = min(epochs, self.stretch(N))
        batched = self.batch_size is not None and self.batch_size < N
        if batched:
            epochs = max(1, min(epochs, MAX_ORDER_ENTRIES // N))
        drawn = self.rng.bit_generator.state if batched and self.shuffle else None
        order = self._orders(N, epochs)
        t0 = time.perf_counter()
        try:
            losses, correct = self.compiled.run(
                X, y, epochs, params, self.model.grads, [opt.state[k] for k in opt.slots],
                opt.hyper_values(), opt.t, self.clip, target_accuracy,
                self.batch_size if batched else None, order)
        except BaseException as e:  # nothing trained: the draws are undone
            if drawn is not None:
                self.rng.bit_generator.state = drawn
            if not isinstance(e, FusedUnsupported):
                raise
            logger.warning("%s; training with the per-layer kernels instead", e)
            self.unsupported = True
            return self.fallback.run(X, y, epochs, target_accuracy)
        if drawn is not None and len(losses) < epochs:  # stopped early: undraw the rest
            self.rng.bit_generator.state = drawn
            for _ in range(len(losses)):
                epoch_order(self.rng, N, True)
        self.per_epoch[(N, self.batch_size)] = max((time.perf_counter() - t0) / len(losses),
                                                   1e-9)
        opt.t += len(losses) * (-(-N // self.batch_size) if batched else 1)
        return losses.tolist(), (correct / N).tolist()


def fused(backend, model: Sequential, loss: str, loss_fn: Callable, optimizer: Optimizer,
          clip: tuple[float, float] | None, fallback: PerLayer) -> Fused | None:
    """A :class:`Fused` strategy when ``backend`` can fuse this run, else None."""
    if not isinstance(backend, FusedHook):
        return None
    spec = fused_spec(model, loss, loss_fn, optimizer)
    compiled = None if spec is None else backend.fused_trainer(spec)
    return None if compiled is None else Fused(compiled, model, optimizer, clip, fallback)
