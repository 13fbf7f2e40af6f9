//! A deterministic synthetic history of reporting events (no randomness: the same apps and day
//! give the same events), for the demo (`skill dev --demo`, the test harness) and benchmarks:
//! per app and day a few conversations with drafts, replies (some automatic), approvals,
//! escalations, draft outcomes, resolutions and SLA verdicts. Ids start with `demo:`.

use super::{EventKind as K, ReportingEvent};
use crate::time::{DAY_MS, Millis};

const CATEGORIES: [&str; 4] = ["access", "refund", "billing", "technical"];
const MIN: i64 = 60_000;

/// `days` days of history ending with the day of `now` (events after `now` left out),
/// `per_day` conversations per app and day.
pub fn history(apps: &[String], now: Millis, days: i64, per_day: u64) -> Vec<ReportingEvent> {
    let today = now.div_euclid(DAY_MS);
    let mut out = Vec::new();
    for (ai, app) in apps.iter().enumerate() {
        for d in (today - days + 1)..=today {
            let n = per_day + mix(d as u64 ^ ((ai as u64) << 40)) % (per_day / 2 + 2);
            for i in 0..n {
                let seed = mix((d as u64) << 20 ^ (i << 4) ^ ai as u64);
                conversation(&mut out, app, d, i, seed);
            }
        }
    }
    out.retain(|e| e.at <= now);
    out
}

/// SplitMix64's finalizer: well-spread bits from a counter.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn conversation(out: &mut Vec<ReportingEvent>, app: &str, day: i64, i: u64, seed: u64) {
    let cat = CATEGORIES[((seed >> 4) % 4) as usize];
    let conv = format!("demo_cnv_{app}_{day}_{i}");
    let t0 = day * DAY_MS + 8 * 3_600_000 + ((seed >> 12) % 600) as i64 * MIN;
    let ev = |tag: &str, k: K, at: Millis| {
        ReportingEvent::new(format!("demo:{tag}:{conv}"), k, app, cat, conv.clone(), at)
    };
    out.push(ev("recv", K::MessageReceived, t0));
    let draft_ms = 1_500 + ((seed >> 52) % 9_000) as i64;
    out.push(ev("draft", K::DraftWritten, t0 + draft_ms).value(draft_ms));
    let pick = seed % 10;
    let human = pick >= 4;
    if pick == 9 {
        out.push(
            ev("esc", K::Escalated, t0 + draft_ms).reason(if (seed >> 8).is_multiple_of(3) {
                "urgent"
            } else {
                "needs-human"
            }),
        );
    }
    if cat == "refund" {
        out.push(ev("apreq", K::ApprovalRequested, t0 + draft_ms));
        let lat = (5 + ((seed >> 24) % 90) as i64) * MIN;
        let reason = match (seed >> 32) % 10 {
            0 => "rejected",
            1 => "expired",
            _ => "approved",
        };
        out.push(
            ev("apdec", K::ApprovalDecided, t0 + draft_ms + lat)
                .value(lat)
                .reason(reason),
        );
    }
    let reply_after = if human {
        (10 + ((seed >> 40) % 240) as i64) * MIN
    } else {
        draft_ms + 1_000
    };
    let reply = t0 + reply_after;
    out.push(ev(
        "reply",
        if human { K::ReplyHuman } else { K::ReplyAuto },
        reply,
    ));
    out.push(ev("first", K::FirstReply, reply).value(reply_after));
    if human {
        let kind = match (seed >> 16) % 5 {
            0 | 1 => K::DraftUnchanged,
            2 | 3 => K::DraftEdited,
            _ => K::DraftRewritten,
        };
        out.push(ev("outcome", kind, reply));
    }
    let target = 120 * MIN;
    if reply_after <= target {
        out.push(ev("sla", K::SlaMet, reply).reason("first_reply"));
    } else {
        out.push(ev("slaw", K::SlaWarning, t0 + target - 30 * MIN).reason("first_reply"));
        out.push(ev("slab", K::SlaBreach, t0 + target).reason("first_reply"));
    }
    let resolve = reply + (30 + ((seed >> 48) % 600) as i64) * MIN;
    let touched = human || pick == 9 || cat == "refund";
    out.push(
        ev("resolved", K::Resolved, resolve)
            .value(resolve - t0)
            .reason(if touched { "human" } else { "automatic" }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_deterministic_and_rolls_up() {
        let apps = vec!["alpha".to_string()];
        let now = 20_000 * DAY_MS + 23 * 3_600_000;
        let a = history(&apps, now, 7, 3);
        assert_eq!(a, history(&apps, now, 7, 3));
        assert!(a.iter().all(|e| e.at <= now && e.id.starts_with("demo:")));
        let mut ids: Vec<_> = a.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), a.len(), "ids are unique");
        let rows = crate::analytics::rollup_events(20_000 - 1, &a);
        assert!(!rows.is_empty());
    }
}
