//! Step ids hashed as Inngest does: hex SHA-1 of the id; the n-th repeat hashes `id:n`.

use sha1::{Digest, Sha1};
use std::collections::HashMap;

/// Hex SHA-1 of a step id.
pub fn hash_step_id(id: &str) -> String {
    hex::encode(Sha1::digest(id.as_bytes()))
}

/// Hands out hashes for step ids in call order, numbering repeats from 1.
#[derive(Debug, Default)]
pub struct StepIds {
    seen: HashMap<String, u32>,
}

impl StepIds {
    /// The hash of the next use of `id`: `sha1(id)` first, then `sha1("id:1")`, `sha1("id:2")`…
    pub fn next(&mut self, id: &str) -> String {
        let n = self.seen.entry(id.to_string()).or_insert(0);
        let key = if *n == 0 {
            id.to_string()
        } else {
            format!("{id}:{n}")
        };
        *n += 1;
        hash_step_id(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inngest_vectors() {
        assert_eq!(
            hash_step_id("my-step-id"),
            "e7d8a2f140845095749d60246ff1110c9d01d76a"
        );
        assert_eq!(
            hash_step_id("my-step-id:1"),
            "f47c6228c581af870aa285200cf95ec3ac59bb6a"
        );
        let mut ids = StepIds::default();
        assert_eq!(
            ids.next("my-step-id"),
            "e7d8a2f140845095749d60246ff1110c9d01d76a"
        );
        assert_eq!(
            ids.next("my-step-id"),
            "f47c6228c581af870aa285200cf95ec3ac59bb6a"
        );
        assert_eq!(ids.next("other"), hash_step_id("other"));
        assert_eq!(ids.next("my-step-id"), hash_step_id("my-step-id:2"));
    }
}
