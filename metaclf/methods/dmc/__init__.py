"""Deep meta-classifiers (DMCs, Sec. 5.2, App. F), by concern: the networks of Table 3
(:mod:`.network`), how BatchNorm evaluates (:mod:`.batchnorm`), the training loop
(:mod:`.training`) and the estimators (:mod:`.estimators`)."""
from .batchnorm import precise_bn, predict_proba, set_bn_to_batch_means
from .estimators import GlobalDMC, LocalDMC
from .network import DMC, PairMaxPool, global_dmc, local_conv_spec, local_dmc, n_weights
from .training import train

__all__ = ["DMC", "GlobalDMC", "LocalDMC", "PairMaxPool", "global_dmc", "local_conv_spec", "local_dmc", "n_weights",
           "precise_bn", "predict_proba", "set_bn_to_batch_means", "train"]
