#!/usr/bin/env python3
"""PyTorch reference for memcap: the same GPT-2 shape, trained on the CPU.

The model is GPT-2 as memcap trains it: tied token embeddings, learned
positions (n_positions = seq), pre-LayerNorm blocks, causal multi-head
attention, GELU-tanh MLP of width 4d, final LayerNorm, no dropout, LayerNorm
eps 1e-5. Matrices are stored in the Hugging Face Conv1D layout [in, out]
(y = x @ W + b) under the Hugging Face names, so a memcap safetensors export
loads with no transposes. Parameter count: V*d + S*d + L*(12d^2 + 13d) + 2d.
The loss is the mean cross-entropy (nats) of predicting token t+1 at positions
0..T-2.

Modes (each prints one JSON line on stdout):
  train              time --steps AdamW/SGD steps after --warmup untimed ones
  sequential-fleet   train --models models one after another (fleet baseline)
  sweep              a capacity-sweep workload: --points models, dataset sizes
                     from --sizes, cosine schedule with 100 warm-up steps
  capacity           memorized bits of uniform datasets of --sizes, as memcap's
                     capacity sweep measures them: cosine with restarts (cycles
                     ending at --first-cycle*2^k), Σ max(0, (S-1)*log2 V - NLL)
                     over tokens 2..S at every cycle end (an annealed model)
  load-safetensors   load a memcap export (--file) and print per-sequence NLL
                     in bits of tokens 2..S for --tokens-json

Run it with Debian's torch and one BLAS thread per torch thread:
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_gpt.py --mode train \
      --vocab 2048 --seq 64 --layers 2 --d 64 --heads 4 --batch 64 --threads 2
Needs only torch and numpy (no safetensors or transformers package).
"""

import argparse
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5


class Conv1D(nn.Module):
    """Hugging Face GPT-2 linear layer: weight [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        y = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return y.view(shape)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)

    def forward(self, x, mask):
        B, T, d = x.shape
        hd = d // self.heads
        q, k, v = self.c_attn(x).split(d, dim=2)
        # [B, T, d] -> [B, heads, T, hd]
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.view(B, T, self.heads, hd).transpose(1, 2)
        v = v.view(B, T, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # [B, heads, T, T]
        att = att.masked_fill(mask[:T, :T], float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)

    def forward(self, x):
        h = self.c_fc(x)
        # GELU, tanh approximation (GPT-2's "gelu_new"), written out for torch 1.13.
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h.pow(3))))
        return self.c_proj(h)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=LN_EPS)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d, eps=LN_EPS)
        self.mlp = MLP(d)

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, vocab, seq, layers, d, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.h = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d, eps=LN_EPS)


class GPT(nn.Module):
    """State-dict names match Hugging Face GPT2LMHeadModel (lm_head tied, not stored)."""

    def __init__(self, vocab, seq, layers, d, heads):
        super().__init__()
        if d % heads != 0:
            raise ValueError(f"d ({d}) must be divisible by heads ({heads})")
        self.transformer = Transformer(vocab, seq, layers, d, heads)
        self.register_buffer(
            "causal", torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1), persistent=False
        )
        self.reset_parameters(layers)

    def reset_parameters(self, layers):
        resid_std = 0.02 / math.sqrt(2 * layers)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, resid_std)
            elif name.endswith("wte.weight") or name.endswith("wpe.weight") or (
                name.endswith(".weight") and ("c_attn" in name or "c_fc" in name)
            ):
                nn.init.normal_(p, 0.0, 0.02)
            elif "ln_" in name and name.endswith(".weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def logits(self, tokens):
        """tokens [B, T] int64 -> logits [B, T, V]."""
        t = self.transformer
        T = tokens.shape[1]
        pos = torch.arange(T, device=tokens.device)
        x = t.wte(tokens) + t.wpe(pos)[None]
        for block in t.h:
            x = block(x, self.causal)
        x = t.ln_f(x)
        return x @ t.wte.weight.t()  # tied head

    def token_nll(self, tokens):
        """Per-token NLL (nats) of token t+1 given 0..t, [B, T-1]."""
        logits = self.logits(tokens[:, :-1])
        V = logits.shape[-1]
        nll = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1), reduction="none")
        return nll.view(tokens.shape[0], -1)

    def loss(self, tokens):
        """Mean cross-entropy (nats) over positions 0..T-2 of every sequence."""
        # Position t's logits only depend on tokens 0..t, so the last position
        # (which predicts nothing) is dropped before the forward pass.
        logits = self.logits(tokens[:, :-1])
        V = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))


def blas_library():
    """Which BLAS the process loaded (Debian's torch uses whatever libblas.so.3 points at;
    the reference BLAS is ~10x slower than OpenBLAS here)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return "unknown"
    for key in ("openblas", "mkl", "blis", "atlas"):
        hits = sorted(lib for lib in libs if key in os.path.basename(lib).lower())
        if hits:
            return hits[0]
    hits = sorted(lib for lib in libs if os.path.basename(lib).startswith("libblas"))
    return (hits[0] + " (reference BLAS?)") if hits else "unknown"


