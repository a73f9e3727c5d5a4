"""The findings table decides from confidence intervals by fixed rules; each case is worked by hand."""
import functools

import numpy as np

from metaclf.analyses.findings import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, extreme_target, map_findings,
                                       method_order, readable, regression_best, verdict)

CFG = "c_fixed_cpu"  #: a real config whose six targets all vary, as results name one


def write_result(out, method, target, part, acc, half, chance, config=CFG, **fields):
    """A result JSON of the run (method, config, target, part, fields) with accuracy ``acc`` ±
    ``half`` (its 95% CI), filed where the run's spec says."""
    from metaclf import store
    from metaclf.spec import RunSpec
    from nws_datasets.storage import write_json

    spec = RunSpec(method, config, target, part=part, **fields).validate()
    write_json(store.result_path(out, spec), {
        "method": method, "label": spec.label(), "spec": spec.to_json(), "target": target, "config": config,
        "accuracy_mean": acc, "ci95": [acc - half, acc + half], "chance": chance, "test": {"models": 40}})


def r(acc, lo, hi, chance=0.5):
    return {"accuracy_mean": acc, "ci95": [lo, hi], "chance": chance}


def test_verdict_rules():
    assert verdict([1, 1, 0]) == REPRODUCED  # a majority holds, none reversed
    assert verdict([1, 1, -1]) == INCONCLUSIVE  # reversed once: not reproduced either
    assert verdict([-1, -1, 1]) == NOT_REPRODUCED  # reversed in a majority
    assert verdict([0, 0, -1]) == NOT_REPRODUCED  # reversed somewhere, holding nowhere
    assert verdict([0, 0, 1]) == INCONCLUSIVE and verdict([]) == INCONCLUSIVE


def test_method_order_needs_separated_intervals():
    res = {("dmc-local", "a"): r(0.85, 0.8, 0.9), ("svm-rbf-local", "a"): r(0.65, 0.6, 0.7),
           ("svm-linear-local", "a"): r(0.45, 0.4, 0.5),
           ("dmc-local", "b"): r(0.85, 0.8, 0.9), ("svm-rbf-local", "b"): r(0.65, 0.6, 0.7),
           ("svm-linear-local", "b"): r(0.62, 0.55, 0.69)}  # rbf and linear overlap on b
    order = ["dmc-local", "svm-rbf-local", "svm-linear-local"]
    assert method_order(res, order)["status"] == INCONCLUSIVE  # holds on a, undecided on b: 1 of 2
    res[("svm-linear-local", "b")] = r(0.45, 0.4, 0.5)
    assert method_order(res, order)["status"] == REPRODUCED
    res[("dmc-local", "a")] = res[("dmc-local", "b")] = r(0.3, 0.25, 0.35)  # the DMC below both SVMs
    assert method_order(res, order)["status"] == NOT_REPRODUCED


def test_extreme_target_compares_accuracy_above_chance():
    """initialization 0.9 [0.85, 0.95] with chance 1/3 → 0.85 [0.775, 0.925] above chance;
    activation 0.7 [0.65, 0.75] with chance 1/4 → 0.6 [0.533, 0.667]: initialization wins,
    though a raw 2-class 0.8 [0.75, 0.85] (→ 0.6 [0.5, 0.7]) would look close in raw accuracy."""
    res = {("dmc-local", "initialization"): r(0.9, 0.85, 0.95, 1 / 3),
           ("dmc-local", "activation"): r(0.7, 0.65, 0.75, 0.25),
           ("dmc-local", "augmentation"): r(0.8, 0.75, 0.85, 0.5)}
    assert extreme_target(res, ["dmc-local"], "initialization", True)["status"] == REPRODUCED
    assert extreme_target(res, ["dmc-local"], "activation", False)["status"] == INCONCLUSIVE  # overlaps augmentation
    res[("dmc-local", "augmentation")] = r(0.95, 0.93, 0.97, 0.5)  # → 0.9 [0.86, 0.94]: above initialization's
    assert extreme_target(res, ["dmc-local"], "initialization", True)["status"] == INCONCLUSIVE  # [0.775, 0.925] overlaps
    res[("dmc-local", "augmentation")] = r(0.99, 0.985, 0.995, 0.5)  # → [0.97, 0.99]: wholly above
    assert extreme_target(res, ["dmc-local"], "initialization", True)["status"] == NOT_REPRODUCED


