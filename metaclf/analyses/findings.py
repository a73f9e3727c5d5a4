"""The paper's qualitative findings, checked against our results: reproduced, not reproduced
or inconclusive, decided from the 95% confidence intervals, with the numbers.

Rules, the same for every finding:

- *A > B* holds when A's interval lies wholly above B's, is reversed when B's lies wholly
  above A's, and is undecided when they overlap.
- A finding over several targets or datasets is **reproduced** when it holds in a majority
  of them and is reversed in none, **not reproduced** when it is reversed in a majority or
  holds in none while reversed in some, and **inconclusive** otherwise (or without data).
- Comparisons across targets use the accuracy above chance, ``(acc − chance) / (1 − chance)``
  (0 at chance, 1 perfect), and its interval, so that 2- and 4-class targets compare.
- Map cells carry a normal-approximation interval over the test models behind the map;
  regression coefficients their p-values against the reference level (p < 0.05).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nws_datasets.storage import read_json

from .. import store
from ..spec import RunSpec

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
#: the local methods, in the order the paper finds them (Fig. 4)
LOCAL_ORDER = ["dmc-local", "svm-rbf-local", "svm-linear-local"]


def dmc_label(spec: RunSpec) -> str:
    """How findings rows name a local DMC run other than the paper's recipe: '' for the recipe,
    'DMC with test-population BN, transductive' for AdaBN, 'DMC with per-input normalization', …"""
    return f"DMC with {spec.describe()}" if spec.describe() else ""


def _local_runs(res: dict[tuple[str, str], dict[str, Any]]) -> dict[str, RunSpec]:
    """{label: spec} of the single-network local runs in ``res`` (ensembles apart)."""
    return {label: r["spec"] for (label, _), r in res.items()
            if r["spec"].method in LOCAL_ORDER and r["spec"].members == 1}


def above(a: list[float], b: list[float]) -> int:
    """+1 if interval ``a`` lies above ``b``, −1 if below, 0 if they overlap."""
    return 1 if a[0] > b[1] else -1 if a[1] < b[0] else 0


def verdict(signs: list[int]) -> str:
    """Combine per-target outcomes (+1 holds, −1 reversed, 0 undecided) by the module's rule."""
    if not signs:
        return INCONCLUSIVE
    holds, reversed_ = signs.count(1), signs.count(-1)
    if holds > len(signs) / 2 and not reversed_:
        return REPRODUCED
    if reversed_ > len(signs) / 2 or (reversed_ and not holds):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def normalized(result: dict[str, Any]) -> tuple[float, list[float]]:
    """Accuracy above chance and its interval, (x − chance) / (1 − chance)."""
    c = result["chance"]
    f = (lambda x: (x - c) / (1 - c))
    return f(result["accuracy_mean"]), [f(result["ci95"][0]), f(result["ci95"][1])]


def method_order(res: dict[tuple[str, str], dict[str, Any]], order: list[str]) -> dict[str, Any]:
    """Finding 1: ``order[0] > order[1] > …`` on every target that has all of them."""
    signs, rows = [], []
    targets = sorted({t for (m, t) in res if all((o, t) in res for o in order)})
    for t in targets:
        pair = [above(res[(a, t)]["ci95"], res[(b, t)]["ci95"]) for a, b in zip(order, order[1:])]
        signs.append(1 if all(p == 1 for p in pair) else -1 if any(p == -1 for p in pair) else 0)
        rows.append(f"{t}: " + " vs ".join(f"{m} {store.cell(res[(m, t)])}" for m in order))
    return {"status": verdict(signs), "evidence": rows or [f"no target has results of all of {', '.join(order)}"]}


def extreme_target(res: dict[tuple[str, str], dict[str, Any]], methods: list[str], target: str,
                   highest: bool) -> dict[str, Any]:
    """Findings 2–3: ``target`` is the most (``highest``) or least readable, per method."""
    signs, rows = [], []
    for m in methods:
        scores = {t: normalized(r) for (mm, t), r in res.items() if mm == m}
        if target not in scores or len(scores) < 2:
            continue
        mine = scores[target][1]
        cmp = [above(mine, iv) if highest else above(iv, mine) for t, (_, iv) in scores.items() if t != target]
        signs.append(1 if all(c == 1 for c in cmp) else -1 if any(c == -1 for c in cmp) else 0)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1][0])
        rows.append(f"{m}: " + ", ".join(f"{t} {v:+.2f} [{iv[0]:+.2f}, {iv[1]:+.2f}]" for t, (v, iv) in ranked))
    none = f"no local method has results for {target} and another target"
    return {"status": verdict(signs), "evidence": rows or [none]}


