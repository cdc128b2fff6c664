"""Turn a pytest-benchmark JSON into benchmarks/results/README.md (tables) and a PNG chart; print the tables.

    pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/latest.json && python benchmarks/report.py benchmarks/results/latest.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

BASES = {"numpy": "NumPy", "cupy": "CuPy", "torch-cpu": "PyTorch CPU", "torch-cuda": "PyTorch CUDA"}
UNFUSED = ("composed", "per-parameter")
MT, REF, PT = "minitorch (numpy)", "NumPy by hand", "PyTorch CPU"  # the columns the ratios compare
BLAS_OF = {"minitorch-numpy": "numpy", "numpy": "numpy", "minitorch-cupy": "cupy"}  # torch-* use their own
# (fast path, baseline)
PAIRS = [("fused", "composed"), ("fused", "per-parameter"), ("foreach", "for-loop"), ("fused", "for-loop")]
NOISY = 0.25  # cores used by other processes during a benchmark above which its number is marked
ORDER = ["minitorch-numpy", "minitorch-cupy", "numpy", "cupy", "torch-cpu", "torch-cuda"]


def load(path: Path) -> tuple[list[dict], dict]:
    """One dict per benchmark: its extra_info plus `seconds` (the min over rounds); and the JSON's header."""
    data = json.loads(path.read_text())
    rows = [dict(b["extra_info"], seconds=b["stats"]["min"], median=b["stats"]["median"], rounds=b["stats"]["rounds"])
            for b in data["benchmarks"] if "kind" in b.get("extra_info", {})]
    return rows, data


def name(row: dict) -> str:
    """A column heading: minitorch (numpy), minitorch (numpy, unfused), NumPy by hand, PyTorch CPU (foreach), ..."""
    backend, variant = row["backend"], row.get("variant")
    if backend.startswith("minitorch-"):
        return f"minitorch ({backend[10:]}{', unfused' if variant in UNFUSED else ''})"
    return BASES.get(backend, backend) + {"hand-written": " by hand", "foreach": " (foreach)", "fused": " (fused)"}.get(
        variant, "")


def _sort_key(row: dict) -> tuple:
    backend = row["backend"]
    return (ORDER.index(backend) if backend in ORDER else len(ORDER), row.get("variant") in UNFUSED + ("foreach",))


def table(header: list[str], body: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in body])


def mark(row: dict | None) -> str:
    """A dagger on numbers measured while other processes kept more than NOISY cores busy."""
    return "†" if row and (row.get("other_load") or 0) > NOISY else ""


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}" if seconds >= 1e-4 else f"{seconds * 1e6:,.1f}"


def machine(data: dict, rows: list[dict]) -> str:
    """Where the run happened, from the JSON's machine_info (written by benchmarks/conftest.py)."""
    loads = sorted(r["other_load"] for r in rows if r.get("other_load") is not None)
    noise = (f"- other processes kept a median {loads[len(loads) // 2]:.2f} and at most {loads[-1]:.2f} cores busy "
             f"during a benchmark; † marks numbers taken while that exceeded {NOISY}") if loads else ""
    mi = data.get("machine_info", {})
    mb = mi.get("minitorch_bench", {})
    commit = data.get("commit_info", {})
    torch = f"torch {mb['torch']} ({mb.get('torch_threads')} threads, {mb.get('torch_blas')})" if mb.get("torch") \
        else "torch not installed"
    return "\n".join([
        f"- CPU: {mb.get('cpu_model', mi.get('cpu', {}).get('brand_raw', '?'))}, {mb.get('cores', '?')} cores; "
        f"Python {mi.get('python_version', '?')} on {mi.get('system', '?')} {mi.get('release', '')}",
        f"- numpy {mb.get('numpy', '?')} (BLAS: {mb.get('numpy_blas', '?')}); {torch}; "
        f"cupy {mb.get('cupy') or 'not installed'}; minitorch devices: {', '.join(mb.get('devices', []))}",
        f"- run {data.get('datetime', '?')[:19]} at commit {commit.get('id', '?')[:10]}"
        f"{' (dirty tree)' if commit.get('dirty') else ''}; about {mb.get('budget_s', '?')} s of timed rounds "
        "per benchmark; every number is the minimum over rounds (other load on the box only adds time)", noise])


