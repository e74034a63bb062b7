"""SimilaritySearch at survey scale: faiss indexes against exact brute force, in the same run.

Writes ``n`` random-but-clustered embeddings (``dim`` features, the ContrastiveEmbedder's
default output of 128) to a ``.npy`` file a chunk at a time, with ids beside it
(``.ids.npy``, as ``sklearn-ssl convert`` writes them), then

- exact search: faiss ``IndexFlatL2`` on unit vectors (the ground truth; BLAS brute force),
  over ``--flat-block`` rows at a time with the blocks' top k merged (memory: one block, not
  the 5 GB of a flat index of 10^7 rows), and ``SimilaritySearch(algorithm="brute")``
  (scikit-learn, what the package did before) on a subset of the queries (its query's peak
  memory too: scikit-learn's cosine holds a normalised copy of all the embeddings);
- for each faiss algorithm: ``SimilaritySearch(algorithm=...).fit(path)`` builds the index
  from the ``.npy`` memory map out of core (build time, peak anonymous memory of the
  build, bytes of the saved index per object), then the queries at several ``nprobe`` /
  ``ef_search`` values: recall@10 against the exact neighbours, queries per second, and
  the speed-up over exact brute force measured here.

Wall times and CPU times (``build_cpu_s``, ``query_cpu_s``: this process's, unaffected by
other jobs on a shared machine or by the run being paused) are both written; log lines carry
the UTC time.

Queries are ``n_queries`` new draws of the same distribution (not indexed), by vector,
cosine distance, all at once (batched), on ``threads`` threads. Embeddings: ``n_clusters``
centres on a 128-d Gaussian, each point its centre plus a 12-d Gaussian offset in a
subspace of its own cluster plus 5 % isotropic noise (contrastive embeddings have a low
intrinsic dimension; isotropic 128-d noise would make every neighbour almost equidistant).

Usage::

    nice -n 10 python benchmarks/similarity_index.py --n 1000000 --out benchmarks/results/similarity_index
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_ssl.utils import atomic_path  # noqa: E402
from sklearn_ssl.discovery import SimilaritySearch, save_index  # noqa: E402


class PeakRSS:
    """Peak anonymous resident memory (RssAnon: not the memory-mapped file's pages) while the block runs, in MB."""

    def __enter__(self):
        self.base = self.peak = _rss_anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss_anon())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss_anon() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def write_embeddings(path: Path, n: int, dim: int, n_clusters: int, seed: int, chunk: int = 100_000):
    """Clustered embeddings written a chunk at a time to a .npy memmap (float32), ids beside it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    bases = (rng.normal(size=(n_clusters, 12, dim)) * 0.6 / np.sqrt(12)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for a in range(0, n, chunk):
        out[a:a + chunk] = draw(rng, centres, bases, min(chunk, n - a))
    out.flush()
    del out
    np.save(path.with_name(path.name[:-4] + ".ids.npy"), np.arange(n, dtype=np.int64) + 10**9)
    return centres, bases


def draw(rng, centres, bases, n):
    label = rng.integers(len(centres), size=n)
    z = rng.normal(size=(n, bases.shape[1])).astype(np.float32)
    X = centres[label] + 0.05 * rng.normal(size=(n, centres.shape[1])).astype(np.float32)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(len(centres) + 1))
    for c in range(len(centres)):  # each cluster's offsets in its own subspace, one matrix product per cluster
        rows = order[bounds[c]:bounds[c + 1]]
        X[rows] += z[rows] @ bases[c]
    return X


def unit(X):
    X = np.array(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def log(message: str) -> None:
    """A line of the log, stamped with the UTC time (a run that was paused shows a gap between stamps)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    print(f"[{now}] {message}", flush=True)


