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