def blas_rates(rows: list[dict]) -> dict[str, float]:
    """GFLOP/s of the 1024^3 float32 GEMM, per array library."""
    return {r["backend"]: r["flops"] / r["seconds"] / 1e9 for r in rows if r["kind"] == "blas"}


def ops_section(rows: list[dict]) -> str:
    """Time per call for every op and backend; matmul also as GFLOP/s."""
    ops = [r for r in rows if r["kind"] == "op"]
    cols = sorted({name(r): _sort_key(r) for r in ops}.items(), key=lambda kv: kv[1])
    cols = [c for c, _ in cols]
    cells: dict[tuple, dict[str, str]] = defaultdict(dict)
    for r in ops:
        text = us(r["seconds"])
        if r.get("gflops") or r["op"] == "matmul":
            text += f" ({r['flops'] / r['seconds'] / 1e9:.0f} GFLOP/s)"
        cells[(r["op"], r["shape"])][name(r)] = text + mark(r)
    body = [[op, shape] + [c.get(col, "") for col in cols] for (op, shape), c in cells.items()]
    return "### Ops: µs per call (forward + backward except matmul and optimizer steps)\n\n" + \
        table(["op", "shape"] + cols, body)


def speedups(rows: list[dict]) -> list[tuple]:
    """(op, shape, backend, fast name, fast s, baseline name, baseline s, noise mark) per fused/unfused pair."""
    by_key = {(r["op"], r["shape"], r["backend"], r.get("variant")): r for r in rows}
    out = []
    for (op, shape, backend, variant), r in by_key.items():
        for fast, slow in PAIRS:
            other = by_key.get((op, shape, backend, slow))
            if variant == fast and other:
                out.append((op, shape, backend, fast, r["seconds"], slow, other["seconds"], mark(r) or mark(other)))
    return out


def speedup_section(rows: list[dict]) -> str:
    body = [[op, shape, backend, f"{fast} / {slow}", us(tf), us(ts), f"**{ts / tf:.2f}×**{noisy}"]
            for op, shape, backend, fast, tf, slow, ts, noisy in speedups(rows)]
    return ("### Fused vs composed (speed-up = unfused time / fused time; `MINITORCH_FUSED=0` is the unfused path)\n\n"
            + table(["op", "shape", "backend", "variants", "fast µs", "baseline µs", "speed-up"], body))


