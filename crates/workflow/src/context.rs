//! The inbound workflow's use of core's per-conversation context cache
//! ([`support_core::context_cache`]): what `hydrate` looked up about the customer (the
//! [`CustomerFacts`]) and what the agent retrieved from the knowledge base (`searchKnowledge`
//! answers, with the article versions they quote), kept for 7 days behind the `Cache` port
//! (memory in one process, Redis in a fleet).
//!
//! **Keyed by conversation and message.** An entry belongs to the message being answered
//! ([`context_id`]): a new inbound message on the conversation is a new key, so it is never
//! served the context hydrated for an older one (no invalidation at intake to forget). Runs of
//! the same message (a re-run from the dashboard or the Front plugin, an Inngest replay of a
//! step that was not memoized) reuse it.
//!
//! **Dropped when its knowledge changed.** Every entry holds the `(article, version)` of each
//! hit it keeps; a read checks them against the store and drops the entry when one changed or
//! was removed (core's `Lookup::Stale`), so a stale answer is never drafted from the cache.
//!
//! **Read around when it fails.** A cache that fails or answers garbage is logged and the
//! context is rebuilt from the truth (the product's SDK, the knowledge base).
//!
//! Architecture Invariant: money never comes from the context cache. Cached purchase facts
//! feed the router and the offline agent's wording; a refund's amount and currency are read
//! from the Stripe charge when the refund is quoted and again when it runs, and the purchase
//! from the product at that moment ([`crate::PlatformTools::quote_refund`]); without Stripe
//! the quote is the product's figure read then, never a cached one. The agent re-reads the
//! purchases of a refund, transfer or receipt live before the gate judges them.

use serde::{Deserialize, Serialize};
use support_core::context_cache::{ContextCache, CurrentVersions, Lookup};
use support_core::pipeline::inbound::{CustomerFacts, age_days};
use support_core::pipeline::kb::KbHit;
use support_core::store::{Store, StoreError};
use support_core::time::Millis;

/// The id of the entry of the message `message` of conversation `conversation`.
pub fn context_id(conversation: &str, message: &str) -> String {
    format!("{conversation}/{message}")
}

/// One cached context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HydratedContext {
    /// What `hydrate` found about the customer (`lookupUser`, `getPurchases`).
    pub facts: CustomerFacts,
    /// The agent's `searchKnowledge` answers so far.
    #[serde(default)]
    pub searches: Vec<CachedSearch>,
}

/// One `searchKnowledge` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedSearch {
    pub query: String,
    pub limit: usize,
    pub hits: Vec<KbHit>,
}

impl HydratedContext {
    /// The article versions the entry quotes, each once.
    pub fn articles(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = Vec::new();
        for h in self.searches.iter().flat_map(|s| &s.hits) {
            if let (Some(a), Some(v)) = (&h.article_id, h.version)
                && !out.iter().any(|(x, y)| x == a && *y == v)
            {
                out.push((a.clone(), v));
            }
        }
        out
    }

    /// The answer kept for `query` at `limit`.
    pub fn search(&self, query: &str, limit: usize) -> Option<&[KbHit]> {
        self.searches
            .iter()
            .find(|s| s.query == query && s.limit == limit)
            .map(|s| s.hits.as_slice())
    }
}

/// The store's article versions, as the context cache checks an entry against.
pub struct StoreVersions<'a>(pub &'a dyn Store);

#[async_trait::async_trait]
impl CurrentVersions for StoreVersions<'_> {
    async fn current_version(&self, article_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .0
            .get_article(article_id)
            .await?
            .map(|a| a.current_version))
    }
}

/// The context cached for `id` when there is a current one for the customer `email`; the
/// purchases' ages are recomputed at `now` (an entry may be days old).
pub async fn load(
    cache: &ContextCache,
    versions: &dyn CurrentVersions,
    id: &str,
    email: &str,
    now: Millis,
) -> (Option<HydratedContext>, Lookup) {
    let (entry, lookup) = cache.get::<HydratedContext>(versions, id).await;
    let Some(entry) = entry else {
        return (None, lookup);
    };
    let mut ctx = entry.value;
    if ctx.facts.email != email.to_lowercase() {
        return (None, Lookup::Miss);
    }
    for p in &mut ctx.facts.purchases {
        p.age_days = age_days(&p.purchased_at, now);
    }
    (Some(ctx), Lookup::Hit)
}

/// Keep `ctx` under `id` (a failing cache is logged, not returned).
pub async fn save(cache: &ContextCache, id: &str, ctx: HydratedContext, now: Millis) {
    let articles = ctx.articles();
    cache.put(id, ctx, articles, now).await;
}

