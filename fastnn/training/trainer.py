"""The common trainer: one training loop for every backend."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np

from .._checks import check_clip, check_finite, check_in_range, check_positive
from ..backends import get_backend
from ..io.checkpoint import CheckpointError
from ..memory import check_fits
from ..nn.layers import Activation
from ..nn.losses import count_correct, get_loss, l2_penalty, unlearnable
from ..nn.model import Sequential
from ..nn.optim import Optimizer, clip, get_optimizer
from ..threads import check_threads, limit_threads
from . import strategies
from .callbacks import Progress, stop_flag
from .history import History

logger = logging.getLogger("fastnn")

#: Runs with at least this many epochs get a progress bar when stderr is a terminal.
PROGRESS_MIN_EPOCHS = 2000
#: predict and evaluate run the model on at most this many rows at a time.
PREDICT_CHUNK = 65536


class DivergenceError(FloatingPointError):
    """The loss or the weights became NaN or infinite during training; ``epoch`` is the
    first epoch (counted from 1) whose loss or update was not finite."""

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


def _output_activation(model: Sequential) -> str:
    """The activation a model's outputs come out of: "identity" after a layer with weights."""
    for layer in reversed(model.layers):
        if isinstance(layer, Activation):
            return layer.name
        if layer.param_shapes:
            return "identity"
    return "identity"


def _check_learnable(loss: str, model: Sequential) -> None:
    problem = unlearnable(loss, _output_activation(model), model.output_shape[0])
    if problem is not None:
        reason, fix = problem
        use = " with ".join(f"the {v} loss" if k == "loss" else f"a {v} output activation"
                            for k, v in fix.items())
        raise ValueError(f"{reason}; use {use}")


