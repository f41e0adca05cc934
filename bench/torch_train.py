"""The PyTorch side of bench_train: the same models, weights, batches and optimizers as
tapegrad, read from the file bench_train writes. bench_train starts this script and
drives it through stdin/stdout, one command line and one reply line at a time, so that
the two sides take turns; it is not meant to be run alone.

    torch_train.py DATA THREADS

DATA (little-endian, written by bench/bench_train.c, described in bench/README.md):
    char magic[8] = "TGBENCH1"; u32 n_mlp; u32 check_steps
    n_mlp times:
        u32 id; u32 n_sizes; u32 sizes[n_sizes]
        u32 act (0 tanh, 1 relu, 2 silu); u32 loss (0 MSE, 1 cross-entropy)
        u32 optim (0 SGD, 1 Adam); f64 lr; u32 batch; u32 n_batches
        per layer l: f32 W[sizes[l+1] * sizes[l]] ([out, in], row-major), f32 b[sizes[l+1]]
        per batch: f32 x[batch * sizes[0]], then f32 y[batch * sizes[-1]] (MSE) or
                   f32 labels[batch] (cross-entropy: class indices)
    u32 id; u32 length; u32 n; f32 x[n]          (the relu chain)

Protocol. First this script says "ready VERSION THREADS", or "unavailable REASON" and
exits with status 3 when torch cannot be imported. Then, per command line:
    check ID          a fresh model from the file's weights, check_steps training steps
                      -> "loss L0 L1 ..." (the loss of each step, before its update);
                      for the chain -> "chain SUM_Y SUM_GRAD" after one step from zero
    warmup ID MS REP_MS   steps for at least MS ms and 5 steps -> "warm STEPS", the number
                      of steps that makes a repetition last about REP_MS ms
    rep ID            that many steps -> "rep NS CPU_NS": ns per step by the wall clock
                      and by this thread's CPU time
Training continues on the model from check through warmup and every rep. End of input
ends the script.
"""
import struct
import sys
import time

UNAVAILABLE = 3


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 8

    def u32(self, n=None):
        k = 1 if n is None else n
        v = struct.unpack_from("<%dI" % k, self.buf, self.pos)
        self.pos += 4 * k
        return v[0] if n is None else list(v)

    def f64(self):
        v = struct.unpack_from("<d", self.buf, self.pos)[0]
        self.pos += 8
        return v

    def f32(self, torch, shape):
        n = 1
        for s in shape:
            n *= s
        # a copy, so that every tensor owns its memory (frombuffer would share buf)
        t = torch.frombuffer(bytearray(self.buf[self.pos:self.pos + 4 * n]),
                             dtype=torch.float32).reshape(shape)
        self.pos += 4 * n
        return t


def read_data(torch, path):
    with open(path, "rb") as f:
        r = Reader(f.read())
    if r.buf[:8] != b"TGBENCH1":
        raise ValueError("%s: not a bench_train file" % path)
    n_mlp, check_steps = r.u32(), r.u32()
    mlps = []
    for _ in range(n_mlp):
        w = {"id": r.u32()}
        w["sizes"] = r.u32(r.u32())
        w["act"], w["loss"], w["optim"] = r.u32(), r.u32(), r.u32()
        w["lr"] = r.f64()
        w["batch"], n_batches = r.u32(), r.u32()
        sizes, B = w["sizes"], w["batch"]
        w["params"] = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            w["params"].append((r.f32(torch, (o, i)), r.f32(torch, (o,))))
        w["batches"] = []
        for _ in range(n_batches):
            x = r.f32(torch, (B, sizes[0]))
            if w["loss"] == 0:
                y = r.f32(torch, (B, sizes[-1]))
            else:
                y = r.f32(torch, (B,)).to(torch.int64)
            w["batches"].append((x, y))
        mlps.append(w)
    chain = {"id": r.u32(), "length": r.u32()}
    chain["x"] = r.f32(torch, (r.u32(),))
    if r.pos != len(r.buf):
        raise ValueError("%s: %d bytes left over" % (path, len(r.buf) - r.pos))
    return check_steps, mlps, chain


class Timed:
    """warmup and rep, shared by both kinds of workload: self.step() is one step."""

    def warmup(self, ms, rep_ms):
        n, t0 = 0, time.perf_counter_ns()
        while n < 5 or time.perf_counter_ns() - t0 < ms * 1e6:
            self.step()
            n += 1
        per = (time.perf_counter_ns() - t0) / n
        self.steps = max(1, int(rep_ms * 1e6 / per + 0.5))
        return "warm %d" % self.steps

    def rep(self):
        steps = self.steps
        l0 = time.perf_counter_ns()   # 2 ms of untimed lead-in, as bench_train.c does
        while True:
            self.step()
            if time.perf_counter_ns() - l0 >= 2e6:
                break
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(steps):
            self.step()
        c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
        return "rep %.1f %.1f" % ((t1 - t0) / steps, (c1 - c0) / steps)


class Mlp(Timed):
    def __init__(self, torch, w, check_steps):
        self.torch, self.w, self.check_steps = torch, w, check_steps

    def check(self):
        """The model, loss and optimizer, fresh from the file's weights; the first steps."""
        torch, w = self.torch, self.w
        nn = torch.nn
        acts = (nn.Tanh, nn.ReLU, nn.SiLU)
        layers = []
        for k, (W, b) in enumerate(w["params"]):
            lin = nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(b)
            layers.append(lin)
            if k + 1 < len(w["params"]):
                layers.append(acts[w["act"]]())
        self.model = nn.Sequential(*layers)
        self.loss_fn = nn.MSELoss() if w["loss"] == 0 else nn.CrossEntropyLoss()
        if w["optim"] == 0:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=w["lr"])
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=w["lr"])
        self.k = 0
        return "loss " + " ".join("%.9g" % self.step().item()
                                  for _ in range(self.check_steps))

    def step(self):
        x, y = self.w["batches"][self.k % len(self.w["batches"])]
        self.k += 1
        loss = self.loss_fn(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss


class Chain(Timed):
    def __init__(self, torch, c):
        self.torch, self.c = torch, c
        self.x = c["x"].clone().requires_grad_(True)
        self.seed = torch.ones_like(self.x)

    def check(self):
        self.x.grad = None
        y = self.step()
        return "chain %.9g %.9g" % (float(y.detach().sum()), float(self.x.grad.sum()))

    def step(self):
        y = self.x
        for _ in range(self.c["length"]):
            y = self.torch.relu(y)
        y.backward(self.seed)
        return y


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    data, threads = sys.argv[1], int(sys.argv[2])
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install failing its own way
        say(("unavailable import torch failed in %s: %s" % (sys.executable, e))
            .replace("\n", " "))
        return UNAVAILABLE
    torch.set_num_threads(threads)
    check_steps, mlps, chain = read_data(torch, data)
    work = {w["id"]: Mlp(torch, w, check_steps) for w in mlps}
    work[chain["id"]] = Chain(torch, chain)
    say("ready %s %d" % (torch.__version__, torch.get_num_threads()))
    for line in sys.stdin:
        cmd = line.split()
        w = work[int(cmd[1])]
        if cmd[0] == "check":
            say(w.check())
        elif cmd[0] == "warmup":
            say(w.warmup(float(cmd[2]), float(cmd[3])))
        elif cmd[0] == "rep":
            say(w.rep())
        else:
            raise ValueError("unknown command %r" % line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
