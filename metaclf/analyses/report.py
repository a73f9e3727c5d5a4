"""One-command report: ``python -m metaclf.report --config c_fixed_mini [--out DIR]``.

Runs the training statistics, the accuracy regression and (for a fixed architecture) the
embedding, gathers the meta-classifier results found in ``--out`` from earlier ``metaclf``
runs and the paper's findings checked against them (:mod:`metaclf.analyses.findings`), and
writes ``<out>/<config>/report/report.md`` with every table and figure.
"""
from __future__ import annotations

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
    folder = out / config / "report"
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
    md += ["![pairs](hyperparameter_pairs.png)", "", "## Accuracy regression", ""]
    rg = regress(config, data_dir, folder)
    fitted = {d: r for d, r in rg["per_dataset"].items() if "coefficients" in r}
    for d, r in rg["per_dataset"].items():
        if "skipped" in r:
            md.append(f"- {d}: {r['skipped']} ({r['n_models']})")
    if fitted:
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
        md += ["", "![coefficients](regression_coefficients.png)", "", "![fit](regression_fit.png)", ""]
    if get_config(config).fixed_architecture:
        em = embed(config, data_dir, folder)
        md += ["## Embedding", "", f"{em['vectors']} weight vectors (conv weights, {em['conv_weights']} each); the "
               f"first {em['components']} principal components explain {sum(em['explained_variance_ratio']):.1%} "
               "of the variance.", "", "![embedding](embedding.png)", ""]
    md += ["## Meta-classification", ""]
    found = store.load_results(out).get(config)
    md += store.tables(config, found) if found else [
        f"No meta-classifier results in {out}; run `python -m metaclf.all --config {config} --out {out}` first."]
    md.append("")
    found_f = findings(config, out)
    write_json(folder / "findings.json", found_f)
    md += ["## Findings of the paper", "", RULES, "",
           *findings_table(found_f), ""]
    (folder / "report.md").write_text("\n".join(md) + "\n")
    return folder / "report.md"
