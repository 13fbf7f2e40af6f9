//! The diff of a run's decision and its replay: route fields, the agent's outcome, tool calls
//! and proposals (aligned by tool and parameters), and a line diff of the draft (`similar`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use support_core::pipeline::agent::StepStatus;
use support_core::pipeline::gate::GateDecision;
use support_core::pipeline::tools::{ToolCall, ToolName};

use super::{Recording, Replayed, key};
use crate::Drafted;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// How a tool call (or proposal) differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only the replay made it.
    Added,
    /// Only the original made it.
    Removed,
    /// The same tool with other parameters.
    Params,
    /// The same call with another fate (executed, proposed, refused, failed) or gate decision.
    Outcome,
}

/// One difference in the tool calls or the proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallChange {
    pub kind: ChangeKind,
    pub tool: ToolName,
    /// The original's side (`None` when added).
    pub before: Option<Value>,
    /// The replay's side (`None` when removed).
    pub after: Option<Value>,
}

/// One line of a draft diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `' '` same, `'-'` only in the original, `'+'` only in the replay.
    pub tag: char,
    pub text: String,
}

/// The difference between a run's decision and its replay. Empty means an exact reproduction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayDiff {
    pub run_id: String,
    pub app: String,
    pub conversation_id: String,
    /// Route fields that differ: `action`, `category`, `intent`, `rule`, `canned`.
    pub route: Vec<FieldChange>,
    /// The agent's final action and whether the draft was withheld.
    pub outcome: Vec<FieldChange>,
    pub tools: Vec<CallChange>,
    pub proposals: Vec<CallChange>,
    /// A line diff of the draft; empty when the drafts are equal.
    pub draft: Vec<DiffLine>,
    /// Calls the recording could not answer.
    pub unrecorded: Vec<ToolCall>,
    /// `searchKnowledge` calls answered from the current knowledge base (not recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_current_kb: Vec<ToolCall>,
    /// `false` when the replay did not run on recorded route inputs.
    pub recorded_inputs: bool,
    /// The replaying model agent's summary (turns, tokens, cost, stop), when a model replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Value>,
    /// The original model agent's summary, when a model made the original decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_model: Option<Value>,
}

impl ReplayDiff {
    pub fn route_changed(&self) -> bool {
        !self.route.is_empty()
    }

    pub fn tools_changed(&self) -> bool {
        !self.tools.is_empty() || !self.proposals.is_empty() || !self.unrecorded.is_empty()
    }

    pub fn draft_changed(&self) -> bool {
        !self.draft.is_empty() || !self.outcome.is_empty()
    }

    /// An exact reproduction.
    pub fn is_empty(&self) -> bool {
        !self.route_changed() && !self.tools_changed() && !self.draft_changed()
    }

    /// A human-readable report (`-` original, `+` replay).
    pub fn render(&self) -> String {
        let mut out = vec![format!(
            "run {} ({} / {}): {}",
            self.run_id,
            self.app,
            self.conversation_id,
            if self.is_empty() {
                "no change"
            } else {
                "changed"
            }
        )];
        if !self.recorded_inputs {
            out.push("  note: not replayed on recorded route inputs (policy/canned)".into());
        }
        let agent = |m: Option<&Value>| match m {
            Some(m) => format!(
                "model {}/{}",
                m["provider"].as_str().unwrap_or("?"),
                m["model"].as_str().unwrap_or("?")
            ),
            None => "offline".to_string(),
        };
        out.push(format!(
            "  agent: original {}, replay {}",
            agent(self.original_model.as_ref()),
            agent(self.model.as_ref())
        ));
        if let Some(m) = &self.model {
            out.push(format!(
                "  replay model: {} turns, {} input + {} output tokens, ${:.4}, stop {}",
                m["turns"],
                m["input_tokens"],
                m["output_tokens"],
                m["cost_usd"].as_f64().unwrap_or_default(),
                m["stop"].as_str().unwrap_or("?")
            ));
        }
        for c in self.route.iter().chain(&self.outcome) {
            out.push(format!("  {}: - {}  + {}", c.field, c.before, c.after));
        }
        let side = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        for (what, list) in [("tool", &self.tools), ("proposal", &self.proposals)] {
            for c in list {
                let line = match c.kind {
                    ChangeKind::Added => format!("  + {what} {} {}", c.tool, side(&c.after)),
                    ChangeKind::Removed => format!("  - {what} {} {}", c.tool, side(&c.before)),
                    ChangeKind::Params | ChangeKind::Outcome => format!(
                        "  ~ {what} {}: - {}  + {}",
                        c.tool,
                        side(&c.before),
                        side(&c.after)
                    ),
                };
                out.push(line);
            }
        }
        for c in &self.unrecorded {
            out.push(format!(
                "  ! {} {} was not recorded (answered with an error)",
                c.tool, c.params
            ));
        }
        for c in &self.from_current_kb {
            out.push(format!(
                "  ? {} {} was not recorded (answered from the current knowledge base)",
                c.tool, c.params
            ));
        }
        if !self.draft.is_empty() {
            out.push("  draft:".into());
            for l in &self.draft {
                out.push(format!("    {} {}", l.tag, l.text));
            }
        }
        out.join("\n")
    }
}

