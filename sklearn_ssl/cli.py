"""The ``sklearn-ssl`` command: demo, pretrain, embed, evaluate, convert, explore, index, search.

A thin layer over the library: it parses arguments, calls library functions and writes
outputs atomically (temporary file + :func:`os.replace`). Expected errors (bad paths,
bad arguments, invalid data) print one line ``sklearn-ssl: error: ...`` on stderr and
exit with status 1 (2 for usage errors), without a traceback (set the environment variable
``SKLEARN_SSL_DEBUG=1`` to see it). Ctrl-C (SIGINT) and SIGTERM stop a command with status
130 and 143 and one line saying how to resume; no output file is written.

Longer than the package's ~400-line guide: each subcommand's parser states every option
with its help text and the former spellings kept until 0.2; the work itself is in the
library.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

PROG = "sklearn-ssl"


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _lr(text):
    """``--lr``: "auto" (the estimator's rule, as its ``lr="auto"``) or a positive number."""
    return "auto" if text == "auto" else _positive_float(text)


class _Renamed(argparse.Action):
    """An option's former spelling: still works, with a FutureWarning naming the new one (hidden from --help)."""

    def __init__(self, option_strings, dest, *, new, const=None, nargs=None, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, nargs=nargs, const=const, default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        warnings.warn(f"{option_string} is deprecated and will be removed in sklearn-ssl 0.2; use {self.new}.",
                      FutureWarning, stacklevel=2)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def _renamed(sub, old: str, new: str, **kwargs) -> None:
    """Keep ``old`` working as ``new`` (same destination and type), with a FutureWarning."""
    action = next(a for a in sub._actions if new in a.option_strings)
    if action.required:  # argparse would demand the new spelling: _Parser checks it after parsing instead
        action.required, action.required_renamed = False, True
    sub.add_argument(old, dest=action.dest, action=_Renamed, new=new, **kwargs)


def _bands(text):
    from .io import parse_bands

    try:
        return parse_bands(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append ``(default: ...)`` to every option whose help does not state its default already."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or action.required or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows defaults; its subcommands' parsers are of this class too."""

    def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        for action in self._actions:  # a required option that may also come under its former spelling
            if getattr(action, "required_renamed", False) and getattr(namespace, action.dest, None) is None:
                self.error(f"the following arguments are required: {action.option_strings[0]}")
        return namespace, extras


_BANDS_HELP = ("bands to read from FITS cutouts, in order: comma-separated names (u,g,r,i,z or HSC-G,HSC-R) "
               "or one letter per band (ugriz) (default: every band, in the stored order)")
_ON_ERROR_HELP = "FITS cutouts that cannot be read or do not match the others: stop, or skip them with a warning"
_IMPUTE_HELP = ("fill NaN/infinite pixels with PixelImputer fitted on these images: 'local' (each image band's "
                "median), 'median' or 'mean' (each band's over all images) (default: none; such pixels are an error)")


_OVERWRITE_HELP = "replace OUT if it exists (default: an existing file is an error, checked before any work)"


def _refuse_existing(paths, overwrite: bool) -> None:
    """An existing output is replaced only with --overwrite, as the demo and save_cutouts refuse: a
    model or embeddings file is often hours of work. Checked before any work."""
    if overwrite:
        return
    existing = [str(p) for p in paths if p is not None and Path(p).exists()]
    if existing:
        raise ValueError(f"{existing[0]}: already exists; pass --overwrite to replace it, or choose another "
                         "--out.")


def _image_options(sub):
    """--bands, --on-error and --impute, shared by pretrain and embed."""
    sub.add_argument("--bands", type=_bands, help=_BANDS_HELP)
    sub.add_argument("--on-error", choices=["raise", "skip"], default="raise", help=_ON_ERROR_HELP)
    sub.add_argument("--impute", choices=["local", "median", "mean"], help=_IMPUTE_HELP)


def _parser() -> argparse.ArgumentParser:
    from . import __version__
    from .demo import DEMO_SETTINGS

    parser = _Parser(
        prog=PROG,
        description="Contrastive self-supervised learning (SimCLR / MoCo v2) for astronomical images.",
        epilog="Start with 'sklearn-ssl demo --quick'. Docs: docs/ (sphinx-build docs docs/_build).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="pretrain and evaluate on a synthetic survey; write a report",
                          description="Pretrain on the built-in synthetic survey, compare with supervised and "
                                      "raw-pixel baselines across label budgets (morphology and redshift), print "
                                      "a summary and write a Markdown + HTML report with figures.")
    dflt, quick, full = DEMO_SETTINGS["default"], DEMO_SETTINGS["quick"], DEMO_SETTINGS["full"]
    demo.add_argument("--out", default="sklearn-ssl-report", help="report folder")
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a first look in under a minute: one label subset per "
                                                           "budget, no tested findings")
    mode.add_argument("--full", action="store_true", help="the full study: 1,500 galaxies, four label budgets up "
                                                          "to the whole training split, longer CNN training "
                                                          "(about 12 minutes on 2 cores)")
    demo.add_argument("--n-samples", type=_positive_int,
                      help=f"number of synthetic galaxies (default: {dflt['n_samples']}; {quick['n_samples']} "
                           f"with --quick, {full['n_samples']} with --full)")
    demo.add_argument("--max-epochs", type=_positive_int,
                      help=f"pretraining epochs (default: {dflt['epochs']}; {quick['epochs']} with --quick, "
                           f"{full['epochs']} with --full)")
    demo.add_argument("--tune", action="store_true",
                      help="choose every row's settings by a grid search over three candidates inside each label "
                           "budget's labels (the study protocol of docs/downstream.rst); the networks then train "
                           "about 10 times as long")
    demo.add_argument("--cache", default="auto",
                      help="folder caching the catalogue features, so that a second run skips measuring them "
                           "('auto': $XDG_CACHE_HOME/sklearn-ssl or ~/.cache/sklearn-ssl; 'none': no cache)")
    _renamed(demo, "--epochs", "--max-epochs", type=_positive_int)
    demo.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--quiet", action="store_true", help="no step lines or progress bars (bars are shown only "
                                                           "on a terminal)")
    _renamed(demo, "--no-progress", "--quiet", nargs=0, const=True)

    pre = sub.add_parser("pretrain", help="pretrain a ContrastiveEmbedder on unlabelled images",
                         description="Pretrain a ContrastiveEmbedder on images and save it with joblib. The "
                                     "model file is a pickle: loading it executes code, so share and load only "
                                     "files from a trusted source.")
    pre.add_argument("--images", required=True, help="images: .npy/.npz (n, bands, H, W), a FITS file or a "
                                                     "folder of FITS cutouts")
    pre.add_argument("--key", help="array name inside an .npz file (default: 'images')")
    _image_options(pre)
    pre.add_argument("--out", required=True, help="model file to write (.joblib)")
    pre.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    hp = pre.add_argument_group("hyperparameters (see ContrastiveEmbedder)")
    hp.add_argument("--method", choices=["simclr", "moco", "byol", "simsiam"], default="simclr",
                    help="self-supervised method")
    hp.add_argument("--encoder", default="auto",
                    help="auto, small, resnet18, resnet34, resnet50. The ResNets keep the full resolution (stride-1 "
                         "stem), so memory grows with --batch-size: resnet18 on 3-band 64-px cutouts took 0.78 GiB "
                         "at batch 2 and 0.98 GiB at batch 8 (peak RSS, CPU), about 36 MiB more per image of the "
                         "batch, so about 10 GiB at the default 256: lower --batch-size where memory is short "
                         "(benchmarks/resnet18_memory.py)")
    hp.add_argument("--max-epochs", type=_positive_int, default=50, help="pretraining epochs")
    _renamed(hp, "--epochs", "--max-epochs", type=_positive_int)
    hp.add_argument("--batch-size", type=_positive_int, default=256, help="images per batch (the negatives "
                                                                           "of each positive pair)")
    hp.add_argument("--lr", type=_lr, default="auto", help="learning rate, or auto (1e-3)")
    hp.add_argument("--lr-schedule", choices=["cosine", "step", "none"], default="cosine",
                    help="cosine decay over the epochs, step (divided by 10 at 60%% and 90%% of them), or none")
    hp.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    hp.add_argument("--temperature", type=_positive_float, default=0.1, help="contrastive loss temperature")
    hp.add_argument("--projection-dim", type=_positive_int, default=128, help="output size of the "
                                                                                 "projection head")
    hp.add_argument("--queue-size", type=_positive_int, default=4096, help="MoCo only")
    hp.add_argument("--momentum", type=float, default=0.99, help="MoCo and BYOL only")
    hp.add_argument("--augmentations", default="auto", help="preset: auto, sdss (5 bands), decals (3 bands)")
    hp.add_argument("--normalize", choices=["asinh", "standard", "none"], default="asinh",
                    help="per-band scaling of the pixels")
    hp.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1")
    hp.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                    help="auto: bf16 mixed precision on GPUs that support it, else fp32")
    hp.add_argument("--compile", action="store_true", help="compile the encoder with torch.compile (pays on GPUs "
                                                           "for long runs)")
    hp.add_argument("--seed", type=int, default=0, help="random seed")
    pre.add_argument("--checkpoint-dir", help="save a checkpoint every --checkpoint-every epochs here; running "
                                              "the same command again resumes an interrupted run (default: no "
                                              "checkpoints)")
    pre.add_argument("--checkpoint-every", type=_positive_int, default=1, help="epochs between checkpoints")
    pre.add_argument("--quiet", action="store_true", help="no progress bar or loss table")

    emb = sub.add_parser("embed", help="embed images with a pretrained model",
                         description="Embed images with a model written by 'sklearn-ssl pretrain', or with a "
                                     "published PyTorch checkpoint (Hayat et al. 2021, Stein et al. 2022, a "
                                     "torchvision ResNet state dict). A model file from 'sklearn-ssl pretrain' "
                                     "is a pickle: loading it executes code, so use only files from a trusted "
                                     "source (checkpoints are read with weights_only=True).")
    emb.add_argument("--model", required=True, help="model file from 'sklearn-ssl pretrain' (a pickle: it "
                                                    "executes code when loaded; use only trusted files), or a "
                                                    "published checkpoint (.pth, .pth.tar, .ckpt, .pt)")
    emb.add_argument("--layout", choices=["auto", "hayat2021", "stein2022", "torchvision"], default="auto",
                     help="layout of a published checkpoint")
    emb.add_argument("--images", required=True, help="images (.npy/.npz/FITS file or folder)")
    emb.add_argument("--key", help="array name inside an .npz file (default: 'images')")
    _image_options(emb)
    emb.add_argument("--out", required=True, help="embeddings file: .parquet, .csv (with an id column) or .npy")
    emb.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    emb.add_argument("--device", help="torch device for embedding (default: the training device if present, "
                                      "else cpu)")
    emb.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    _add_dask_options(emb)
    _add_convert_parser(sub)
    _add_search_parsers(sub)

    ev = sub.add_parser("evaluate", help="cross-validate a simple model on embeddings for a catalogue column",
                        description="Cross-validate a classifier or regressor on embeddings against a catalogue "
                                    "column; photo-z metrics for redshifts.")
    ev.add_argument("--embeddings", required=True, help="embeddings from 'sklearn-ssl embed'")
    ev.add_argument("--catalogue", required=True, help="catalogue: .csv, FITS table, ECSV, VOTable")
    _renamed(ev, "--catalog", "--catalogue")
    ev.add_argument("--target", required=True, help="catalogue column to predict")
    ev.add_argument("--id-column", help="catalogue column holding the embeddings' ids (default: the column named "
                                        "id, objid, obj_id, object_id, source_id, ... in any case; see "
                                        "docs/cli.rst)")
    ev.add_argument("--match-by-order", action="store_true",
                    help="pair the i-th embedding with the i-th catalogue row, ignoring ids: only right if both "
                         "were written in the same order (default: match by id, never by order)")
    ev.add_argument("--task", choices=["auto", "classification", "regression", "photoz"], default="auto",
                    help="auto: classes for text or few integer values, photoz for a column named like a "
                         "redshift, else regression")
    ev.add_argument("--model", choices=["auto", "logistic", "knn", "ridge"], default="auto",
                    help="auto: logistic regression for classes, k nearest neighbours for numbers")
    ev.add_argument("--cv", type=_positive_int, default=5, help="folds")
    ev.add_argument("--threshold", type=_positive_float, default=0.05,
                    help="photo-z outlier threshold on |dz|")
    ev.add_argument("--seed", type=int, default=0, help="random seed of the folds")
    ev.add_argument("--out", help="also write the metrics table (.csv, .json or .md) (default: print only)")
    ev.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    _add_explore_parser(sub)
    return parser


def _read_images(args):
    from .io import impute_images, load_images

    images, ids, bands = load_images(args.images, key=args.key, bands=args.bands, on_error=args.on_error,
                                     return_bands=True)
    quiet = getattr(args, "quiet", False)
    if not quiet:
        print(f"read {images.shape[0]} images of shape {tuple(images.shape[1:])} (bands, height, width) "
              f"from {args.images}", file=sys.stderr)
    if args.impute:
        images, n_filled = impute_images(images, args.impute)
        if not quiet and n_filled:
            print(f"filled {n_filled} NaN/infinite pixels (PixelImputer, strategy={args.impute!r})", file=sys.stderr)
    return images, ids, bands


def cmd_pretrain(args) -> int:
    from . import ContrastiveEmbedder
    from .io import MODEL_SUFFIXES, check_output_path, save_model

    out = check_output_path(args.out, MODEL_SUFFIXES, "model")  # fail before training, not after
    _refuse_existing([out], args.overwrite)
    _check_before_training(args)
    images, _, bands = _read_images(args)
    model = ContrastiveEmbedder(
        encoder=args.encoder, method=args.method, projection_dim=args.projection_dim,
        temperature=args.temperature, queue_size=args.queue_size, momentum=args.momentum,
        augmentations=args.augmentations, normalize=None if args.normalize == "none" else args.normalize,
        batch_size=max(2, args.batch_size), max_epochs=args.max_epochs, lr=args.lr, weight_decay=args.weight_decay,
        lr_schedule=None if args.lr_schedule == "none" else args.lr_schedule, device=args.device,
        precision=args.precision, compile=args.compile, checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every, verbose=0 if args.quiet else 1, random_state=args.seed,
    )
    start = time.perf_counter()
    model.fit(images)  # Ctrl-C / SIGTERM propagate: no model file is written
    model.bands_ = bands  # embed puts images in this order (sklearn_ssl.io.to_model_bands); None: unknown
    loss = model.net_.history[-1].get("train_loss", float("nan")) if len(model.net_.history) else float("nan")
    save_model(out, model)
    print(f"pretrained {args.method} on {len(images)} images in {time.perf_counter() - start:.0f} s "
          f"(device {model.device_}, final loss {loss:.3f}); wrote {out}")
    return 0


def _check_before_training(args) -> None:
    """What can fail after hours of training, checked first: the device and the checkpoint folder."""
    from .io import check_writable_dir
    from .engine._estimator import _resolve_device

    _resolve_device(args.device)
    if args.checkpoint_dir is not None:
        folder = Path(args.checkpoint_dir)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder}: --checkpoint-dir exists and is not a folder.")
        existing = folder if folder.is_dir() else next((p for p in folder.parents if p.is_dir()), Path("."))
        check_writable_dir(existing, f"--checkpoint-dir {folder}: cannot write into {existing}")


