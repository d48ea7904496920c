"""Fit a small linear model with NumPy (gradient descent) on /job/in/data.csv; save the weights.

Runs in the provider's sandbox: inputs are read-only under /job/in, results go to /job/out, and
everything printed comes back (sealed) with the results."""

import os

import numpy as np

inputs = os.environ.get("JOB_INPUT_DIR", "/job/in")
outputs = os.environ.get("JOB_OUTPUT_DIR", "/job/out")
data = np.loadtxt(os.path.join(inputs, "data.csv"), delimiter=",", skiprows=1)
x, y = data[:, :-1], data[:, -1]
x = np.hstack([x, np.ones((len(x), 1))])  # a bias column
w = np.zeros(x.shape[1])
for step in range(2000):
    grad = 2 * x.T @ (x @ w - y) / len(y)
    w -= 0.05 * grad
    if step % 500 == 0:
        print(f"step {step}: loss {np.mean((x @ w - y) ** 2):.5f}")
print(f"final loss {np.mean((x @ w - y) ** 2):.6f}")
os.makedirs(outputs, exist_ok=True)
np.save(os.path.join(outputs, "weights.npy"), w)
