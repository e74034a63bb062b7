"""The ``sklearn-ssl index`` and ``sklearn-ssl search`` commands (parsers and bodies; ``cli.py`` registers them)."""

from __future__ import annotations

import sys
import time

from ._index import ALGORITHMS


def add_parsers(sub, positive_int) -> None:
    """Add ``index`` and ``search`` to the subcommands ``sub``."""
    idx = sub.add_parser(
        "index", help="build a similarity-search index of embeddings (faiss HNSW / IVF-PQ, or exact)",
        description="Index embeddings written by 'sklearn-ssl embed' (.npy, read as a memory map a chunk at a "
                    "time; .parquet, read a record batch at a time; or .csv) for look-alike searches, and write "
                    "the index with the objects' ids to one file. Ids: the table's 'id' column, or NAME.ids.npy "
                    "beside a .npy file; else row numbers. The faiss algorithms need pip install "
                    "'sklearn-ssl[search]'.")
    idx.add_argument("--embeddings", required=True, help="embeddings file: .npy, .parquet or .csv")
    idx.add_argument("--out", required=True, help="index file to write (.index)")
    idx.add_argument("--algorithm", choices=list(ALGORITHMS), default="auto",
                     help="auto: exact below 100,000 embeddings (or without faiss), hnsw below 2,000,000, "
                          "ivfpq beyond")
    idx.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine", help="distance")
    knobs = idx.add_argument_group("index settings (default: chosen by size; see SimilaritySearch)")
    knobs.add_argument("--nlist", type=positive_int, help="ivfpq: inverted lists (default: about sqrt(n))")
    knobs.add_argument("--nprobe", type=positive_int, help="ivfpq: lists visited per query (default: nlist/128, "
                                                           "at least 8)")
    knobs.add_argument("--pq-m", type=positive_int, help="ivfpq: sub-quantizers, dividing the dimension "
                                                         "(default: about dimension/2)")
    knobs.add_argument("--pq-nbits", type=positive_int, default=8, help="ivfpq: bits per sub-quantizer code")
    knobs.add_argument("--hnsw-m", type=positive_int, default=32, help="hnsw: links per node")
    knobs.add_argument("--ef-construction", type=positive_int, default=64, help="hnsw: candidates while building")
    knobs.add_argument("--ef-search", type=positive_int, help="hnsw: candidates per query (default: 128)")
    knobs.add_argument("--training-size", type=positive_int,
                       help="ivfpq: embeddings sampled to train the quantizers (default: max(64 nlist, 9984))")
    idx.add_argument("--chunk-size", type=positive_int, default=65536, help="embeddings read and added at a time")
    idx.add_argument("--threads", type=positive_int, help="faiss threads (default: all cores)")
    idx.add_argument("--seed", type=int, default=0, help="random seed of the training sample")

    sea = sub.add_parser(
        "search", help="look-alikes of objects in an index, by id",
        description="Print the nearest neighbours (ids and distances) of indexed objects, by id, from an index "
                    "written by 'sklearn-ssl index'; each object is not its own neighbour. A faiss index is "
                    "approximate (see --nprobe / --ef-search).")
    sea.add_argument("--index", required=True, help="index file from 'sklearn-ssl index'")
    sea.add_argument("--id", required=True, action="append", dest="ids", metavar="ID",
                     help="object id to search from (repeat for several)")
    sea.add_argument("-k", "--n-neighbors", type=positive_int, default=20, help="look-alikes per object")
    sea.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    sea.add_argument("--nprobe", type=positive_int, help="ivfpq: lists visited (default: the index's)")
    sea.add_argument("--ef-search", type=positive_int, help="hnsw: candidates per query (default: the index's)")


def cmd_index(args) -> int:
    from .._io import check_output_path
    from ._search import SimilaritySearch
    from ._store import INDEX_SUFFIXES, save_index

    out = check_output_path(args.out, INDEX_SUFFIXES, "index")  # before any work
    search = SimilaritySearch(
        metric=args.metric, algorithm=args.algorithm, nlist=args.nlist, nprobe=args.nprobe, pq_m=args.pq_m,
        pq_nbits=args.pq_nbits, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search,
        training_size=args.training_size, chunk_size=args.chunk_size, n_jobs=args.threads, random_state=args.seed)
    start = time.perf_counter()
    search.fit(args.embeddings)
    built = time.perf_counter() - start
    save_index(search, out)
    settings = ", ".join(f"{k}={v}" for k, v in search.index_params_.items())
    print(f"indexed {search.n_samples_fit_} embeddings of {search.n_features_in_} features with "
          f"{search.algorithm_}{f' ({settings})' if settings else ''} in {built:.1f} s; "
          f"{'ids from the file' if search.ids_ is not None else 'no ids (row numbers are the ids)'}; "
          f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_search(args) -> int:
    from ._store import load_index

    search = load_index(args.index)
    search.set_params(**{k: v for k, v in (("nprobe", args.nprobe), ("ef_search", args.ef_search)) if v is not None})
    table = search.search(ids=args.ids, n_neighbors=args.n_neighbors)
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0
