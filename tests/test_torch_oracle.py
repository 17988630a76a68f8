"""PyTorch as an independent oracle (optional extra `compare`): the same network, the same
weights, the same optimizer, trained side by side, must give the same losses and weights."""

import pytest
from conftest import assert_rel_close

import fastnn

torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install '.[compare]')")

TORCH_ACT = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
             "leaky_relu": lambda: torch.nn.LeakyReLU(fastnn.activations.LEAKY_SLOPE),
             "identity": torch.nn.Identity}
TORCH_OPT = {"sgd": lambda p, lr: torch.optim.SGD(p, lr),
             "momentum": lambda p, lr: torch.optim.SGD(p, lr, momentum=0.9),
             "adagrad": lambda p, lr: torch.optim.Adagrad(p, lr),
             "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr),
             "adam": lambda p, lr: torch.optim.Adam(p, lr),
             "adamw": lambda p, lr: torch.optim.AdamW(p, lr),  # weight_decay 0.01, as ours
             "nesterov": lambda p, lr: torch.optim.SGD(p, lr, momentum=0.9, nesterov=True)}


def torch_twin(model, activation):
    layers = []
    for layer in model.layers:
        if isinstance(layer, fastnn.Dense):
            lin = torch.nn.Linear(layer.din, layer.dout, bias=layer.bias).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
                if layer.bias:
                    lin.bias.copy_(torch.from_numpy(layer.b.copy()))
            layers.append(lin)
        else:
            layers.append(TORCH_ACT[layer.name]())
    return torch.nn.Sequential(*layers)


def test_every_optimizer_has_an_oracle():
    assert set(TORCH_OPT) == set(fastnn.optim.OPTIMIZERS)


#: the reference backend's plain loops take a second a run: those rows run with the slow tests
BACKENDS = [pytest.param(b, marks=pytest.mark.slow) if b == "reference" else b
            for b in fastnn.available_backends()]


def torch_train(net, opt, X, y, epochs, clamp=None) -> list[float]:
    """Full-batch MSE training of ``net`` by ``opt`` in PyTorch (gradients clamped to
    ``clamp``, as fastnn's clip); the loss of every epoch, before its update."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(Xt), yt)
        loss.backward()
        if clamp is not None:
            for p in net.parameters():
                p.grad.clamp_(*clamp)
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
@pytest.mark.parametrize("optimizer", list(TORCH_OPT))
def test_matches_pytorch(optimizer, activation, backend):
    X, y = fastnn.data.generate_linear(100, seed=11)
    lr = 0.5 if optimizer in ("sgd", "momentum", "nesterov") else 0.02
    model = fastnn.MLP([2, 4, 4, 1], activation=activation, seed=12)
    net = torch_twin(model, activation)
    opt = TORCH_OPT[optimizer](net.parameters(), lr)
    torch_losses = torch_train(net, opt, X, y, epochs=60)
    trainer = fastnn.Trainer(model, optimizer=optimizer, lr=lr, backend=backend)
    history = trainer.fit(X, y, epochs=60)
    assert (trainer._fused() is not None) == (backend == "numba")  # numba: the fused step
    assert_rel_close(history.loss, torch_losses, 1e-10, "losses")
    assert_rel_close(model.layers[0].W, net[0].weight.detach().numpy().T, 1e-10, "W0")
    assert_rel_close(model.layers[-2].b, net[-2].bias.detach().numpy(), 1e-10, "b_last")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_the_labs_network_matches_pytorch(activation, backend):
    """No biases (28 weights), the lab's legacy N(0, 1) draws, the activation at the output
    too, gradients clamped to [-1024, 1023] before each SGD step."""
    X, y = fastnn.data.generate_linear(100, seed=11)
    model = fastnn.MLP([2, 4, 4, 1], activation=activation, output_activation=activation,
                       seed=2, bias=False, rng="legacy")
    net = torch_twin(model, activation)
    assert sum(p.numel() for p in net.parameters()) == model.params.size == 28
    opt = torch.optim.SGD(net.parameters(), 0.5)
    torch_losses = torch_train(net, opt, X, y, epochs=60, clamp=(-1024, 1023))
    trainer = fastnn.Trainer(model, lr=0.5, backend=backend, clip=(-1024, 1023))
    history = trainer.fit(X, y, epochs=60)
    assert (trainer._fused() is not None) == (backend == "numba")
    assert torch_losses[-1] < torch_losses[0]
    assert_rel_close(history.loss, torch_losses, 1e-10, "losses")
    for i, layer in enumerate(model.layers[::2]):
        assert_rel_close(layer.W, net[2 * i].weight.detach().numpy().T, 1e-10, f"W{i}")
