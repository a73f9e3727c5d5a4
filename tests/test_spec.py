"""The run specification: every combination rule in one place, names derived and never parsed,
and command lines that answer --help without loading a heavy library."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from metaclf.spec import RunSpec, SpecError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fields,message", [
    ({"method": "svm-magic"}, "method 'svm-magic' is unknown"),
    ({"config": "nope"}, "config 'nope' is unknown"),
    ({"target": "colour"}, "unknown target 'colour'"),
    ({"target": "filter_size"}, "fixed to 5 in c_fixed_mini"),
    ({"method": "svm-linear-layerwise", "config": "c_main_mini"}, "needs a fixed architecture"),
    ({"method": "dmc-global", "config": "c_main_mini"}, "needs a fixed architecture"),
    ({"method": "svm-linear-global", "part": "conv"}, "part='conv' does not apply to svm-linear-global"),
    ({"method": "svm-rbf-local", "steps": 9}, "steps=9 does not apply to svm-rbf-local: it applies to DMCs"),
    ({"method": "hparams-baseline", "members": 2}, "members=2 does not apply"),
    ({"norm": "layer", "bn_stats": "test-batch"}, "bn_stats='test-batch' needs norm='batch'"),
    ({"bn_stats": "moving"}, "bn_stats='moving' is not valid"),
    ({"part": "middle"}, "part='middle' is not valid: expected one of all, conv, fc"),
    ({"subset_size": 8}, "subset_size=8 is not valid: expected an integer from 16"),
    ({"steps": 10**12}, "steps=1000000000000 is not valid"),
    ({"rounds": 0}, "rounds=0 is not valid"),
    ({"members": True}, "members=True is not valid"),
    ({"seed": -1}, "seed=-1 is not valid"),
    ({"config": "c_fixed_mini_holdout"}, "holds test models only"),
    ({"test_configs": ("c_main_mini",)}, "'c_main_mini' does not match 'c_fixed_mini'"),
    ({"test_configs": ("c_fixed_mini_holdout", "c_fixed_mini_holdout")}, "given twice"),
])
def test_every_rule_between_fields_is_checked_by_validate(fields, message):
    spec = replace(RunSpec("dmc-local", "c_fixed_mini", "optimizer"), **fields)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        spec.validate()


def test_names_are_derived_from_the_fields_as_written_by_hand():
    plain = RunSpec("dmc-local", "c_fixed_cpu", "activation", part="conv", subset_size=500)
    assert plain.validate().stem() == "dmc-local-activation-conv"
    assert plain.training_stem() == "dmc-local-activation-conv.s500"
    variant = replace(plain, norm="layer", members=2, test_configs=("c_fixed_cpu_holdout",))
    assert variant.stem() == "dmc-local-ln-ens2+c_fixed_cpu_holdout-activation-conv"
    # the evaluation, the ensemble and the pooled test models share the plain run's checkpoints;
    # per-input normalization is another network, so not
    assert replace(plain, bn_stats="test-population", members=3).training_stem() == plain.training_stem()
    assert variant.training_stem() == "dmc-local-ln-activation-conv.s500"
    assert replace(plain, bn_stats="test-batch").label() == "dmc-local@test-batch"
    assert replace(plain, bn_stats="test-batch").describe() == "test-batch BN, transductive"
    assert RunSpec("svm-rbf-global", "c_fixed_cpu", "dataset").stem() == "svm-rbf-global-dataset"
    assert RunSpec("svm-rbf-global", "c_fixed_cpu", "dataset").training_stem() == "svm-rbf-global-dataset"


def test_a_spec_survives_json_and_its_json_holds_only_the_fields_its_method_takes():
    dmc = RunSpec("dmc-local", "c_fixed_cpu", "activation", steps=8000, bn_stats="test-population",
                  test_configs=("c_fixed_cpu_holdout",), seed=3)
    doc = json.loads(json.dumps(dmc.to_json()))
    assert RunSpec.from_json(doc) == dmc and doc["test_configs"] == ["c_fixed_cpu_holdout"]
    svm = RunSpec("svm-linear-global", "c_fixed_cpu", "dataset", rounds=10)
    assert set(svm.to_json()) == {"method", "config", "target", "rounds", "test_configs", "models_per_class", "seed",
                                  "converged_only", "tune"}  # no window or DMC field: they do not apply
    assert RunSpec.from_json(svm.to_json()) == svm
    with pytest.raises(SpecError, match="unknown fields"):
        RunSpec.from_json({**doc, "inputs": "raw+sorted"})
    with pytest.raises(SpecError, match="expected an object"):
        RunSpec.from_json([1, 2])
    with pytest.raises(SpecError, match="lacks target"):
        RunSpec.from_json({"method": "dmc-local", "config": "c_fixed_cpu"})


def test_a_resumed_run_keeps_a_result_only_when_its_spec_is_the_one_asked_for(tmp_path):
    from metaclf import store
    from nws_datasets.storage import write_json

    spec = RunSpec("svm-linear-global", "c_fixed_mini", "optimizer")
    path = store.result_path(tmp_path, spec)
    write_json(path, {"spec": spec.to_json()})
    assert store.reusable(path, spec)
    assert not store.reusable(path, replace(spec, seed=7))  # another seed: made again
    path.write_text('{"spec": {"method": "svm-linear-global", "method": "x"}}')  # a duplicated key
    assert not store.reusable(path, spec)


@pytest.mark.parametrize("module", ["metaclf.local", "metaclf.svm", "metaclf.all", "metaclf.maps",
                                    "metaclf.learning_curve", "metaclf.results", "metaclf.report"])
def test_help_loads_no_heavy_library_and_shows_every_default(module):
    probe = ("import runpy, sys; sys.argv = ['x', '--help']\n"
             f"try:\n    runpy.run_module({module!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in ('torch', 'datasets', 'sklearn', 'scipy', 'matplotlib') "
             "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("LOADED []"), r.stdout[-300:]
    text = " ".join(r.stdout.split())
    if module == "metaclf.local":
        for default in ("NWS config (default c_fixed_mini)", "(default all)", "classify (default activation)",
                        "window size S (default 5000)", "(default population", "DMCs per round (default 1"):
            assert default in text, default
