"""Accuracy from weights and model selection: scores against hand-worked numbers, the CLI end
to end, and a grid search that never sees a test model nor splits a model across folds."""
from __future__ import annotations

import json

import numpy as np
import pytest

from metaclf import tuning
from metaclf.evaluate import evaluate
from metaclf.regression import regression_score
from metaclf.spec import RunSpec, SpecError


def test_scores_match_hand_worked_values():
    # true 1..4, pred swaps the middle two: 5 concordant and 1 discordant pair -> tau (5-1)/6;
    # residuals 0,1,1,0 -> SS_res 2, SS_tot 5 -> R2 0.6; RMSE sqrt(2/4)
    s = regression_score(np.array([1., 2, 3, 4]), np.array([1., 3, 2, 4]), np.arange(4), train_mean=2.5)
    assert s["kendall_tau"] == pytest.approx(4 / 6)
    assert s["r2"] == pytest.approx(0.6)
    assert s["rmse"] == pytest.approx(np.sqrt(0.5))
    assert s["chance"]["rmse"] == pytest.approx(np.sqrt(np.mean((np.arange(1, 5) - 2.5) ** 2)))
    lo, hi = s["ci95"]["r2"]
    assert lo <= hi <= 1


def test_a_perfect_regressor_scores_one_and_its_interval_is_a_point():
    true = np.linspace(0.1, 0.9, 30)
    s = regression_score(true, true.copy(), np.repeat(np.arange(10), 3), train_mean=0.5)
    assert (s["r2"], s["kendall_tau"], s["rmse"]) == (pytest.approx(1), pytest.approx(1), pytest.approx(0))
    assert s["ci95"]["kendall_tau"] == [pytest.approx(1), pytest.approx(1)]


def test_accuracy_cli_writes_scores_counts_and_a_scatter(tiny_nws, tmp_path):
    from metaclf.cli.accuracy import main

    assert main(["--data-dir", str(tiny_nws), "--out", str(tmp_path), "--methods", "gbm-layerwise,constant"]) == 0
    folder = tmp_path / "c_fixed_mini" / "accuracy"
    res = json.loads((folder / "gbm-layerwise-test_accuracy.json").read_text())
    assert {"r2", "kendall_tau", "rmse", "ci95", "chance"} <= set(res)
    assert res["train"]["models"] + res["test"]["models"] == 6  # every finished model, converged or not
    assert res["test"]["records"] == 20 * res["test"]["models"]  # every snapshot
    assert (folder / "gbm-layerwise-test_accuracy.png").stat().st_size > 1000
    const = json.loads((folder / "constant-test_accuracy.json").read_text())
    assert const["rmse"] == pytest.approx(const["chance"]["rmse"])  # the floor is the chance level
    assert const["r2"] <= 1e-9


def test_options_are_checked_against_the_task():
    with pytest.raises(SpecError, match="accuracy target"):
        RunSpec("gbm-layerwise", "c_fixed_mini", "optimizer").validate()
    with pytest.raises(SpecError, match="tune"):
        RunSpec("dmc-local", "c_fixed_mini", "activation", tune=True).validate()
    with pytest.raises(SpecError, match="rounds"):
        RunSpec("constant", "c_fixed_mini", "test_accuracy", rounds=3).validate()
    assert RunSpec("svm-rbf-global", "c_fixed_mini", "optimizer", tune=True).label() == "svm-rbf-global-tuned"


def test_model_selection_sees_only_training_models_and_never_splits_a_model(tiny_nws, monkeypatch):
    seen: list[tuple[set, set]] = []

    class Recording(tuning.GroupKFold):
        def split(self, X, y=None, groups=None):
            for tr, va in super().split(X, y, groups):
                seen.append((set(np.asarray(groups)[tr].tolist()), set(np.asarray(groups)[va].tolist())))
                yield tr, va

    monkeypatch.setattr(tuning, "GroupKFold", Recording)
    spec = RunSpec("svm-linear-global", "c_fixed_mini", "optimizer", rounds=2, tune=True, converged_only=False)
    res = evaluate(spec, data_dir=str(tiny_nws))
    from metaclf.data import load_split

    test = load_split("c_fixed_mini", "test", "optimizer", (-1,), str(tiny_nws), False, 1)
    test_models = set(test.model_id.tolist())
    assert seen, "the grid search ran no fold"
    for train_groups, val_groups in seen:
        assert not (train_groups | val_groups) & test_models
        assert not train_groups & val_groups
    assert len(res["params"]["selected"]) == 2 and "C" in res["params"]["selected"][0]
