"""Accuracy regression (Sec. 4.2, App. D): which hyper-parameters explain test accuracy.

``python -m metaclf.regress [--config c_main_mini] [--out DIR]``

Per image dataset, on converged models: test accuracy standardized to zero mean and unit
variance, ordinary least squares (statsmodels) on the learning rate (ordered, in units of
its range) plus every categorical hyper-parameter one-hot coded against its first option as
the reference level (in the paper's c_main: 1 + 32 level coefficients + intercept = 34;
reference levels are reported as 0). Hyper-parameters that do not vary are left out. Writes
``regression.json`` with coefficients and p-values, the coefficient chart with p > 5% marked
(Fig. 1/14), the Pearson correlation between the datasets' coefficient vectors (Fig. 15b)
and the mean absolute error of the linear model against the constant model, in-sample and
5-fold cross-validated (Fig. 15a).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402

from nws_datasets.space import HP, HYPERPARAMETERS, get_config  # noqa: E402
from nws_datasets.storage import write_json  # noqa: E402

from ..data import model_frame  # noqa: E402

CATEGORICAL = [h.name for h in HYPERPARAMETERS if h.categorical and h.name != "dataset"]


def design(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Design matrix, every coefficient name, and the role of each level left out of the design.

    The reference level of a hyper-parameter is its first option present in ``df`` (a level
    with no model, e.g. constant initialization among converged models, cannot be one: the
    design would be rank-deficient). Roles: ``reference``, ``absent`` (no model has it) or
    ``fixed`` (the hyper-parameter does not vary).
    """
    lr = HP["learning_rate"]
    cols = {"intercept": np.ones(len(df)), "learning_rate": (df["learning_rate"] - lr.low) / (lr.high - lr.low)}
    names, roles = ["intercept", "learning_rate"], {}
    for name in CATEGORICAL:
        levels = [str(o) for o in HP[name].options]
        names += [f"{name}={v}" for v in levels]
        present = [v for v in levels if (df[name].astype(str) == v).any()]
        for v in levels:
            if v not in present:
                roles[f"{name}={v}"] = "absent"
        if len(present) < 2:
            roles.update({f"{name}={v}": "fixed" for v in present})
            continue
        roles[f"{name}={present[0]}"] = "reference"
        for v in present[1:]:
            cols[f"{name}={v}"] = (df[name].astype(str) == v).astype(float)
    return pd.DataFrame(cols, index=df.index), names, roles


def fit(df: pd.DataFrame) -> dict[str, Any]:
    """OLS of standardized test accuracy on the design; coefficients and p-values by name."""
    y = (df["final_test_accuracy"] - df["final_test_accuracy"].mean()) / df["final_test_accuracy"].std(ddof=0)
    x, names, roles = design(df)
    model = sm.OLS(y.to_numpy(), x.to_numpy()).fit()
    coef = dict(zip(x.columns, model.params))
    pval = dict(zip(x.columns, model.pvalues))
    cv_lin, cv_const = [], []
    folds = KFold(5, shuffle=True, random_state=0).split(x) if len(x) >= 10 else []
    for tr, te in folds:
        m = sm.OLS(y.iloc[tr].to_numpy(), x.iloc[tr].to_numpy()).fit()
        cv_lin.append(np.abs(m.predict(x.iloc[te].to_numpy()) - y.iloc[te]).mean())
        cv_const.append(np.abs(y.iloc[tr].mean() - y.iloc[te]).mean())
    warning = (f"{len(df)} models for {x.shape[1]} parameters: too few for a stable fit; trust the "
               "cross-validated error, not R² or the coefficients") if len(df) < 2 * x.shape[1] else None
    return {
        "n_models": int(len(df)), "n_parameters": int(x.shape[1]), "r_squared": float(model.rsquared),
        "warning": warning,
        "coefficients": {n: float(coef.get(n, 0.0)) for n in names},
        "p_values": {n: (float(pval[n]) if n in pval else None) for n in names},
        "roles": roles,  # levels without a coefficient: reference, absent or fixed
        "mae_linear_in_sample": float(np.abs(model.resid).mean()), "mae_constant_in_sample": float(np.abs(y).mean()),
        "mae_linear_cv5": float(np.mean(cv_lin)) if cv_lin else None,
        "mae_constant_cv5": float(np.mean(cv_const)) if cv_const else None,
    }


