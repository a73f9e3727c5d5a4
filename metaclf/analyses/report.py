"""One-command report: ``python -m metaclf.report --config c_fixed_mini [--out DIR]``.

Runs the training statistics, the accuracy regression and (for a fixed architecture) the
embedding, gathers the meta-classifier results found in ``--out`` from earlier ``metaclf``
runs and the paper's findings checked against them (:mod:`metaclf.analyses.findings`), and
writes ``<out>/<config>/report/report.md`` with every table and figure.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from nws_datasets.space import get_config
from nws_datasets.storage import write_json

from .. import store
from .embed import embed
from .findings import RULES, findings, findings_table
from .regress import regress
from .trainstats import PAIRS, training_statistics


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def report(config: str, data_dir: str | None, out: Path) -> Path:
    """Write ``<out>/<config>/report/report.md`` (module docstring); return its path. Warnings
    that the libraries underneath raise for their developers (statsmodels, UMAP, scikit-learn,
    numba) are kept out of the terminal and listed at the end of the report."""
    folder = out / config / "report"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = _training_section(config, data_dir, folder) + _regression_section(config, data_dir, folder)
        if get_config(config).fixed_architecture:
            em = embed(config, data_dir, folder)
            md += ["## Embedding", "", f"{em['vectors']} weight vectors (conv weights, {em['conv_weights']} each); "
                   f"the first {em['components']} principal components explain "
                   f"{sum(em['explained_variance_ratio']):.1%} of the variance.", "", "![embedding](embedding.png)", ""]
        md += _metaclf_section(config, out, folder)
    notes = sorted({f"{w.category.__name__}: {' '.join(str(w.message).split())[:200]}" for w in caught})
    if notes:
        md += ["## Library warnings", "", *(f"- {n}" for n in notes), ""]
    (folder / "report.md").write_text("\n".join(md) + "\n")
    return folder / "report.md"


def _training_section(config: str, data_dir: str | None, folder: Path) -> list[str]:
    st = training_statistics(config, data_dir, folder)
    md = [f"# NWS report: {config}", "", get_config(config).description, "",
          f"{st['models']} finished models, {st['converged']} converged.", "", "## Training statistics", ""]
    md += _table(["dataset", "models", "converged", "mean final test accuracy"],
                 [[d, str(r["models"]), str(r["converged"]), f"{r['final_test_accuracy_mean']:.3f}"]
                  for d, r in st["per_dataset"].items()])
    md += ["", "![accuracy over training](accuracy_over_training.png)", "",
           "![test accuracy distribution](test_accuracy_distribution.png)", "",
           "![size and time](size_and_time_distribution.png)", "",
           "Mean final test accuracy for pairs of hyper-parameters:", ""]
    for a, b in PAIRS:
        t = st["pairs"][f"{a}x{b}"]
        md += [f"**{a} × {b}**", ""] + _table([f"{a} \\ {b}", *t["columns"]], [
            [r, *("–" if v is None else f"{v:.2f}" for v in vals)] for r, vals in zip(t["rows"], t["mean_test_accuracy"])]
        ) + [""]
    return md + ["![pairs](hyperparameter_pairs.png)", ""]


def _regression_section(config: str, data_dir: str | None, folder: Path) -> list[str]:
    md = ["## Accuracy regression", ""]
    rg = regress(config, data_dir, folder)
    fitted = {d: r for d, r in rg["per_dataset"].items() if "coefficients" in r}
    md += [f"- {d}: {r['skipped']} ({r['n_models']})" for d, r in rg["per_dataset"].items() if "skipped" in r]
    if not fitted:
        return md
    names = [n for n in next(iter(fitted.values()))["coefficients"] if n != "intercept"]
    md += _table(["coefficient", *fitted], [
        [n, *(f"{r['coefficients'][n]:+.3f}" + ("" if r["p_values"][n] is not None and r["p_values"][n] < 0.05
                                                else " (n.s.)" if r["p_values"][n] is not None
                                                else f" ({r['roles'][n]})")
              for r in fitted.values())] for n in names])
    md += [""] + _table(["dataset", "models", "R²", "MAE linear (CV)", "MAE constant (CV)"], [
        [d, str(r["n_models"]), f"{r['r_squared']:.3f}", f"{r['mae_linear_cv5'] or float('nan'):.3f}",
         f"{r['mae_constant_cv5'] or float('nan'):.3f}"] for d, r in fitted.items()])
    md += [f"- **{d}**: {r['warning']}" for d, r in fitted.items() if r.get("warning")]
    return md + ["", "![coefficients](regression_coefficients.png)", "", "![fit](regression_fit.png)", ""]


def _metaclf_section(config: str, out: Path, folder: Path) -> list[str]:
    md = ["## Meta-classification", ""]
    found = store.load_results(out).get(config)
    md += store.tables(config, found) if found else [
        f"No meta-classifier results in {out}; run `python -m metaclf.all --config {config} --out {out}` first."]
    md.append("")
    found_f = findings(config, out)
    write_json(folder / "findings.json", found_f)
    return md + ["## Findings of the paper", "", RULES, "", *findings_table(found_f), ""]