fn change(field: &str, before: Value, after: Value) -> Option<FieldChange> {
    (before != after).then(|| FieldChange {
        field: field.into(),
        before,
        after,
    })
}

fn jv<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Compares a recording with its replay.
pub fn diff(rec: &Recording, replayed: &Replayed) -> ReplayDiff {
    let (a, b) = (&rec.route, &replayed.route);
    let route = [
        change("action", jv(a.action), jv(b.action)),
        change("category", jv(a.category), jv(b.category)),
        change("intent", jv(a.intent), jv(b.intent)),
        change("rule", jv(&a.rule), jv(&b.rule)),
        change(
            "canned",
            jv(a.canned.as_ref().map(|c| &c.id)),
            jv(b.canned.as_ref().map(|c| &c.id)),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (da, db) = (rec.drafted.as_ref(), replayed.drafted.as_ref());
    let outcome = [
        change(
            "final_action",
            jv(da.map(|d| d.outcome.action)),
            jv(db.map(|d| d.outcome.action)),
        ),
        change(
            "withheld",
            jv(da.map(|d| d.withheld)),
            jv(db.map(|d| d.withheld)),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let steps = |d: Option<&Drafted>| -> Vec<Item> {
        d.map(|d| {
            d.outcome
                .steps
                .iter()
                .map(|s| Item {
                    call: s.call.clone(),
                    fate: jv(json_fate(s.status, s.gate.as_ref())),
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let proposals = |d: Option<&Drafted>| -> Vec<Item> {
        d.map(|d| {
            d.outcome
                .proposals
                .iter()
                .map(|p| Item {
                    call: p.call.clone(),
                    fate: jv(&p.gate),
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let text = |d: Option<&Drafted>| d.and_then(|d| d.outcome.draft.clone()).unwrap_or_default();
    let (ta, tb) = (text(da), text(db));
    let draft = if ta == tb {
        Vec::new()
    } else {
        line_diff(&ta, &tb)
    };
    ReplayDiff {
        run_id: rec.run_id.clone(),
        app: rec.snapshot.app.clone(),
        conversation_id: rec.snapshot.conversation_id.clone(),
        route,
        outcome,
        tools: call_changes(&steps(da), &steps(db)),
        proposals: call_changes(&proposals(da), &proposals(db)),
        draft,
        unrecorded: replayed.unrecorded.clone(),
        from_current_kb: replayed.from_current_kb.clone(),
        recorded_inputs: replayed.recorded_inputs,
        model: replayed.model.clone(),
        original_model: rec.original_model.clone(),
    }
}

fn json_fate(status: StepStatus, gate: Option<&GateDecision>) -> Value {
    serde_json::json!({"status": status, "gate": gate})
}

struct Item {
    call: ToolCall,
    fate: Value,
}

impl Item {
    fn side(&self) -> Value {
        serde_json::json!({"params": self.call.params, "fate": self.fate})
    }
}

/// Aligns two call sequences (longest common subsequence on tool + canonical parameters); in
/// each unaligned stretch, calls of the same tool pair up as parameter changes.
fn call_changes(before: &[Item], after: &[Item]) -> Vec<CallChange> {
    let keys = |v: &[Item]| v.iter().map(|i| key(&i.call)).collect::<Vec<_>>();
    let ops = lcs(&keys(before), &keys(after));
    let mut out = Vec::new();
    let mut gap_a: Vec<&Item> = Vec::new();
    let mut gap_b: Vec<&Item> = Vec::new();
    let flush = |ga: &mut Vec<&Item>, gb: &mut Vec<&Item>, out: &mut Vec<CallChange>| {
        for a in ga.drain(..) {
            if let Some(pos) = gb.iter().position(|b| b.call.tool == a.call.tool) {
                let b = gb.remove(pos);
                out.push(CallChange {
                    kind: ChangeKind::Params,
                    tool: a.call.tool,
                    before: Some(a.side()),
                    after: Some(b.side()),
                });
            } else {
                out.push(CallChange {
                    kind: ChangeKind::Removed,
                    tool: a.call.tool,
                    before: Some(a.side()),
                    after: None,
                });
            }
        }
        for b in gb.drain(..) {
            out.push(CallChange {
                kind: ChangeKind::Added,
                tool: b.call.tool,
                before: None,
                after: Some(b.side()),
            });
        }
    };
    for op in ops {
        match op {
            Op::Same(i, j) => {
                flush(&mut gap_a, &mut gap_b, &mut out);
                let (a, b) = (&before[i], &after[j]);
                if a.fate != b.fate {
                    out.push(CallChange {
                        kind: ChangeKind::Outcome,
                        tool: a.call.tool,
                        before: Some(a.side()),
                        after: Some(b.side()),
                    });
                }
            }
            Op::Del(i) => gap_a.push(&before[i]),
            Op::Ins(j) => gap_b.push(&after[j]),
        }
    }
    flush(&mut gap_a, &mut gap_b, &mut out);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Ins(usize),
}

/// The edit script of two sequences (Myers, through `similar`); within a replaced block the
/// removals come before the additions.
fn lcs<T: Ord + std::hash::Hash>(a: &[T], b: &[T]) -> Vec<Op> {
    use similar::DiffOp;
    let mut ops = Vec::with_capacity(a.len().max(b.len()));
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, a, b) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => ops.extend((0..len).map(|k| Op::Same(old_index + k, new_index + k))),
            DiffOp::Delete {
                old_index, old_len, ..
            } => ops.extend((old_index..old_index + old_len).map(Op::Del)),
            DiffOp::Insert {
                new_index, new_len, ..
            } => ops.extend((new_index..new_index + new_len).map(Op::Ins)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                ops.extend((old_index..old_index + old_len).map(Op::Del));
                ops.extend((new_index..new_index + new_len).map(Op::Ins));
            }
        }
    }
    ops
}

/// A line diff of two texts (every line tagged `' '`, `'-'` or `'+'`).
pub fn line_diff(before: &str, after: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    lcs(&a, &b)
        .into_iter()
        .map(|op| match op {
            Op::Same(i, _) => DiffLine {
                tag: ' ',
                text: a[i].to_string(),
            },
            Op::Del(i) => DiffLine {
                tag: '-',
                text: a[i].to_string(),
            },
            Op::Ins(j) => DiffLine {
                tag: '+',
                text: b[j].to_string(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn line_diff_marks_changed_lines_only() {
        let d = line_diff(
            "Hi Ann,\nhere is the link.\nBest",
            "Hi Ann,\nno link today.\nBest",
        );
        let tags: String = d.iter().map(|l| l.tag).collect();
        assert_eq!(tags, " -+ ");
        assert_eq!(d[1].text, "here is the link.");
        assert_eq!(d[2].text, "no link today.");
        assert!(
            line_diff("same\ntext", "same\ntext")
                .iter()
                .all(|l| l.tag == ' ')
        );
    }

    fn item(tool: ToolName, params: Value, status: &str) -> Item {
        Item {
            call: ToolCall::new(tool, params),
            fate: json!({ "status": status }),
        }
    }

    #[test]
    fn call_changes_find_added_removed_params_and_fate() {
        let before = vec![
            item(
                ToolName::LookupUser,
                json!({"email": "a@x.test"}),
                "executed",
            ),
            item(ToolName::GetPurchases, json!({"userId": "u1"}), "executed"),
            item(
                ToolName::ProcessRefund,
                json!({"purchaseId": "p1", "reason": "r"}),
                "proposed",
            ),
        ];
        let after = vec![
            item(
                ToolName::LookupUser,
                json!({"email": "a@x.test"}),
                "executed",
            ),
            item(ToolName::GetPurchases, json!({"userId": "u2"}), "executed"),
            item(
                ToolName::ProcessRefund,
                json!({"reason": "r", "purchaseId": "p1"}),
                "executed",
            ),
            item(ToolName::SearchKnowledge, json!({"query": "q"}), "executed"),
        ];
        let changes = call_changes(&before, &after);
        let kinds: Vec<(ChangeKind, ToolName)> = changes.iter().map(|c| (c.kind, c.tool)).collect();
        assert_eq!(
            kinds,
            vec![
                (ChangeKind::Params, ToolName::GetPurchases),
                (ChangeKind::Outcome, ToolName::ProcessRefund),
                (ChangeKind::Added, ToolName::SearchKnowledge),
            ]
        );
        assert!(call_changes(&before, &before).is_empty());
        let removed = call_changes(&before, &before[..1]);
        assert!(removed.iter().all(|c| c.kind == ChangeKind::Removed));
        assert_eq!(removed.len(), 2);
    }
}