def regress(config: str, data_dir: str | None, out: Path) -> dict[str, Any]:
    df = model_frame(config, data_dir, converged_only=True)
    res: dict[str, Any] = {"config": config, "response": "standardized final test accuracy (converged models)",
                           "per_dataset": {}}
    for dataset in get_config(config).sources:
        sub = df[df["dataset"] == dataset]
        if len(sub) < 5:
            res["per_dataset"][dataset] = {"n_models": int(len(sub)), "skipped": "fewer than 5 converged models"}
            continue
        res["per_dataset"][dataset] = fit(sub)
    fitted = {d: r for d, r in res["per_dataset"].items() if "coefficients" in r}
    names = next(iter(fitted.values()))["coefficients"].keys() if fitted else []
    vec = {d: np.array([r["coefficients"][n] for n in names if n != "intercept"]) for d, r in fitted.items()}
    res["coefficient_correlation"] = {a: {b: float(np.corrcoef(vec[a], vec[b])[0, 1]) for b in vec} for a in vec}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "regression.json", res)
    if fitted:
        plot(res, fitted, list(names), out)
    return res


def plot(res: dict[str, Any], fitted: dict[str, Any], names: list[str], out: Path) -> None:
    """The coefficient chart and the fit panel; every dataset of the config appears (one
    skipped for too few converged models says so in the legend); levels of hyper-parameters
    that are fixed in every fitted dataset (the architecture of c_fixed) are left out."""
    names = [n for n in names if n != "intercept" and any(r["roles"].get(n) != "fixed" for r in fitted.values())]
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(names)), 4))
    width = 0.8 / len(fitted)
    for i, (d, r) in enumerate(fitted.items()):
        c = np.array([r["coefficients"][n] for n in names])
        p = np.array([r["p_values"][n] if r["p_values"][n] is not None else np.nan for n in names])
        xs = np.arange(len(names)) + i * width
        bars = ax.bar(xs, c, width, label=d)
        for b, pv in zip(bars, p):
            if not pv < 0.05:  # insignificant or reference: hatched
                b.set_hatch("//")
                b.set_alpha(0.4)
    for d, r in res["per_dataset"].items():
        if "skipped" in r:
            ax.bar([0], [0], 0, label=f"{d}: not fitted, {r['skipped']} ({r['n_models']})")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=90, fontsize=7)
    ax.set_ylabel("coefficient (std. test accuracy)")
    ax.set_title(f"Test-accuracy regression, {res['config']} (hatched: p > 5% or reference level)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "regression_coefficients.png", dpi=120)
    plt.close(fig)
    ds = list(fitted)
    corr = np.array([[res["coefficient_correlation"][a][b] for b in ds] for a in ds])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    im = a1.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    a1.set_xticks(range(len(ds)), ds, rotation=30)
    a1.set_yticks(range(len(ds)), ds)
    for i in range(len(ds)):
        for j in range(len(ds)):
            a1.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=a1)
    a1.set_title("Pearson correlation of coefficients")
    lin = [fitted[d]["mae_linear_cv5"] or fitted[d]["mae_linear_in_sample"] for d in ds]
    const = [fitted[d]["mae_constant_cv5"] or fitted[d]["mae_constant_in_sample"] for d in ds]
    a2.bar(np.arange(len(ds)) - 0.2, lin, 0.4, label="linear model")
    a2.bar(np.arange(len(ds)) + 0.2, const, 0.4, label="constant model")
    a2.set_xticks(range(len(ds)), ds, rotation=30)
    a2.set_ylabel("mean abs. error (5-fold CV)")
    a2.legend(fontsize=8)
    a2.set_title("Prediction error of std. test accuracy")
    fig.tight_layout()
    fig.savefig(out / "regression_fit.png", dpi=120)
    plt.close(fig)
