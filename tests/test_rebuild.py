"""A record turns back into the network it came from: rebuilt models give back the stored accuracies.

Two rebuilds of every snapshot of every model of a small generated NWS, read through
``load_dataset``: the public :func:`nws_datasets.cnn.model_from_record`, and a second,
functional implementation written here from docs/design.md's rules (conv + bias → BN → activation
→ pool; NHWC flatten; FC + bias → activation → BN; BN in inference with ε 1e-5). Both must
reproduce the stored test accuracy exactly on the stored evaluation images.
"""
import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import load_dataset

import nws_datasets  # noqa: F401 - registers "nws"
from nws_datasets.architecture import Layout, layers_for
from nws_datasets.cnn import accuracy, model_from_record
from nws_datasets.records import read_index, read_model
from nws_datasets.sources import load_images
from nws_datasets.space import CONFIGS, HP

ACT = {"relu": torch.relu, "elu": F.elu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def independent_logits(theta: np.ndarray, hparams: dict, images: np.ndarray) -> torch.Tensor:
    t = {k: torch.from_numpy(np.array(v)) for k, v in Layout.for_hparams(hparams).unflatten(theta).items()}
    x = torch.from_numpy(images).double().permute(0, 3, 1, 2) / 255.0
    act = ACT[hparams["activation"]]

    def bn(z, name):
        shape = (1, -1) + (1,) * (z.ndim - 2)
        mean, var = t[f"{name}.bn_mean"].view(shape), t[f"{name}.bn_var"].view(shape)
        return (z - mean) / torch.sqrt(var + 1e-5) * t[f"{name}.bn_gamma"].view(shape) + t[f"{name}.bn_beta"].view(shape)

    for layer in layers_for(hparams):
        w, b = t[f"{layer.name}.weight"].double(), t[f"{layer.name}.bias"].double()
        if layer.kind == "conv":
            x = act(bn(F.conv2d(x, w, b, padding=layer.kernel // 2), layer.name))
            x = F.max_pool2d(x, 2) if layer.pool else x
        else:
            if x.ndim == 4:
                x = x.permute(0, 2, 3, 1).reshape(len(x), -1)  # TensorFlow's (h, w, c)
            x = x @ w.T + b
            x = bn(act(x), layer.name) if layer.batch_norm else x
    return x


def test_every_combination_reproduces_its_stored_test_accuracy(tiny_nws):
    config = CONFIGS["c_fixed_mini"]
    metas = {}
    for sdir in sorted((tiny_nws / "c_fixed_mini").glob("shard-*")):
        for m in read_index(sdir)["models"]:
            if m["status"] == "done":
                metas[m["model_id"]] = read_model((sdir / m["file"]).read_bytes())[1]
    combos, checked = set(), 0
    for split in ("train", "test"):
        ds = load_dataset("nws", "c_fixed_mini", data_dir=str(tiny_nws), split=split)
        for rec in ds:
            meta = metas[rec["model_id"]]
            hp = meta["hparams"]
            ev = meta["evaluation"]
            src = load_images(hp["dataset"])
            x, y = src.x_test[: ev["test_images"]], src.y_test[: ev["test_images"]]
            digest = hashlib.sha256(x.tobytes())
            digest.update(y.astype(np.int64).tobytes())
            assert digest.hexdigest() == ev["test_sha256"]  # the stored evaluation images
            stored = rec["test_accuracy"]
            model = model_from_record(rec)
            assert accuracy(model, torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(stored, abs=1e-7)
            logits = independent_logits(np.asarray(rec["weights"], np.float32), hp, x)
            assert (logits.argmax(1).numpy() == y).mean() == pytest.approx(stored, abs=1e-7)
            combos.add((hp["optimizer"], hp["activation"], hp["initialization"]))
            checked += 1
    assert checked == 20 * len(metas) == 120
    assert len(combos) >= 3, combos  # several optimizer × activation × initialization settings
    assert {h for h, _, _ in combos} <= set(HP["optimizer"].options)
    assert metas and all(m["protocol"]["batch_norm"]["eps"] == 1e-5 for m in metas.values())
    assert config.profile.test_images == 300