def cmd_embed(args) -> int:
    from .io import EMBEDDING_SUFFIXES, check_output_path, load_model, save_embeddings

    out = check_output_path(args.out, EMBEDDING_SUFFIXES, "embeddings")
    _refuse_existing([out], args.overwrite)
    if out.suffix.lower() == ".parquet":
        from .io import parquet_engine

        parquet_engine()  # a missing pyarrow is reported before any work
    from .nn import is_torch_file
    from .estimators import ContrastiveEmbedder

    try:
        model = load_model(args.model, device=args.device)
    except ValueError:
        if not is_torch_file(args.model):
            raise
        model = None  # a published checkpoint: built for the images' shape once they are read
    if getattr(args, "dask", None):
        if model is None:  # a published checkpoint: its input shape is the collection's
            from .io.storage import open_images

            shape = open_images(args.images, key=args.key)[0].shape[1:]
            model = ContrastiveEmbedder.from_checkpoint(args.model, layout=args.layout, input_shape=shape,
                                                        device=args.device or "auto")
        return _embed_on_dask(args, model, out)
    images, ids, bands = _read_images(args)
    if model is not None:  # in the band order the model was trained on, or refused
        from .io import model_bands, to_model_bands

        images, note = to_model_bands(images, bands, model_bands(model), source=str(args.images))
        if note:  # shown even with --quiet: it changes what is embedded
            print(note, file=sys.stderr)
    if model is None:
        model = ContrastiveEmbedder.from_checkpoint(args.model, layout=args.layout, input_shape=images.shape[1:],
                                                    device=args.device or "auto")
    Z = model.transform(images)
    save_embeddings(out, Z, ids)
    print(f"embedded {Z.shape[0]} images into {Z.shape[1]} features; wrote {out}")
    return 0


