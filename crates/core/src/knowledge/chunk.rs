//! Chunking an article's markdown by headings: each section (its heading path kept beside it)
//! becomes one chunk, or several of at most [`MAX_WORDS`] words overlapping by
//! [`OVERLAP_WORDS`] when it is long. Words stand in for tokens (about 1.3 tokens a word).

use serde::{Deserialize, Serialize};

/// The longest chunk, in words (~300 tokens).
pub const MAX_WORDS: usize = 230;
/// Words repeated at the start of the next piece of a long section.
pub const OVERLAP_WORDS: usize = 30;

/// A chunk before it is stored (the store gives it an id and ties it to the article version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDraft {
    pub ordinal: i64,
    /// The heading path, `A › B`; empty for text before the first heading.
    pub heading: String,
    pub text: String,
}

fn heading_of(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

/// Chunks `markdown` by headings.
pub fn chunk_markdown(markdown: &str) -> Vec<ChunkDraft> {
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut in_fence = false;
    let mut flush = |path: &[(usize, String)], current: &mut String| {
        let text = current.trim();
        if !text.is_empty() {
            let heading = path
                .iter()
                .map(|(_, h)| h.as_str())
                .collect::<Vec<_>>()
                .join(" › ");
            sections.push((heading, text.to_string()));
        }
        current.clear();
    };
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
        }
        match heading_of(line).filter(|_| !in_fence) {
            Some((level, title)) => {
                flush(&path, &mut current);
                path.retain(|(l, _)| *l < level);
                path.push((level, title.to_string()));
            }
            None => {
                current.push_str(line);
                current.push('\n');
            }
        }
    }
    flush(&path, &mut current);
    let mut out = Vec::new();
    for (heading, text) in sections {
        for piece in split_long(&text) {
            out.push(ChunkDraft {
                ordinal: out.len() as i64,
                heading: heading.clone(),
                text: piece,
            });
        }
    }
    out
}

fn split_long(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= MAX_WORDS {
        return vec![text.to_string()];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let end = (start + MAX_WORDS).min(words.len());
        pieces.push(words[start..end].join(" "));
        if end == words.len() {
            break;
        }
        start = end - OVERLAP_WORDS;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_by_heading_with_their_path() {
        let md = "Intro line.\n\n# Refunds\nWithin 30 days.\n## Late\nReviewed.\n```\n# not a heading\n```\n# Login\nLinks expire.\n#hashtag stays text\n";
        let chunks = chunk_markdown(md);
        let got: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| (c.heading.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("", "Intro line."),
                ("Refunds", "Within 30 days."),
                ("Refunds › Late", "Reviewed.\n```\n# not a heading\n```"),
                ("Login", "Links expire.\n#hashtag stays text"),
            ]
        );
        assert_eq!(chunks[3].ordinal, 3);
    }

    #[test]
    fn long_sections_split_with_overlap() {
        let body: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        let chunks = chunk_markdown(&format!("# Long\n{}", body.join(" ")));
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.heading == "Long"));
        assert!(chunks[0].text.ends_with("w229"));
        assert!(
            chunks[1]
                .text
                .starts_with(&format!("w{}", MAX_WORDS - OVERLAP_WORDS))
        );
        assert!(chunks[2].text.ends_with("w499"));
        assert!(chunk_markdown("  \n").is_empty());
    }
}