def recall_at(found, truth, k=10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--n-clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--sklearn-queries", type=int, default=100, help="queries timed for scikit-learn brute")
    parser.add_argument("--algorithms", default="ivfpq,hnsw")
    parser.add_argument("--nprobe", default="8,16,32,64,128")
    parser.add_argument("--ef-search", default="32,64,128,256")
    parser.add_argument("--threads", type=int, default=1, help="faiss/BLAS threads (1: OpenMP threads spin-wait on a busy shared machine)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--flat-block", type=int, default=1_000_000,
                        help="rows per block of the exact faiss search (memory: ~2 x 512 B per row of a block)")
    parser.add_argument("--workdir", help="folder for the embeddings file (default: a temporary one)")
    parser.add_argument("--out", help="folder for rows.csv and meta.json")
    parser.add_argument("--rst", metavar="ROWS_CSV", help="only print a stored rows CSV as the docs' RST table")
    args = parser.parse_args(argv)
    if args.rst:
        print(rst_table(pd.read_csv(args.rst)))
        return 0

    import faiss
    faiss.omp_set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    rows, k = [], args.k
    started = datetime.datetime.now(datetime.timezone.utc)
    args.git_commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,  # the code run
                                     cwd=Path(__file__).parent).stdout.strip()
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        path = Path(work) / "embeddings.npy"
        log(f"pid {os.getpid()}, nice {os.nice(0)}, load average {os.getloadavg()[0]:.2f}; writing embeddings")
        t0 = time.perf_counter()
        centres, bases = write_embeddings(path, args.n, args.dim, args.n_clusters, seed=0)
        log(f"wrote {args.n} x {args.dim} embeddings in {time.perf_counter() - t0:.1f} s")
        Q = draw(np.random.default_rng(1), centres, bases, args.queries)
        Qn = unit(Q)
        mm = np.load(path, mmap_mode="r")

        # exact: faiss flat (BLAS brute force over unit vectors) a block of rows at a time, the blocks' top k merged:
        # memory bounded by one block (a flat index of all 10^7 rows would hold 5 GB); only the searches are timed
        # as queries, the normalising and adding as build (one block at n <= flat_block: the whole-index search)
        faiss_heap = faiss.ResultHeap(len(Qn), k)
        build = build_cpu = search_s = search_cpu = 0.0
        with PeakRSS() as mem:
            for a in range(0, args.n, args.flat_block):
                t, c = time.perf_counter(), time.process_time()
                flat = faiss.IndexFlatL2(args.dim)
                flat.add(unit(mm[a:a + args.flat_block]))
                build += time.perf_counter() - t
                build_cpu += time.process_time() - c
                t, c = time.perf_counter(), time.process_time()
                D, I = flat.search(Qn, k)
                search_s += time.perf_counter() - t
                search_cpu += time.process_time() - c
                faiss_heap.add_result(D, np.where(I < 0, -1, I + a))
                del flat
        faiss_heap.finalize()
        truth = faiss_heap.I
        exact_s = search_s / args.queries
        rows.append({"algorithm": "exact (faiss IndexFlatL2)", "setting": "", "n": args.n, "dim": args.dim,
                     "build_s": build, "build_cpu_s": build_cpu, "build_peak_mb": mem.extra_mb,
                     "index_bytes": args.n * args.dim * 4, "recall_at_10": 1.0, "queries_per_s": 1 / exact_s,
                     "query_cpu_s": search_cpu, "speedup_vs_exact": 1.0})
        log(f"exact faiss flat: {1 / exact_s:.1f} queries/s (blocks of {args.flat_block} rows built in {build:.1f} s, "
            f"peak {mem.extra_mb:.0f} MB)")

        # exact: scikit-learn brute force (the package's exact search), on a subset of the queries
        with PeakRSS() as mem:
            t, c = time.perf_counter(), time.process_time()
            brute = SimilaritySearch(n_neighbors=k, algorithm="brute").fit(mm)
            build, build_cpu = time.perf_counter() - t, time.process_time() - c
        nq = min(args.sklearn_queries, args.queries)
        with PeakRSS() as qmem:
            t, c = time.perf_counter(), time.process_time()
            _, ind = brute.kneighbors(Q[:nq])
            sk_s, sk_cpu = (time.perf_counter() - t) / nq, time.process_time() - c
        rows.append({"algorithm": "exact (SimilaritySearch brute, scikit-learn)", "setting": f"{nq} queries",
                     "n": args.n, "dim": args.dim, "build_s": build, "build_cpu_s": build_cpu,
                     "build_peak_mb": mem.extra_mb, "query_peak_mb": qmem.extra_mb,
                     "index_bytes": args.n * args.dim * 4, "recall_at_10": recall_at(ind, truth[:nq], k),
                     "queries_per_s": 1 / sk_s, "query_cpu_s": sk_cpu, "speedup_vs_exact": exact_s / sk_s})
        log(f"exact scikit-learn brute: {1 / sk_s:.1f} queries/s, recall {rows[-1]['recall_at_10']:.3f}, "
            f"query peak {qmem.extra_mb:.0f} MB")
        del brute, ind

        for algorithm in args.algorithms.split(","):
            search = SimilaritySearch(n_neighbors=k, algorithm=algorithm, n_jobs=args.threads, random_state=0)
            log(f"{algorithm}: building")
            with PeakRSS() as mem:
                t, c = time.perf_counter(), time.process_time()
                search.fit(path)  # out of core: chunks of the memory map
                build, build_cpu = time.perf_counter() - t, time.process_time() - c
            index_file = Path(work) / f"{algorithm}.index"
            save_index(search, index_file)
            size = index_file.stat().st_size
            index_file.unlink()
            log(f"{algorithm}: built in {build:.1f} s ({build_cpu:.1f} s CPU), {search.index_params_}, "
                f"file {size / args.n:.1f} B/object, build peak {mem.extra_mb:.0f} MB")
            knob, values = (("nprobe", args.nprobe) if algorithm == "ivfpq" else ("ef_search", args.ef_search))
            default = search.index_params_[knob]
            for value in sorted({int(v) for v in values.split(",")} | {default}):
                search.set_params(**{knob: value})  # a query-time knob: no rebuild
                t, c = time.perf_counter(), time.process_time()
                _, ind = search.kneighbors(Q, n_neighbors=k)
                q_s, q_cpu = (time.perf_counter() - t) / args.queries, time.process_time() - c
                rows.append({"algorithm": algorithm, "setting": f"{knob}={value}" + (" (default)" if value == default
                                                                                     else ""),
                             "n": args.n, "dim": args.dim, "build_s": build, "build_cpu_s": build_cpu,
                             "build_peak_mb": mem.extra_mb, "index_bytes": size,
                             "recall_at_10": recall_at(ind, truth, k), "queries_per_s": 1 / q_s,
                             "query_cpu_s": q_cpu, "speedup_vs_exact": exact_s / q_s})
                log(f"  {knob}={value}: recall@10 {rows[-1]['recall_at_10']:.3f}, "
                    f"{1 / q_s:.0f} queries/s, {exact_s / q_s:.1f}x exact")
            del search
            _write(rows, args, started)

    table = _write(rows, args, started)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def rst_table(table: pd.DataFrame) -> str:
    """The docs' table (docs/search_at_scale.rst) from a stored rows CSV, rounded for reading."""
    cells = [["algorithm", "setting", "build (s)", "bytes/object", "recall@10", "queries/s", "x exact"]]
    for r in table.itertuples():
        cells.append([r.algorithm, "" if pd.isna(r.setting) else str(r.setting), f"{r.build_s:.1f}",
                      f"{r.bytes_per_object:.1f}", f"{r.recall_at_10:.3f}", f"{r.queries_per_s:.1f}",
                      f"{r.speedup_vs_exact:.1f}"])
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths)), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells[1:]]
    return "\n".join(lines + [rule])


def _write(rows, args, started) -> pd.DataFrame:
    """The rows as a table, also written (with meta.json) to ``--out``: after every algorithm, so a long run
    that is stopped keeps what it measured."""
    import faiss

    table = pd.DataFrame(rows)
    table["bytes_per_object"] = table["index_bytes"] / table["n"]
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / f"rows_n{args.n}.csv") as tmp:
            table.to_csv(tmp, index=False)
        meta = {"command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]), "git_commit": args.git_commit,
                "date_utc": started.isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
                           f"{platform.platform()}",
                "threads": args.threads, "faiss": faiss.__version__, "numpy": np.__version__,
                "queries": args.queries, "metric": "cosine", "k": args.k, "nice": os.nice(0),
                "load_average_1min_at_write": round(os.getloadavg()[0], 2),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "embeddings": f"{args.n_clusters} Gaussian centres, 12-d cluster subspaces, 5% isotropic noise"}
        with atomic_path(out / f"meta_n{args.n}.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
    return table


if __name__ == "__main__":
    sys.exit(main())
