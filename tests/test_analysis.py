"""Analyses: regression on synthetic data, one-hot reference levels, embedding, and the report."""
import json
import warnings
import re

import numpy as np
import pandas as pd

from metaclf.analyses.regress import CATEGORICAL, design, fit
from nws_datasets.space import HP


def synthetic(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.choice([str(o) for o in HP[name].options], n) for name in CATEGORICAL})
    df["learning_rate"] = rng.uniform(HP["learning_rate"].low, HP["learning_rate"].high, n)
    y = (1.0 * (df["optimizer"] == "rmsprop") - 2.0 * (df["activation"] == "sigmoid")
         + 0.5 * (df["learning_rate"] - 0.0002) / 0.0048 + rng.normal(0, 0.3, n))
    df["final_test_accuracy"] = y
    return df, y.to_numpy()


def test_regression_recovers_known_coefficients_and_p_values():
    df, y = synthetic()
    res = fit(df)
    scale = y.std()  # the response is standardized
    c, p = res["coefficients"], res["p_values"]
    np.testing.assert_allclose(c["optimizer=rmsprop"] * scale, 1.0, atol=0.08)
    np.testing.assert_allclose(c["activation=sigmoid"] * scale, -2.0, atol=0.08)
    np.testing.assert_allclose(c["learning_rate"] * scale, 0.5, atol=0.12)
    assert p["optimizer=rmsprop"] < 1e-10 and p["activation=sigmoid"] < 1e-10
    assert p["batch_size=64"] > 0.01 and abs(c["batch_size=64"] * scale) < 0.1
    assert res["mae_linear_cv5"] < 0.5 * res["mae_constant_cv5"] and res["warning"] is None
    assert "too few" in fit(df.iloc[:30])["warning"]
    assert res["n_parameters"] == 1 + 1 + sum(len(HP[n].options) - 1 for n in CATEGORICAL)
    assert len(res["coefficients"]) == 2 + sum(len(HP[n].options) for n in CATEGORICAL) == 34  # the paper's 34


def test_one_hot_coding_uses_the_first_option_as_reference():
    df, _ = synthetic(50)
    x, names, roles = design(df)
    for name in CATEGORICAL:
        first, *rest = [str(o) for o in HP[name].options]
        assert f"{name}={first}" not in x.columns and f"{name}={first}" in names
        assert roles[f"{name}={first}"] == "reference"
        for v in rest:
            assert np.array_equal(x[f"{name}={v}"].to_numpy(), (df[name] == v).to_numpy(float))
    res = fit(df)
    assert res["coefficients"]["optimizer=adam"] == 0.0 and res["p_values"]["optimizer=adam"] is None
    df["filter_size"] = "5"  # a constant hyper-parameter drops out of the design
    x, _, roles = design(df)
    assert not any(c.startswith("filter_size=") for c in x.columns)
    assert roles["filter_size=5"] == "fixed" and roles["filter_size=3"] == "absent"
    df = df[df["initialization"] != "constant"]  # no model with the first option: the next one is the reference
    x, _, roles = design(df)
    assert roles["initialization=constant"] == "absent" and roles["initialization=random_normal"] == "reference"
    assert "initialization=glorot_uniform" in x.columns and np.linalg.matrix_rank(x.to_numpy()) == x.shape[1]


def test_embedding_runs_on_a_small_nws(tiny_nws, tmp_path):
    from metaclf.analyses.embed import embed

    res = embed("c_fixed_mini", str(tiny_nws), tmp_path, components=5, batch_size=40)
    assert res["vectors"] == 6 * 20 and np.asarray(res["xy"]).shape == (120, 2)
    assert res["conv_weights"] == 16_880 and len(res["explained_variance_ratio"]) == 5
    assert 0 < sum(res["explained_variance_ratio"]) <= 1 + 1e-9
    assert (tmp_path / "embedding.png").stat().st_size > 10_000


def test_report_writes_every_file_it_lists(tiny_nws, tmp_path):
    from metaclf.analyses.report import report

    with warnings.catch_warnings(record=True) as escaped:  # libraries' warnings stay out of the terminal
        warnings.simplefilter("always")
        path = report("c_fixed_mini", str(tiny_nws), tmp_path)
    assert escaped == []
    text = path.read_text()
    images = re.findall(r"\]\(([^)]+\.png)\)", text)
    always = {"accuracy_over_training.png", "test_accuracy_distribution.png", "size_and_time_distribution.png",
              "hyperparameter_pairs.png", "embedding.png"}
    assert always <= set(images)
    regression = json.loads((path.parent / "regression.json").read_text())
    if any("coefficients" in r for r in regression["per_dataset"].values()):
        assert {"regression_coefficients.png", "regression_fit.png"} <= set(images)
    else:  # the 2-epoch models of the fixture rarely converge: the report says why it has no regression
        assert "fewer than 5 converged models" in text
    for name in images:
        assert (path.parent / name).stat().st_size > 5_000, name
    for name in ("training_statistics.json", "regression.json", "embedding.json"):
        json.loads((path.parent / name).read_text())
    stats = json.loads((path.parent / "training_statistics.json").read_text())
    assert stats["models"] == 6 and "initializationxactivation" in stats["pairs"]
    assert "## Meta-classification" in text and "python -m metaclf.all" in text
    findings = json.loads((path.parent / "findings.json").read_text())
    assert "## Findings of the paper" in text and findings  # every finding has a status, even without results
    assert {v["status"] for v in findings.values()} <= {"reproduced", "not reproduced", "inconclusive"}