def _add_dask_options(emb) -> None:
    emb.add_argument("--dask", metavar="SCHEDULER",
                     help="embed on a Dask cluster: a scheduler address (tcp://host:8786), a scheduler file "
                          "(.json), or 'local' / 'local:N' for a local cluster of N processes; the images must "
                          "be a .npy or HDF5 file every worker can read (default: embed in this process)")
    emb.add_argument("--chunk-size", type=_positive_int, help="images per Dask block (default: 16 batches)")


def _dask_client(spec: str):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("--dask needs dask.distributed: pip install 'sklearn-ssl[distributed]'.") from None
    if spec == "local" or spec.startswith("local:"):
        workers = _positive_int(spec.partition(":")[2] or "2")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        return Client(cluster), cluster
    if spec.endswith(".json"):
        return Client(scheduler_file=spec, timeout="30s"), None
    return Client(spec, timeout="30s"), None


def _embed_on_dask(args, model, out) -> int:
    from .io.distributed import embed

    suffix = out.suffix.lower()
    if suffix not in (".npy", ".parquet"):
        raise ValueError(f"{out}: with --dask, write .npy or .parquet (written block by block).")
    name = str(args.images).lower()
    if not name.endswith((".npy", ".h5", ".hdf5")):
        raise ValueError(f"{args.images}: with --dask, the images must be a .npy or HDF5 file that every worker "
                         "can read; convert FITS cutouts first with 'sklearn-ssl convert'.")
    from .io import model_bands

    trained = model_bands(model)
    if trained is not None and args.bands is not None and list(args.bands) != trained:
        raise ValueError(f"the model was trained on bands {','.join(trained)} (in this order) but --bands names "
                         f"{','.join(args.bands)}; with --dask the bands cannot be reordered: write the images in "
                         "the model's order (sklearn-ssl convert --bands " + ",".join(trained) + ").")
    if trained is not None and args.bands is None:
        warnings.warn(f"the model was trained on bands {','.join(trained)} (in this order), but the band names "
                      f"of {args.images} are unknown, so their order cannot be checked; pass --bands to name them.",
                      UserWarning, stacklevel=2)
    try:
        client, cluster = _dask_client(args.dask)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot connect to the Dask scheduler {args.dask!r}: {exc}") from exc
    try:
        embed(model, args.images, key=args.key, client=client, chunk_size=args.chunk_size, out=out,
              device=args.device, progress=not args.quiet)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"embedded {args.images} on Dask ({args.dask}); wrote {out}")
    return 0


