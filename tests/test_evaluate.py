"""The one evaluation loop: scoring worked by hand, every method on synthetic data, ensembles, pooled test sets."""
import json

import numpy as np
import pytest

from metaclf.data import WeightSet
from metaclf.spec import RunSpec
from nws_datasets.architecture import Layout
from nws_datasets.space import FIXED_ARCHITECTURE


def run(method, config, target, *, data_dir=None, checkpoint=None, splits=None, return_estimators=False, **fields):
    """:func:`metaclf.evaluate.evaluate` of the run ``RunSpec(method, config, target, **fields)``."""
    import metaclf.evaluate as ev

    return ev.evaluate(RunSpec(method, config, target, **fields), data_dir=data_dir, checkpoint=checkpoint,
                       splits=splits, return_estimators=return_estimators)


def test_score_counts_every_window_balanced_over_classes_and_labels_the_per_model_vote():
    """Worked by hand: 2 positions × 4 records; records 0–1 are model 0 (class a), 2 model 1 (b),
    3 model 2 (b). Windows right: a 3 of 4 (0.75), b 2 of 4 (0.5) → 0.625 (plain accuracy is
    5/8 too, the classes having as many windows). Per model: model 0 sums to (2.8, 1.2) right; model 1 (0.5, 1.5)
    right; model 2 (1.55, 0.45) wrong → a 1/1, b 1/2 → balanced 0.75, where plain would say 2/3."""
    from metaclf.evaluate import score

    probs = np.array([[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]],
                      [[0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.95, 0.05]]])
    out = score([probs], np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2]), ["a", "b"], seed=0)
    assert out["accuracy_mean"] == pytest.approx(0.625) and out["accuracy_std"] == 0
    assert out["per_model"]["accuracy_mean"] == pytest.approx(0.75)
    assert out["chance"] == out["per_model"]["chance"] == 0.5
    assert np.asarray(out["confusion_matrix"]).tolist() == [[3, 1], [2, 2]]
    assert out["ci95_rounds"] is None  # one round: no interval over rounds
    assert out["ci95"][0] <= 0.625 <= out["ci95"][1]


