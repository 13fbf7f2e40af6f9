//! The learned router: a multinomial logistic regression over hashed word and character
//! n-grams plus a few structural signals (thread state, purchase age, the rules' own findings),
//! trained by `cargo xtask train-router` into `crates/core/models/router.json` and embedded
//! with `include_str!` (the product never reads the scenario folders at run time).
//!
//! The rules decide first; the model gives calibrated-enough probabilities over the five
//! actions, and [`super::super::router`] uses them to abstain (hand over instead of drafting
//! when `respond` is not likely enough), to keep silence only when it is likely, and to catch
//! formal notices the legal cues miss. Training is deterministic: a fixed seed, a fixed order of
//! examples, weights rounded to fixed decimals in the file.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Category, Flags};
use crate::pipeline::inbound::{Direction, ThreadMessage, is_automated_sender};
use crate::pipeline::router::RouteAction;
use crate::pipeline::text;

/// Hash buckets of the feature space.
pub const DIM: usize = 1 << 12;
/// The shuffling seed of training.
pub const SEED: u64 = 17;
/// Passes over the examples.
pub const EPOCHS: usize = 40;
/// Initial learning rate (decays as `lr / (1 + epoch / 10)`).
pub const LEARNING_RATE: f32 = 0.5;
/// L2 penalty, applied once per epoch.
pub const L2: f32 = 1e-4;
/// Weights are stored as integers: `round(w * SCALE)`.
const SCALE: f32 = 10_000.0;
/// The class order of the model: [`RouteAction::ALL`].
const CLASSES: usize = RouteAction::ALL.len();

/// The decision thresholds the router applies to the model's probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Below this `P(respond)` a `respond` decision of the rules is handed over.
    pub respond: f32,
    /// Silence (other than automated mail) is kept only at or above this `P(silence)`.
    pub silence: f32,
    /// At or above this `P(escalate_urgent)` the message is treated as a legal notice.
    pub urgent: f32,
    /// A `respond` of the rules at or above this confidence (one category with strong cues)
    /// is kept whatever the model says.
    pub trust_rules_at: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            respond: 0.5,
            silence: 0.35,
            urgent: 0.5,
            trust_rules_at: 1.01,
        }
    }
}

/// What the model reads of a message: the cleaned text and what the router already knows.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    pub subject: &'a str,
    /// The cleaned body (injected passages removed).
    pub body: &'a str,
    pub from: &'a str,
    /// Earlier messages, oldest first.
    pub thread: &'a [ThreadMessage],
    /// Whether the records hold any purchase (`None`: unknown).
    pub has_purchases: Option<bool>,
    /// Age in days of the purchase the message is about, if known.
    pub purchase_age_days: Option<i64>,
    pub language: &'a str,
    /// The rules' flags, category and instructor finding.
    pub flags: Flags,
    pub category: Category,
    pub for_instructor: bool,
    /// The rule that decided and its action, before the model.
    pub rule: &'a str,
    pub rule_action: RouteAction,
}

/// One training example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub features: Vec<(u32, f32)>,
    pub label: RouteAction,
}

fn bucket(s: &str) -> u32 {
    // FNV-1a, 64 bit: stable across platforms and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % DIM as u64) as u32
}

/// The sparse, L2-normalised feature vector of a message (sorted by bucket).
pub fn features(s: &Signals<'_>) -> Vec<(u32, f32)> {
    let mut names: Vec<String> = Vec::new();
    let words: Vec<String> = text::tokens(s.body).into_iter().take(300).collect();
    for w in &words {
        names.push(format!("w:{w}"));
        let padded: Vec<char> = format!("<{w}>").chars().collect();
        for n in 3..=5 {
            for gram in padded.windows(n) {
                names.push(format!("c:{}", gram.iter().collect::<String>()));
            }
        }
    }
    for pair in words.windows(2) {
        names.push(format!("b:{} {}", pair[0], pair[1]));
    }
    for w in text::tokens(s.subject) {
        names.push(format!("t:{w}"));
    }
    let local = s.from.split('@').next().unwrap_or_default();
    for w in text::tokens(local) {
        names.push(format!("f:{w}"));
    }
    // The words and the structure weigh the same: each group is normalised on its own.
    let mut all = group(&names, 1.0);
    all.extend(group(&structural(s), 1.0));
    merge(all)
}

