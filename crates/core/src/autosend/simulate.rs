//! A simulated month of the learning loop (`skill trust simulate`): labelled messages arrive
//! day after day, each category starts in `draft` with no signals, humans treat our drafts with
//! a per-category mix of behaviours (sent unchanged, edited, rewritten, not sent), trust is
//! recomputed from the signals with the 30-day half-life, a category is promoted once the gate
//! holds, and each automatic answer risks a bad outcome that demotes it. Deterministic for a
//! seed. It reports, per category, the share of messages answered automatically and the
//! human-touch rate (every message not answered automatically needs a human).

use super::{CertificateFact, GateFacts, Mode, evaluate};
use crate::knowledge::Retriever;
use crate::pipeline::agent::{self, AgentInput};
use crate::pipeline::classify::Intent;
use crate::pipeline::eval::Scenario;
use crate::pipeline::fixtures::ScenarioWorld;
use crate::pipeline::profile::AppProfile;
use crate::pipeline::router::{self, RouteInput};
use crate::pipeline::validate::{self, validation_context};
use crate::registry::AppPolicy;
use crate::time::{DAY_MS, Millis};
use crate::trust::{Signal, SignalKind, trust_at};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the gate needs to know of one message, from running it through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMessage {
    pub id: String,
    pub app: String,
    /// The predicted category.
    pub category: String,
    pub flags: Vec<String>,
    pub team_license: bool,
    pub approval_tools: Vec<String>,
    pub confidence: f64,
    pub failed_scorers: Vec<String>,
    /// The pipeline wrote a reply (not silence or an escalation).
    pub replies: bool,
}

/// Runs a scenario through route → agent → validate (offline, searching `knowledge`) and keeps
/// what the gate reads.
pub async fn message_of(
    s: &Scenario,
    policy: &AppPolicy,
    now: Millis,
    knowledge: &Arc<dyn Retriever>,
) -> SimMessage {
    let inbound = s.inbound();
    let email = inbound.customer_email();
    let world = ScenarioWorld::new(&s.app, &email, s.customer, now, Arc::clone(knowledge));
    let profile = AppProfile::for_app(&s.app);
    let facts = agent::hydrate(&world, &email, now).await;
    let route = router::route(RouteInput {
        inbound: &inbound,
        facts: Some(&facts),
        policy,
        profile: &profile,
        canned: crate::pipeline::router::CannedSet::NONE,
    });
    let outcome = agent::run(
        AgentInput {
            inbound: &inbound,
            route: &route,
            policy,
            profile: &profile,
            facts: Some(&facts),
            now,
        },
        &world,
    )
    .await;
    let context = validation_context(&route, &outcome, &profile);
    let failed_scorers = outcome
        .draft
        .as_deref()
        .map(|d| validate::validate(d, &context))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.passed)
        .map(|r| r.scorer)
        .collect();
    SimMessage {
        id: s.id.clone(),
        app: s.app.clone(),
        category: route.category.as_str().to_owned(),
        flags: route
            .flags
            .names()
            .iter()
            .map(|f| (*f).to_owned())
            .collect(),
        team_license: facts.has_team_license() || route.intent == Intent::TeamSeatAccess,
        approval_tools: outcome
            .proposals
            .iter()
            .map(|p| p.call.tool.as_str().to_owned())
            .collect(),
        confidence: f64::from(route.confidence),
        failed_scorers,
        replies: outcome.draft.is_some() && !outcome.action.is_escalation(),
    }
}

/// How humans treat our drafts in a category: probabilities of sending unchanged, edited,
/// rewritten (the rest: not sent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    pub unchanged: f64,
    pub edited: f64,
    pub rewritten: f64,
}

impl Behaviour {
    /// The mix the note's numbers use: routine categories mostly sent as they are, judgement
    /// calls edited or rewritten more often.
    pub fn for_category(category: &str) -> Behaviour {
        let (unchanged, edited, rewritten) = match category {
            "access" => (0.92, 0.05, 0.02),
            "technical" => (0.75, 0.15, 0.05),
            "billing" => (0.70, 0.20, 0.05),
            "presales" => (0.60, 0.25, 0.10),
            "fan_mail" | "feedback" => (0.80, 0.10, 0.05),
            "transfer" | "account_update" => (0.65, 0.25, 0.05),
            "refund" => (0.55, 0.30, 0.10),
            _ => (0.40, 0.30, 0.20),
        };
        Behaviour {
            unchanged,
            edited,
            rewritten,
        }
    }

    fn pick(&self, u: f64) -> SignalKind {
        if u < self.unchanged {
            SignalKind::Unchanged
        } else if u < self.unchanged + self.edited {
            SignalKind::Edited
        } else if u < self.unchanged + self.edited + self.rewritten {
            SignalKind::Rewritten
        } else {
            SignalKind::NotSent
        }
    }
}

/// The simulation's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub start: Millis,
    pub days: i64,
    /// Each message of the pool arrives this many times a day.
    pub repeats_per_day: usize,
    /// The chance that an automatic answer ends badly (reopen), which demotes the category.
    pub bad_outcome_rate: f64,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            start: 1_767_225_600_000, // 2026-01-01
            days: 30,
            repeats_per_day: 1,
            bad_outcome_rate: 0.01,
            seed: 16,
        }
    }
}

/// One app × category over the simulated month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub app: String,
    pub category: String,
    pub messages: usize,
    pub auto_sent: usize,
    pub human_touched: usize,
    pub demotions: usize,
    /// The day (0-based) the category first went auto, when it did.
    pub first_auto_day: Option<i64>,
    pub trust: f64,
    pub effective_samples: f64,
}

