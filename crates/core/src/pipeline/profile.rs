//! What the pipeline knows about each app: product, instructor, how replies are signed.

use serde::{Deserialize, Serialize};

/// Per-app facts the router and the agent use. The registry may carry these later; the
/// built-in profiles cover the apps this platform launched with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProfile {
    /// The app slug.
    pub slug: String,
    /// The product's public name (`Typewise`).
    pub product: String,
    /// The instructor's first name; mail addressed to them personally goes to them.
    pub instructor: String,
    /// Names of products the app sells (the fabrication scorer knows them).
    pub products: Vec<String>,
    /// Topic words that say a message is about this product (`typescript`, `tailwind`).
    pub topic_words: Vec<String>,
}

impl AppProfile {
    /// The built-in profile of `slug`, or a generic one.
    pub fn for_app(slug: &str) -> Self {
        Self::builtin(slug).unwrap_or_else(|| Self {
            slug: slug.to_owned(),
            product: slug.replace('-', " "),
            instructor: String::new(),
            products: Vec::new(),
            topic_words: Vec::new(),
        })
    }

    /// The profiles of the launch apps.
    pub fn builtin(slug: &str) -> Option<Self> {
        let (product, instructor, products, topics): (&str, &str, &[&str], &[&str]) = match slug {
            "typescript-course" => (
                "Typewise",
                "Milo",
                &["Typewise", "Typewise Core", "Typewise Pro", "Typewise Team"],
                &["typescript", "typewise", "ts"],
            ),
            "tailwind-course" => (
                "Tailwind Atelier",
                "Anneke",
                &["Tailwind Atelier", "Tailwind Atelier Team"],
                &["tailwind", "atelier", "css"],
            ),
            "ai-workshops" => (
                "Applied AI Workshops",
                "Ravi",
                &[
                    "Applied AI Workshops",
                    "All-Access Membership",
                    "Agents from Scratch",
                    "RAG in Production",
                    "LLM Evaluation",
                    "Prompt Engineering for Devs",
                ],
                &[
                    "workshop",
                    "workshops",
                    "ai",
                    "llm",
                    "rag",
                    "agents",
                    "cohort",
                ],
            ),
            _ => return None,
        };
        Some(Self {
            slug: slug.to_owned(),
            product: product.to_owned(),
            instructor: instructor.to_owned(),
            products: products.iter().map(|s| (*s).to_owned()).collect(),
            topic_words: topics.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Every product name of every built-in app (for the fabrication scorer).
    pub fn all_known_products() -> Vec<String> {
        ["typescript-course", "tailwind-course", "ai-workshops"]
            .iter()
            .filter_map(|s| Self::builtin(s))
            .flat_map(|p| p.products)
            .collect()
    }

    /// Whether `text` names the product's website (`typewise.example`, `tailwind-atelier.com`):
    /// the product name, hyphenated, followed by a dot and a top-level domain.
    pub fn names_our_site(&self, text: &str) -> bool {
        let slug = self
            .product
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-");
        if slug.is_empty() {
            return false;
        }
        let lower = text.to_lowercase();
        let needle = format!("{slug}.");
        lower.match_indices(&needle).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + needle.len()..].chars().next();
            before.is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '@')
                && after.is_some_and(|c| c.is_ascii_lowercase())
        })
    }

    /// How replies are signed.
    pub fn signature(&self) -> String {
        format!("{} support", self.product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_site_is_named_as_a_domain_only() {
        let p = AppProfile::for_app("tailwind-course");
        assert!(p.names_our_site("We audited tailwind-atelier.example last week"));
        assert!(p.names_our_site("see https://www.tailwind-atelier.com/pricing"));
        assert!(!p.names_our_site("I love Tailwind Atelier. Thanks!"));
        assert!(!p.names_our_site("write to support@tailwind-atelier.example"));
        let p = AppProfile::for_app("typescript-course");
        assert!(!p.names_our_site("I bought typewise. it is great"));
        assert!(!p.names_our_site("my-typewise.example is not yours"));
    }

    #[test]
    fn builtin_and_generic_profiles() {
        let ts = AppProfile::for_app("typescript-course");
        assert_eq!(ts.instructor, "Milo");
        assert_eq!(ts.signature(), "Typewise support");
        let other = AppProfile::for_app("rust-course");
        assert_eq!(other.product, "rust course");
        assert!(other.instructor.is_empty());
        assert!(AppProfile::all_known_products().contains(&"Typewise Pro".to_owned()));
    }
}
