"""Statistics of one generated config, to compare two builds: ``python docs/buildstats.py DIR``.

DIR is ``<out>/<config>`` of ``train.generate``. Prints one JSON line: models, stop reasons,
converged models per split and per initialization, the sum of the models' training times, and
a θ digest: sha256 over ``model_id:sha256(tensors)`` of every model in file order, where
``sha256(tensors)`` runs over each tensor name and its float32 bytes in name order. Metadata
(wall times, versions) is left out, so two builds with the same weights have the same digest.
"""
import collections
import glob
import hashlib
import json
import sys

from safetensors import safe_open


def main(root: str) -> dict:
    files = sorted(glob.glob(f"{root}/shard-*/model-*.safetensors"))
    stops, converged = collections.Counter(), collections.Counter()
    by_init: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    wall, digest = 0.0, hashlib.sha256()
    for f in files:
        with safe_open(f, "np") as h:
            meta = json.loads(h.metadata()["nws"])
            inner = hashlib.sha256()
            for k in sorted(h.keys()):
                inner.update(k.encode())
                inner.update(h.get_tensor(k).tobytes())
        digest.update(f"{meta['model_id']}:{inner.hexdigest()}".encode())
        stops[meta["stop_reason"]] += 1
        wall += meta["wall_time_s"]
        converged[meta["split"]] += meta["converged"]
        by_init[meta["hparams"]["initialization"]][0] += meta["converged"]
        by_init[meta["hparams"]["initialization"]][1] += 1
    return {"models": len(files), "stop_reasons": dict(stops), "converged": dict(converged),
            "converged_total": sum(converged.values()), "converged_of_models_by_initialization": dict(by_init),
            "sum_model_wall_s": round(wall), "theta_digest": digest.hexdigest()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(main(sys.argv[1])))