/// Hashed, square-root counts of `names`, scaled to L2 norm `norm`.
fn group(names: &[String], norm: f32) -> Vec<(u32, f32)> {
    let mut merged = merge(names.iter().map(|n| (bucket(n), 1.0)).collect());
    for (_, v) in merged.iter_mut() {
        *v = v.sqrt();
    }
    let total = merged.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if total > 0.0 {
        for (_, v) in merged.iter_mut() {
            *v *= norm / total;
        }
    }
    merged
}

/// Sorted by bucket, values of equal buckets added.
fn merge(mut v: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    v.sort_by_key(|(b, _)| *b);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (b, x) in v {
        match merged.last_mut() {
            Some((lb, lx)) if *lb == b => *lx += x,
            _ => merged.push((b, x)),
        }
    }
    merged
}

/// Signals from the structure of the conversation rather than its words, and the rules'
/// findings.
fn structural(s: &Signals<'_>) -> Vec<String> {
    let inbound = s
        .thread
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .count();
    let outbound = s.thread.len() - inbound;
    // How many times they wrote since our last answer, this message included.
    let unanswered = 1 + s
        .thread
        .iter()
        .rev()
        .take_while(|m| m.direction == Direction::Inbound)
        .count();
    let last = match s.thread.last().map(|m| m.direction) {
        Some(Direction::Outbound) => "out",
        Some(Direction::Inbound) => "in",
        None => "none",
    };
    let purchases = match s.has_purchases {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    let age = match s.purchase_age_days {
        Some(d) if d < 30 => "recent",
        Some(d) if d <= 45 => "30to45",
        Some(_) => "old",
        None => "none",
    };
    let len = match text::tokens(s.body).len() {
        0..=4 => "tiny",
        5..=20 => "short",
        21..=60 => "medium",
        61..=150 => "long",
        _ => "verylong",
    };
    vec![
        format!("s:thread_in={}", inbound.min(3)),
        format!("s:thread_out={}", outbound.min(2)),
        format!("s:unanswered={}", unanswered.min(3)),
        format!("s:last={last}"),
        format!("s:purchases={purchases}"),
        format!("s:age={age}"),
        format!("s:len={len}"),
        format!("s:lang={}", s.language),
        format!("s:question={}", s.body.contains('?')),
        format!("s:links={}", text::links(s.body).len().min(2)),
        format!("r:category={}", s.category.as_str()),
        format!("r:instructor={}", s.for_instructor),
        format!("r:legal={}", s.flags.legal),
        format!("r:angry={}", s.flags.angry),
        format!("r:injection={}", s.flags.injection),
        format!("r:auto_sender={}", is_automated_sender(s.from)),
    ]
}

/// A trained model: one weight vector per action plus biases.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterModel {
    pub thresholds: Thresholds,
    bias: [f32; CLASSES],
    /// `CLASSES × DIM`, class-major.
    weights: Vec<f32>,
}

/// The model file (`crates/core/models/router.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub about: String,
    pub dim: usize,
    pub seed: u64,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub scale: f32,
    /// SHA-256 over the training examples' sources, in training order.
    pub inputs_sha256: String,
    pub examples: usize,
    pub classes: Vec<String>,
    pub thresholds: Thresholds,
    pub bias: Vec<i64>,
    /// One line per class: `round(weight * scale)` per bucket.
    pub weights: Vec<Vec<i64>>,
}

/// Why a model file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("model file does not fit this build: {0}")]
    Shape(String),
}