def _add_convert_parser(sub) -> None:
    conv = sub.add_parser("convert", help="convert FITS cutouts or HDF5 images once to a .npy memmap",
                          description="Convert a folder of FITS cutouts, or an HDF5/FITS/.npz file, into one "
                                      ".npy file (float32, read as a memory map by pretrain and embed), a chunk "
                                      "at a time, with a progress bar. Ids go to OUT.ids.npy.")
    conv.add_argument("source", help="folder of FITS cutouts, or an .h5/.hdf5/.fits/.npz/.npy file")
    conv.add_argument("out", help=".npy file to write")
    conv.add_argument("--key", help="dataset name inside an HDF5 or .npz file (default: 'images')")
    conv.add_argument("--bands", help="bands to read from FITS cutouts, in order (e.g. gri; default: the stored "
                                      "order)")
    conv.add_argument("--layout", choices=["cube", "hdus"], default="cube",
                      help="FITS layout of each cutout (default: %(default)s)")
    conv.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                      help="'skip' leaves out unreadable cutouts, listed in a warning (default: %(default)s)")
    conv.add_argument("--chunk-size", type=_positive_int, default=1024, help="default: %(default)s")
    conv.add_argument("--quiet", action="store_true", help="no progress bar")
    conv.add_argument("--overwrite", action="store_true", help="replace OUT (and OUT.ids.npy) if they exist "
                                                               "(default: an existing file is an error)")


