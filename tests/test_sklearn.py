"""fastnn.sklearn: scikit-learn's own estimator checks, and that the estimators train exactly the
network fastnn's Trainer trains (on every backend), stop and restore as scikit-learn's do,
continue by warm_start, partial_fit and pickling, and run in GridSearchCV's worker processes."""

import inspect
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

BACKENDS = ["numpy", "numba"]


@parametrize_with_checks([E(backend=b) for b in BACKENDS for E in (MLPClassifier, MLPRegressor)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def _seeds(random_state):
    """The two seeds the estimators draw from an int random_state: weights, then shuffling."""
    return [int(s) for s in np.random.RandomState(random_state).randint(0, 2**31 - 1, size=2)]


@pytest.mark.parametrize("solver, options", [
    ("adam", ("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-7})),
    ("sgd", ("nesterov", {"momentum": 0.7})),
    ("rmsprop", ("rmsprop", {"eps": 1e-7})),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_classifier_trains_the_trainers_network(backend, solver, options):
    """The estimator is fastnn's Trainer: the same seeds give the same weights, step by step."""
    X, y = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), activation="tanh", solver=solver, alpha=0.01,
                        batch_size=32, learning_rate_init=0.01, max_iter=4, momentum=0.7,
                        beta_1=0.8, beta_2=0.99, epsilon=1e-7, random_state=3, backend=backend)
    _quiet(clf.fit, X, y)
    model_seed, shuffle_seed = _seeds(3)
    model = fastnn.MLP([64, 16, 8, 10], activation="tanh", output_activation="identity",
                       init="xavier", seed=model_seed)
    name, hyper = options
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer=name, lr=0.01,
                             backend="numpy", l2=0.01, seed=shuffle_seed, **hyper)
    onehot = (y[:, None] == np.arange(10)).astype(float)
    losses = [trainer.fit(X, onehot, epochs=1, batch_size=32).loss[-1] for _ in range(4)]
    np.testing.assert_allclose(clf.loss_curve_, losses, rtol=1e-10)
    for a, b in zip(clf.coefs_, [W for W, _ in model.weights()], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    logits = model.forward(fastnn.get_backend("numpy"), X)
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), proba / proba.sum(axis=1, keepdims=True),
                               rtol=1e-9, atol=1e-12)
    assert clf.n_iter_ == 4 and clf.t_ == 4 * len(X) and clf.out_activation_ == "softmax"


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_backends_agree(alpha):
    """numba (fused without a penalty, per-layer with one) gives numpy's numbers to 1e-10."""
    X, y = _digits(200)
    fits = [_quiet(MLPClassifier(hidden_layer_sizes=(12,), alpha=alpha, batch_size=16,
                                 max_iter=5, random_state=0, backend=b).fit, X, y)
            for b in BACKENDS]
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-9,
                               atol=1e-12)


def test_binary_and_multilabel_outputs():
    X, y = _digits(200)
    binary = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit,
                    X, np.where(y > 4, "big", "small"))
    assert list(binary.classes_) == ["big", "small"] and binary.n_outputs_ == 1
    proba = binary.predict_proba(X)
    assert proba.shape == (200, 2) and binary.out_activation_ == "logistic"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(binary.predict(X), binary.classes_[(proba[:, 1] > 0.5) * 1])
    assert binary.score(X, np.where(y > 4, "big", "small")) > 0.9
    Y = np.stack([y % 2, y > 4], axis=1).astype(int)
    multi = _quiet(MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                                 random_state=0).fit, X, Y)
    assert multi.n_outputs_ == 2 and multi.predict(X).shape == (200, 2)
    assert multi.score(X, Y) > 0.8  # subset accuracy: both labels right