fn softmax(logits: &mut [f32; CLASSES]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

/// The index of an action in [`RouteAction::ALL`].
pub fn class_index(action: RouteAction) -> usize {
    RouteAction::ALL
        .iter()
        .position(|a| *a == action)
        .unwrap_or(0)
}

/// A small deterministic generator (SplitMix64) for the shuffles.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

impl RouterModel {
    /// `P(action)` for each action of [`RouteAction::ALL`].
    pub fn probabilities(&self, features: &[(u32, f32)]) -> [f32; CLASSES] {
        let mut logits = self.bias;
        for (c, logit) in logits.iter_mut().enumerate() {
            let w = &self.weights[c * DIM..(c + 1) * DIM];
            for (b, v) in features {
                *logit += w[*b as usize] * v;
            }
        }
        softmax(&mut logits);
        logits
    }

    /// Trains on `examples` in the given order, shuffled per epoch from [`SEED`]. Classes are
    /// weighted inversely to their frequency, so the rarer hand-offs count as much as replies.
    pub fn train(examples: &[Example], thresholds: Thresholds) -> Self {
        let mut m = RouterModel {
            thresholds,
            bias: [0.0; CLASSES],
            weights: vec![0.0; CLASSES * DIM],
        };
        if examples.is_empty() {
            return m;
        }
        let mut freq = [0usize; CLASSES];
        for e in examples {
            freq[class_index(e.label)] += 1;
        }
        let class_weight: Vec<f32> = freq
            .iter()
            .map(|n| {
                if *n == 0 {
                    0.0
                } else {
                    examples.len() as f32 / (CLASSES as f32 * *n as f32)
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = SplitMix::new(SEED);
        for epoch in 0..EPOCHS {
            rng.shuffle(&mut order);
            let lr = LEARNING_RATE / (1.0 + epoch as f32 / 10.0);
            for &i in &order {
                let e = &examples[i];
                let p = m.probabilities(&e.features);
                let y = class_index(e.label);
                let cw = class_weight[y];
                for (c, pc) in p.iter().enumerate() {
                    let target = if c == y { 1.0 } else { 0.0 };
                    let g = (pc - target) * cw * lr;
                    m.bias[c] -= g;
                    let w = &mut m.weights[c * DIM..(c + 1) * DIM];
                    for (b, v) in &e.features {
                        w[*b as usize] -= g * v;
                    }
                }
            }
            let decay = 1.0 - lr * L2 * examples.len() as f32;
            for w in m.weights.iter_mut() {
                *w *= decay;
            }
        }
        // The stored model is the rounded one, so the file and the running model agree.
        m.round();
        m
    }

    fn round(&mut self) {
        let r = |x: f32| (x * SCALE).round() / SCALE;
        for b in self.bias.iter_mut() {
            *b = r(*b);
        }
        for w in self.weights.iter_mut() {
            *w = r(*w);
        }
    }

    /// The file form, with how it was made.
    pub fn to_file(&self, inputs_sha256: String, examples: usize) -> ModelFile {
        let q = |x: f32| (x * SCALE).round() as i64;
        ModelFile {
            about: "Learned router (support-core pipeline::classify::learned): multinomial \
                    logistic regression over hashed word/char n-grams and structural signals. \
                    Regenerate with `cargo xtask train-router`; do not edit."
                .into(),
            dim: DIM,
            seed: SEED,
            epochs: EPOCHS,
            learning_rate: LEARNING_RATE,
            l2: L2,
            scale: SCALE,
            inputs_sha256,
            examples,
            classes: RouteAction::ALL
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            thresholds: self.thresholds,
            bias: self.bias.iter().map(|b| q(*b)).collect(),
            weights: (0..CLASSES)
                .map(|c| {
                    self.weights[c * DIM..(c + 1) * DIM]
                        .iter()
                        .map(|w| q(*w))
                        .collect()
                })
                .collect(),
        }
    }

    /// The model of a file.
    pub fn from_file(f: &ModelFile) -> Result<Self, ModelError> {
        let classes: Vec<&str> = RouteAction::ALL.iter().map(|a| a.as_str()).collect();
        if f.dim != DIM
            || f.classes != classes
            || f.bias.len() != CLASSES
            || f.weights.len() != CLASSES
            || f.weights.iter().any(|w| w.len() != DIM)
        {
            return Err(ModelError::Shape(format!(
                "dim {} and classes {:?}",
                f.dim, f.classes
            )));
        }
        let scale = f.scale;
        let mut bias = [0.0; CLASSES];
        for (b, q) in bias.iter_mut().zip(&f.bias) {
            *b = *q as f32 / scale;
        }
        Ok(RouterModel {
            thresholds: f.thresholds,
            bias,
            weights: f
                .weights
                .iter()
                .flatten()
                .map(|q| *q as f32 / scale)
                .collect(),
        })
    }

    /// Parses a model file.
    pub fn from_json(json: &str) -> Result<Self, ModelError> {
        Self::from_file(&serde_json::from_str(json)?)
    }

    /// The model committed to the repository, `None` when it cannot be read (then the rules
    /// decide alone; a test makes sure it can).
    pub fn embedded() -> Option<&'static RouterModel> {
        static MODEL: OnceLock<Option<RouterModel>> = OnceLock::new();
        MODEL
            .get_or_init(|| match RouterModel::from_json(EMBEDDED) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "the embedded router model cannot be read");
                    None
                }
            })
            .as_ref()
    }
}

