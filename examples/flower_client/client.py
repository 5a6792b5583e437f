"""A Flower NumPyClient, written for Flower, joining a Synod task unchanged.

    synod worker run --task ID --key KEY --data digits:shard=0/3 \
        --trainer examples.flower_client.client:DigitsClient

It is an ordinary `flwr.client.NumPyClient`: fit(parameters, config) returns (parameters,
num_examples, metrics). Synod calls that fit with the task's global model and hyperparameters in
place of a Flower server, and takes care of the rest (quantization, commit-reveal, restarts). The
model is multinomial logistic regression trained with numpy alone; the client finds its rows through
config["data"], the worker's --data spec (Synod's loader reads it; in Flower it would come from the
node config).
"""

from __future__ import annotations

import numpy as np
from flwr.client import NumPyClient

from app.agents.usercode import load_fit_data

__all__ = ["DigitsClient"]


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted for stability."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class DigitsClient(NumPyClient):
    """Logistic regression by minibatch SGD in numpy; parameters are [W (features, classes), b]."""

    def __init__(self) -> None:
        self.rows: tuple[np.ndarray, np.ndarray] | None = None

    def _data(self, config: dict) -> tuple[np.ndarray, np.ndarray]:
        """This client's rows (config's data read through the task's schema), loaded on first use."""
        if self.rows is None:
            shard = load_fit_data(config)
            self.rows = (shard.x.astype(np.float64), shard.y)
        return self.rows

    def fit(self, parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        """config's epochs of SGD from the given parameters."""
        x, y = self._data(config)
        w, b = (p.astype(np.float64) for p in parameters)
        lr, batch = float(config["learning_rate"]), int(config["batch_size"])
        rng = np.random.default_rng(int(config["seed"]))
        onehot = np.eye(w.shape[1])[y]
        for _ in range(int(config["local_epochs"])):
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch):
                rows = order[start : start + batch]
                error = _softmax(x[rows] @ w + b) - onehot[rows]
                w -= lr * x[rows].T @ error / len(rows)
                b -= lr * error.mean(axis=0)
        loss = -np.mean(np.log(_softmax(x @ w + b)[np.arange(len(y)), y] + 1e-12))
        return [w.astype(np.float32), b.astype(np.float32)], len(x), {"loss": float(loss)}