def test_regressor_multioutput_and_loss():
    X, y = make_regression(n_samples=120, n_features=5, n_targets=2, noise=0.1, random_state=0)
    y = y / y.std()
    reg = _quiet(MLPRegressor(hidden_layer_sizes=(20,), learning_rate_init=0.01, max_iter=150,
                              alpha=0.0, random_state=0).fit, X, y)
    assert reg.predict(X).shape == (120, 2) and reg.score(X, y) > 0.95
    # the loss is the Trainer's mse (mean over samples of the squared error summed over the
    # targets), epoch by epoch: the same network trained by hand gives the same curve
    short = _quiet(MLPRegressor(hidden_layer_sizes=(20,), learning_rate_init=0.01, max_iter=4,
                                alpha=0.0, random_state=0).fit, X, y)
    model_seed, shuffle_seed = _seeds(0)
    model = fastnn.MLP([5, 20, 2], activation="relu", output_activation="identity",
                       init="xavier", seed=model_seed)
    trainer = fastnn.Trainer(model, loss="mse", optimizer="adam", lr=0.01, seed=shuffle_seed,
                             beta1=0.9, beta2=0.999, eps=1e-8)
    losses = [trainer.fit(X, y, epochs=1, batch_size=120).loss[-1] for _ in range(4)]
    np.testing.assert_allclose(short.loss_curve_, losses, rtol=1e-12)
    pred = model.forward(fastnn.get_backend("numpy"), X)
    np.testing.assert_allclose(losses[-1], ((pred - y) ** 2).sum(axis=1).mean(), rtol=0.2)


@pytest.mark.parametrize("tol", [1e9, 0.05])
def test_stopping_on_training_loss_as_sklearn_stops(tol):
    """Training stops after n_iter_no_change + 1 epochs without a tol improvement (the first
    epoch improves on infinity), at the epoch where scikit-learn's MLPClassifier stops given
    the same loss curve."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = _digits(100)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, tol=tol, n_iter_no_change=3,
                        random_state=0).fit(X, y)
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    sk = SkMLPClassifier(n_iter_no_change=3, tol=tol, max_iter=100)
    sk._no_improvement_count, sk.best_loss_, sk.loss_curve_ = 0, np.inf, []
    arity = len(inspect.signature(sk._update_no_improvement_count).parameters)
    for loss in clf.loss_curve_:  # (early_stopping, X, y[, sample_weight]: scikit-learn >= 1.7)
        sk.loss_curve_.append(loss)
        sk._update_no_improvement_count(False, *[None] * (arity - 1))
        if sk._no_improvement_count > sk.n_iter_no_change:
            break
    assert clf.n_iter_ == len(sk.loss_curve_) < 100
    if tol == 1e9:
        assert clf.n_iter_ == 5


def test_early_stopping_restores_the_best_weights():
    X, y = _digits(300)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05,
                               early_stopping=True, validation_fraction=0.3, n_iter_no_change=4,
                               max_iter=60, random_state=1).fit, X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_)) + 1  # the epoch whose weights were kept
    again = _quiet(MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05,
                                 early_stopping=True, validation_fraction=0.3,
                                 n_iter_no_change=10**6, max_iter=best,
                                 random_state=1).fit, X, y)
    for a, b in zip(clf.coefs_, again.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_warm_start_and_partial_fit_as_sklearn():
    """partial_fit goes on with the run fit makes, epoch by epoch; a warm_start fit keeps the
    weights and, as scikit-learn's, builds a new optimizer from the current parameters."""
    X, y = _digits(150)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, tol=0.0, n_iter_no_change=np.inf,
              random_state=4, batch_size=20)
    whole = _quiet(MLPClassifier(**kw).fit, X, y)
    part = MLPClassifier(**kw)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        part.partial_fit(X, y)
    for _ in range(5):
        part.partial_fit(X, y, classes=np.arange(10))
    np.testing.assert_array_equal(whole.loss_curve_, part.loss_curve_)
    np.testing.assert_array_equal(whole.predict_proba(X), part.predict_proba(X))
    assert part.n_iter_ == 1 and part.t_ == whole.t_ == 5 * len(X)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        MLPClassifier(**kw).partial_fit(X, y, classes=np.arange(5))

    warm = _quiet(MLPClassifier(warm_start=True, **{**kw, "max_iter": 3}).fit, X, y)
    np.testing.assert_array_equal(whole.loss_curve_[:3], warm.loss_curve_)
    after3 = warm._trainer.model.params.copy()
    warm.set_params(max_iter=2, learning_rate_init=0.05, solver="sgd", alpha=0.5)
    _quiet(warm.fit, X, y)
    opt = warm._trainer.optimizer
    assert (opt.name, opt.lr, opt.t, warm._trainer.l2) == ("nesterov", 0.05, 2 * 8, 0.5)
    assert warm.n_iter_ == 2 and len(warm.loss_curve_) == 5 and warm.t_ == 5 * len(X)
    # the same two epochs by hand: the weights after three, a new Nesterov optimizer, the
    # shuffling seed drawn from random_state
    model = fastnn.MLP([64, 8, 10], activation="relu", output_activation="identity")
    model.params[...] = after3
    seed = int(np.random.RandomState(4).randint(0, 2**31 - 1))
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer="nesterov", lr=0.05,
                             momentum=0.9, l2=0.5, seed=seed)
    onehot = (y[:, None] == np.arange(10)).astype(float)
    losses = [trainer.fit(X, onehot, epochs=1, batch_size=20).loss[-1] for _ in range(2)]
    np.testing.assert_allclose(warm.loss_curve_[3:], losses, rtol=1e-12)
    np.testing.assert_allclose(warm._trainer.model.params, model.params, rtol=1e-12)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        warm.fit(X, np.where(y > 4, 1, 0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickled_estimator_predicts_and_trains_on(backend):
    X, y = _digits(150)
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, backend=backend,
              warm_start=True, alpha=0.0)
    a = _quiet(MLPClassifier(**kw).fit, X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    _quiet(a.fit, X, y)
    _quiet(b.fit, X, y)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


def test_float32_data_trains_in_float32():
    X, y = _digits(100)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit,
                 X.astype(np.float32), y)
    assert clf.predict_proba(X).dtype == np.float32 and clf.coefs_[0].dtype == np.float32
    clf64 = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                                 dtype="float64").fit, X.astype(np.float32), y)
    assert clf64.coefs_[0].dtype == np.float64