def test_bootstrap_interval_matches_the_binomial_one():
    """A classifier right with probability 0.7 on each of 2 × 300 single-window test models:
    the 95% interval over test models must be close to the normal-approximation binomial
    interval 0.7 ± 1.96·sqrt(0.7·0.3/600) (± 0.037), worked out independently of the code."""
    from metaclf.evaluate import score

    rng = np.random.default_rng(1)
    n = 600
    labels = np.repeat([0, 1], n // 2)
    right = rng.random(n) < 0.7
    pred = np.where(right, labels, 1 - labels)
    probs = np.eye(2)[pred][None]  # [1 window, n, 2]
    out = score([probs], labels, np.arange(n), ["x", "y"], seed=0)
    half = 1.96 * np.sqrt(0.7 * 0.3 / n)
    lo, hi = out["ci95_test_models"]
    assert hi - lo == pytest.approx(2 * half, rel=0.15)
    assert lo < out["accuracy_mean"] < hi and lo < 0.7 < hi
    # more rounds that disagree widen the interval that resamples rounds, not the per-round one
    other = np.eye(2)[np.where(rng.random(n) < 0.5, labels, 1 - labels)][None]
    two = score([probs, other], labels, np.arange(n), ["x", "y"], seed=0)
    assert two["ci95"][1] - two["ci95"][0] > hi - lo and two["ci95_rounds"] is not None


SMALLEST_ARCHITECTURE = {"filter_size": 3, "conv_depth": 3, "fc_depth": 3, "conv_width": 16, "fc_width": 64}


def _synthetic(n_models: int, snapshots: int, separable: bool, seed: int):
    """Fixed-architecture records whose class-1 models have weights 3× larger (if ``separable``)."""
    from nws_datasets.architecture import Layout

    layout = Layout.for_hparams(SMALLEST_ARCHITECTURE)  # 21,260 weights: a fast global DMC
    rng = np.random.default_rng(seed)
    model_labels = np.arange(n_models) % 2
    rows = np.repeat(np.arange(n_models), snapshots)
    scale = np.where((model_labels[rows] == 1) & separable, 3.0, 1.0)
    w = (rng.standard_normal((len(rows), layout.n_weights)) * 0.05 * scale[:, None]).astype(np.float32)
    lr = rng.uniform(0.0002, 0.005, len(rows))
    hp = {"learning_rate": lr, **{k: rng.integers(0, 2, len(rows)) for k in
                                  ("dataset", "batch_size", "augmentation", "optimizer", "activation",
                                   "initialization", "filter_size", "conv_depth", "fc_depth", "conv_width",
                                   "fc_width")}}
    return WeightSet(w, np.full(len(rows), 15_000), model_labels[rows], rows + 1000 * seed,
                     np.tile(np.arange(snapshots), n_models), json.dumps(layout.table()), hp)


@pytest.mark.parametrize("separable", [True, False])
def test_every_method_reads_a_separable_target_and_none_reads_noise(monkeypatch, separable):
    """Through the one evaluation loop, every weight-space method must score ≥ 0.9 when the
    target scales the weights, and stay near chance (its CI covering 0.5) when nothing does;
    the confound baseline, which never sees weights, stays near chance either way."""
    import metaclf.evaluate as ev

    def fake_load(config, split, target, snapshots, data_dir=None, converged_only=True, min_classes=2):
        return _synthetic(24 if split == "train" else 16, len(snapshots), separable, seed=0 if split == "train" else 1)

    monkeypatch.setattr(ev, "load_split", fake_load)
    fast = {"dmc-local": {"steps": 60, "subset_size": 500}, "dmc-global": {"steps": 100},
            "svm-linear-local": {"subset_size": 500}, "svm-rbf-local": {"subset_size": 500}}
    methods = ("svm-linear-global", "svm-rbf-global", "svm-linear-layerwise", "svm-linear-local", "svm-rbf-local",
               "dmc-local", "hparams-baseline")
    for method in methods + (("dmc-global",) if separable else ()):
        res = run(method, "c_fixed_mini", "augmentation", rounds=2 if method.startswith("svm") else 1,
                  **fast.get(method, {}))
        assert res["test"]["models"] == 16 and res["chance"] == 0.5
        if method == "hparams-baseline" or not separable:
            assert res["ci95"][0] <= 0.5 + 1e-9 or res["accuracy_mean"] < 0.75, (method, res["accuracy_mean"])
        else:
            assert res["accuracy_mean"] >= 0.9, (method, res["accuracy_mean"])


def test_estimators_follow_the_scikit_learn_api():
    from sklearn.base import clone

    from metaclf.methods import METHODS, make

    x = np.random.default_rng(0).standard_normal((40, 300)).astype(np.float32)
    y = np.arange(40) % 2
    x[y == 1] *= 3
    for name in METHODS:
        est = make(name)
        assert clone(est).get_params() == est.get_params()  # parameters live in __init__
    svm = make("svm-linear-global").fit(x, y)  # a bare weight matrix works as input
    assert svm.score(x, y) == 1.0 and svm.predict(x).tolist() == y.tolist()
    proba = svm.predict_proba(x)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    dmc = make("dmc-local", subset_size=100, steps=200).fit(x, y)
    assert dmc.window_scores(x).shape == (10, 40, 2) and dmc.score(x, y) >= 0.9
    with pytest.raises(ValueError, match="unknown method 'svm-magic'"):
        make("svm-magic")


def test_a_class_with_too_few_training_models_is_left_out_instead_of_shrinking_the_others():
    from metaclf.evaluate import drop_rare_classes
    from metaclf.recipe import MIN_CLASS_MODELS

    n = MIN_CLASS_MODELS
    labels = np.array([0] * n + [1] * (n + 3) + [2] * (n - 1))
    train = WeightSet.from_array(np.zeros((len(labels), 4)), labels)
    test = WeightSet.from_array(np.zeros((6, 4)), np.array([0, 1, 2, 2, 1, 0]))
    tr, te, out = drop_rare_classes(train, test, ["a", "b", "c"])
    assert out == {"c": n - 1}
    assert sorted(set(tr.labels)) == [0, 1] and len(tr) == 2 * n + 3
    assert list(te.labels) == [0, 1, 1, 0]
    small = WeightSet.from_array(np.zeros((n + 1, 4)), np.array([0] * n + [1]))  # too small to leave one out
    assert drop_rare_classes(small, test, ["a", "b", "c"])[2] == {}


def test_preloaded_splits_give_the_same_result_and_a_curve_loads_once(tiny_nws, monkeypatch):
    import metaclf.evaluate as ev

    kw = {"data_dir": str(tiny_nws), "converged_only": False, "rounds": 2}
    splits = ev.load_splits(RunSpec("svm-linear-local", "c_fixed_mini", "augmentation", converged_only=False),
                            str(tiny_nws))
    fresh = run("svm-linear-local", "c_fixed_mini", "augmentation", **kw)
    reused = run("svm-linear-local", "c_fixed_mini", "augmentation", splits=splits, **kw)
    for key in ("accuracy_rounds", "ci95", "confusion_matrix", "train", "test"):
        assert reused[key] == fresh[key]
    # splits of another target, or of other snapshots (the global SVM reads every snapshot), are refused
    with pytest.raises(ValueError, match="splits loaded for"):
        run("svm-linear-local", "c_fixed_mini", "optimizer", splits=splits, **kw)
    with pytest.raises(ValueError, match="splits loaded for"):
        run("svm-linear-global", "c_fixed_mini", "augmentation", splits=splits, **kw)
    calls = []
    real = ev.load_split
    monkeypatch.setattr(ev, "load_split", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    from metaclf.analyses.learning_curve import learning_curve

    curve = learning_curve(RunSpec("svm-linear-local", "c_fixed_mini", "augmentation", converged_only=False,
                                   rounds=1), [1, 2, 1000], data_dir=str(tiny_nws))
    assert len(curve["points"]) >= 2 and calls == ["train", "test"]  # one load for every point


def test_dmc_ensemble_averages_its_members_probabilities_and_reuses_their_checkpoints(tiny_nws, tmp_path):
    import metaclf.evaluate as ev
    from metaclf.cli.commands import local

    kw = {"data_dir": str(tiny_nws), "converged_only": False, "seed": 2, "subset_size": 500, "steps": 4}
    plain, fitted = run("dmc-local", "c_fixed_mini", "optimizer", rounds=2, checkpoint=tmp_path / "c",
                                return_estimators=True, **kw)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("c.r*.ckpt")}
    assert sorted(stamps) == ["c.r0.ckpt", "c.r1.ckpt"]
    ens = run("dmc-local", "c_fixed_mini", "optimizer", rounds=1, members=2, checkpoint=tmp_path / "c", **kw)
    # the two members are the plain run's two rounds, resumed from their checkpoints, not trained again
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("c.r*.ckpt")} == stamps
    assert ens["spec"]["members"] == 2 and ens["rounds"] == 1 and len(ens["accuracy_rounds"]) == 1
    assert ens["train_accuracy_rounds"] == plain["train_accuracy_rounds"]
    # by hand: average the members' window probabilities, take the argmax, then the mean over
    # classes of the fraction of that class's test windows predicted right
    test = ev.load_splits(RunSpec("dmc-local", "c_fixed_mini", "optimizer", converged_only=False), str(tiny_nws)).test
    members = [f.window_scores(test) for f in fitted]
    probs = np.mean(members, axis=0)  # [W, n, C]
    # (the members disagree on some windows, so averaging differs from taking either one)
    assert any((probs.argmax(2) != m.argmax(2)).any() for m in members)
    right = probs.argmax(2) == test.labels[None]
    expected = np.mean([right[:, test.labels == c].mean() for c in np.unique(test.labels)])
    assert ens["accuracy_mean"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="members=0 is not valid"):
        run("dmc-local", "c_fixed_mini", "optimizer", members=0, **kw)
    # the command files it apart from the single DMC, and reuses the same checkpoints
    out = tmp_path / "out"
    args = ["--config", "c_fixed_mini", "--data-dir", str(tiny_nws), "--out", str(out), "--target", "optimizer",
            "--include-unconverged", "--seed", "2", "--subset-size", "500", "--steps", "4"]
    assert local([*args, "--rounds", "2"]) == 0
    assert local([*args, "--members", "2", "--bn-stats", "test-population"]) == 0
    saved = json.loads((out / "c_fixed_mini" / "dmc-local-ens2@test-population-optimizer.json").read_text())
    assert saved["spec"]["members"] == 2 and saved["label"] == "dmc-local-ens2@test-population"
    assert sorted(p.name for p in (out / "c_fixed_mini").glob("*.ckpt")) == [
        "dmc-local-optimizer.s500.r0.ckpt", "dmc-local-optimizer.s500.r1.ckpt"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_holdout_test_models_pool_with_the_configs_own_and_the_trained_dmc_serves_them(tiny_nws, tmp_path):
    import shutil

    from sklearn.metrics import balanced_accuracy_score

    import metaclf.evaluate as ev
    from metaclf.cli.commands import local
    from metaclf.data import DataError, load_split
    from train.generate import main as generate

    root = tmp_path / "nws"
    shutil.copytree(tiny_nws / "c_fixed_mini", root / "c_fixed_mini")
    assert generate(["--config", "c_fixed_mini_holdout", "--shard", "0", "--limit", "3", "--max-epochs", "2",
                     "--out", str(root), "--quiet"]) == 0
    kw = {"data_dir": str(root), "converged_only": False, "seed": 1, "subset_size": 500, "steps": 4}
    plain, fitted = run("dmc-local", "c_fixed_mini", "optimizer", checkpoint=tmp_path / "c",
                                return_estimators=True, **kw)
    stamp = (tmp_path / "c.r0.ckpt").stat().st_mtime_ns
    pooled = run("dmc-local", "c_fixed_mini", "optimizer", checkpoint=tmp_path / "c",
                         test_configs=("c_fixed_mini_holdout",), **kw)
    assert (tmp_path / "c.r0.ckpt").stat().st_mtime_ns == stamp  # the trained DMC is reused, not retrained
    assert pooled["train"] == plain["train"]
    by_config = pooled["test"]["configs"]
    assert {k: v["models"] for k, v in by_config.items()} == {"c_fixed_mini": plain["test"]["models"],
                                                               "c_fixed_mini_holdout": 3}
    assert pooled["test"]["models"] == plain["test"]["models"] + 3
    # the config's own share scores as the plain evaluation did
    assert by_config["c_fixed_mini"]["accuracy_mean"] == pytest.approx(plain["accuracy_mean"])
    assert by_config["c_fixed_mini"]["ci95"] == pytest.approx(plain["ci95"])
    # by hand, with scikit-learn: the same DMC predicts each config's test windows, and the
    # pooled accuracy is the class-balanced accuracy over all of those windows together
    y_true, y_pred = [], []
    for config in ("c_fixed_mini", "c_fixed_mini_holdout"):
        test = load_split(config, "test", "optimizer", (-2, -1), str(root), False, min_classes=1)
        pred = fitted[0].window_scores(test).argmax(2)  # [W, n]
        y_true.append(np.broadcast_to(test.labels, pred.shape).ravel())
        y_pred.append(pred.ravel())
    assert pooled["accuracy_mean"] == pytest.approx(
        balanced_accuracy_score(np.concatenate(y_true), np.concatenate(y_pred)))
    assert by_config["c_fixed_mini_holdout"]["accuracy_mean"] == pytest.approx(
        balanced_accuracy_score(y_true[1], y_pred[1]))  # its 3 models hold 2 optimizers
    with pytest.raises(ValueError, match="c_fixed_mini_holdout holds test models only"):
        run("svm-linear-global", "c_fixed_mini_holdout", "optimizer", data_dir=str(root), converged_only=False)
    with pytest.raises(ValueError, match="'c_main_mini' does not match 'c_fixed_mini'"):
        run("dmc-local", "c_fixed_mini", "optimizer", test_configs=("c_main_mini",), **kw)
    with pytest.raises(ValueError, match="given twice"):
        run("dmc-local", "c_fixed_mini", "optimizer", test_configs=("c_fixed_mini",), **kw)
    # the command files the pooled result apart, from the same checkpoint
    out = tmp_path / "out"
    args = ["--config", "c_fixed_mini", "--data-dir", str(root), "--out", str(out), "--target", "optimizer",
            "--include-unconverged", "--seed", "1", "--subset-size", "500", "--steps", "4"]
    assert local(args) == 0
    assert local([*args, "--test-config", "c_fixed_mini_holdout", "--bn-stats", "test-population"]) == 0
    saved = json.loads((out / "c_fixed_mini" / "dmc-local@test-population+c_fixed_mini_holdout-optimizer.json")
                       .read_text())
    assert saved["label"] == "dmc-local@test-population+c_fixed_mini_holdout" and saved["method"] == "dmc-local"
    assert saved["spec"]["test_configs"] == ["c_fixed_mini_holdout"] and saved["spec"]["bn_stats"] == "test-population"
    assert saved["test"]["configs"]["c_fixed_mini_holdout"]["models"] == 3
    assert [p.name for p in (out / "c_fixed_mini").glob("*.ckpt")] == ["dmc-local-optimizer.s500.r0.ckpt"]