/// The committed model file.
pub const EMBEDDED: &str = include_str!("../../../models/router.json");

/// The file text: pretty JSON with one line per weight vector, so a diff shows what changed.
pub fn file_text(f: &ModelFile) -> String {
    let mut out = String::from("{\n");
    let head = serde_json::json!({
        "about": f.about,
        "dim": f.dim,
        "seed": f.seed,
        "epochs": f.epochs,
        "learning_rate": f.learning_rate,
        "l2": f.l2,
        "scale": f.scale,
        "inputs_sha256": f.inputs_sha256,
        "examples": f.examples,
        "classes": f.classes,
        "thresholds": f.thresholds,
        "bias": f.bias,
    });
    if let Some(obj) = head.as_object() {
        for (k, v) in obj {
            out.push_str(&format!(
                "  {}: {},\n",
                serde_json::Value::from(k.as_str()),
                v
            ));
        }
    }
    out.push_str("  \"weights\": [\n");
    let lines: Vec<String> = f
        .weights
        .iter()
        .map(|w| format!("    {}", serde_json::Value::from(w.clone())))
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n  ]\n}\n");
    out
}

/// SHA-256 (hex) over the given sources, each followed by a newline.
pub fn inputs_hash<'a>(sources: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for s in sources {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_reads() {
        let m = RouterModel::embedded().expect("router.json parses and fits");
        let p = m.probabilities(&[(1, 1.0)]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn training_is_deterministic_and_the_file_round_trips() {
        let ex = |b: u32, label| Example {
            features: vec![(b, 1.0)],
            label,
        };
        let examples = vec![
            ex(3, RouteAction::Respond),
            ex(4, RouteAction::Silence),
            ex(3, RouteAction::Respond),
            ex(5, RouteAction::EscalateUrgent),
        ];
        let a = RouterModel::train(&examples, Thresholds::default());
        let b = RouterModel::train(&examples, Thresholds::default());
        assert_eq!(a, b);
        let p = a.probabilities(&[(3, 1.0)]);
        assert_eq!(
            p[class_index(RouteAction::Respond)],
            p.iter().copied().fold(0.0, f32::max)
        );
        let text = file_text(&a.to_file("x".into(), 4));
        let back = RouterModel::from_json(&text).expect("round trip");
        assert_eq!(back, a);
    }
}