def cmd_convert(args) -> int:
    from .io.storage import convert_images, ids_path

    out = Path(args.out)
    _refuse_existing([out, ids_path(out) if out.name.endswith(".npy") else None], args.overwrite)
    images, ids = convert_images(args.source, args.out, key=args.key, bands=args.bands, layout=args.layout,
                                 on_error=args.on_error, chunk_size=args.chunk_size,
                                 progress=not args.quiet)
    print(f"converted {len(images)} images of shape {tuple(images.shape[1:])} (bands, height, width); wrote "
          f"{args.out}" + ("" if ids is None else " and its ids"))
    return 0


def _columns(frame, limit=25) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _align(Z, ids, catalog, args, path):
    """Embeddings and catalogue rows paired by id (:func:`~sklearn_ssl.io.match_catalogue`)."""
    from .io import match_catalogue

    Z, catalog, report = match_catalogue(Z, ids, catalog, id_column=args.id_column,
                                         match_by_order=args.match_by_order, embeddings_name=args.embeddings,
                                         catalogue_name=path)
    if report:
        print(report, file=sys.stderr)
    return Z, catalog


def cmd_evaluate(args) -> int:
    from .utils import atomic_path
    from .io import METRICS_SUFFIXES, check_output_path, load_embeddings
    from .io.cutouts import read_catalogue
    from .utils import markdown_table
    from .evaluation import evaluate_embeddings

    out = check_output_path(args.out, METRICS_SUFFIXES, "metrics") if args.out else None
    _refuse_existing([out], args.overwrite)
    Z, ids = load_embeddings(args.embeddings)
    from pathlib import Path

    if not Path(args.catalogue).exists():
        raise FileNotFoundError(f"{args.catalogue}: no such file or directory.")
    catalog = read_catalogue(args.catalogue)
    if args.target not in catalog.columns:
        raise ValueError(f"{args.catalogue}: no column {args.target!r} (columns: {_columns(catalog)}).")
    Z, catalog = _align(Z, ids, catalog, args, args.catalogue)
    y = catalog[args.target]
    missing = y.isna().to_numpy()
    if missing.any():
        print(f"dropped {int(missing.sum())} rows with no {args.target!r}", file=sys.stderr)
        Z, y = Z[~missing], y[~missing]
    table = evaluate_embeddings(Z, y.to_numpy(), task=args.task, model=args.model, cv=args.cv,
                                threshold=args.threshold, name=args.target, random_state=args.seed)
    a = table.attrs
    print(f"{args.target}: {a['task']} with {a['model']} on {a['n_samples']} objects x {Z.shape[1]} features, "
          f"{a['cv']}-fold cross-validation (baseline: predict the training prior)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if out is not None:
        with atomic_path(out) as tmp:
            suffix = out.suffix.lower()
            if suffix == ".csv":
                table.to_csv(tmp)
            elif suffix == ".json":
                table.reset_index().to_json(tmp, orient="records", indent=1)
            else:
                tmp.write_text(markdown_table(table.reset_index()) + "\n")
        print(f"wrote {out}")
    return 0


def _add_explore_parser(sub) -> None:
    exp = sub.add_parser("explore", help="write a web page to explore embeddings (opens from disk)",
                         description="Write a folder whose index.html opens from disk (no server, no internet): a "
                                     "2-D map of the embeddings coloured by any catalogue column, the cutout on "
                                     "hover, a clicked galaxy's look-alikes and rarity rank, and a lasso "
                                     "selection exported as CSV. Needs pip install 'sklearn-ssl[explore]'.")
    exp.add_argument("--embeddings", required=True, help="embeddings from 'sklearn-ssl embed' (.parquet, .csv, .npy)")
    exp.add_argument("--images", help="the images embedded (.npy/.npz/FITS file or folder), for the cutouts "
                                      "(default: none; the map without cutouts)")
    exp.add_argument("--key", help="array name inside an .npz file (default: 'images')")
    exp.add_argument("--bands", type=_bands, help=_BANDS_HELP)
    exp.add_argument("--on-error", choices=["raise", "skip"], default="raise", help=_ON_ERROR_HELP)
    exp.add_argument("--catalogue", help="catalogue whose columns colour the map (.csv, FITS table, ECSV, "
                                         "VOTable) (default: none)")
    exp.add_argument("--id-column", help="catalogue column matching the embeddings' ids (default: 'id' if present; "
                                         "else rows are matched in order)")
    exp.add_argument("--out", required=True, help="folder to write (replaced only if sklearn-ssl wrote it)")
    exp.add_argument("--projection", choices=["umap", "pca"], default="umap", help="2-D map: UMAP (cosine) or PCA")
    exp.add_argument("--neighbors", type=_positive_int, default=8, help="look-alikes shown per galaxy")
    exp.add_argument("--max-points", type=_positive_int, default=100_000,
                     help="most galaxies drawn one by one; beyond, a density map with --sample drawn on top")
    exp.add_argument("--sample", type=_positive_int, default=10_000,
                     help="galaxies drawn on top of the density map")
    exp.add_argument("--title", default="sklearn-ssl explorer", help="page title")
    exp.add_argument("--seed", type=int, default=0, help="random seed of the projection and the subsample")


def cmd_explore(args) -> int:
    from .discovery import explore
    from .io import load_embeddings, load_images

    Z, ids = load_embeddings(args.embeddings)
    images = image_ids = None
    if args.images is not None:  # a .npy stays a memory map: only the cutouts shown are read
        images, image_ids = load_images(args.images, key=args.key, bands=args.bands, on_error=args.on_error)
    out = explore(Z, images, image_ids=image_ids, out=args.out, ids=ids, catalogue=args.catalogue,
                  id_column=args.id_column, projection=args.projection, n_neighbors=args.neighbors,
                  max_points=args.max_points, n_sample=args.sample, title=args.title, random_state=args.seed)
    print(f"wrote an explorer of {len(Z)} embeddings to {out}; open {Path(out) / 'index.html'} in a browser")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    mode = "quick" if args.quick else "full" if args.full else "default"
    run_demo(out=args.out, mode=mode, n_samples=args.n_samples, epochs=args.max_epochs,
             cache=None if args.cache.lower() == "none" else args.cache,
             device=args.device, random_state=args.seed, progress=not args.quiet, tune=args.tune or None)
    _stop_workers()
    return 0


def _stop_workers() -> None:
    """Stop joblib's worker processes now (the demo ran its fits in them): left to the interpreter's
    exit, their shutdown adds seconds after the last line."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True, kill_workers=True)


def _add_search_parsers(sub) -> None:
    """``index`` and ``search``: look-alike searches in a survey's embeddings (:mod:`sklearn_ssl.discovery`)."""
    from .discovery import ALGORITHMS

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
    knobs.add_argument("--nlist", type=_positive_int, help="ivfpq: inverted lists (default: about sqrt(n))")
    knobs.add_argument("--nprobe", type=_positive_int, help="ivfpq: lists visited per query (default: nlist/128, "
                                                            "at least 8)")
    knobs.add_argument("--pq-m", type=_positive_int, help="ivfpq: sub-quantizers, dividing the dimension "
                                                         "(default: about dimension/2)")
    knobs.add_argument("--pq-nbits", type=_positive_int, default=8, help="ivfpq: bits per sub-quantizer code")
    knobs.add_argument("--hnsw-m", type=_positive_int, default=32, help="hnsw: links per node")
    knobs.add_argument("--ef-construction", type=_positive_int, default=64, help="hnsw: candidates while building")
    knobs.add_argument("--ef-search", type=_positive_int, help="hnsw: candidates per query (default: 128)")
    knobs.add_argument("--training-size", type=_positive_int,
                       help="ivfpq: embeddings sampled to train the quantizers (default: max(64 nlist, 9984))")
    idx.add_argument("--chunk-size", type=_positive_int, default=65536, help="embeddings read and added at a time")
    idx.add_argument("--threads", type=_positive_int, help="faiss threads (default: all cores)")
    idx.add_argument("--seed", type=int, default=0, help="random seed of the training sample")
    idx.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)

    sea = sub.add_parser(
        "search", help="look-alikes of objects in an index, by id",
        description="Print the nearest neighbours (ids and distances) of indexed objects, by id, from an index "
                    "written by 'sklearn-ssl index'; each object is not its own neighbour. A faiss index is "
                    "approximate (see --nprobe / --ef-search).")
    sea.add_argument("--index", required=True, help="index file from 'sklearn-ssl index'")
    sea.add_argument("--id", required=True, action="append", dest="ids", metavar="ID",
                     help="object id to search from (repeat for several)")
    sea.add_argument("-k", "--n-neighbors", type=_positive_int, default=20, help="look-alikes per object")
    sea.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    sea.add_argument("--nprobe", type=_positive_int, help="ivfpq: lists visited (default: the index's)")
    sea.add_argument("--ef-search", type=_positive_int, help="hnsw: candidates per query (default: the index's)")


