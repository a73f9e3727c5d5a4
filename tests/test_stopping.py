from train.stopping import EarlyStopping, snapshot_epochs


def run(curve, **kw):
    s = EarlyStopping(**kw)
    for t, v in enumerate(curve):
        reason = s.update(v)
        if reason:
            return t, reason
    return None


def test_five_consecutive_decreases_stop_after_min_epochs():
    rising = [0.1 + 0.01 * t for t in range(25)]
    falling = [rising[-1] - 0.01 * k for k in range(1, 6)]
    assert run(rising + falling) == (29, "decreasing")
    # the same pattern before epoch 20 does not stop training
    early = [0.5, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35] + [0.35 + 0.01 * t for t in range(1, 20)]
    assert run(early) is None


def test_stationary_epochs_pause_the_decrease_count_as_in_the_authors_code():
    rising = [0.1 + 0.01 * t for t in range(25)]
    top = rising[-1]
    tail = [top - 0.01, top - 0.02, top - 0.02, top - 0.03, top - 0.04, top - 0.05]
    assert run(rising + tail) == (30, "decreasing")  # the equal epoch did not reset the count
    assert run(rising + [top - 0.01, top - 0.02, top + 0.1, top, top - 0.01, top - 0.02]) is None


def test_stopping_is_possible_once_twenty_evaluations_exist():
    """Epochs 15–19 decrease: the authors' code stops at t = 19 (20 evaluations)."""
    curve = [0.1 + 0.01 * t for t in range(15)] + [0.2 - 0.01 * k for k in range(1, 6)]
    assert run(curve) == (19, "decreasing")
    assert run(curve[:-1]) is None


def test_thirty_epochs_below_the_smoothed_accuracy():
    # zig-zag: every second epoch falls below the smoothed value, never 5 decreases in a row
    curve = [0.5] + [0.6 if t % 2 else 0.52 for t in range(1, 200)]
    t, reason = run(curve)
    assert reason == "below_smoothed"
    below = sum(1 for k in range(1, t + 1) if curve[k] == 0.52)
    assert below == 30


def test_thirty_stationary_epochs():
    curve = [0.1] * 40
    assert run(curve) == (30, "stationary")
    assert run([0.1] * 30) is None  # 29 stationary steps are not enough


def test_min_epochs_is_respected():
    assert run([0.1] * 40, min_epochs=35) == (35, "stationary")


def test_snapshot_selection():
    assert snapshot_epochs(19) == list(range(20))
    s = snapshot_epochs(100)
    assert s[0] == 0 and s[-1] == 100 and len(s) == 20 and len(set(s)) == 20
    assert s == [0, 5, 11, 16, 21, 26, 32, 37, 42, 47, 53, 58, 63, 68, 74, 79, 84, 89, 95, 100]
    assert snapshot_epochs(20) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
