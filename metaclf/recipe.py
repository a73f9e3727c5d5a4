"""The meta-classifier recipe of the paper (Sec. 5, App. E–F), each fact defined once.

Every method, the evaluation loop and the command lines read these constants; the method
names live in the registry (:mod:`metaclf.methods`).
"""
from __future__ import annotations

#: Snapshots a method trains and is tested on: the last 4 for whole-θ methods (global and
#: layer-wise features, global DMC), the last 2 for local windows (local features, local DMC).
GLOBAL_SNAPSHOTS: tuple[int, ...] = (-4, -3, -2, -1)
LOCAL_SNAPSHOTS: tuple[int, ...] = (-2, -1)
SNAPSHOTS: dict[str, tuple[int, ...]] = {"global": GLOBAL_SNAPSHOTS, "layerwise": GLOBAL_SNAPSHOTS,
                                         "local": LOCAL_SNAPSHOTS}
#: S, the number of consecutive weights in a local window.
SUBSET_SIZE = 5000
#: Fixed random windows per θ for the local SVM features.
LOCAL_FEATURE_WINDOWS = 10
#: Independent class-balanced training rounds of the SVMs (the paper's 10); a DMC trains once.
SVM_ROUNDS = 10
DMC_ROUNDS = 1
#: A class with fewer converged training models than this is left out of training and testing
#: (when at least two classes have that many; a tiny NWS keeps every class):
#: balancing by subsampling to the smallest class would otherwise shrink every class to its size
#: (on c_fixed_cpu, 1 converged constant-initialized model would leave 4 training models). The
#: paper's NWS, with thousands of models, never meets this; results list the classes left out.
MIN_CLASS_MODELS = 10
#: The weights a local window may cover.
PARTS: tuple[str, ...] = ("all", "conv", "fc")
#: Uncertainty: two-sided confidence level and bootstrap replicates over test models and rounds.
CONFIDENCE = 0.95
BOOTSTRAP_REPLICATES = 2000
