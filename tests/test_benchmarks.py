"""The GPU check script runs end to end: a smoke test of its code path on the CPU, and a
clear non-zero exit where no GPU exists."""

import os
import subprocess
import sys

import pytest
import torch

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "gpu_check.sh")


def _run(*args):
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=600, env=env)


def test_gpu_check_quick_on_cpu_prints_one_table():
    proc = _run("--device", "cpu", "--quick")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 4  # header, rule, fit, compile (skipped), transform, augmentations
    for measurement in ("fit img/s vs bare training step", "compile=True", "transform img/s", "augmentations"):
        assert any(measurement in line for line in lines), measurement


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_gpu_check_without_cuda_exits_with_a_message():
    proc = _run()
    assert proc.returncode == 1
    assert "no CUDA device" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_fit_throughput_runs_both_loops_for_each_method(method):
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "fit_throughput.py")
    proc = subprocess.run([sys.executable, script, "--method", method, "--n", "64", "--size", "16", "--batch-size",
                           "32", "--epochs", "1", "--repeats", "1", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| small")]
    assert len(rows) == 2 and f"method {method}" in proc.stdout  # wall and CPU-time rows
    assert all(float(row.split("|")[-2]) > 0 for row in rows)  # a ratio was measured
