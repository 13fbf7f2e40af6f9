//! Prompt-injection passages, cut out before anything else is looked at.

use super::cues::INJECTION;
use crate::pipeline::text::{self, CueText};

/// Removes prompt-injection passages: bracketed blocks and sentences with injection cues
/// (the whole paragraph when two or more of its sentences carry them). Returns the remaining
/// text and the removed passages.
pub fn strip_injection(body: &str) -> (String, Vec<String>) {
    let mut injected = Vec::new();
    let without_brackets = strip_injected_brackets(body, &mut injected);
    let mut kept_paragraphs = Vec::new();
    for paragraph in text::paragraphs(&without_brackets) {
        let sentences = text::sentences(&paragraph);
        let flagged: Vec<bool> = sentences
            .iter()
            .map(|s| CueText::new(s).any(INJECTION))
            .collect();
        let count = flagged.iter().filter(|f| **f).count();
        if count == 0 {
            kept_paragraphs.push(paragraph);
        } else if count >= 2 {
            injected.push(paragraph);
        } else {
            let mut kept = Vec::new();
            for (sentence, is_injected) in sentences.into_iter().zip(flagged) {
                if is_injected {
                    injected.push(sentence);
                } else {
                    kept.push(sentence);
                }
            }
            if !kept.is_empty() {
                kept_paragraphs.push(kept.join(" "));
            }
        }
    }
    (kept_paragraphs.join("\n\n"), injected)
}

fn strip_injected_brackets(body: &str, injected: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find('[') {
        let after = &rest[start..];
        match after.find(']') {
            Some(end) if CueText::new(&after[..=end]).any(INJECTION) => {
                out.push_str(&rest[..start]);
                injected.push(after[1..end].to_owned());
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