def test_readable_must_beat_chance_and_the_confound_baseline():
    res = {("svm-rbf-global", "dataset"): r(0.8, 0.72, 0.88)}
    assert readable(res, "dataset")["status"] == REPRODUCED
    res[("hparams-baseline", "dataset")] = r(0.78, 0.7, 0.86)  # the other hyper-parameters do as well
    assert readable(res, "dataset")["status"] == INCONCLUSIVE
    assert readable({("dmc-local", "dataset"): r(0.45, 0.3, 0.49)}, "dataset")["status"] == NOT_REPRODUCED


def test_map_findings_from_a_hand_made_map():
    """100 test models: half-width 1.96·sqrt(p(1−p)/100) ≤ 0.098. Rows are snapshots."""
    acc = np.full((20, 8), 0.6)
    acc[:5] = 0.95  # readable early
    acc[0, :2] = acc[0, -2:] = 0.95
    acc[-1, :2] = acc[-1, -2:] = 0.5  # falls in the first and last layers
    m = {"accuracy": acc.tolist(), "chance": 1 / 3, "test_models": 100}
    f = map_findings(m)
    assert [v["status"] for v in f.values()] == [REPRODUCED, REPRODUCED]
    acc[-1, -2:] = 0.95  # the last layers keep it
    f = map_findings({**m, "accuracy": acc.tolist()})
    assert list(f.values())[1]["status"] == INCONCLUSIVE


def test_regression_best_level_with_its_significance():
    def fit(coefs, ps, ref):
        keys = [f"initialization={k}" for k in coefs]
        return {"coefficients": dict(zip(keys, coefs.values())), "p_values": dict(zip(keys, ps)),
                "roles": {f"initialization={ref}": "reference"}}

    claimed = {"glorot_uniform", "glorot_normal"}
    good = fit({"random_normal": 0.0, "glorot_uniform": 2.0, "glorot_normal": 1.5}, [None, 0.001, 0.01], "random_normal")
    weak = fit({"random_normal": 0.0, "glorot_uniform": 0.3, "glorot_normal": 0.1}, [None, 0.4, 0.8], "random_normal")
    bad = fit({"glorot_uniform": 0.0, "random_normal": 1.0, "glorot_normal": -0.2}, [None, 0.02, 0.5], "glorot_uniform")
    assert regression_best({"per_dataset": {"a": good, "b": good}}, "initialization", claimed)["status"] == REPRODUCED
    assert regression_best({"per_dataset": {"a": good, "b": weak, "c": good}}, "initialization",
                           claimed)["status"] == REPRODUCED
    assert regression_best({"per_dataset": {"a": weak}}, "initialization", claimed)["status"] == INCONCLUSIVE
    assert regression_best({"per_dataset": {"a": bad, "b": weak}}, "initialization", claimed)["status"] == NOT_REPRODUCED


def test_windows_of_conv_weights_are_their_own_table_and_finding(tmp_path):
    """Fig. 4 trains local DMCs on all, conv or FC weights: results of each part are tabled
    apart, and the method order is decided per part, never mixing a conv result into 'all'."""
    from metaclf import store
    from metaclf.analyses.findings import findings

    for part, (d, rbf, lin) in {"all": (0.20, 0.30, 0.27), "conv": (0.60, 0.40, 0.30)}.items():
        write_result(tmp_path, "dmc-local", "activation", part, d, 0.03, 0.25)
        write_result(tmp_path, "svm-rbf-local", "activation", part, rbf, 0.03, 0.25)
        write_result(tmp_path, "svm-linear-local", "activation", part, lin, 0.01, 0.25)
    f = findings(CFG, tmp_path)
    assert f["local DMC > RBF SVM > linear SVM on local windows"]["status"] == NOT_REPRODUCED  # [0.17, 0.23] below [0.27, 0.33]
    assert f["local DMC > RBF SVM > linear SVM on local windows (conv weights only)"]["status"] == REPRODUCED
    md = store.summarize(tmp_path)
    assert f"### {CFG}\n" in md and f"### {CFG}: windows of conv weights only" in md
    conv_table = md.split("conv weights only")[1]
    assert "0.600 [0.570, 0.630]" in conv_table and "0.200" not in conv_table
    assert (tmp_path / CFG / "summary.png").exists() and (tmp_path / CFG / "summary-conv.png").exists()