class Trainer:
    """Trains a model with any backend, by one loop.

    Parameters
    ----------
    model : Sequential
        The network; its parameters are updated in place.
    loss : str
        ``mse`` (mean over samples, gradient ``2 (pred - y) / N``), ``bce`` or
        ``softmax_cross_entropy`` (:data:`fastnn.nn.losses.LOSSES`).
    optimizer : str or Optimizer
        A name in :data:`fastnn.nn.optim.OPTIMIZERS` (``sgd``, ``momentum``, ``adagrad``,
        ``rmsprop``, ``adam``, ``adamw``, ``nesterov``), or an Optimizer instance (a user's
        subclass with its own ``rule`` is fused like the built-in ones).
    lr : float
        Learning rate (> 0); ignored when ``optimizer`` is an instance. The default 0.1 is a
        safe start for any model; ``fastnn train`` chooses per data set instead (1.0 on the
        lab's toy sets, the lab's best; 0.01 with Adam on the digits and data files).
    backend : str
        ``reference``, ``numpy`` (default) or ``numba`` (:func:`fastnn.available_backends`).
    clip : float or (float, float), optional
        Clip every gradient by value, the biases' too: C means [-C, C]; the lab clipped to
        (-1024, 1023).
    l2 : float
        L2 penalty on the weights (not the biases), scikit-learn's ``alpha``: each batch of N
        samples adds ``l2 / (2 N) * sum(W^2)`` to its loss and ``l2 / N * W`` to the weight
        gradients, before clipping (:func:`fastnn.nn.losses.l2_penalty`). 0 (default): none.
        A run with a penalty trains through the per-layer kernels, not a fused step.
    seed : int, optional
        Seed of the mini-batch shuffling; with the model's seed, the whole run is reproducible.
    threads : int, optional
        Threads of every pool (Numba's, BLAS's) during :meth:`fit`; None keeps each library's
        own. Either way fit runs under fastnn's thread policy (:mod:`fastnn.threads`: the numba
        backend's convolution takes the cores for Numba's pool, BLAS then on one thread) and
        restores every setting after.
    **optimizer_options
        Hyper-parameters of the optimizer (``momentum``, ``beta1``, ``eps``, ``weight_decay``...).
    """

    def __init__(self, model: Sequential, loss: str = "mse", optimizer: str | Optimizer = "sgd",
                 lr: float = 0.1, backend: str = "numpy", clip=None, l2: float = 0.0,
                 seed: int | None = None, threads: int | None = None,
                 **optimizer_options: float) -> None:
        self.model = model
        self.backend = get_backend(backend)
        self.loss = loss
        self.loss_fn = get_loss(loss)
        _check_learnable(loss, model)
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            self.optimizer = get_optimizer(optimizer, lr, **optimizer_options)
        self.clip = check_clip(clip)
        self.l2 = float(check_in_range("l2 penalty", l2, 0, math.inf, hi_open=True))
        # a NumPy integer seed is stored as a Python int (it goes into a checkpoint's JSON)
        self.seed = int(seed) if isinstance(seed, np.integer) else seed
        self.threads = None if threads is None else check_threads(threads)
        self._rng = np.random.default_rng(seed)
        self._fused_for, self._fused_strategy = None, None
        self._per_layer = self._make_per_layer()
        #: epochs trained so far, over every fit call (restored from checkpoints)
        self.epoch = 0

    def _make_per_layer(self) -> strategies.PerLayer:
        return strategies.PerLayer(lambda X, y: self._step(X, y))

    # -- pickling (joblib, Dask, scikit-learn's clone-free copies) -----------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["backend"] = self.backend.NAME  # a module: pickled by its name
        del state["_per_layer"]  # holds a closure over self; the fused step is built again
        state["_fused_for"] = state["_fused_strategy"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.backend = get_backend(state["backend"])
        self._per_layer = self._make_per_layer()

    # -- data ---------------------------------------------------------------------------------
    def _check_X(self, X, batch_size: int | None = None, training: bool = False) -> np.ndarray:
        X = np.asarray(X)
        want = self.model.input_shape
        if X.ndim != len(want) + 1 or X.shape[1:] != want:
            per_sample = ", ".join(map(str, want))
            raise ValueError(f"X has shape {X.shape}; the model takes (N, {per_sample})")
        if X.shape[0] == 0:
            raise ValueError("X has no rows")
        self._check_memory(X, batch_size, training)
        X = np.ascontiguousarray(X, dtype=self.model.dtype)
        check_finite("X", X)
        return X

    def _check_memory(self, X: np.ndarray, batch_size: int | None, training: bool) -> None:
        """Refuse, before allocating, work on X that cannot fit in the memory available: a copy
        of X in the model's dtype, the optimizer state (training) or the outputs (predicting),
        and the activations of one batch (of PREDICT_CHUNK rows when predicting)."""
        footprint, N = self.model.footprint, len(X)
        rows = min(N, batch_size or N) if training else min(N, PREDICT_CHUNK)
        need = footprint.nbytes(batch=rows, training=training, model=False,
                                slots=len(self.optimizer.slots) if training else 0)
        if not (X.flags.c_contiguous and X.dtype == self.model.dtype):
            need += X.size * footprint.itemsize
        if not training:
            need += N * math.prod(self.model.output_shape) * footprint.itemsize
        what = (f"training on batches of {rows:,} rows" if training
                else f"running the model on {N:,} rows")
        check_fits(need, f"{what} (a model of {footprint.params:,} parameters)")

    def _check_data(self, X, y, batch_size: int | None = None,
                    training: bool = False) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X, batch_size, training)
        y = np.asarray(y)
        want = (X.shape[0], *self.model.output_shape)
        if y.ndim == 1 and self.model.output_shape == (1,):
            y = y.reshape(-1, 1)
        if y.shape != want:
            raise ValueError(f"y has shape {y.shape}, but X has {X.shape[0]} rows and the model "
                             f"gives {self.model.output_shape}: y must be {want}")
        y = np.ascontiguousarray(y, dtype=self.model.dtype)
        check_finite("y", y)
        return X, y

    # -- training -----------------------------------------------------------------------------
    def _step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """Forward, loss, backward, clip, update on one batch; returns (loss, correct)."""
        model, be = self.model, self.backend
        out = model.forward(be, X)
        loss, dout = self.loss_fn(out, y)
        correct = count_correct(out, y)
        model.backward(be, dout, need_dx=False)
        if self.l2:
            loss += l2_penalty(model.weights(), self.l2, len(X))
        if self.clip is not None:
            model.grads[...] = clip(model.grads, *self.clip)
        self.optimizer.step(model.params, model.grads)
        return loss, correct

    def _fused(self) -> strategies.Fused | None:
        """The fused strategy for this backend, model, loss and optimizer, or None; rebuilt
        when any of them was replaced."""
        key = (self.backend, self.model, self.loss, self.loss_fn, self.optimizer, self.clip)
        if self._fused_for is None or any(a is not b for a, b in
                                          zip(key, self._fused_for, strict=True)):
            self._fused_strategy = strategies.fused(*key, self._per_layer)
            self._fused_for = key
        fused = self._fused_strategy
        return None if fused is None or fused.unsupported or self.l2 else fused

    def _strategy(self, N: int, batch_size: int | None, shuffle: bool):
        """How the next stretch is trained: fused when the backend can, else per-layer."""
        fused = self._fused()
        if batch_size is not None and batch_size < N:
            minibatch = strategies.MiniBatch(self._step, batch_size, shuffle, self._rng)
            return minibatch if fused is None else fused.batches(batch_size, shuffle,
                                                                 self._rng, minibatch)
        return self._per_layer if fused is None else fused.batches(None, False, None,
                                                                    self._per_layer)

    def fit(self, X, y, epochs: int, batch_size: int | None = None, shuffle: bool = True,
            fresh_data: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None,
            target_accuracy: float | None = None, log_every: int | None = None,
            log: Callable[[str], None] | None = None, progress: bool | None = None,
            val_data: tuple[np.ndarray, np.ndarray] | None = None,
            checkpoint_every: int | None = None,
            on_checkpoint: Callable[[Trainer, History], None] | None = None,
            history: History | None = None) -> History:
        """Train for up to ``epochs`` more epochs.

        Epochs are counted over the trainer's life (``self.epoch``), so a resumed run numbers,
        logs and draws fresh data exactly as an uninterrupted one.

        Parameters
        ----------
        X : array (N, *input_shape)
        y : array (N, *output_shape); (N,) is taken as (N, 1)
        epochs : int
            Upper bound on epochs (> 0).
        batch_size : int, optional
            Mini-batch size; None (default) or >= N is full batch.
        shuffle : bool
            Reshuffle mini-batches each epoch (seeded by the trainer's ``seed``).
        fresh_data : callable, optional
            ``fresh_data(epoch) -> (X, y)`` gives new training data for every epoch after the
            trainer's first (the lab's "data reproduction"); ``epoch`` counts from 1.
        target_accuracy : float, optional
            Stop once an epoch's accuracy reaches this fraction (0 < t <= 1).
        log_every : int, optional
            Every this many epochs, send a line ``epoch E/T loss=... accuracy=...`` to ``log``.
        log : callable, optional
            ``log(line)``; default: the ``fastnn`` logger at INFO level, which shows nothing
            until logging is configured (``logging.basicConfig(level=logging.INFO)``); pass
            ``log=print`` to print the lines.
        progress : bool, optional
            Show a tqdm bar; by default only for long runs with stderr on a terminal.
        val_data : (X, y), optional
            Evaluated after every epoch into ``history.val_loss`` / ``val_accuracy``.
        checkpoint_every, on_checkpoint : int, callable, optional
            Call ``on_checkpoint(trainer, history)`` after every ``checkpoint_every``-th epoch.
        history : History, optional
            Append to this history (a resumed run's) instead of starting a new one.

        Returns
        -------
        History
            With ``interrupted`` set to ``"SIGINT"`` or ``"SIGTERM"`` when Ctrl-C or SIGTERM
            arrived: the epoch under way is finished, the model and optimizer are consistent,
            and fit returns. Metrics are kept as :class:`History` says (every epoch up to a
            limit, then evenly thinned).

        Raises
        ------
        DivergenceError
            When a loss, or the weights after an update (the last epoch's included), are not
            finite; the model then holds the non-finite weights.
        """
        check_positive("epochs", epochs, integer=True)
        if batch_size is not None:
            check_positive("batch size", batch_size, integer=True)
        if target_accuracy is not None:
            check_in_range("target accuracy", target_accuracy, 0, 1, lo_open=True)
        if log_every is not None:
            check_positive("log_every", log_every, integer=True)
            log = log or logger.info
        if checkpoint_every is not None:
            check_positive("checkpoint_every", checkpoint_every, integer=True)
        X, y = self._check_data(X, y, batch_size, training=True)
        if val_data is not None:
            val_data = self._check_data(*val_data)
        if progress is None:
            progress = epochs >= PROGRESS_MIN_EPOCHS and sys.stderr.isatty()
        bar = Progress(epochs) if progress else None
        # epochs something outside must see one by one: no stretch runs past the next of them
        observed = [every for every in (log_every, checkpoint_every,
                                        bar.tick if bar is not None else None)
                    if every is not None]
        if fresh_data is not None or val_data is not None:
            observed.append(1)

        history = history if history is not None else History()
        end = self.epoch + epochs
        N, strategy = -1, None
        with stop_flag() as interrupted, bar or nullcontext():
            # sigmoid's exp(-z) overflows to inf, correctly; divergence is caught below
            with np.errstate(all="ignore"), limit_threads(self.threads):
                while self.epoch < end:
                    epoch = self.epoch
                    if fresh_data is not None and epoch > 0:
                        X, y = self._check_data(*fresh_data(epoch + 1))
                    stop = min([end] + [(epoch // every + 1) * every for every in observed]) \
                        if observed else end
                    if len(X) != N:  # chosen again only when fresh data changes the size
                        N, strategy = len(X), self._strategy(len(X), batch_size, shuffle)
                    losses, accs = strategy.run(X, y, stop - epoch, target_accuracy)
                    self.epoch += len(losses)
                    if self._record(history, losses, accs, end, val_data, bar, log_every, log,
                                    target_accuracy):
                        break
                    if checkpoint_every is not None and self.epoch % checkpoint_every == 0 \
                            and on_checkpoint is not None:
                        self._check_state()
                        on_checkpoint(self, history)
                    if interrupted():
                        history.interrupted = interrupted()
                        break
        self._check_state()
        return history

    def _record(self, history: History, losses: list[float], accs: list[float], end: int,
                val_data, bar, log_every: int | None, log, target_accuracy) -> bool:
        """Append a stretch's metrics, log and tick; raise on divergence; True when the target
        accuracy was reached."""
        epoch, loss, acc = self.epoch, losses[-1], accs[-1]
        self._check_diverged(losses)
        val = None
        if val_data is not None:  # a stretch is one epoch long when there is validation data
            val_loss, val_acc = self.evaluate(*val_data)
            if not math.isfinite(val_loss):
                raise self.divergence(f"the validation loss became {val_loss} after epoch "
                                      f"{epoch}", epoch)
            val = [(val_loss, val_acc)]
        history.record(epoch - len(losses) + 1, losses, accs, val)
        if bar is not None:
            bar.update(len(losses))
        if log_every is not None and epoch % log_every == 0:
            line = f"epoch {epoch}/{end} loss={loss:.6g} accuracy={acc:.2%}"
            if val_data is not None:
                line += f" val_loss={val_loss:.6g} val_accuracy={val_acc:.2%}"
            log(line)
        if target_accuracy is not None and acc >= target_accuracy:
            history.stopped_early = epoch < end
            return True
        return False

    def _check_diverged(self, losses: list[float]) -> None:
        """DivergenceError when a loss of the stretch that ended at ``self.epoch`` is not
        finite, or its last update left a weight that is not (which the next epoch's loss would
        show: after the last epoch, no loss would)."""
        # Fast tests first, exact ones only when they fail: a sum (or a dot product) with a NaN
        # or an infinity in it is not finite, so a finite one proves every term finite. (Called
        # inside fit's errstate: a dot that overflows on huge finite weights warns nothing.)
        first = self.epoch - len(losses) + 1
        if not math.isfinite(sum(losses)):
            finite = np.isfinite(np.asarray(losses, dtype=np.float64))
            if not finite.all():
                i = int(np.argmin(finite))
                raise self.divergence(f"the loss became {losses[i]} at epoch {first + i}",
                                      first + i)
        params = self.model.params
        if not math.isfinite(params.dot(params)) and not np.isfinite(params).all():
            raise self.divergence(f"the weights became non-finite in the update of epoch "
                                  f"{self.epoch}", self.epoch)

    def _check_state(self) -> None:
        """DivergenceError when an optimizer state array is not finite (Adam's ``v`` can
        overflow while the weights stay finite): checked before each checkpoint and at the end
        of fit, where the state is handed on, rather than every epoch."""
        for name, slot in self.optimizer.state.items():
            if not np.isfinite(slot).all():
                raise self.divergence(f"the optimizer's {name} became non-finite by epoch "
                                      f"{self.epoch}", self.epoch)

    def divergence(self, what: str, epoch: int) -> DivergenceError:
        """The DivergenceError for ``what`` happening in ``epoch``, with a hint."""
        hint = f"try a lower learning rate (now {self.optimizer.lr:g})"
        if self.clip is None:
            hint += " or clipping the gradients"
        return DivergenceError(f"training diverged: {what}; {hint}", epoch)

    # -- checkpoints ----------------------------------------------------------------------------
    def restore(self, ckpt) -> None:
        """Continue from a :class:`fastnn.io.checkpoint.Checkpoint` of a run with these settings.

        Loads weights, optimizer state and step count, the shuffling generator and the epoch
        count; raises CheckpointError when the checkpoint's architecture, dtype, loss, clip, l2
        penalty or optimizer differ from this trainer's (:func:`fastnn.io.checkpoint.load` has
        checked each entry's type and shape; this checks that they fit this trainer), and
        changes nothing then.
        """
        if ckpt.model.config() != self.model.config():
            raise CheckpointError("the checkpoint's architecture differs from this model's: "
                                  f"{ckpt.model.config()['layers']} vs "
                                  f"{self.model.config()['layers']}")
        if ckpt.trainer is None or ckpt.optimizer is None:
            raise CheckpointError("the checkpoint holds weights only, no training state")
        opt = self.optimizer
        if ckpt.optimizer["name"] != opt.name or ckpt.optimizer["hyperparams"] != \
                opt.hyperparams() or ckpt.trainer["loss"] != self.loss:
            raise CheckpointError(
                f"the checkpoint was trained with {ckpt.trainer['loss']} and "
                f"{ckpt.optimizer['name']} {ckpt.optimizer['hyperparams']}; this trainer has "
                f"{self.loss} and {opt.name} {opt.hyperparams()}")
        l2_was = ckpt.trainer.get("l2", 0.0)
        if l2_was != self.l2:
            raise CheckpointError(f"the checkpoint was trained with l2 penalty {l2_was}; this "
                                  f"trainer has {self.l2}")
        clip_was = ckpt.trainer["clip"]
        if (None if clip_was is None else tuple(clip_was)) != self.clip:
            raise CheckpointError(f"the checkpoint was trained with gradient clip {clip_was}; "
                                  f"this trainer has {self.clip}")
        if set(ckpt.optimizer_state) != set(opt.slots):
            raise CheckpointError(f"the checkpoint's optimizer state has "
                                  f"{sorted(ckpt.optimizer_state)}, {opt.name} needs "
                                  f"{sorted(opt.slots)}")
        for k, v in ckpt.optimizer_state.items():
            if v.shape != self.model.params.shape or v.dtype != self.model.dtype:
                raise CheckpointError(f"the checkpoint's optimizer state {k} is {v.dtype} "
                                      f"{v.shape}; the parameters are {self.model.dtype} "
                                      f"{self.model.params.shape}")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = ckpt.trainer["rng"]
        except (TypeError, ValueError, KeyError, OverflowError):
            raise CheckpointError("the checkpoint's shuffling generator state is not "
                                  f"{type(rng.bit_generator).__name__}'s") from None
        self.model.params[...] = ckpt.model.params
        opt.reset(self.model.params)
        for k, v in ckpt.optimizer_state.items():
            opt.state[k][...] = v
        opt.t = int(ckpt.optimizer["t"])
        self._rng.bit_generator.state = rng.bit_generator.state
        self.epoch = int(ckpt.epoch)

    def _forward_chunks(self, X: np.ndarray) -> np.ndarray:
        """The model's outputs, PREDICT_CHUNK rows at a time (bounded memory for big X)."""
        with np.errstate(all="ignore"):  # a non-finite output is for the caller to judge
            if len(X) <= PREDICT_CHUNK:
                return self.model.forward(self.backend, X)
            return np.concatenate([self.model.forward(self.backend, X[i:i + PREDICT_CHUNK])
                                   for i in range(0, len(X), PREDICT_CHUNK)])

    def predict(self, X) -> np.ndarray:
        """Model outputs for X (N, *input_shape), on this trainer's backend: what its last
        layer gives (logits for ``softmax_cross_entropy``: :func:`fastnn.nn.losses.softmax`
        turns them into probabilities)."""
        return self._forward_chunks(self._check_X(X))

    def evaluate(self, X, y) -> tuple[float, float]:
        """(loss, accuracy) of the current model on (X, y)."""
        X, y = self._check_data(X, y)
        pred = self._forward_chunks(X)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged model's loss: inf, nan
            loss, _ = self.loss_fn(pred, y)
        return loss, count_correct(pred, y) / X.shape[0]


__all__ = ["DivergenceError", "Trainer", "count_correct"]