def cmd_index(args) -> int:
    from .discovery import INDEX_SUFFIXES, SimilaritySearch, save_index
    from .io import check_output_path

    out = check_output_path(args.out, INDEX_SUFFIXES, "index")  # before any work
    _refuse_existing([out], args.overwrite)
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
    from .discovery import load_index

    search = load_index(args.index)
    search.set_params(**{k: v for k, v in (("nprobe", args.nprobe), ("ef_search", args.ef_search)) if v is not None})
    table = search.search(ids=args.ids, n_neighbors=args.n_neighbors)
    if args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0


_COMMANDS = {"demo": cmd_demo, "pretrain": cmd_pretrain, "embed": cmd_embed, "evaluate": cmd_evaluate,
             "convert": cmd_convert, "explore": cmd_explore, "index": cmd_index, "search": cmd_search}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, OSError) and exc.strerror:  # our own messages: no "[Errno N]" prefix
        text = exc.strerror
    return " ".join(text.split())


#: Library advice (keyword arguments, classes) -> the command-line option that does the same.
_CLI_ADVICE = (
    ("pass on_error='skip'", "pass --on-error skip"),
    ("e.g. with sklearn_ssl.PixelImputer in front of the estimator in a Pipeline",
     "e.g. with --impute local (or median, mean)"),
    ("pass bands=[...] to fix one order", "pass --bands to fix one order"),
    ("pass bands=[...] (command line: --bands u,g,r,i,z)", "pass --bands (e.g. --bands u,g,r,i,z)"),
)


