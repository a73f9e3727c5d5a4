"""The meta-classifier recipe of the paper (Sec. 5, App. E–F), each fact defined once.

Every method, the evaluation loop and the command lines read these constants; the method
names live in the registry (:mod:`metaclf.methods`). Nothing here imports a heavy library, so
command lines can show every default before they load one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
#: (a class of one converged model would leave one training model per class). The paper's NWS,
#: with thousands of models, never meets this; results list the classes left out.
MIN_CLASS_MODELS = 10
#: Accuracy from weights (beyond the paper; the Small CNN Zoo's task): real-valued targets of
#: every snapshot, predicted from its θ.
ACCURACY_TARGETS = {"test_accuracy": "test accuracy of the snapshot",
                    "generalization_gap": "train − test accuracy of the snapshot (train: a fixed training subset, "
                                          "inference mode)"}
#: Model selection (``tune``): folds of the cross-validation over training models, grouped by
#: model, and the grid of each estimator's hyper-parameters (γ in units of 1/features, the
#: ``gamma="scale"`` of standardized features).
CV_FOLDS = 5
GRIDS: dict[str, dict[str, list]] = {
    "linear": {"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
    "rbf": {"C": [0.1, 1.0, 10.0, 100.0], "gamma": [0.1, 1.0, 10.0]},
    "gbm": {"max_depth": [2, 4, 8], "learning_rate": [0.03, 0.1, 0.3]},
}
#: The weights a local window may cover.
PARTS: tuple[str, ...] = ("all", "conv", "fc")
#: Uncertainty: two-sided confidence level and bootstrap replicates over test models and rounds.
CONFIDENCE = 0.95
BOOTSTRAP_REPLICATES = 2000

# --- the DMCs (Table 3, App. F) -------------------------------------------------------------
#: mini-batch size of DMC training, and the size of the test batches of ``test-batch`` BN
DMC_BATCH_SIZE = 64
#: mini-batches of training inputs that estimate BatchNorm's population statistics (precise BN)
BN_BATCHES = 100
#: how a DMC's BatchNorm normalizes at evaluation → what it is. Only ``population`` looks at no
#: test input; the other two are transductive and are labelled so wherever they are reported.
BN_STATS = {"population": "population statistics from training inputs (precise BN; ours)",
            "test-batch": "each shuffled mini-batch of test inputs by its own statistics (the authors' code; "
                          "transductive)",
            "test-population": "population statistics of the test inputs, then each input alone (AdaBN; "
                               "transductive, beyond the paper)"}
#: the normalization layers of a DMC → what they are
NORMS = {"batch": "BatchNorm (the paper)",
         "layer": "per-input normalization (GroupNorm with one group in the conv layers, LayerNorm in the FC "
                  "layers): every window is classified alone, in training as at evaluation (beyond the paper)"}


@dataclass(frozen=True)
class DMCProfile:
    """Width and schedule of DMC training: the paper's, or a CPU-sized ``mini`` one.

    The schedule is ``*_steps`` optimizer steps if set, else ``*_epochs`` passes over the
    training set (the paper's unit).
    """

    name: str
    width: float = 1.0  #: multiplier of the conv channel counts
    fc: int = 1024  #: width of the hidden FC layers (the last hidden one is 64)
    local_epochs: int | None = 500
    global_epochs: int | None = 100
    local_steps: int | None = None
    global_steps: int | None = None
    eval_positions: int = 20  #: window positions per test record at evaluation
    #: dropout of the FC layers; 0.5 slows the mini profile's 8× narrower FC layers several-fold
    dropout: float = 0.5

    def steps(self, kind: str, n_train: int, batch_size: int = DMC_BATCH_SIZE) -> int:
        """Optimizer steps of a ``kind`` ('local' or 'global') DMC on ``n_train`` records."""
        steps, epochs = getattr(self, f"{kind}_steps"), getattr(self, f"{kind}_epochs")
        return steps if steps is not None else epochs * max(1, math.ceil(n_train / batch_size))


#: the paper's profile, and ``mini``: 1/8 of the channels (none narrower than 8), FC width 128,
#: dropout 0.2, and a schedule in steps so that a small NWS still trains thousands of them
DMC_PROFILES = {
    "paper": DMCProfile("paper"),
    "mini": DMCProfile("mini", width=0.125, fc=128, local_epochs=None, global_epochs=None, local_steps=2000,
                       global_steps=400, eval_positions=10, dropout=0.2),
}
