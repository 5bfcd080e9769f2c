"""PyTorch's CPU training of the networks the trainer's benchmarks run, as a contender.

Run by `npm run bench` when Debian's python3-torch is installed (never a dependency of the
product or its tests). It trains, on the same MNIST files, with the same masked loss
(cross-entropy times the "is odd" column, summed and divided by the batch size), Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-7, as tf.train.adam) and batch 128, one epoch of
floor(60000 / 128) steps in a seeded shuffled order, with N intra-op threads, and prints
one JSON line: the epoch's seconds and the median step.

  python3 bench/pytorch_contender.py --model cnn-two-conv --threads 2 --data DIR
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    _, dtype, rank = struct.unpack('>HBB', data[:4])
    dims = struct.unpack('>' + 'I' * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(data_dir, name):
    for candidate in (name, name + '.gz'):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f'error: {data_dir}: no {name}')


class Rows(nn.Module):
    """The image's rows as time steps into a GRU or LSTM; its last state into Dense(10)."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = (nn.GRU if cell == 'gru' else nn.LSTM)(28, 32, batch_first=True)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        h, _ = self.rnn(x.view(-1, 28, 28))
        return self.out(h[:, -1])


def model_of(name):
    if name == 'cnn-two-conv':
        return nn.Sequential(
            nn.Unflatten(1, (1, 28)), nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 10))
    if name in ('gru-rows', 'lstm-rows'):
        return Rows(name.split('-')[0])
    if name == 'mlp':
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    raise SystemExit(f'error: --model: unknown model {name}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--data', required=True)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--steps', type=int, default=0, help='0: one epoch')
    p.add_argument('--flush-denormal', action='store_true', help='torch.set_flush_denormal(True)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(42)
    images = torch.from_numpy(read_idx(find(a.data, 'train-images-idx3-ubyte')).astype(np.float32) / 255.0)
    labels = torch.from_numpy(read_idx(find(a.data, 'train-labels-idx1-ubyte')).astype(np.int64))
    if a.model == 'cnn-two-conv':
        images = images.view(-1, 28, 28)
    odd = (labels % 2).float()
    model = model_of(a.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    steps = a.steps or len(images) // a.batch_size
    order = torch.randperm(len(images))
    times = []
    t0 = time.perf_counter()
    for s in range(steps):
        t = time.perf_counter()
        idx = order[s * a.batch_size:(s + 1) * a.batch_size]
        logits = model(images[idx])
        ce = nn.functional.cross_entropy(logits, labels[idx], reduction='none')
        loss = (ce * odd[idx]).sum() / len(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t) * 1000)
    seconds = time.perf_counter() - t0
    times.sort()
    print(json.dumps({'model': a.model, 'threads': a.threads, 'steps': steps, 'seconds': seconds,
                      'stepMsMedian': times[len(times) // 2], 'samplesPerSec': steps * a.batch_size / seconds,
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
