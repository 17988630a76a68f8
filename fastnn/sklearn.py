"""scikit-learn estimators over fastnn's trainer: :class:`MLPClassifier` and :class:`MLPRegressor`.

>>> from fastnn.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, backend="numba", random_state=0)
>>> clf.fit(X_train, y_train).score(X_test, y_test)  # doctest: +SKIP

They follow scikit-learn's estimator rules (``get_params``/``set_params``, ``fit`` returning
``self``, fitted attributes ending in ``_``, validation of every parameter at ``fit`` with
scikit-learn's own messages), so they work in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``, and they pass ``sklearn.utils.estimator_checks.check_estimator``. Parameters
with the same meaning as in scikit-learn's ``MLPClassifier`` have its names and defaults; where
fastnn differs, the parameter says so:

* ``solver``: ``sgd`` (with ``momentum`` and ``nesterovs_momentum``, as scikit-learn's; momentum
  0 is plain SGD), ``adam``, ``rmsprop`` and ``adagrad``; no ``lbfgs``. ``learning_rate`` is
  always scikit-learn's ``"constant"``, so it is not a parameter.
* ``activation`` adds ``leaky_relu`` to scikit-learn's four.
* the regressor's loss is the mean over samples of the squared error summed over the targets,
  where scikit-learn's is half the mean over all entries: for the same predictions its
  ``loss_curve_`` is 2 * n_outputs times scikit-learn's, and its data gradient twice
  scikit-learn's against the same ``alpha`` term (so ``alpha`` weighs half as much);
* ``partial_fit`` goes on with the shuffling generator of the last fit (scikit-learn re-seeds it
  from ``random_state`` on every call), and ``dtype`` applies when a model is built (a
  ``warm_start`` fit keeps the model's);
* Adam adds ``epsilon`` to the bias-corrected root of its second moment (PyTorch's form), where
  scikit-learn adds it to the uncorrected one;
* weights start Glorot-uniform for every activation (``init="xavier"``); biases start at 0.
* ``backend`` (``numpy``, ``numba``, ``reference``) and ``dtype`` (``float32`` or ``float64``;
  None: float32 for float32 ``X``, else float64) choose how and in what precision it trains.

One ``fit`` iteration is one epoch of :meth:`fastnn.Trainer.fit` over shuffled mini-batches; the
L2 penalty ``alpha`` is :class:`fastnn.Trainer`'s ``l2``. With ``alpha=0`` the numba backend
trains each epoch in one compiled call (the fused step); with a penalty it runs its per-layer
kernels.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .backends import BACKENDS
from .nn import MLP
from .nn.losses import softmax
from .training import DivergenceError, Trainer

__all__ = ["MLPClassifier", "MLPRegressor"]

#: scikit-learn's activation names -> fastnn's
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu"}
SOLVERS = ("sgd", "adam", "rmsprop", "adagrad")
AUTO_BATCH = 200  # scikit-learn's batch_size="auto": min(200, n_samples)


def _optimizer(est) -> tuple[str, dict]:
    """The fastnn optimizer name and options for ``est``'s solver settings."""
    if est.solver == "sgd":
        if est.momentum == 0:
            return "sgd", {}
        return ("nesterov" if est.nesterovs_momentum else "momentum"), {"momentum": est.momentum}
    if est.solver == "adam":
        return "adam", {"beta1": est.beta_1, "beta2": est.beta_2, "eps": est.epsilon}
    return est.solver, {"eps": est.epsilon}


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, the training loop, stopping, pickling."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "backend": [StrOptions(set(BACKENDS))],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate_init=0.001, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, backend="numpy", dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype

    # -- what a subclass provides -------------------------------------------------------------
    _output = ("identity", "mse")  # output activation, loss

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        raise NotImplementedError

    def _score(self, X, y) -> float:
        raise NotImplementedError

    # -- fitted attributes read from the model ------------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices, (fan_in, fan_out) each: copies of the model's."""
        check_is_fitted(self, "_trainer")
        return [W.copy() for W, _ in self._trainer.model.weights()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors: copies of the model's."""
        check_is_fitted(self, "_trainer")
        return [layer.params["b"].copy() for layer in self._trainer.model.layers
                if "b" in layer.param_shapes]

    # -- training -----------------------------------------------------------------------------
    def _layer_units(self, n_features: int, n_outputs: int) -> list[int]:
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if np.iterable(hidden) else [hidden]
        if not all(isinstance(h, Integral) and not isinstance(h, bool) and h > 0
                   for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        return [n_features, *(int(h) for h in hidden), n_outputs]

    def _initialize(self, X: np.ndarray, y: np.ndarray) -> None:
        """A new model and trainer (the first fit, or any fit without warm_start)."""
        rng = self._random_state
        model_seed, shuffle_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        dtype = self.dtype or ("float32" if X.dtype == np.float32 else "float64")
        out_act, loss = self._output
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(self._layer_units(X.shape[1], self.n_outputs_))
        self.out_activation_ = "logistic" if out_act == "sigmoid" else (
            "softmax" if loss == "softmax_cross_entropy" else out_act)
        model = MLP(self._layer_units(X.shape[1], self.n_outputs_),
                    activation=ACTIVATIONS[self.activation], output_activation=out_act,
                    init="xavier", seed=model_seed, dtype=dtype)
        self._trainer = self._new_trainer(model, shuffle_seed)
        self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
        self._no_improvement_count = 0
        self._best_params = model.params.copy()
        if self.early_stopping:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _new_trainer(self, model, shuffle_seed: int) -> Trainer:
        """A trainer of ``model`` with this estimator's solver settings, and a new optimizer."""
        name, options = _optimizer(self)
        return Trainer(model, loss=self._output[1], optimizer=name, lr=self.learning_rate_init,
                       backend=self.backend, l2=self.alpha, seed=shuffle_seed, **options)

    def _fit(self, X, y, incremental: bool = False):
        first = not hasattr(self, "_trainer") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._layer_units(X.shape[1], y.shape[1])  # a bad size fails before anything else
            self._initialize(X, y)
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} outputs; the model was fitted with "
                             f"{self.n_outputs_}")
        elif not incremental:  # warm_start: as scikit-learn, the weights go on with a new
            # optimizer built from the current parameters (set_params between fits counts)
            seed = int(self._random_state.randint(0, 2**31 - 1))
            self._trainer = self._new_trainer(self._trainer.model, seed)
        self.n_iter_ = 0  # iterations of this call, as scikit-learn counts them
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early = self.early_stopping and not incremental
        X_val = y_val = None
        if early:
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            X, X_val, y, y_val = train_test_split(X, y, random_state=self._random_state,
                                                  test_size=self.validation_fraction,
                                                  stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            y_val = self._targets(y_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(AUTO_BATCH, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        try:
            self._epochs(X, y, batch_size, early, X_val, y_val, incremental)
        except DivergenceError as e:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.") from e
        if early:
            self._trainer.model.params[...] = self._best_params
        return self

    def _epochs(self, X, y, batch_size, early, X_val, y_val, incremental) -> None:
        """scikit-learn's stochastic loop: one epoch per iteration, stopping after
        ``n_iter_no_change`` epochs without an improvement of ``tol``."""
        trainer = self._trainer
        for _ in range(1 if incremental else self.max_iter):
            history = trainer.fit(X, y, epochs=1, batch_size=batch_size, shuffle=self.shuffle,
                                  progress=False)
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            self.loss_ = history.loss[-1]
            self.loss_curve_.append(self.loss_)
            if self.verbose:  # scikit-learn's convention: verbose estimators print
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(early, X_val, y_val)
            if history.interrupted:  # Ctrl-C: the epoch under way was finished and counted
                warnings.warn("Training interrupted by user.", stacklevel=4)
                break
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                if self.verbose:
                    print(f"{what} did not improve more than tol={self.tol:f} for "
                          f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                break
            if not incremental and self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning, stacklevel=4)

    def _update_no_improvement_count(self, early, X_val, y_val) -> None:
        if early:
            score = self._score(X_val, y_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._trainer.model.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Encoded targets back to what ``score`` takes (the classifier decodes labels)."""
        return y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the model to X (n_samples, n_features) and y: ``max_iter`` epochs at most.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def _forward(self, X, check_input: bool = True) -> np.ndarray:
        """The network's outputs for X; ``check_input=False`` for X this estimator split off
        itself (the early-stopping validation rows)."""
        if check_input:
            check_is_fitted(self, "_trainer")
            X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._trainer.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastnn (scikit-learn's API and names).

    Two classes: one sigmoid output and binary cross-entropy; more: softmax outputs and
    cross-entropy; multilabel indicator ``y``: one sigmoid output per label. See
    :mod:`fastnn.sklearn` for the parameters and where they differ from scikit-learn's
    ``MLPClassifier``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu'}, default='relu'
    solver : {'sgd', 'adam', 'rmsprop', 'adagrad'}, default='adam'
    alpha : float, default=0.0001
        L2 penalty on the weights (divided by the batch size, as scikit-learn's).
    batch_size : int or 'auto', default='auto'
        'auto' is min(200, n_samples).
    learning_rate_init : float, default=0.001
    max_iter : int, default=200
        Epochs at most.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the early-stopping split.
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
        solver='sgd' only.
    nesterovs_momentum : bool, default=True
        solver='sgd' only.
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's; ``epsilon`` is RMSprop's and Adagrad's too.
    n_iter_no_change : int, default=10
    backend : {'numpy', 'numba', 'reference'}, default='numpy'
    dtype : {'float32', 'float64'} or None, default=None
        None: float32 for float32 X, else float64.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, t_,
    coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_,
    out_activation_ : as scikit-learn's ``MLPClassifier``.
    """

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    @property
    def _output(self):
        # more than two classes: logits, and softmax cross-entropy (which applies the softmax)
        if self._label_binarizer.y_type_ == "multiclass":
            return "identity", "softmax_cross_entropy"
        return "sigmoid", "bce"

    def _targets(self, y):
        return self._label_binarizer.inverse_transform(y)

    def _score(self, X, y) -> float:
        return accuracy_score(y, self._predict(X, check_input=False))

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y). ``classes`` (every label of the whole problem) is required on
        the first call, and ignored after.

        Returns
        -------
        self
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._validate_params()
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_}")
        else:
            self._validate_params()
        return self._fit(X, y, incremental=True)

    def _proba(self, X, check_input: bool = True) -> np.ndarray:
        out = self._forward(X, check_input)
        return softmax(out) if self._output[1] == "softmax_cross_entropy" else out

    def predict(self, X) -> np.ndarray:
        """The predicted class of each row of X (label-indicator rows for multilabel y)."""
        return self._predict(X)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        out = self._proba(X, check_input)
        return self._label_binarizer.inverse_transform(out.ravel() if self.n_outputs_ == 1
                                                       else out)

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) probabilities, classes in ``classes_`` order."""
        out = self._proba(X)
        if self.n_outputs_ == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastnn (scikit-learn's API and names).

    Identity outputs (one per target) and the mean squared error, summed over targets. The
    parameters are :class:`MLPClassifier`'s; see :mod:`fastnn.sklearn` for where they differ
    from scikit-learn's ``MLPRegressor``.

    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, t_, coefs_,
    intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_,
    out_activation_ : as scikit-learn's ``MLPRegressor``.
    """

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _score(self, X, y) -> float:
        return r2_score(y, self._predict(X, check_input=False))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """One epoch over (X, y).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """(n_samples,) predictions, or (n_samples, n_outputs) for several targets."""
        return self._predict(X)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        out = self._forward(X, check_input)
        return out.ravel() if out.shape[1] == 1 else out
