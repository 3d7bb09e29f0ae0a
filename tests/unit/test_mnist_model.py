"""The shared MNIST CNN: shapes, evaluation and that a few steps learn."""

from __future__ import annotations

import numpy as np
import torch

from stacklab.mnist.model import MnistCNN, evaluate, predict, train_epoch


def test_forward_shape():
    out = MnistCNN()(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3, 10)


def test_train_epoch_lowers_loss_on_separable_data():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 256)
    images = rng.normal(0, 0.3, (256, 1, 28, 28)).astype(np.float32)
    images[labels == 1, :, 8:20, 8:20] += 2.0  # class 1 has a bright square
    model = MnistCNN()
    before = evaluate(model, images, labels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        train_epoch(model, opt, images, labels, batch_size=32, seed=epoch)
    after = evaluate(model, images, labels, batch_size=100)
    assert after["loss"] < before["loss"]
    assert after["accuracy"] > 0.95
    assert predict(model, images[:5]).shape == (5,)
