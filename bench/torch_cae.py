#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The PyTorch peer of caetrain's BenchmarkTrainStep.

The same models, reconstruction losses, exact contractive penalty and
optimizer as caetrain, in float32, timed the same way: one optimizer step
(forward, backward, Adam) per batch, over successive batches gathered by
index from the training set, after warm-up.

Configs (bench_test.go's benchConfig):
  seed     encoder 784-64-32-16 ReLU, mirrored ReLU decoder, linear output,
           SSE, lambda=100, untied
  sig1000  784-1000 sigmoid, untied, sigmoid output, SSE, lambda=0.1
  rifai    784-1000 sigmoid, tied, sigmoid output, BCE from the logits,
           lambda=0.1
All with Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8, Glorot-uniform
weights and zero biases.

The penalty is ||J_h(x)||_F^2, exact, with the true derivative of each
activation (ReLU: 1[z>0]), in its fastest exact form, the Gram form: with
torch's [out, in] weights, J = D_L W_L ... D_1 W_1; M = D_L W_L ... W_2 D_1
(code x first hidden, per sample) and G = W_1 W_1^T, ||J||_F^2 =
tr(M G M^T); for one layer, sum_j d_j^2 ||W_j||^2. No per-sample
code x 784 Jacobian is formed.

Usage:
  torch_cae.py [--configs seed,sig1000,rifai] [--batches 128,1024]
               [--chunks 5] [--chunk-seconds 1] [--warmup 3]
  torch_cae.py --check     # penalty vs torch.autograd.functional.jacobian
  torch_cae.py --sgemm     # the BLAS in use and its 1024^3 SGEMM GFLOP/s

Each result is one line of key=value pairs, e.g.
  torch config=seed batch=128 samples_per_s=12345.6 ...
samples_per_s is the median over --chunks timed chunks, each of at least
--chunk-seconds. Run it with Debian's /usr/bin/python3 (python3-torch) and
OpenMP OpenBLAS (libopenblas0-openmp): see compare.sh and README.md.
"""

import argparse
import ctypes
import gzip
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

CONFIGS = {
    "seed": dict(arch=[784, 64, 32, 16], act="relu", out_act="linear", tied=False, loss="sse", lam=100.0),
    "sig1000": dict(arch=[784, 1000], act="sigmoid", out_act="sigmoid", tied=False, loss="sse", lam=0.1),
    "rifai": dict(arch=[784, 1000], act="sigmoid", out_act="sigmoid", tied=True, loss="bce", lam=0.1),
}


def act_and_deriv(z, act):
    """phi(z) and its true derivative phi'(z)."""
    if act == "relu":
        return torch.relu(z), (z > 0).to(z.dtype)
    if act == "sigmoid":
        a = torch.sigmoid(z)
        return a, a * (1 - a)
    if act == "tanh":
        a = torch.tanh(z)
        return a, 1 - a * a
    raise ValueError(act)


class CAE(torch.nn.Module):
    """A contractive autoencoder with caetrain's graph.Spec semantics."""

    def __init__(self, arch, act, out_act, tied, loss, lam, dtype=torch.float32, seed=1):
        super().__init__()
        self.arch, self.act, self.out_act, self.tied, self.loss_kind, self.lam = arch, act, out_act, tied, loss, lam
        if loss == "bce" and out_act != "sigmoid":
            raise ValueError("bce needs a sigmoid output")
        g = torch.Generator().manual_seed(seed)
        L = len(arch) - 1

        def glorot(out, inp):
            a = math.sqrt(6.0 / (inp + out))
            return torch.nn.Parameter((torch.rand(out, inp, generator=g, dtype=dtype) * 2 - 1) * a)

        def zeros(n):
            return torch.nn.Parameter(torch.zeros(n, dtype=dtype))

        # Encoder layer k maps arch[k] -> arch[k+1]; weights [out, in].
        self.enc_w = torch.nn.ParameterList([glorot(arch[k + 1], arch[k]) for k in range(L)])
        self.enc_b = torch.nn.ParameterList([zeros(arch[k + 1]) for k in range(L)])
        # Decoder layer k mirrors encoder layer L-1-k: arch[L-k] -> arch[L-1-k].
        self.dec_w = torch.nn.ParameterList(
            [] if tied else [glorot(arch[L - 1 - k], arch[L - k]) for k in range(L)])
        self.dec_b = torch.nn.ParameterList([zeros(arch[L - 1 - k]) for k in range(L)])

    def encode(self, x):
        """The code h and each encoder layer's phi'(z)."""
        a, ds = x, []
        for w, b in zip(self.enc_w, self.enc_b):
            a, d = act_and_deriv(F.linear(a, w, b), self.act)
            ds.append(d)
        return a, ds

    def penalty(self, ds):
        """Per-sample ||J_h(x)||_F^2 in the Gram form."""
        w = self.enc_w
        L = len(w)
        if L == 1:
            # sum_j d_j^2 sum_i W_ji^2: a matrix-vector product.
            return (ds[0] * ds[0]) @ (w[0] * w[0]).sum(1)
        B, nL, n1 = ds[0].shape[0], self.arch[L], self.arch[1]
        # M = D_L W_L D_{L-1} W_{L-1} ... W_2 D_1, built from the code back.
        m = ds[L - 1][:, :, None] * w[L - 1][None] * ds[L - 2][:, None, :]  # [B, nL, n_{L-1}]
        for k in range(L - 2, 0, -1):  # W_{k+1} in 1-based terms
            m = (m.reshape(B * nL, -1) @ w[k]).reshape(B, nL, -1) * ds[k - 1][:, None, :]
        gram = w[0] @ w[0].t()  # G = W_1 W_1^T, [n1, n1]
        m2 = m.reshape(B * nL, n1)
        return ((m2 @ gram) * m2).reshape(B, nL * n1).sum(1)

    def forward(self, x):
        """Per-sample reconstruction loss and penalty."""
        h, ds = self.encode(x)
        a = h
        L = len(self.enc_w)
        for k in range(L):
            w = self.enc_w[L - 1 - k].t() if self.tied else self.dec_w[k]
            z = F.linear(a, w, self.dec_b[k])
            if k < L - 1:
                a, _ = act_and_deriv(z, self.act)
        if self.loss_kind == "bce":
            recon = F.binary_cross_entropy_with_logits(z, x, reduction="none").sum(1)
        else:
            r = torch.sigmoid(z) if self.out_act == "sigmoid" else z
            recon = ((r - x) ** 2).sum(1)
        return recon, self.penalty(ds)

    def loss(self, x):
        recon, pen = self(x)
        return (recon + self.lam * pen).mean()


def load_images(limit=None):
    """The embedded Fashion-MNIST sample caetrain benchmarks with, as
    float32 [N, 784] in [0, 1]; uniform noise if it cannot be found."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "internal", "dataset", "sample", "train-images-idx3-ubyte.gz")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        n, rows, cols = (int.from_bytes(raw[o:o + 4], "big") for o in (4, 8, 12))
        x = torch.frombuffer(bytearray(raw[16:16 + n * rows * cols]), dtype=torch.uint8)
        return x.reshape(n, rows * cols).to(torch.float32) / 255, path
    except OSError:
        return torch.rand(5800, 784, generator=torch.Generator().manual_seed(1)), "uniform noise"


def make_optimizer(model):
    # foreach=True: the multi-tensor implementation (1.13's default is the
    # per-parameter loop). Same update either way.
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=True)


def bench(name, batch, data, chunks, chunk_seconds, warmup, device="cpu"):
    cfg = CONFIGS[name]
    model = CAE(**cfg).to(device)
    opt = make_optimizer(model)
    data = data.to(device)
    n = data.shape[0] // batch
    idx = [torch.arange(i * batch, (i + 1) * batch, device=device) for i in range(n)]
    # On a GPU the step is queued: wait for it before reading the clock,
    # every `every` steps (caetrain's benchmark reads its results back
    # every 50 steps; on the CPU every step, as before).
    cuda = str(device).startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    every = 50 if cuda else 1

    def step(i):
        xb = data.index_select(0, idx[i % n])
        opt.zero_grad(set_to_none=True)
        loss = model.loss(xb)
        loss.backward()
        opt.step()
        return loss

    i = 0
    for _ in range(warmup):
        step(i)
        i += 1
    rates = []
    for _ in range(chunks):
        t0 = time.perf_counter()
        steps = 0
        while True:
            loss = step(i)
            i += 1
            steps += 1
            if steps % every:
                continue
            sync()
            dt = time.perf_counter() - t0
            if dt >= chunk_seconds:
                break
        rates.append(steps * batch / dt)
    if not math.isfinite(loss.item()):
        raise SystemExit(f"{name} b{batch}: loss is {loss.item()}")
    return statistics.median(rates), rates


def blas_info():
    """The BLAS actually loaded: OpenBLAS's version, threading and core
    kernel if it is OpenBLAS, else the file libblas.so.3 resolved to."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    try:
        ob = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return "not-openblas:" + ",".join(sorted(libs))
    ob.openblas_get_corename.restype = ctypes.c_char_p
    ob.openblas_get_config.restype = ctypes.c_char_p
    core = ob.openblas_get_corename().decode()
    conf = ob.openblas_get_config().decode()
    ver = conf.split()[1] if conf.startswith("OpenBLAS") else "?"
    par = "openmp" if "USE_OPENMP" in conf else "pthread"
    return f"OpenBLAS-{ver}-{par}-{core}"


def sgemm(n=1024, reps=10, rounds=5):
    """Best-of-rounds GFLOP/s of an n^3 float32 matrix product in torch."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def check():
    """The Gram-form penalty against ||J||_F^2 from autograd's Jacobian."""
    worst = 0.0
    cases = dict(CONFIGS)
    cases["tanh-2"] = dict(arch=[30, 12, 5], act="tanh", out_act="linear", tied=True, loss="sse", lam=1.0)
    cases["sig-3"] = dict(arch=[30, 16, 8, 4], act="sigmoid", out_act="sigmoid", tied=False, loss="bce", lam=1.0)
    cases["relu-4"] = dict(arch=[30, 20, 12, 8, 3], act="relu", out_act="linear", tied=False, loss="sse", lam=1.0)
    data, _ = load_images()
    for dtype in (torch.float64, torch.float32):
        for name, cfg in cases.items():
            model = CAE(**cfg, dtype=dtype, seed=3)
            n0 = cfg["arch"][0]
            x = data[:4, :n0].to(dtype) if n0 == 784 else torch.rand(4, n0, dtype=dtype,
                                                                      generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                # Spread the inputs so that the ReLU cases have both signs.
                model.enc_b[0].uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(7))
            _, ds = model.encode(x)
            pen = model.penalty(ds).detach()
            for s in range(x.shape[0]):
                jac = torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0][0], x[s])
                want = (jac.detach() ** 2).sum()
                rel = abs(pen[s].item() - want.item()) / max(abs(want.item()), 1e-30)
                worst = max(worst, rel)
                if rel >= 1e-4:
                    raise SystemExit(f"check {name} {dtype} sample {s}: penalty {pen[s].item()} "
                                     f"jacobian {want.item()} rel err {rel:.3g}")
            print(f"check {name} {str(dtype).removeprefix('torch.')}: ok ({x.shape[0]} samples)")
    print(f"check: all ok, worst rel err {worst:.3g}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="seed,sig1000,rifai")
    p.add_argument("--batches", default="128,1024")
    p.add_argument("--chunks", type=int, default=5)
    p.add_argument("--chunk-seconds", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--check", action="store_true", help="verify the penalty against autograd's Jacobian")
    p.add_argument("--sgemm", action="store_true", help="report the BLAS and its 1024^3 SGEMM rate")
    p.add_argument("--device", default="cpu", help="torch device for the step benchmarks: cpu or cuda (bench/gpucheck.sh)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    info = (f"torch={torch.__version__} threads={torch.get_num_threads()} blas={blas_info()} "
            f"coretype={os.environ.get('OPENBLAS_CORETYPE', 'auto')}")
    if args.check:
        check()
        return
    if args.sgemm:
        print(f"sgemm n=1024 gflops={sgemm():.1f} {info}", flush=True)
        return
    data, source = load_images()
    print(f"# torch_cae.py: {info} data={source.split('/')[-1] if '/' in source else source.replace(' ', '-')} "
          f"n={data.shape[0]}", file=sys.stderr, flush=True)
    for name in args.configs.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            med, rates = bench(name, batch, data, args.chunks, args.chunk_seconds, args.warmup, args.device)
            print(f"torch config={name} batch={batch} device={args.device} samples_per_s={med:.1f} "
                  f"min={min(rates):.1f} max={max(rates):.1f} chunks={len(rates)} {info}", flush=True)


if __name__ == "__main__":
    main()