def local_methods(res: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The labels of the local methods with results in ``res``, in :data:`LOCAL_ORDER`, each DMC
    evaluation or variant (``dmc-local``, ``dmc-local@test-batch``, …) a method of its own."""
    runs = _local_runs(res)
    return sorted(runs, key=lambda k: (LOCAL_ORDER.index(runs[k].method), k))


def readable(res: dict[tuple[str, str], dict[str, Any]], target: str) -> dict[str, Any]:
    """Finding: ``target`` is read above chance (the best method per its interval's low end)."""
    found = [(m, r) for (m, t), r in res.items() if t == target and m != "hparams-baseline"]
    if not found:
        return {"status": INCONCLUSIVE, "evidence": [f"no result for {target}"]}
    m, r = max(found, key=lambda mr: mr[1]["ci95"][0])
    base = res.get(("hparams-baseline", target))
    sign = above(r["ci95"], [r["chance"]] * 2)
    rows = [f"best: {m} {store.cell(r)}, chance {r['chance']:.3f}"]
    if base is not None:
        rows.append(f"confound baseline (other hyper-parameters) {store.cell(base)}")
        sign = min(sign, above(r["ci95"], base["ci95"]))  # must beat the confound too
    return {"status": verdict([sign]), "evidence": rows}


def part_contrast(parts: dict[str, dict[tuple[str, str], dict[str, Any]]], target: str,
                  stronger: str, weaker: str) -> dict[str, Any]:
    """Finding (Sec. 5.3): ``target`` is read better from windows of ``stronger`` weights than
    of ``weaker`` ones, by every local method trained on both parts (the paper: the dataset
    footprint is more pronounced in the conv layers)."""
    a, b = parts.get(stronger, {}), parts.get(weaker, {})
    both = sorted(m for (m, t) in a if t == target and (m, t) in b and m != "hparams-baseline")
    signs = [above(a[(m, target)]["ci95"], b[(m, target)]["ci95"]) for m in both]
    rows = [f"{m}: {stronger} {store.cell(a[(m, target)])} vs {weaker} {store.cell(b[(m, target)])}" for m in both]
    return {"status": verdict(signs),
            "evidence": rows or [f"no local method has {target} results on both {stronger} and {weaker} windows"]}


def map_findings(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Findings of the initialization map: readable early; accuracy falls over training in
    the first and the last layers (first and last quarter of the positions)."""
    acc = np.asarray(m["accuracy"])
    n = max(int(m["test_models"]), 1)

    def iv(p: float) -> list[float]:
        h = 1.96 * np.sqrt(max(p * (1 - p), 1e-12) / n)
        return [p - h, p + h]

    q = max(1, acc.shape[1] // 4)
    early = float(acc[: max(1, len(acc) // 4)].mean())
    out = {"initialization readable early in training (first quarter of the snapshots)": {
        "status": verdict([above(iv(early), [m["chance"]] * 2)]),
        "evidence": [f"mean accuracy over the first quarter of snapshots {early:.3f}, chance {m['chance']:.3f}, "
                     f"{n} test models"]}}
    signs, rows = [], []
    for name, cols in (("first layers", slice(0, q)), ("last layers", slice(-q, None))):
        start, end = float(acc[0, cols].mean()), float(acc[-1, cols].mean())
        signs.append(above(iv(start), iv(end)))
        rows.append(f"{name}: {start:.3f} at initialization → {end:.3f} at the end")
    out["initialization accuracy falls over training in the first and last layers"] = {
        "status": verdict(signs) if all(s != 0 for s in signs) or -1 in signs else INCONCLUSIVE, "evidence": rows}
    return out


def regression_best(reg: dict[str, Any], name: str, claimed: set[str]) -> dict[str, Any]:
    """Finding: the best level of ``name`` by regression coefficient is one of ``claimed``,
    significantly (p < 0.05 against the reference), in most datasets."""
    signs, rows = [], []
    for dataset, r in reg["per_dataset"].items():
        if "coefficients" not in r:
            continue
        levels = {k.split("=", 1)[1]: (v, r["p_values"][k]) for k, v in r["coefficients"].items()
                  if k.startswith(name + "=") and r["roles"].get(k) in (None, "reference")}
        if len(levels) < 2:
            continue
        best, (coef, p) = max(levels.items(), key=lambda kv: kv[1][0])
        ref = next(k.split("=", 1)[1] for k, role in r["roles"].items() if k.startswith(name + "=") and role == "reference")
        others = [(lv, c, pv) for lv, (c, pv) in levels.items() if lv != ref]
        # significance: the best against the reference, or the reference against a level below it
        significant = (p is not None and p < 0.05) if best != ref else any(pv is not None and pv < 0.05 and c < 0
                                                                          for _, c, pv in others)
        signs.append((1 if best in claimed else -1) if significant else 0)
        rows.append(f"{dataset}: best {name}={best} (" + ", ".join(
            f"{lv} {c:+.2f}" for lv, (c, _) in sorted(levels.items(), key=lambda kv: -kv[1][0])) + f"; reference {ref})")
    return {"status": verdict(signs), "evidence": rows or ["no fitted regression"]}


def findings(config: str, out: Path) -> dict[str, dict[str, Any]]:
    """Every finding of the paper that the results in ``out`` for ``config`` can address.

    Results tested on other configs' models as well (``<method>+<config>``, ``--test-config``)
    are left out: the findings compare methods on one set of test models."""
    everything = {k: r for k, r in store.load_results(out).get(config, {}).items() if not r["spec"].test_configs}
    parts = store.by_part(everything)
    res = parts.get("all", {})
    f: dict[str, dict[str, Any]] = {
        "local DMC > RBF SVM > linear SVM on local windows": method_order(res, LOCAL_ORDER),
        "initialization is the most locally distinguishable target": extreme_target(res, local_methods(res),
                                                                                     "initialization", True),
        "batch size is the hardest target": extreme_target(res, local_methods(res), "batch_size", False),
        "the dataset is readable from the weights": readable(everything, "dataset"),
    }
    # the same two rankings on windows of conv or FC weights only (Fig. 4's other DMCs)
    for part, found in parts.items():
        if part != "all":
            for name, target, highest in (("initialization is the most locally distinguishable target",
                                           "initialization", True),
                                          ("batch size is the hardest target", "batch_size", False)):
                f[f"{name} ({part} weights only)"] = extreme_target(found, local_methods(found), target, highest)
    # Fig. 4 also trains local DMCs on conv or FC weights only; a DMC evaluated with test-batch
    # BN statistics (the authors' evaluation) or one beyond the paper gets rows of its own
    for part, found in parts.items():
        dmcs = {k: v for k, v in _local_runs(found).items() if v.method == LOCAL_ORDER[0]}
        for dmc, spec in sorted(dmcs.items()):
            labels = [f"{part} weights only"] * (part != "all") + [dmc_label(spec)] * bool(dmc_label(spec))
            if labels:
                f[f"local DMC > RBF SVM > linear SVM on local windows ({', '.join(labels)})"] = method_order(
                    found, [dmc, *LOCAL_ORDER[1:]])
    f["the dataset is read better from conv than from FC weights (local windows)"] = part_contrast(
        parts, "dataset", "conv", "fc")
    if any(t == "filter_size" for _, t in everything):  # random architectures only
        fc_only = {**parts.get("fc", {}), **{k: v for k, v in res.items() if k[0] == "hparams-baseline"}}
        f["the filter size is readable from FC weights alone (local windows)"] = readable(fc_only, "filter_size")
    # the initialization map of each local DMC on all weights: rows of its own
    for m in store.load_maps(out / config):
        spec = m["spec"]
        if spec.target == "initialization" and spec.part == "all" and not spec.test_configs:
            for name, v in map_findings(m).items():
                f[f"{name} ({dmc_label(spec)})" if dmc_label(spec) else name] = v
    reg = out / config / "report" / "regression.json"
    if reg.exists():
        r = read_json(reg)
        f["regression: Glorot initialization best"] = regression_best(r, "initialization",
                                                                       {"glorot_uniform", "glorot_normal"})
        f["regression: ReLU/ELU best"] = regression_best(r, "activation", {"relu", "elu"})
    return f


def findings_table(f: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: finding | status | the numbers behind it."""
    md = ["| finding of the paper | status | evidence |", "|---|---|---|"]
    for name, v in f.items():
        md.append(f"| {name} | **{v['status']}** | {'<br>'.join(v['evidence']) or '–'} |")
    return md


RULES = "Decided from the 95% CIs (rules in `metaclf/analyses/findings.py`)."


def summarize_with_findings(out: Path) -> str:
    """:func:`metaclf.store.summarize`, then the findings each config's results address appended
    to ``<out>/results.md``, so that a folder of meta-classifier runs alone (no report) shows
    which of the paper's findings its numbers reproduce; return the markdown."""
    md = [store.summarize(out)]
    for config in store.load_results(out):
        md += ["", f"### {config}: findings of the paper", "", RULES, "", *findings_table(findings(config, out))]
    text = "\n".join(md)
    (out / "results.md").write_text(text + "\n")
    return text