impl CategoryStats {
    pub fn auto_share(&self) -> f64 {
        ratio(self.auto_sent, self.messages)
    }
    pub fn human_touch_rate(&self) -> f64 {
        ratio(self.human_touched, self.messages)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// splitmix64: a small deterministic generator, enough for a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs the month. `opted_in` and `certified` are `(app, category)` pairs; `policy_of` gives an
/// app's never list.
pub fn simulate(
    pool: &[SimMessage],
    opted_in: &BTreeSet<(String, String)>,
    certified: &BTreeSet<(String, String)>,
    never: &BTreeMap<String, Vec<String>>,
    cfg: &SimConfig,
) -> Vec<CategoryStats> {
    let mut rng = Rng(cfg.seed);
    let mut signals: BTreeMap<(String, String), Vec<Signal>> = BTreeMap::new();
    let mut modes: BTreeMap<(String, String), Mode> = BTreeMap::new();
    let mut stats: BTreeMap<(String, String), CategoryStats> = BTreeMap::new();
    let step = DAY_MS / (pool.len() * cfg.repeats_per_day).max(1) as i64;
    let mut n = 0u64;
    for day in 0..cfg.days {
        for round in 0..cfg.repeats_per_day {
            for (i, m) in pool.iter().enumerate() {
                let t = cfg.start + day * DAY_MS + ((round * pool.len() + i) as i64) * step;
                let key = (m.app.clone(), m.category.clone());
                let sig = signals.entry(key.clone()).or_default();
                let st = stats.entry(key.clone()).or_insert_with(|| CategoryStats {
                    app: m.app.clone(),
                    category: m.category.clone(),
                    ..CategoryStats::default()
                });
                st.messages += 1;
                let trust = trust_at(sig, t, super::thresholds::HALF_LIFE_DAYS);
                let mut facts = GateFacts {
                    mode: Mode::Auto,
                    switched_off: None,
                    opted_in: opted_in.contains(&key),
                    category: m.category.clone(),
                    never: never.get(&m.app).cloned().unwrap_or_default(),
                    team_license: m.team_license,
                    flags: m.flags.clone(),
                    approval_tools: m.approval_tools.clone(),
                    trust: trust.score,
                    effective_samples: trust.effective_samples,
                    confidence: m.confidence,
                    failed_scorers: m.failed_scorers.clone(),
                    certificate: certified.contains(&key).then(|| CertificateFact {
                        passed: true,
                        inputs_hash: "sim".into(),
                    }),
                    inputs_hash: "sim".into(),
                };
                // Promotion: whenever the category-level gate holds (a demoted category waits
                // for the gate again with the new signals).
                let mode = modes.entry(key.clone()).or_insert(Mode::Draft);
                if *mode == Mode::Draft && evaluate(&facts).allowed {
                    *mode = Mode::Auto;
                    st.first_auto_day.get_or_insert(day);
                }
                facts.mode = *mode;
                n += 1;
                let id = format!("sim-{n}");
                let conv = format!("cnv_sim_{n}");
                if m.replies && evaluate(&facts).allowed {
                    st.auto_sent += 1;
                    if rng.next() < cfg.bad_outcome_rate {
                        sig.push(
                            Signal::new(
                                id,
                                SignalKind::Reopened,
                                &m.app,
                                &m.category,
                                conv,
                                t,
                                "sim",
                            )
                            .with_bad_outcome_weight(2.0),
                        );
                        *mode = Mode::Draft;
                        st.demotions += 1;
                    }
                } else {
                    st.human_touched += 1;
                    if m.replies {
                        let kind = Behaviour::for_category(&m.category).pick(rng.next());
                        sig.push(Signal::new(id, kind, &m.app, &m.category, conv, t, "sim"));
                    }
                }
            }
        }
    }
    let end = cfg.start + cfg.days * DAY_MS;
    stats
        .into_iter()
        .map(|(key, mut st)| {
            let t = trust_at(
                signals.get(&key).map(Vec::as_slice).unwrap_or_default(),
                end,
                super::thresholds::HALF_LIFE_DAYS,
            );
            st.trust = t.score;
            st.effective_samples = t.effective_samples;
            st
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(category: &str, confidence: f64) -> SimMessage {
        SimMessage {
            id: category.into(),
            app: "a".into(),
            category: category.into(),
            flags: vec![],
            team_license: false,
            approval_tools: vec![],
            confidence,
            failed_scorers: vec![],
            replies: true,
        }
    }

    #[test]
    fn a_trusted_certified_category_goes_auto_and_others_stay_with_humans() {
        let pool: Vec<SimMessage> = (0..4)
            .map(|_| msg("access", 0.95))
            .chain([msg("refund", 0.95), msg("presales", 0.5)])
            .collect();
        let pair = |c: &str| ("a".to_string(), c.to_string());
        let opted: BTreeSet<_> = [pair("access"), pair("presales")].into();
        let certified: BTreeSet<_> = [pair("access"), pair("presales"), pair("refund")].into();
        let never = BTreeMap::from([("a".to_string(), vec!["refund".to_string()])]);
        let cfg = SimConfig {
            bad_outcome_rate: 0.0,
            ..SimConfig::default()
        };
        let out = simulate(&pool, &opted, &certified, &never, &cfg);
        let get = |c: &str| out.iter().find(|s| s.category == c).unwrap().clone();
        let access = get("access");
        assert_eq!(access.messages, 120);
        assert!(access.auto_sent > 40, "{access:?}");
        assert_eq!(access.auto_sent + access.human_touched, access.messages);
        assert!(access.first_auto_day.is_some());
        assert_eq!(get("refund").auto_sent, 0, "never list");
        assert_eq!(get("presales").auto_sent, 0, "low confidence");
        // Deterministic.
        assert_eq!(out, simulate(&pool, &opted, &certified, &never, &cfg));
    }
}
