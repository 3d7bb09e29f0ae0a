"""The small MNIST CNN shared by Ray Train and the FEDn clients, plus plain loops.

Two conv layers and two fully connected ones (~30k parameters): about 99% on
real MNIST after a few epochs and only seconds per epoch on a CPU core.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MnistCNN(nn.Module):
    """conv(1->16,5) pool conv(16->32,5) pool fc(512->64) fc(64->10); input (N,1,28,28)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 24 -> 12
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 12 -> 8 -> 4
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)  # logits


def as_tensors(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 images and int64 labels as tensors (no copy when already tensors)."""
    return torch.as_tensor(images, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    batch_size: int = 512,
) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of model on the given images."""
    x, y = as_tensors(images, labels)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(1) == target).sum())
    model.train(was_training)
    n = max(len(y), 1)
    return {"loss": total_loss / n, "accuracy": correct / n}


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    batch_size: int,
    seed: int | None = None,
) -> float:
    """One shuffled pass over the data in one process; returns the mean training loss."""
    x, y = as_tensors(images, labels)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    order = torch.randperm(len(y), generator=generator)
    model.train()
    total, seen = 0.0, 0
    for start in range(0, len(y), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
        seen += len(batch)
    return total / max(seen, 1)


def predict(model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Predicted class per image as an int64 array."""
    x = torch.as_tensor(images, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out = [model(x[s : s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)
