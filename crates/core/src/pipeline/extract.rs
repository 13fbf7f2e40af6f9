//! Pulling tool parameters out of a message: new names, new emails, transfer targets.

use super::text;

/// The new name in "change my name to Ana Ribeiro" / "it should be 'Ana Ribeiro'".
pub fn new_name(body: &str) -> Option<String> {
    let lower = body.to_lowercase();
    let anchor = ["name", "change", "correct", "update", "fix"]
        .iter()
        .filter_map(|w| lower.find(w))
        .min()?;
    let markers = [" to ", " should be ", " is actually ", " as "];
    let mut best: Option<String> = None;
    for marker in markers {
        let mut from = anchor;
        while let Some(pos) = lower[from..].find(marker) {
            let start = from + pos + marker.len();
            if let Some(name) = body.get(start..).and_then(capitalised_run) {
                best = Some(name);
                break;
            }
            from = start;
        }
        if best.is_some() {
            break;
        }
    }
    best
}

/// One to four capitalised words at the start of `s` (after optional quotes).
fn capitalised_run(s: &str) -> Option<String> {
    let s = s.trim_start_matches(['"', '\'', '“', '‘', ' ']);
    let mut words = Vec::new();
    for raw in s.split_whitespace() {
        let word = raw.trim_end_matches(['"', '\'', '”', '’', ',', '.', '?', '!', ';', ':', ')']);
        let starts_upper = word.chars().next().is_some_and(char::is_uppercase);
        let clean = word
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'' || c == '’');
        if !starts_upper || !clean || word.is_empty() {
            break;
        }
        words.push(word.to_owned());
        if word.len() != raw.len() || words.len() == 4 {
            break;
        }
    }
    (!words.is_empty() && words.iter().map(|w| w.chars().count()).sum::<usize>() >= 3)
        .then(|| words.join(" "))
}

/// The new login email in "change my email to x@y.test": the first address that is not the
/// sender's.
pub fn new_email(body: &str, sender: &str) -> Option<String> {
    let sender = sender.to_lowercase();
    text::emails(body).into_iter().find(|e| *e != sender)
}

/// Where a transfer should go: addresses named after the last moving word ("move their
/// seats over to a@x.test and b@x.test"); "to this address" means the sender.
pub fn transfer_targets(body: &str, sender: &str) -> Vec<String> {
    let sender = sender.to_lowercase();
    let lower = body.to_lowercase();
    let all = text::emails(body);
    let after_verb = ["transfer", "move", "moved", "reassign", "give"]
        .iter()
        .filter_map(|w| lower.rfind(w))
        .max();
    let mut targets: Vec<String> = match after_verb {
        Some(pos) => text::emails(&lower[pos..]),
        None => Vec::new(),
    };
    if targets.is_empty() {
        let to_self = [
            "to this email",
            "to this address",
            "to this account",
            "to me",
        ]
        .iter()
        .any(|p| lower.contains(p));
        if to_self {
            targets.push(sender.clone());
        } else {
            targets = all.into_iter().filter(|e| *e != sender).collect();
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            new_name("Could you change my name to Siobhán Murphy, with the accent?").as_deref(),
            Some("Siobhán Murphy")
        );
        assert_eq!(
            new_name("It shows as \"Ana Rbeiro\". Could you change it to Ana Ribeiro? Obrigada!")
                .as_deref(),
            Some("Ana Ribeiro")
        );
        assert_eq!(new_name("please change it to something nicer"), None);
    }

    #[test]
    fn emails_and_targets() {
        assert_eq!(
            new_email(
                "Please change my account email to lucas.b.dev@example.com.",
                "l@x.test"
            )
            .as_deref(),
            Some("lucas.b.dev@example.com")
        );
        assert_eq!(
            transfer_targets(
                "Two people left: j@q.test, p@q.test. Can you move their seats over to a@q.test and s@q.test?",
                "it@q.test"
            ),
            vec!["a@q.test", "s@q.test"]
        );
        assert_eq!(
            transfer_targets("Can you transfer it to this email please?", "n@x.test"),
            vec!["n@x.test"]
        );
        assert_eq!(
            transfer_targets(
                "can I transfer my spot to him? His email is tom@x.test",
                "c@x.test"
            ),
            vec!["tom@x.test"]
        );
    }
}
