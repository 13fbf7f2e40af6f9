//! The import: markdown files with front matter (`title`, `tags`, `url`, `visibility`) and HTML
//! files (reduced to text and `#` headings by html2text; scripts, styles and markup dropped),
//! found recursively, parsed into article versions and written in ONE transaction: a bad file
//! (unreadable, not UTF-8, invalid front matter, over the size limit) is reported with its path
//! and line and nothing is written. Idempotent by (app, source) and content hash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use support_core::knowledge::{Visibility, chunk_markdown, content_hash};
use support_core::store::{ArticleInput, PutKind};
use support_core::time::Millis;

use crate::{KnowledgeBase, KnowledgeError};

/// The largest file imported (1 MiB).
pub const MAX_BYTES: usize = 1 << 20;

/// A file the import refused, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub path: String,
    /// 1-based, when the problem has a line.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    url: Option<String>,
    visibility: Option<Visibility>,
}

/// An article parsed from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub source: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub visibility: Visibility,
}

impl Parsed {
    /// The article version to write for `app`.
    pub fn into_input(self, app: &str, author: &str, at: Millis) -> ArticleInput {
        ArticleInput {
            id: None,
            app: app.to_string(),
            content_hash: content_hash(
                &self.title,
                &self.body,
                &self.tags,
                self.visibility,
                self.url.as_deref(),
            ),
            chunks: chunk_markdown(&self.body),
            source: Some(self.source),
            title: self.title,
            body: self.body,
            tags: self.tags,
            visibility: self.visibility,
            url: self.url,
            author: author.to_string(),
            at,
        }
    }
}

fn is_html(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Whether the import reads this file (markdown or HTML by extension).
pub fn is_importable(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    is_html(&name) || name.ends_with(".md") || name.ends_with(".markdown")
}

fn title_from(body: &str, source: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_string()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            Path::new(source)
                .file_stem()
                .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
                .unwrap_or_else(|| source.to_string())
        })
}