def train_grid(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """{(width, layers, batch): {column name: row}} for the training-step benchmarks."""
    grid: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in sorted((r for r in rows if r["kind"] == "train"), key=_sort_key):
        grid[(r["width"], tuple(r["layers"]), r["batch_size"])][name(r)] = r
    return grid


def train_section(rows: list[dict]) -> str:
    """Samples/s per framework, ratios to PyTorch, and overhead over the hand-written NumPy step."""
    grid = train_grid(rows)
    cols = list(dict.fromkeys(c for cell in grid.values() for c in cell))
    mt, ref, pt = MT, REF, PT
    body = []
    for (width, layers, batch), cell in grid.items():
        sps = {c: r["samples_per_s"] for c, r in cell.items()}
        line = [f"{width} ({'-'.join(map(str, layers))})", batch]
        line += [f"{sps[c]:,.0f}{mark(cell[c])}" if c in sps else "" for c in cols]
        line.append(f"{sps[mt] / sps[pt]:.2f}" if mt in sps and pt in sps else "")
        line.append(f"{sps[ref] / sps[pt]:.2f}" if ref in sps and pt in sps else "")
        line.append(f"{(sps[ref] / sps[mt] - 1) * 100:+.0f}%" if mt in sps and ref in sps else "")
        body.append(line)
    head = ["network", "batch"] + cols + ["minitorch ÷ PyTorch (>1: faster)", "NumPy by hand ÷ PyTorch",
                                          "minitorch step time over NumPy by hand"]
    return ("### Training step: samples/s (forward, loss, zero_grad, backward, optimizer step: cross-entropy and "
            "Adam for the MLPs, nll_loss and Adadelta for PyTorch's MNIST example CNN; float32; higher is better)\n\n"
            + table(head, body))


def floor_section(rows: list[dict], rates: dict[str, float]) -> str:
    """How far each step is above the time its GEMMs alone would take at the library's measured BLAS rate."""
    grid = train_grid(rows)
    cols = list(dict.fromkeys(c for cell in grid.values() for c in cell))
    libs = sorted(rates, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
    body = []
    for (width, layers, batch), cell in grid.items():
        flops = next(iter(cell.values()))["flops"]
        line = [width, batch, f"{flops / 1e9:.2f}"] + [f"{flops / rates[k] / 1e6:.2f}" for k in libs]
        for c in cols:
            r = cell.get(c)
            rate = rates.get(BLAS_OF.get(r["backend"], r["backend"])) if r else None
            text = f"{r['seconds'] * 1e3:.2f}{mark(r)}" if r else ""
            if rate:
                above = 1 - flops / (rate * 1e9) / r["seconds"]
                text += f" ({above * 100:.0f}%)" if above >= 0 else " (below: BLAS rate under-measured)"
            line.append(text)
        body.append(line)
    rate_text = ", ".join(f"{k} {rates[k]:.0f} GFLOP/s" for k in libs)
    return ("### GEMM floor\n\n"
            "Step FLOPs = 2·B·(3·Σ in·out − in₀·out₀) over the Linear layers (the CNN's convolutions "
            "count as their im2col GEMMs): one forward and two backward GEMMs (dW, dx) per layer, minus the "
            "input layer's dx GEMM, which every framework here skips. "
            f"Floor = step FLOPs / the library's 1024³ float32 GEMM rate ({rate_text}). Cells: step ms "
            "(share of the step above the floor: small-GEMM inefficiency, elementwise work, framework overhead).\n\n"
            + table(["network", "batch", "GFLOP/step"] + [f"floor ms ({k})" for k in libs] + cols, body))


def distributed_section(rows: list[dict]) -> str:
    """bench_distributed.py's tables (allreduce, the step at 1 and 2 ranks), or "" when the run has none."""
    if not any(r["kind"] == "distributed" for r in rows):
        return ""
    from bench_distributed import report_section  # this folder is on sys.path when run as a script
    return report_section(rows)


def peers_section(rows: list[dict]) -> str:
    """bench_train.py's interleaved peers of the training step (ratios against each), or "" when none ran."""
    if not any(r["kind"] == "train-peers" for r in rows):
        return ""
    from bench_train import report_section  # this folder is on sys.path when run as a script
    return report_section(rows)


def chart(rows: list[dict], path: Path) -> None:
    """Training-step samples/s per framework (left) and fused-path speed-ups (right), as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = train_grid(rows)
    cols = list(dict.fromkeys(c for cell in grid.values() for c in cell))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    groups = list(grid)
    width = 0.8 / max(len(cols), 1)
    for i, c in enumerate(cols):
        xs = [g + (i - (len(cols) - 1) / 2) * width for g in range(len(groups))]
        ys = [grid[k][c]["samples_per_s"] if c in grid[k] else 0 for k in groups]
        ax1.bar(xs, ys, width, label=c)
    ax1.set_xticks(range(len(groups)), [f"{w}\nB={b}" for w, _, b in groups])
    ax1.set_yscale("log")
    ax1.set_ylabel("samples / s (log)")
    ax1.set_title("Training step throughput")
    if cols:
        ax1.legend(fontsize=8)
    pairs = [s for s in speedups(rows) if s[2].startswith("minitorch")]
    labels = [f"{op} {shape}" for op, shape, *_ in pairs]
    ax2.barh(range(len(pairs)), [ts / tf for *_, tf, _, ts, _ in pairs], color="tab:green")
    ax2.axvline(1.0, color="black", lw=0.8)
    ax2.set_yticks(range(len(pairs)), labels, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("speed-up of the fused path (×)")
    ax2.set_title("minitorch fused vs composed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = Path(argv[0])
    rows, data = load(src)
    rates = blas_rates(rows)
    out_dir = src.parent
    png = out_dir / f"{src.stem}.png"
    chart(rows, png)
    text = "\n\n".join(part for part in [
        "# minitorch benchmarks",
        f"Generated by `benchmarks/report.py` from `{src.name}`; chart: `{png.name}`. Reproduce with:\n\n"
        "```\npytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/latest.json && "
        "python benchmarks/report.py benchmarks/results/latest.json\n```",
        "## Machine\n\n" + machine(data, rows),
        train_section(rows), peers_section(rows), floor_section(rows, rates), speedup_section(rows), ops_section(rows),
        distributed_section(rows), f"![training throughput and fused speed-ups]({png.name})"] if part) + "\n"
    (out_dir / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
