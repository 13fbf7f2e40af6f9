//! The demo's knowledge base: markdown files in `crates/knowledge/demo/` (a `common/` set with a
//! `{product}` placeholder, and one folder per demo app), embedded in the binary and imported
//! through the same path as `skill kb import` at `skill dev --demo` start-up (idempotent: an
//! unchanged file changes nothing).

use support_core::time::Millis;

use crate::import::{ImportReport, MAX_BYTES, Parsed, parse, write};
use crate::{KnowledgeBase, KnowledgeError};

const COMMON: &[(&str, &str)] = &[
    (
        "00-signing-in.md",
        include_str!("../demo/common/00-signing-in.md"),
    ),
    (
        "01-login-emails-not-arriving.md",
        include_str!("../demo/common/01-login-emails-not-arriving.md"),
    ),
    (
        "02-refunds.md",
        include_str!("../demo/common/02-refunds.md"),
    ),
    (
        "03-receipts-and-invoices.md",
        include_str!("../demo/common/03-receipts-and-invoices.md"),
    ),
    (
        "04-pending-and-duplicate-charges.md",
        include_str!("../demo/common/04-pending-and-duplicate-charges.md"),
    ),
    (
        "05-transfers.md",
        include_str!("../demo/common/05-transfers.md"),
    ),
    (
        "06-team-licenses.md",
        include_str!("../demo/common/06-team-licenses.md"),
    ),
    (
        "07-video-playback.md",
        include_str!("../demo/common/07-video-playback.md"),
    ),
    (
        "08-progress-tracking.md",
        include_str!("../demo/common/08-progress-tracking.md"),
    ),
    (
        "09-offline-viewing.md",
        include_str!("../demo/common/09-offline-viewing.md"),
    ),
    (
        "10-discounts.md",
        include_str!("../demo/common/10-discounts.md"),
    ),
    (
        "11-account-changes.md",
        include_str!("../demo/common/11-account-changes.md"),
    ),
    (
        "12-certificates.md",
        include_str!("../demo/common/12-certificates.md"),
    ),
];

const TYPESCRIPT_COURSE: &[(&str, &str)] = &[
    (
        "00-typewise-curriculum.md",
        include_str!("../demo/typescript-course/00-typewise-curriculum.md"),
    ),
    (
        "01-typewise-format.md",
        include_str!("../demo/typescript-course/01-typewise-format.md"),
    ),
    (
        "02-private-and-on-site-training.md",
        include_str!("../demo/typescript-course/02-private-and-on-site-training.md"),
    ),
];

const TAILWIND_COURSE: &[(&str, &str)] = &[
    (
        "00-tailwind-atelier-format.md",
        include_str!("../demo/tailwind-course/00-tailwind-atelier-format.md"),
    ),
    (
        "01-subtitles.md",
        include_str!("../demo/tailwind-course/01-subtitles.md"),
    ),
    (
        "02-tailwind-atelier-curriculum.md",
        include_str!("../demo/tailwind-course/02-tailwind-atelier-curriculum.md"),
    ),
];

const AI_WORKSHOPS: &[(&str, &str)] = &[
    (
        "00-workshop-format.md",
        include_str!("../demo/ai-workshops/00-workshop-format.md"),
    ),
    (
        "01-all-access-membership.md",
        include_str!("../demo/ai-workshops/01-all-access-membership.md"),
    ),
    (
        "02-starter-repositories.md",
        include_str!("../demo/ai-workshops/02-starter-repositories.md"),
    ),
    (
        "03-seats-and-team-memberships.md",
        include_str!("../demo/ai-workshops/03-seats-and-team-memberships.md"),
    ),
];

/// The product name the common articles use for `app`.
fn product(app: &str) -> &'static str {
    match app {
        "typescript-course" => "Typewise",
        "tailwind-course" => "Tailwind Atelier",
        "ai-workshops" => "Applied AI Workshops",
        _ => "the course",
    }
}

/// The demo articles of `app`, parsed (the files are ours: a parse error is a bug, reported).
pub fn articles(app: &str) -> Result<Vec<Parsed>, crate::import::FileError> {
    let specific: &[(&str, &str)] = match app {
        "typescript-course" => TYPESCRIPT_COURSE,
        "tailwind-course" => TAILWIND_COURSE,
        "ai-workshops" => AI_WORKSHOPS,
        _ => &[],
    };
    let common = COMMON.iter().map(|(name, text)| {
        (
            format!("demo:common/{name}"),
            text.replace("{product}", product(app)),
        )
    });
    let own = specific
        .iter()
        .map(|(name, text)| (format!("demo:{app}/{name}"), (*text).to_string()));
    common
        .chain(own)
        .map(|(source, text)| parse(&source, text.as_bytes(), MAX_BYTES))
        .collect()
}

/// Import the demo articles of `app` (one transaction).
pub async fn import(
    kb: &KnowledgeBase,
    app: &str,
    at: Millis,
) -> Result<ImportReport, KnowledgeError> {
    match articles(app) {
        Ok(parsed) => write(kb, app, parsed, Vec::new(), "demo", at).await,
        Err(e) => write(kb, app, Vec::new(), vec![e], "demo", at).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_file_parses_with_its_product() {
        for app in ["typescript-course", "tailwind-course", "ai-workshops"] {
            let arts = articles(app).unwrap();
            assert!(arts.len() >= 16, "{app}");
            assert!(arts.iter().all(|a| !a.body.contains("{product}")));
            assert!(arts.iter().any(|a| a.body.contains(product(app))));
        }
        assert_eq!(articles("other").unwrap().len(), 13);
    }
}
