"""PyTorch recipes for the NWS: ``python examples/pytorch_recipes.py [--config C] [--data-dir DIR]``.

Three things users otherwise get wrong, in one runnable script that prints one JSON line:

1. Streaming with a shuffle buffer across models. A model file holds 20 consecutive records
   (its snapshots), so an unshuffled stream gives batches of one model; ``shuffle`` with a
   buffer of many records mixes models within a batch.
2. A ``DataLoader`` with several workers over the streaming dataset: ``datasets`` hands each
   worker its own model files, so every record arrives exactly once.
3. Turning a record back into the CNN it came from and evaluating it on the images it was
   evaluated on when it was generated.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import torch
from torch.utils.data import DataLoader

import nws_datasets
from nws_datasets.cnn import accuracy, model_from_record
from nws_datasets.sources import load_images
from nws_datasets.space import CONFIGS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="c_fixed_mini")
    p.add_argument("--data-dir", help="NWS root (default: $NWS_HOME or ~/.cache/nws)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    # 1. shuffle across models: a buffer of many records, reshuffled each epoch with set_epoch
    stream = nws_datasets.load(args.config, split="train", data_dir=args.data_dir, streaming=True)
    shuffled = stream.shuffle(seed=0, buffer_size=1000).with_format("torch")
    first = next(iter(DataLoader(shuffled, batch_size=args.batch_size)))
    plain = next(iter(DataLoader(stream.with_format("torch"), batch_size=args.batch_size)))

    # 2. several workers: each reads its own model files; no record twice, none missing
    seen = Counter()
    columns = stream.select_columns(["model_id", "snapshot"]).with_format("torch")
    for batch in DataLoader(columns, batch_size=args.batch_size, num_workers=args.workers):
        seen.update(zip(batch["model_id"].tolist(), batch["snapshot"].tolist()))

    # 3. a record back as a model, evaluated on its stored evaluation images
    record = next(iter(stream))
    model = model_from_record(record)
    images = load_images(stream.features["dataset"].int2str(record["dataset"]))
    n = CONFIGS[args.config].profile.test_images  # the profile's evaluation images (None: all)
    acc = accuracy(model, torch.from_numpy(images.x_test[:n]), torch.from_numpy(images.y_test[:n]))

    print(json.dumps({
        "models_in_first_shuffled_batch": len(set(first["model_id"].tolist())),
        "models_in_first_unshuffled_batch": len(set(plain["model_id"].tolist())),
        "weights_shape": list(first["weights"].shape),
        "records_seen_by_workers": sum(seen.values()), "distinct_records": len(seen),
        "rebuilt_test_accuracy": acc, "stored_test_accuracy": float(record["test_accuracy"]),
    }))


if __name__ == "__main__":
    main()
