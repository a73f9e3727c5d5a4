import itertools

import numpy as np
import pytest

from nws_datasets.architecture import Layout, layers_for
from nws_datasets.space import (ARCHITECTURE_KEYS, CONFIGS, FIXED_ARCHITECTURE, HP, HYPERPARAMETERS, TARGETS,
                                get_config, labels_of, sample_hparams, training_seed)


def all_architectures():
    for values in itertools.product(*(HP[k].options for k in ARCHITECTURE_KEYS)):
        yield dict(zip(ARCHITECTURE_KEYS, values))


def test_fixed_architecture_weight_counts():
    layout = Layout.for_hparams(FIXED_ARCHITECTURE)
    assert layout.n_weights == 92_868
    assert layout.n_conv_weights == 16_880
    assert layout.n_weights - layout.n_conv_weights == 75_988


def test_all_243_architectures_span_the_paper_range():
    counts = [Layout.for_hparams(a).n_weights for a in all_architectures()]
    assert len(counts) == 243
    assert min(counts) == 21_260 and max(counts) == 388_172


def test_layer_counts_follow_algorithm_1():
    for a in all_architectures():
        layers = layers_for(a)
        assert sum(l.kind == "conv" for l in layers) == a["conv_depth"]
        assert sum(l.kind == "fc" for l in layers) == a["fc_depth"]
        assert sum(l.pool for l in layers) == 3
        assert layers[-1].out_size == 20 and not layers[-1].batch_norm
        convs = [l for l in layers if l.kind == "conv"]
        assert convs[-1].out_size == a["conv_width"]
        fcs = [l for l in layers if l.kind == "fc"]
        assert fcs[0].in_size == 4 * 4 * a["conv_width"]
        assert [l.out_size for l in fcs[:-1]] == [a["fc_width"] // 2 ** i for i in range(a["fc_depth"] - 1)]


def test_table_1_exact():
    assert [h.name for h in HYPERPARAMETERS] == [
        "dataset", "learning_rate", "batch_size", "augmentation", "optimizer", "activation", "initialization",
        "filter_size", "conv_depth", "fc_depth", "conv_width", "fc_width"]
    assert HP["dataset"].options == ("mnist", "cifar10", "svhn", "stl10", "fashion_mnist")
    assert (HP["learning_rate"].low, HP["learning_rate"].high) == (0.0002, 0.005)
    assert HP["batch_size"].options == (32, 64, 128, 256)
    assert len(HP["optimizer"].options) == 3 and len(HP["activation"].options) == 4
    assert len(HP["initialization"].options) == 4
    assert FIXED_ARCHITECTURE == {"filter_size": 5, "conv_depth": 3, "fc_depth": 3, "conv_width": 32, "fc_width": 128}
    assert len(TARGETS) == 11


def test_sampler_is_a_pure_function_of_config_model_and_seed():
    c = CONFIGS["c_main"]
    forward = [sample_hparams(c, m, 0) for m in range(50)]
    backward = [sample_hparams(c, m, 0) for m in reversed(range(50))][::-1]
    assert forward == backward
    assert forward != [sample_hparams(c, m, 1) for m in range(50)]
    assert training_seed(c, 3, 0) == training_seed(c, 3, 0) != training_seed(c, 4, 0)


def test_sampler_covers_the_space_and_respects_the_fixed_architecture():
    c = CONFIGS["c_main"]
    draws = [sample_hparams(c, m) for m in range(2000)]
    for h in HYPERPARAMETERS:
        values = {d[h.name] for d in draws}
        if h.categorical:
            assert values == set(h.options), h.name
        else:
            assert h.low <= min(values) and max(values) <= h.high
    for m in range(200):
        hp = sample_hparams(CONFIGS["c_fixed"], m)
        assert {k: hp[k] for k in ARCHITECTURE_KEYS} == FIXED_ARCHITECTURE
        assert hp["dataset"] in HP["dataset"].options
    mini = {sample_hparams(CONFIGS["c_fixed_mini"], m)["dataset"] for m in range(100)}
    assert mini == set(CONFIGS["c_fixed_mini"].sources)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_split_by_model_keeps_the_proportion_in_every_shard(name):
    c = CONFIGS[name]
    splits = [c.split_of(m) for m in range(c.num_models)]
    assert splits.count("train") == c.num_train_models
    for s in range(c.num_shards):
        ids = c.model_ids(s)
        frac = sum(c.split_of(m) == "train" for m in ids) / len(ids)
        assert abs(frac - c.num_train_models / c.num_models) <= 1.0 / len(ids) + 1e-9


def test_paper_config_sizes():
    assert (CONFIGS["c_main"].num_models, CONFIGS["c_main"].num_train_models) == (13000, 10000)
    assert (CONFIGS["c_fixed"].num_models, CONFIGS["c_fixed"].num_train_models) == (3000, 2000)
    with pytest.raises(ValueError, match="c_fixed_mini"):
        get_config("c_fixd")


def test_labels_index_the_full_option_lists():
    c = CONFIGS["c_fixed"]
    hp = sample_hparams(c, 0)
    labels = labels_of(c, hp)
    for k, v in labels.items():
        assert c.label_names(k)[v] == str(hp[k])
    assert c.label_names("filter_size") == ["3", "5", "7"]
    assert labels["filter_size"] == 1


@pytest.mark.parametrize("sibling", ["c_fixed_cpu", "c_fixed_mini"])
def test_a_holdout_config_draws_test_models_of_its_siblings_space_independently(sibling):
    sib, hold = CONFIGS[sibling], CONFIGS[sibling + "_holdout"]
    assert {hold.split_of(m) for m in range(hold.num_models)} == {"test"}
    assert (hold.sources, hold.fixed_architecture, hold.profile) == (sib.sources, sib.fixed_architecture, sib.profile)
    n = min(hold.num_models, sib.num_models)
    pairs = [(sample_hparams(sib, m), sample_hparams(hold, m)) for m in range(n)]
    # the same fixed architecture, but other draws of every free hyper-parameter
    assert all({k: b[k] for k in ARCHITECTURE_KEYS} == FIXED_ARCHITECTURE for _, b in pairs)
    assert sum(a["initialization"] == b["initialization"] for a, b in pairs) < 0.5 * n
    assert all(a["learning_rate"] != b["learning_rate"] for a, b in pairs)
    # and the same options: every value of the sibling's categorical draws shows up in the holdout's
    for key in ("dataset", "optimizer", "activation", "initialization", "batch_size", "augmentation"):
        assert {b[key] for _, b in pairs} == {a[key] for a, _ in pairs}