@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, "The 'solver' parameter of MLPClassifier must be a str among"),
    ({"alpha": -1.0}, "The 'alpha' parameter of MLPClassifier must be a float in the range "
                      "[0.0, inf). Got -1.0 instead."),
    ({"backend": "cuda"}, "The 'backend' parameter of MLPClassifier must be a str among"),
    ({"batch_size": 0}, "The 'batch_size' parameter"),
])
def test_bad_parameters_fail_at_fit_with_sklearn_messages(params, message):
    clf = MLPClassifier(**params)  # the constructor stores, never checks
    X, y = _digits(50)
    with pytest.raises(InvalidParameterError) as err:
        clf.fit(X, y)
    assert message in str(err.value)


def test_hidden_layer_sizes_and_divergence_errors():
    X, y = _digits(50)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[4, 0\]"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        _quiet(MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1e6,
                            max_iter=50, random_state=0).fit, X, y * 1e6)


def test_pipeline_grid_search_in_two_processes():
    """GridSearchCV with n_jobs=2 (joblib's worker processes) picks what n_jobs=1 picks, with
    the same scores: fastnn's estimators pickle to the workers and train reproducibly there."""
    X, y = _digits(400)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=15, random_state=0,
                                                         backend="numba"))
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
            "mlpclassifier__learning_rate_init": [0.01, 0.001]}
    results = [_quiet(GridSearchCV(pipe, grid, cv=3, n_jobs=n).fit, X, y) for n in (1, 2)]
    np.testing.assert_allclose(results[0].cv_results_["mean_test_score"],
                               results[1].cv_results_["mean_test_score"], rtol=0, atol=0)
    assert results[0].best_params_ == results[1].best_params_
    assert results[1].best_score_ > 0.85