def _cli_wording(text: str) -> str:
    """Word the library's advice as command-line options."""
    for library, command_line in _CLI_ADVICE:
        text = text.replace(library, command_line)
    return text


def _showwarning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (clean up, write nothing) but exiting with 143."""


def _terminate(signum, frame):
    raise _Terminated


def _interrupted(exc: KeyboardInterrupt, args) -> int:
    """Print one line saying what happened and how to resume; return 143 (SIGTERM) or 130 (SIGINT)."""
    terminated = isinstance(exc, _Terminated)
    how = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
    saved = args.command == "pretrain" and args.checkpoint_dir and os.path.exists(
        os.path.join(args.checkpoint_dir, "checkpoint.pt"))
    if saved:
        hint = (f"; the last checkpoint is in {args.checkpoint_dir}: run the same command again to resume "
                "from it")
    elif args.command == "pretrain" and args.checkpoint_dir:
        hint = "; no epoch had finished, so there is no checkpoint yet: run the same command again to start"
    elif args.command == "pretrain":
        hint = "; run it again with --checkpoint-dir DIR to make it resumable"
    else:
        hint = "; run the same command again"
    print(f"\n{PROG}: {how}; no output was written{hint}", file=sys.stderr)
    return 143 if terminated else 130


def main(argv=None) -> int:
    """Run the command line; returns the exit status (also used by the console script)."""
    warnings.showwarning = _showwarning  # before parsing: a renamed option warns there
    try:  # building the parser imports the library (torch, astropy): seconds in which Ctrl-C may come
        args = _parser().parse_args(argv)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted (Ctrl-C) while starting; no output was written", file=sys.stderr)
        return 130
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None  # clean up as for Ctrl-C
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        return _interrupted(exc, args)
    except (ValueError, OSError, ImportError, MemoryError, FloatingPointError) as exc:
        if os.environ.get("SKLEARN_SSL_DEBUG"):
            raise
        print(f"{PROG}: error: {_cli_wording(_one_line(exc))}", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