/// Parse one file's bytes; `source` names it (a path or `demo:…`).
pub fn parse(source: &str, bytes: &[u8], max_bytes: usize) -> Result<Parsed, FileError> {
    let fail = |line: Option<usize>, message: String| FileError {
        path: source.to_string(),
        line,
        message,
    };
    if bytes.len() > max_bytes {
        return Err(fail(
            None,
            format!("{} bytes is over the limit of {max_bytes}", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        fail(Some(line), "not valid UTF-8".into())
    })?;
    if is_html(source) {
        let body = html2text::from_read(text.as_bytes(), 10_000)
            .map_err(|e| fail(None, format!("invalid HTML: {e}")))?;
        let body = body.trim().to_string();
        return Ok(Parsed {
            source: source.to_string(),
            title: title_from(&body, source),
            body,
            tags: Vec::new(),
            url: None,
            visibility: Visibility::Public,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body) = split_front_matter(text).map_err(|line| {
        fail(
            Some(line),
            "front matter starts with --- but never ends".into(),
        )
    })?;
    let fm: FrontMatter = match front {
        None => FrontMatter::default(),
        Some(yaml) if yaml.trim().is_empty() => FrontMatter::default(),
        Some(yaml) => serde_norway::from_str(yaml).map_err(|e| {
            // The front matter starts on line 2 (after the opening ---).
            let line = e.location().map(|l| l.line() + 1);
            fail(line, format!("invalid front matter: {e}"))
        })?,
    };
    let body = body.trim().to_string();
    Ok(Parsed {
        source: source.to_string(),
        title: fm
            .title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| title_from(&body, source)),
        body,
        tags: fm.tags,
        url: fm.url,
        visibility: fm.visibility.unwrap_or_default(),
    })
}

/// `(front matter, body)`; `Err(line)` when an opening `---` is never closed.
fn split_front_matter(text: &str) -> Result<(Option<&str>, &str), usize> {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok((None, text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((Some(&rest[..offset]), &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(1)
}

/// Every importable file under `paths` (files as given, directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in walkdir::WalkDir::new(p).follow_links(false) {
                let entry = entry.map_err(|e| FileError {
                    path: e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| p.display().to_string()),
                    line: None,
                    message: format!("unreadable: {e}"),
                })?;
                if entry.file_type().is_file() && is_importable(entry.path()) {
                    files.push(entry.into_path());
                }
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(FileError {
                path: p.display().to_string(),
                line: None,
                message: "no such file or directory".into(),
            });
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// What an import did (or would have done: with errors nothing is written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub app: String,
    pub files: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub chunks: usize,
    pub stale_drafts: u64,
    pub errors: Vec<FileError>,
}

/// Write parsed articles (one transaction) and report; with any `errors`, nothing is written.
pub async fn write(
    kb: &KnowledgeBase,
    app: &str,
    parsed: Vec<Parsed>,
    errors: Vec<FileError>,
    author: &str,
    at: Millis,
) -> Result<ImportReport, KnowledgeError> {
    let mut report = ImportReport {
        app: app.to_string(),
        files: parsed.len() + errors.len(),
        errors,
        ..ImportReport::default()
    };
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let inputs: Vec<ArticleInput> = parsed
        .into_iter()
        .map(|p| p.into_input(app, author, at))
        .collect();
    let outcomes = kb.put(&inputs).await?;
    for (o, i) in outcomes.iter().zip(&inputs) {
        match o.kind {
            PutKind::Created => report.created += 1,
            PutKind::Updated => report.updated += 1,
            PutKind::Unchanged => report.unchanged += 1,
        }
        if o.kind != PutKind::Unchanged {
            report.chunks += i.chunks.len();
        }
        report.stale_drafts += o.stale_drafts;
    }
    Ok(report)
}

/// Import files from disk: collect, read and parse each (calling `progress` per file), then
/// [`write`]. The source of a file is its canonical path.
pub async fn import_paths(
    kb: &KnowledgeBase,
    app: &str,
    paths: &[PathBuf],
    max_bytes: usize,
    at: Millis,
    progress: &mut (dyn FnMut(usize, &Path) + Send),
) -> Result<ImportReport, KnowledgeError> {
    let files = match collect(paths) {
        Ok(f) => f,
        Err(e) => return write(kb, app, Vec::new(), vec![e], "import", at).await,
    };
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for (i, path) in files.iter().enumerate() {
        progress(i, path);
        let source = path
            .canonicalize()
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string();
        match std::fs::read(path) {
            Err(e) => errors.push(FileError {
                path: path.display().to_string(),
                line: None,
                message: format!("unreadable: {e}"),
            }),
            Ok(bytes) => match parse(&source, &bytes, max_bytes) {
                Ok(p) => parsed.push(p),
                Err(mut e) => {
                    e.path = path.display().to_string();
                    errors.push(e);
                }
            },
        }
    }
    write(kb, app, parsed, errors, "import", at).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_with_front_matter() {
        let md = "---\ntitle: Refunds\ntags: [billing, refunds]\nurl: https://help.example/refunds\nvisibility: internal\n---\n# Refund policy\nWithin 30 days.\n";
        let p = parse("refunds.md", md.as_bytes(), MAX_BYTES).unwrap();
        assert_eq!(p.title, "Refunds");
        assert_eq!(p.tags, ["billing", "refunds"]);
        assert_eq!(p.url.as_deref(), Some("https://help.example/refunds"));
        assert_eq!(p.visibility, Visibility::Internal);
        assert_eq!(p.body, "# Refund policy\nWithin 30 days.");
        // Without front matter: the first heading, else the file name.
        assert_eq!(
            parse("a.md", b"# Login\ntext", MAX_BYTES).unwrap().title,
            "Login"
        );
        assert_eq!(
            parse("dir/late-refunds.md", b"text", MAX_BYTES)
                .unwrap()
                .title,
            "late refunds"
        );
    }

    #[test]
    fn bad_files_say_where() {
        let e = parse(
            "x.md",
            b"---\ntitle: A\nvisibility: secret\n---\nbody",
            MAX_BYTES,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("invalid front matter"), "{e}");
        let e = parse("x.md", b"---\ntitle: A\ncolour: red\n---\n", MAX_BYTES).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse("x.md", b"---\ntitle: A\nbody", MAX_BYTES).unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("x.md", b"ok\nok\n\xff\xfe", MAX_BYTES).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (Some(3), "not valid UTF-8"));
        let e = parse("x.md", &[b'a'; 11], 10).unwrap_err();
        assert!(e.message.contains("over the limit"), "{e}");
        assert_eq!(e.to_string(), "x.md: 11 bytes is over the limit of 10");
    }

    #[test]
    fn html_becomes_text_and_headings() {
        let html = "<html><head><title>T</title><style>p{}</style><script>alert(1)</script></head><body><h1>Refunds</h1><p>Within <b>30</b> days.</p><h2>Late</h2><p>Reviewed &amp; decided.</p></body></html>";
        let p = parse("help/refunds.html", html.as_bytes(), MAX_BYTES).unwrap();
        assert_eq!(p.title, "Refunds");
        assert!(!p.body.contains("alert"), "{}", p.body);
        assert!(!p.body.contains('<'), "{}", p.body);
        let chunks = chunk_markdown(&p.body);
        let headings: Vec<_> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["Refunds", "Refunds › Late"], "{}", p.body);
        assert!(chunks[1].text.contains("Reviewed & decided."), "{}", p.body);
    }
}