/// Add a `searchKnowledge` answer to `entry`, the current context of `id` as its caller just
/// read it (`None`: there is none, nothing is kept). The caller's read already checked the
/// entry against the article versions, so this reads neither the cache nor the store again.
pub async fn add_search(
    cache: &ContextCache,
    id: &str,
    entry: Option<HydratedContext>,
    search: CachedSearch,
    now: Millis,
) {
    let Some(mut ctx) = entry else { return };
    ctx.searches
        .retain(|s| !(s.query == search.query && s.limit == search.limit));
    ctx.searches.push(search);
    save(cache, id, ctx, now).await;
}

/// What a lookup found, as the audit records it.
pub fn lookup_name(l: Lookup) -> &'static str {
    match l {
        Lookup::Hit => "hit",
        Lookup::Miss => "miss",
        Lookup::Stale => "stale",
        Lookup::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use support_core::cache::MemoryCache;
    use support_core::context_cache::conformance::{Broken, Versions};
    use support_core::pipeline::inbound::PurchaseFact;
    use support_core::pipeline::inbound::parse_iso_millis;

    fn facts() -> CustomerFacts {
        CustomerFacts {
            email: "paul@example.net".into(),
            looked_up: true,
            user: None,
            purchases: vec![PurchaseFact {
                id: "pur_1".into(),
                product_id: "p".into(),
                product: "Course".into(),
                amount_cents: 17_900,
                currency: "usd".into(),
                purchased_at: "2026-01-01T00:00:00.000Z".into(),
                age_days: Some(1),
                is_team: false,
                owner_email: "paul@example.net".into(),
                owner_user_id: "u1".into(),
                status: "active".into(),
            }],
        }
    }

    fn hit(article: &str, version: i64) -> KbHit {
        KbHit {
            id: format!("{article}#0"),
            document_id: article.into(),
            text: "t".into(),
            score: 1.0,
            article_id: Some(article.into()),
            version: Some(version),
        }
    }

    #[tokio::test]
    async fn facts_and_searches_are_kept_per_message_and_dropped_when_an_article_changes() {
        let cache = ContextCache::new(Arc::new(MemoryCache::new()));
        let versions = Versions::default();
        versions.set("art_a", Some(2));
        let id = context_id("cnv_1", "msg_1");
        let now = parse_iso_millis("2026-01-31T00:00:00Z").unwrap();
        let (c, l) = load(&cache, &versions, &id, "paul@example.net", now).await;
        assert_eq!((c, l), (None, Lookup::Miss));
        let ctx = HydratedContext {
            facts: facts(),
            searches: vec![],
        };
        save(&cache, &id, ctx.clone(), now).await;
        add_search(
            &cache,
            &id,
            Some(ctx),
            CachedSearch {
                query: "refund".into(),
                limit: 3,
                hits: vec![hit("art_a", 2)],
            },
            now,
        )
        .await;
        let (c, l) = load(&cache, &versions, &id, "Paul@example.net", now).await;
        assert_eq!(l, Lookup::Hit);
        let c = c.unwrap();
        assert_eq!(c.search("refund", 3).unwrap(), &[hit("art_a", 2)]);
        assert_eq!(c.search("refund", 5), None);
        assert_eq!(c.facts.purchases[0].age_days, Some(30), "aged at now");
        // Another message of the same conversation has its own (empty) entry.
        let other = context_id("cnv_1", "msg_2");
        assert_eq!(
            load(&cache, &versions, &other, "paul@example.net", now)
                .await
                .1,
            Lookup::Miss
        );
        // Another customer on the same key is not served Paul's facts.
        assert_eq!(
            load(&cache, &versions, &id, "eve@example.net", now).await.1,
            Lookup::Miss
        );
        // The article changes: the entry is dropped.
        versions.set("art_a", Some(3));
        assert_eq!(
            load(&cache, &versions, &id, "paul@example.net", now)
                .await
                .1,
            Lookup::Stale
        );
        assert_eq!(
            load(&cache, &versions, &id, "paul@example.net", now)
                .await
                .1,
            Lookup::Miss
        );
    }

    #[tokio::test]
    async fn a_failing_cache_is_read_around() {
        let cache = ContextCache::new(Arc::new(Broken));
        let versions = Versions::default();
        let id = context_id("cnv_1", "msg_1");
        save(&cache, &id, HydratedContext::default(), 1).await;
        add_search(
            &cache,
            &id,
            Some(HydratedContext::default()),
            CachedSearch {
                query: "q".into(),
                limit: 3,
                hits: vec![],
            },
            1,
        )
        .await;
        let (c, l) = load(&cache, &versions, &id, "", 1).await;
        assert_eq!((c, l), (None, Lookup::Failed));
        assert_eq!(lookup_name(l), "failed");
    }
}