def parameter_count(vocab, seq, layers, d):
    return vocab * d + seq * d + layers * (12 * d * d + 13 * d) + 2 * d


def make_optimizer(args, model, lr):
    if args.optimizer == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=lr, betas=(args.beta1, args.beta2), eps=args.eps,
            weight_decay=args.weight_decay,
        )
    if args.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    raise SystemExit(f"unknown --optimizer {args.optimizer}")


def new_model(args, seed):
    torch.manual_seed(seed)
    return GPT(args.vocab, args.seq, args.layers, args.d, args.heads).to(args.device)


def random_batches(args, count, seed):
    g = torch.Generator().manual_seed(seed)
    batches = torch.randint(0, args.vocab, (count, args.batch, args.seq), generator=g, dtype=torch.int64)
    return batches.to(args.device)


def sync(args):
    """Waits for the device's queued work (CUDA runs asynchronously), so timings are honest."""
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def train_steps(model, opt, batches):
    loss = None
    for tokens in batches:
        opt.zero_grad(set_to_none=True)
        loss = model.loss(tokens)
        loss.backward()
        opt.step()
    return loss


def mode_train(args):
    model = new_model(args, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == parameter_count(args.vocab, args.seq, args.layers, args.d), n_params
    opt = make_optimizer(args, model, args.lr)
    batches = random_batches(args, args.warmup + args.steps, args.seed + 1)
    train_steps(model, opt, batches[: args.warmup])
    sync(args)
    t0 = time.perf_counter()
    loss = train_steps(model, opt, batches[args.warmup:])
    final = float(loss.item()) if loss is not None else None
    seconds = time.perf_counter() - t0
    tokens = args.steps * args.batch * args.seq
    return {
        "mode": "train",
        "tokens_per_s": tokens / seconds,
        "steps_per_s": args.steps / seconds,
        "seconds": seconds,
        "params": n_params,
        "final_loss": final,
        "threads": torch.get_num_threads(),
        "device": args.device,
    }


def mode_sequential_fleet(args):
    # One untimed warm-up run so allocator and thread-pool start-up are not billed.
    warm = new_model(args, args.seed)
    train_steps(warm, make_optimizer(args, warm, args.lr), random_batches(args, args.warmup, 7))
    del warm
    losses = []
    t0 = time.perf_counter()
    for m in range(args.models):
        model = new_model(args, args.seed + 1000 * m)
        opt = make_optimizer(args, model, args.lr)
        loss = train_steps(model, opt, random_batches(args, args.steps, args.seed + 1000 * m + 1))
        losses.append(float(loss.item()) if loss is not None else None)
    seconds = time.perf_counter() - t0
    tokens = args.models * args.steps * args.batch * args.seq
    return {
        "mode": "sequential-fleet",
        "models": args.models,
        "tokens_per_s": tokens / seconds,
        "steps_per_s": args.models * args.steps / seconds,
        "seconds": seconds,
        "params": parameter_count(args.vocab, args.seq, args.layers, args.d),
        "final_losses": losses,
        "threads": torch.get_num_threads(),
    }


def cosine_lambda(total, warmup):
    def f(step):  # multiplier for the lr used at optimizer step `step` (0-based)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


def epoch_batches(n, batch, g, device):
    """Index minibatches that walk an epoch's shuffle; a new shuffle when it runs out."""
    while True:
        perm = torch.randperm(n, generator=g)
        for at in range(0, n - batch + 1, batch):
            yield perm[at: at + batch].to(device)


def mode_sweep(args):
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [int(round(184 * 1.5 ** i)) for i in range(args.points)]
    if len(sizes) < args.points:
        raise SystemExit(f"--sizes lists {len(sizes)} sizes for {args.points} points")
    sizes = sizes[: args.points]
    losses = []
    t0 = time.perf_counter()
    for i, n in enumerate(sizes):
        seed = args.seed + 1000 * i
        g = torch.Generator().manual_seed(seed + 1)
        data = torch.randint(0, args.vocab, (n, args.seq), generator=g, dtype=torch.int64)
        data = data.to(args.device)
        model = new_model(args, seed)
        opt = make_optimizer(args, model, args.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(args.steps, args.warmup_steps))
        batches = epoch_batches(n, min(args.batch, n), g, args.device)
        loss = None
        for _ in range(args.steps):
            idx = next(batches)
            opt.zero_grad(set_to_none=True)
            loss = model.loss(data[idx])
            loss.backward()
            opt.step()
            sched.step()
        losses.append(float(loss.item()) if loss is not None else None)
    seconds = time.perf_counter() - t0
    return {
        "mode": "sweep",
        "device": args.device,
        "points": args.points,
        "sizes": sizes,
        "steps": args.steps,
        "seconds": seconds,
        "tokens_per_s": args.points * args.steps * args.batch * args.seq / seconds,
        "params": parameter_count(args.vocab, args.seq, args.layers, args.d),
        "final_losses": losses,
        "threads": torch.get_num_threads(),
    }


def restarts_lr(step, lr, warmup, first, ramp_fraction):
    """The rate of 1-based step `step` under memcap's cosine-restarts (lib/training/schedule.ts,
    minimum rate 0): warm-up, then cosine cycles ending at first*2^k, each restart ramped up
    over ramp_fraction of its cycle."""
    if warmup > 0 and step <= warmup:
        return lr * step / warmup
    end = first
    while end < step:
        end *= 2
    start = 0 if end == first else end // 2
    if start == 0:
        start = min(warmup, end - 1)
    k = round(math.log2(end / first))
    ramp = 0 if k == 0 else math.floor(ramp_fraction * (end - start))
    if step - start <= ramp:
        return lr * (step - start) / ramp
    start += ramp
    progress = min(1.0, max(0.0, (step - start) / (end - start)))
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def memorized_bits(model, data, net=False):
    """Σ over sequences of max(0, (S-1)*log2 V - NLL bits of tokens 2..S): memcap's measure.
    With net=True, also the sum without the per-sample clip (what the clip adds is the gap)."""
    V, S = model.transformer.wte.weight.shape[0], data.shape[1]
    uniform = (S - 1) * math.log2(V)
    total = unclipped = 0.0
    model.eval()
    with torch.no_grad():
        for chunk in data.split(4096):
            bits = model.token_nll(chunk).sum(dim=1) / math.log(2.0)
            total += float(torch.clamp(uniform - bits, min=0).sum().item())
            unclipped += float((uniform - bits).sum().item())
    model.train()
    return (total, unclipped) if net else total


def mode_capacity(args):
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes:
        raise SystemExit("--sizes is required for --mode capacity")
    ends = []
    end = args.first_cycle
    while end <= args.steps:
        ends.append(end)
        end *= 2
    runs = []
    t0 = time.perf_counter()
    for i, n in enumerate(sizes):
        seed = args.seed + 1000 * i
        g = torch.Generator().manual_seed(seed + 1)
        data = torch.randint(0, args.vocab, (n, args.seq), generator=g, dtype=torch.int64).to(args.device)
        unseen = torch.randint(0, args.vocab, (args.test_sequences, args.seq), generator=g,
                               dtype=torch.int64).to(args.device)
        model = new_model(args, seed)
        opt = make_optimizer(args, model, args.lr)
        batches = epoch_batches(n, min(args.batch, n), g, args.device)
        curve, net_curve = [], []
        for step in range(1, (ends[-1] if ends else args.steps) + 1):
            for group in opt.param_groups:
                group["lr"] = restarts_lr(step, args.lr, args.warmup_steps, args.first_cycle,
                                          args.restart_warmup_fraction)
            idx = next(batches)
            opt.zero_grad(set_to_none=True)
            model.loss(data[idx]).backward()
            opt.step()
            if step in ends:
                clipped, net = memorized_bits(model, data, net=True)
                curve.append([step, clipped])
                net_curve.append([step, net])
        best = max(curve, key=lambda p: p[1])
        runs.append({
            "size": n,
            "dataset_bits": n * (args.seq - 1) * math.log2(args.vocab),
            "curve": curve,
            # The same sums without the per-sample clip: Σ (uniform − NLL) over the training set.
            "net_curve": net_curve,
            "best_bits": best[1],
            "best_step": best[0],
            # What the measure credits to sequences never trained on, scaled to N.
            "unseen_bits": memorized_bits(model, unseen) * n / max(1, args.test_sequences),
        })
    return {
        "mode": "capacity",
        "device": args.device,
        "seconds": time.perf_counter() - t0,
        "params": parameter_count(args.vocab, args.seq, args.layers, args.d),
        "lr": args.lr,
        "batch": args.batch,
        "steps": ends[-1] if ends else 0,
        "runs": runs,
        "threads": torch.get_num_threads(),
    }


# --- safetensors without the safetensors package -------------------------------------

_NP_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path):
    """Returns ({name: float32 numpy array}, metadata). path "-" reads stdin."""
    if path == "-":
        buf = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(buf[8: 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    start = 8 + n
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = np.frombuffer(buf, dtype=np.uint8, count=end - begin, offset=start + begin)
        dtype = info["dtype"]
        if dtype == "BF16":
            arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype in _NP_DTYPES:
            arr = raw.view(np.dtype(_NP_DTYPES[dtype]).newbyteorder("<")).astype(np.float32)
        else:
            continue  # integer buffers are not parameters
        out[name] = arr.reshape(info["shape"])
    return out, meta


def load_memcap_model(args):
    tensors, meta = read_safetensors(args.file)
    cfg = json.loads(meta["memcap.config"]) if "memcap.config" in meta else {}
    vocab = cfg.get("vocabSize", args.vocab)
    seq = cfg.get("seqLen", args.seq)
    layers = cfg.get("layers", args.layers)
    d = cfg.get("dModel", args.d)
    heads = cfg.get("heads", args.heads)
    model = GPT(vocab, seq, layers, d, heads)
    state = {}
    for name, arr in tensors.items():
        # Tied head and GPT-2's causal-mask buffers are not parameters here.
        if name == "lm_head.weight" or re.fullmatch(r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias", name):
            continue
        if not name.startswith("transformer."):
            name = "transformer." + name  # GPT2Model checkpoints drop the prefix
        state[name] = torch.from_numpy(np.array(arr, copy=True))
    model.load_state_dict(state, strict=True)
    return model, meta


def mode_load_safetensors(args):
    if not args.file:
        raise SystemExit("--file is required for --mode load-safetensors")
    if not args.tokens_json:
        raise SystemExit("--tokens-json is required (a JSON list of token lists, or a file path)")
    src = args.tokens_json
    seqs = json.loads(src) if src.lstrip().startswith("[") else json.load(open(src))
    model, meta = load_memcap_model(args)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    model = model.to(dtype)
    model.eval()
    tokens = torch.tensor(seqs, dtype=torch.int64)
    if tokens.dim() != 2 or tokens.shape[1] < 2:
        raise SystemExit("--tokens-json must be a list of equal-length sequences of >= 2 tokens")
    with torch.no_grad():
        nll = model.token_nll(tokens)  # [B, T-1] nats
    bits = nll / math.log(2.0)
    return {
        "mode": "load-safetensors",
        "dtype": args.dtype,
        "precision": meta.get("memcap.precision"),
        "nll_bits": bits.sum(dim=1).tolist(),
        "token_nll_nats": nll.tolist(),
        "loss": float(nll.mean().item()),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", default="train",
                   choices=["train", "sequential-fleet", "sweep", "capacity", "load-safetensors"])
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (train)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="train/sweep: torch device, e.g. cuda")
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 (train), 1e-2 (sweep)")
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", type=int, default=8, help="sequential-fleet: models to train")
    p.add_argument("--points", type=int, default=8, help="sweep: models (dataset sizes)")
    p.add_argument("--sizes", default="", help="sweep: comma-separated dataset sizes")
    p.add_argument("--warmup-steps", type=int, default=100, help="sweep, capacity: lr warm-up steps")
    p.add_argument("--first-cycle", type=int, default=625, help="capacity: first cycle's end step")
    p.add_argument("--restart-warmup-fraction", type=float, default=0.1,
                   help="capacity: each restart's ramp, a fraction of its cycle")
    p.add_argument("--test-sequences", type=int, default=256,
                   help="capacity: held-out sequences for unseen_bits")
    p.add_argument("--file", default="", help="load-safetensors: a memcap weights export (- for stdin)")
    p.add_argument("--tokens-json", default="", help="load-safetensors: JSON token lists or a file")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                   help="load-safetensors: arithmetic precision of the forward pass")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = 1e-2 if args.mode in ("sweep", "capacity") else 1e-3

    torch.set_num_threads(max(1, args.threads))
    if os.environ.get("OPENBLAS_NUM_THREADS") is None and args.mode != "load-safetensors":
        print("note: set OPENBLAS_NUM_THREADS=1 for the best torch CPU speed", file=sys.stderr)

    modes = {
        "train": mode_train,
        "sequential-fleet": mode_sequential_fleet,
        "sweep": mode_sweep,
        "capacity": mode_capacity,
        "load-safetensors": mode_load_safetensors,
    }
    result = modes[args.mode](args)
    if args.mode != "load-safetensors":
        result["blas"] = blas_library()
        result["torch"] = torch.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