def test_results_md_decides_the_findings_of_meta_classifier_runs_alone(tmp_path):
    """`metaclf.results` on a folder of runs without a report: results.md holds the table and,
    per config, the findings these runs address, with the verdicts of the CI rules."""
    from metaclf.analyses.findings import summarize_with_findings
    from metaclf.cli.commands import results

    for (method, fields), acc in {("dmc-local", ()): 0.60, ("dmc-local", (("bn_stats", "test-batch"),)): 0.35,
                                  ("dmc-local", (("norm", "layer"),)): 0.50, ("svm-rbf-local", ()): 0.40,
                                  ("svm-linear-local", ()): 0.30}.items():
        write_result(tmp_path, method, "activation", "conv", acc, 0.02, 0.25, **dict(fields))
    assert results(["--out", str(tmp_path)]) == 0
    md = (tmp_path / "results.md").read_text()
    assert md.index(f"### {CFG}: windows of conv weights only") < md.index(f"### {CFG}: findings of the paper")
    assert "| local DMC > RBF SVM > linear SVM on local windows (conv weights only) | **reproduced** |" in md
    # the authors' test-batch evaluation is decided on its own row: 0.35 lies below the RBF SVM's 0.40
    assert ("| local DMC > RBF SVM > linear SVM on local windows (conv weights only, DMC with test-batch BN, "
            "transductive) "
            "| **not reproduced** | activation: dmc-local@test-batch 0.350") in md
    # so is the DMC beyond the paper that normalizes each input alone: 0.50 lies above 0.40
    assert ("| local DMC > RBF SVM > linear SVM on local windows (conv weights only, DMC with per-input "
            "normalization) | **reproduced** | activation: dmc-local-ln 0.500") in md
    # the all-weights order has no results here: undecided, never reproduced
    assert ("| local DMC > RBF SVM > linear SVM on local windows | **inconclusive** | no target has results of all of "
            "dmc-local, svm-rbf-local, svm-linear-local |") in md
    assert summarize_with_findings(tmp_path) + "\n" == md


def test_fig4_part_findings_compare_conv_with_fc_windows_and_read_filter_size_from_fc(tmp_path):
    """Sec. 5.3: the dataset footprint is stronger in conv weights than in FC weights, and the
    filter size is readable from FC weights alone; decided per method from the intervals."""
    from metaclf.analyses.findings import findings

    write = functools.partial(write_result, tmp_path, config="c_main_cpu")

    write("dmc-local", "dataset", "conv", 0.70, 0.04, 0.5)  # [0.66, 0.74]
    write("dmc-local", "dataset", "fc", 0.55, 0.04, 0.5)  # [0.51, 0.59]: wholly below
    write("svm-rbf-local", "dataset", "conv", 0.60, 0.04, 0.5)  # [0.56, 0.64]
    write("svm-rbf-local", "dataset", "fc", 0.57, 0.04, 0.5)  # [0.53, 0.61]: overlaps
    f = findings("c_main_cpu", tmp_path)
    conv_fc = f["the dataset is read better from conv than from FC weights (local windows)"]
    assert conv_fc["status"] == INCONCLUSIVE  # holds for 1 of 2 methods: no majority
    assert "filter size" not in " ".join(f)  # no filter-size result: a fixed architecture, not asked
    write("svm-linear-local", "dataset", "conv", 0.65, 0.02, 0.5)
    write("svm-linear-local", "dataset", "fc", 0.50, 0.02, 0.5)
    write("svm-rbf-local", "filter_size", "fc", 0.30, 0.02, 1 / 3)  # [0.28, 0.32]: below 1/3
    write("svm-rbf-local", "filter_size", "all", 0.90, 0.05, 1 / 3)  # all weights: must not count for FC alone
    f = findings("c_main_cpu", tmp_path)
    assert f["the dataset is read better from conv than from FC weights (local windows)"]["status"] == REPRODUCED
    assert f["the filter size is readable from FC weights alone (local windows)"]["status"] == NOT_REPRODUCED
    write("svm-rbf-local", "filter_size", "fc", 0.45, 0.05, 1 / 3)  # [0.40, 0.50] above 1/3
    f = findings("c_main_cpu", tmp_path)
    assert f["the filter size is readable from FC weights alone (local windows)"]["status"] == REPRODUCED
    write("hparams-baseline", "filter_size", "all", 0.48, 0.05, 1 / 3)  # the confound reads it as well
    f = findings("c_main_cpu", tmp_path)
    assert f["the filter size is readable from FC weights alone (local windows)"]["status"] == INCONCLUSIVE


