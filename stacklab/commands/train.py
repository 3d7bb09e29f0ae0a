"""`stacklab train`: Ray Train data-parallel MNIST (part ray_train/)."""

from __future__ import annotations

import argparse

from stacklab.commands.common import positive_int


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a positive finite number")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a CNN on MNIST with Ray Train (data parallel, CPU)")
    parser.add_argument("--workers", type=positive_int, default=2, help="training workers (ranks)")
    parser.add_argument("--cpus-per-worker", type=positive_int, default=1,
                        help="CPUs reserved per worker; also its torch thread count")
    parser.add_argument("--placement", default="PACK", choices=["PACK", "SPREAD"],
                        help="placement of the workers: PACK fills a node first, SPREAD one per node")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="total epochs, counting resumed ones (default 5; 2 with --smoke-test)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="images per batch per worker")
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--data", default="auto",
                        help="MNIST IDX directory, 'mnist10k' (real 10,000-digit subset), 'fashion-mnist' "
                             "(full size, Debian), 'standin', or 'auto' (default)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster (auto, HEAD:6379, ray://HEAD:10001); default: a local Ray, "
                             "or the cluster when run by `ray job submit`")
    parser.add_argument("--storage", default=None,
                        help="checkpoint storage every node can reach: a directory or s3:// URI "
                             "(default $STACKLAB_STORAGE, else <out>/checkpoints)")
    parser.add_argument("--name", default=None, help="run name in storage (default mnist-<timestamp>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the latest (or --name) run from its last checkpoint")
    parser.add_argument("--max-failures", type=int, default=2,
                        help="worker-group restarts from the last checkpoint after a crash")
    parser.add_argument("--keep-checkpoints", type=positive_int, default=2)
    parser.add_argument("--gloo-ifname", default=None,
                        help="network interface for Gloo on every node (default: the one holding "
                             "each node's Ray IP)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke-test", action="store_true", help="tiny run for CI (1,500 images)")
    parser.add_argument("--out", default=None, help="results directory (default results/ray_train)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stacklab.mnist.train import TrainSettings, run_training

    fields = {k: v for k, v in vars(args).items() if k in TrainSettings.__dataclass_fields__ and v is not None}
    settings = TrainSettings.smoke(**fields) if args.smoke_test else TrainSettings(**fields)
    summary = run_training(settings)
    final = summary["final"]
    print(f"test accuracy {final['test_accuracy']:.4f} after epoch {final['epoch']} on "
          f"{len(summary['ranks'])} worker(s) / {len(summary['nodes'])} node(s) in {summary['wall_seconds']:.1f} s")
    print(f"checkpoint: {summary['checkpoint']}")
    print(f"results: {args.out or 'results/ray_train'}/train.json")
    return 0
