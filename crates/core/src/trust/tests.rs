#![allow(clippy::unwrap_used)]

use super::*;

fn sig(n: usize, kind: SignalKind, at: Millis) -> Signal {
    Signal::new(
        format!("s{n}"),
        kind,
        "alpha",
        "access",
        "cnv_1",
        at,
        "test",
    )
}

#[test]
fn trust_is_the_decayed_mean_recomputed_by_hand() {
    let t = 100 * DAY_MS;
    let signals = vec![
        sig(1, SignalKind::Unchanged, t),               // age 0, w 1
        sig(2, SignalKind::Edited, t - 30 * DAY_MS),    // age 30, w 0.5
        sig(3, SignalKind::Rewritten, t - 60 * DAY_MS), // age 60, w 0.25
        sig(4, SignalKind::Reopened, t - 15 * DAY_MS).with_bad_outcome_weight(2.0), // w 3·2^-0.5
        sig(5, SignalKind::RatingGood, t + DAY_MS),     // in the future: ignored
    ];
    let w4 = 3.0 * 0.5_f64.powf(0.5);
    let sum_w = 1.0 + 0.5 + 0.25 + w4;
    let sum_wv = 1.0 * 1.0 + 0.5 * 0.5 + 0.25 * 0.0 + w4 * 0.0;
    let got = trust_at(&signals, t, HALF_LIFE_DAYS);
    assert_eq!(got.signals, 4);
    assert!((got.effective_samples - sum_w).abs() < 1e-12, "{got:?}");
    assert!((got.score - sum_wv / sum_w).abs() < 1e-12, "{got:?}");
    // Deterministic: the same rows give the same number in any order.
    let mut rev = signals.clone();
    rev.reverse();
    let again = trust_at(&rev, t, HALF_LIFE_DAYS);
    assert!((again.score - got.score).abs() < 1e-12);
}

#[test]
fn sixty_days_without_signals_divide_effective_samples_by_four() {
    let t0 = 1_000 * DAY_MS;
    let signals: Vec<Signal> = (0..60)
        .map(|i| sig(i, SignalKind::Unchanged, t0 - i as i64 * 1000))
        .collect();
    let now = trust_at(&signals, t0, HALF_LIFE_DAYS);
    let later = trust_at(&signals, t0 + 60 * DAY_MS, HALF_LIFE_DAYS);
    assert!(now.effective_samples > 59.99);
    assert!((now.effective_samples / later.effective_samples - 4.0).abs() < 1e-9);
    // The score itself does not decay: all signals age alike.
    assert!((later.score - 1.0).abs() < 1e-12);
}

#[test]
fn no_signals_is_zero_and_values_follow_the_issue() {
    let none = trust_at(&[], 0, HALF_LIFE_DAYS);
    assert_eq!(
        (none.score, none.effective_samples, none.signals),
        (0.0, 0.0, 0)
    );
    let values: Vec<(SignalKind, f64)> = SignalKind::ALL.iter().map(|k| (*k, k.value())).collect();
    assert!(values.contains(&(SignalKind::Unchanged, 1.0)));
    assert!(values.contains(&(SignalKind::Edited, 0.5)));
    assert!(values.contains(&(SignalKind::Rewritten, 0.0)));
    assert!(values.contains(&(SignalKind::NotSent, 0.0)));
    assert!(values.contains(&(SignalKind::RatingGood, 1.0)));
    assert!(values.contains(&(SignalKind::RatingBad, 0.0)));
    for k in SignalKind::ALL {
        assert_eq!(SignalKind::parse(k.as_str()), Some(*k));
    }
    // Only bad outcomes take the extra weight.
    assert_eq!(
        sig(1, SignalKind::Edited, 0)
            .with_bad_outcome_weight(2.0)
            .weight,
        1.0
    );
    assert_eq!(
        sig(1, SignalKind::Disputed, 0)
            .with_bad_outcome_weight(2.0)
            .weight,
        3.0
    );
}

#[test]
fn trend_compares_with_a_week_earlier() {
    let t = 100 * DAY_MS;
    let signals = vec![
        sig(1, SignalKind::Rewritten, t - 10 * DAY_MS),
        sig(2, SignalKind::Unchanged, t - DAY_MS),
    ];
    assert!(trend(&signals, t, HALF_LIFE_DAYS, 7) > 0.0);
    assert_eq!(trend(&signals, t - 20 * DAY_MS, HALF_LIFE_DAYS, 7), 0.0);
}