def test_target_rankings_are_decided_per_part_with_every_dmc_evaluation_a_method(tmp_path):
    """Fig. 4's conv-only and FC-only DMCs get the initialization and batch-size rankings of
    their own; a DMC evaluated with test-batch BN votes beside the population-BN one."""
    from metaclf.analyses.findings import findings

    write = functools.partial(write_result, tmp_path)

    # conv windows only: above chance, (x - c) / (1 - c): initialization 0.80 [0.74, 0.86] (chance 1/3),
    # dataset 0.32 [0.24, 0.40] (chance 1/2), batch size 0.12 [0.05, 0.19] (chance 1/4)
    for m, fields in (("dmc-local", {"bn_stats": "test-batch"}), ("svm-rbf-local", {})):
        write(m, "initialization", "conv", 0.8667, 0.04, 1 / 3, **fields)
        write(m, "dataset", "conv", 0.66, 0.04, 0.5, **fields)
        write(m, "batch_size", "conv", 0.34, 0.05, 0.25, **fields)
    write("dmc-local", "initialization", "conv", 0.60, 0.04, 1 / 3)  # 0.40 [0.34, 0.46]: overlaps the dataset
    write("dmc-local", "dataset", "conv", 0.66, 0.04, 0.5)
    f = findings(CFG, tmp_path)
    init = f["initialization is the most locally distinguishable target (conv weights only)"]
    assert init["status"] == REPRODUCED  # holds for 2 of 3 methods, reversed for none
    assert [row.split(":")[0] for row in init["evidence"]] == ["dmc-local", "dmc-local@test-batch", "svm-rbf-local"]
    assert f["batch size is the hardest target (conv weights only)"]["status"] == REPRODUCED  # 2 of 2 that have it
    assert f["initialization is the most locally distinguishable target"]["status"] == INCONCLUSIVE  # no "all" results
    assert not any("fc weights only" in name for name in f)
    # a result tested on another config's models as well (--test-config) votes nowhere: it would
    # compare methods on different test models; this one would otherwise reverse the ranking
    pooled = {"test_configs": ("c_fixed_cpu_holdout",)}
    write("dmc-local", "dataset", "conv", 0.98, 0.01, 0.5, **pooled)
    write("dmc-local", "initialization", "conv", 0.4, 0.04, 1 / 3, **pooled)
    assert findings(CFG, tmp_path) == f
    write("svm-rbf-local", "dataset", "conv", 0.98, 0.01, 0.5)  # 0.96: now above initialization for one method
    f = findings(CFG, tmp_path)
    assert f["initialization is the most locally distinguishable target (conv weights only)"]["status"] == INCONCLUSIVE


def test_each_bn_evaluation_of_the_initialization_map_is_decided_on_rows_of_its_own(tmp_path):
    """A flat map (ours) and a map that falls in the first and last layers (test-batch BN): the
    same two map findings, each decided from its own map; so are the maps of DMCs beyond the
    paper (per-input normalization). 100 test models: half-width ≤ 0.098."""
    from metaclf import store
    from metaclf.analyses.findings import findings
    from metaclf.spec import RunSpec
    from nws_datasets.storage import write_json

    write_result(tmp_path, "dmc-local", "initialization", "all", 0.7, 0.02, 1 / 3)
    flat = np.full((20, 8), 0.7)
    falling = flat.copy()
    falling[0, :2] = falling[0, -2:] = 0.95
    falling[-1, :2] = falling[-1, -2:] = 0.5
    for fields, acc in (({}, flat), ({"bn_stats": "test-batch"}, falling), ({"norm": "layer"}, falling[::-1]),
                        ({"part": "conv"}, falling)):  # a map of conv windows decides none of these rows
        spec = RunSpec("dmc-local", CFG, "initialization", **fields)
        write_json(store.map_path(tmp_path, spec), {"spec": spec.to_json(), "accuracy": acc.tolist(),
                                                    "chance": 1 / 3, "test_models": 100})
    f = findings(CFG, tmp_path)
    fall = "initialization accuracy falls over training in the first and last layers"
    assert f[fall]["status"] == INCONCLUSIVE
    tb = "DMC with test-batch BN, transductive"
    assert f[f"{fall} ({tb})"]["status"] == REPRODUCED
    assert f[f"{fall} ({tb})"]["evidence"][0] == "first layers: 0.950 at initialization → 0.500 at the end"
    early = "initialization readable early in training (first quarter of the snapshots)"
    assert f[early]["status"] == f[f"{early} ({tb})"]["status"] == REPRODUCED
    # a DMC beyond the paper: its own rows (a map that rises over training reverses the fall)
    assert f[f"{fall} (DMC with per-input normalization)"]["status"] == NOT_REPRODUCED
    assert not any("conv" in name for name in f if name.startswith(fall))
