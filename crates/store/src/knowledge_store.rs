//! `impl KnowledgeStore for Db`: trust scores, knowledge chunks and canned responses.

use crate::rows::{self, corrupt};
use crate::store_impl::R;
use crate::{Db, backend_err};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::ids::new_id;
use support_core::knowledge::Visibility;
use support_core::store::*;

const ARTICLE_COLS: &str = "id, app, source, title, tags, visibility, url, current_version, content_hash, created_at, updated_at";
const VERSION_COLS: &str =
    "article_id, version, title, body, tags, visibility, url, content_hash, author, created_at";

fn get<T>(row: &AnyRow, col: &str) -> R<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn tags(row: &AnyRow) -> R<Vec<String>> {
    serde_json::from_str(&get::<String>(row, "tags")?).map_err(|e| corrupt(format!("tags: {e}")))
}

fn visibility(row: &AnyRow) -> R<Visibility> {
    Visibility::parse(&get::<String>(row, "visibility")?).map_err(corrupt)
}

fn article(row: &AnyRow) -> R<ArticleRow> {
    Ok(ArticleRow {
        id: get(row, "id")?,
        app: get(row, "app")?,
        title: get(row, "title")?,
        tags: tags(row)?,
        visibility: visibility(row)?,
        source: get(row, "source")?,
        url: get(row, "url")?,
        current_version: get(row, "current_version")?,
        content_hash: get(row, "content_hash")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn version(row: &AnyRow) -> R<ArticleVersionRow> {
    Ok(ArticleVersionRow {
        article_id: get(row, "article_id")?,
        version: get(row, "version")?,
        title: get(row, "title")?,
        body: get(row, "body")?,
        tags: tags(row)?,
        visibility: visibility(row)?,
        url: get(row, "url")?,
        content_hash: get(row, "content_hash")?,
        author: get(row, "author")?,
        created_at: get(row, "created_at")?,
    })
}

fn chunk(row: &AnyRow) -> R<ArticleChunkRow> {
    Ok(ArticleChunkRow {
        id: get(row, "id")?,
        article_id: get(row, "article_id")?,
        version: get(row, "version")?,
        app: get(row, "app")?,
        ordinal: get(row, "ordinal")?,
        title: get(row, "title")?,
        heading: get(row, "heading")?,
        text: get(row, "text")?,
        visibility: visibility(row)?,
    })
}

/// The current chunks, joined with their article (title and visibility of the current version).
const CURRENT_CHUNKS: &str = "SELECT c.id, c.article_id, c.version, c.app, c.ordinal, a.title, c.heading, c.text, a.visibility \
     FROM kb_article_chunks c JOIN kb_articles a ON a.id = c.article_id AND a.current_version = c.version \
     WHERE a.removed_at IS NULL";

/// Mark the unsent drafts citing `article_id` below `version` stale.
async fn mark_stale(
    tx: &mut sqlx::AnyConnection,
    article_id: &str,
    version: i64,
    at: i64,
) -> R<u64> {
    let r = sqlx::query(
        "UPDATE kb_draft_sources SET stale_at = $1 WHERE article_id = $2 AND version < $3 AND stale_at IS NULL \
         AND run_id IN (SELECT run_id FROM drafts WHERE sent_at IS NULL)",
    )
    .bind(at)
    .bind(article_id)
    .bind(version)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    Ok(r.rows_affected())
}

/// Mark the canned responses whose current version cites `article_id` below `version` stale.
async fn mark_canned_stale(
    tx: &mut sqlx::AnyConnection,
    article_id: &str,
    version: i64,
    at: i64,
) -> R<u64> {
    let r = sqlx::query(
        "UPDATE canned_responses SET stale_at = $1 WHERE stale_at IS NULL AND removed_at IS NULL \
         AND EXISTS (SELECT 1 FROM canned_sources s WHERE s.canned_id = canned_responses.id \
         AND s.version = canned_responses.current_version AND s.article_id = $2 AND s.article_version < $3)",
    )
    .bind(at)
    .bind(article_id)
    .bind(version)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    Ok(r.rows_affected())
}

const CANNED_COLS: &str =
    "id, app, name, trigger_pattern, body, current_version, stale_at, updated_at";

fn canned_row(row: &AnyRow, sources: Vec<CannedSource>) -> R<CannedRow> {
    let stale_at: Option<i64> = get(row, "stale_at")?;
    Ok(CannedRow {
        id: get(row, "id")?,
        app: get(row, "app")?,
        name: get(row, "name")?,
        trigger: get(row, "trigger_pattern")?,
        body: get(row, "body")?,
        current_version: get(row, "current_version")?,
        sources,
        stale: stale_at.is_some(),
        updated_at: get(row, "updated_at")?,
    })
}

/// The sources of the given versions of canned responses (`(canned id, version)` → sources),
/// read with one query: every version of `id`, or the current versions of all.
async fn canned_sources<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    id: Option<&str>,
) -> R<Vec<(String, i64, CannedSource)>> {
    let rows = match id {
        Some(id) => sqlx::query(
            "SELECT canned_id, version, article_id, article_version FROM canned_sources WHERE canned_id = $1 \
             ORDER BY version, article_id",
        )
        .bind(id.to_owned())
        .fetch_all(ex)
        .await,
        None => sqlx::query(
            "SELECT s.canned_id, s.version, s.article_id, s.article_version FROM canned_sources s \
             JOIN canned_responses c ON c.id = s.canned_id AND c.current_version = s.version \
             ORDER BY s.canned_id, s.article_id",
        )
        .fetch_all(ex)
        .await,
    }
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                get(r, "canned_id")?,
                get(r, "version")?,
                CannedSource {
                    article_id: get(r, "article_id")?,
                    version: get(r, "article_version")?,
                },
            ))
        })
        .collect()
}

fn sources_of(all: &[(String, i64, CannedSource)], id: &str, version: i64) -> Vec<CannedSource> {
    all.iter()
        .filter(|(c, v, _)| c == id && *v == version)
        .map(|(_, _, s)| s.clone())
        .collect()
}

fn sorted_sources(sources: &[CannedSource]) -> Vec<CannedSource> {
    let mut v = sources.to_vec();
    v.sort_by(|a, b| a.article_id.cmp(&b.article_id));
    v.dedup_by(|a, b| a.article_id == b.article_id);
    v
}

async fn put_canned_tx(tx: &mut sqlx::AnyConnection, c: &CannedInput) -> R<CannedOutcome> {
    let existing = match &c.id {
        Some(id) => sqlx::query(crate::store_impl::safe!(
            "SELECT {CANNED_COLS}, removed_at FROM canned_responses WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_err)?,
        None => None,
    };
    let sources = sorted_sources(&c.sources);
    let (id, version, kind) = match &existing {
        Some(row) => {
            let removed: Option<i64> = get(row, "removed_at")?;
            let id: String = get(row, "id")?;
            let all = canned_sources(&mut *tx, Some(&id)).await?;
            let current = canned_row(row, Vec::new())?;
            let current_sources = sources_of(&all, &id, current.current_version);
            if let Some(base) = c.base_version
                && base != current.current_version
            {
                return Err(StoreError::Conflict(format!(
                    "canned response {id} is at version {}, not {base}",
                    current.current_version
                )));
            }
            if removed.is_none()
                && current.app == c.app
                && current.name == c.name
                && current.trigger == c.trigger
                && current.body == c.body
                && current_sources == sources
            {
                return Ok(CannedOutcome {
                    id,
                    version: current.current_version,
                    kind: PutKind::Unchanged,
                });
            }
            let version = current.current_version + 1;
            sqlx::query(
                "UPDATE canned_responses SET app = $1, name = $2, trigger_pattern = $3, body = $4, current_version = $5, \
                 updated_at = $6, stale_at = NULL, removed_at = NULL WHERE id = $7",
            )
            .bind(&c.app)
            .bind(&c.name)
            .bind(&c.trigger)
            .bind(&c.body)
            .bind(version)
            .bind(c.at)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
            (id, version, PutKind::Updated)
        }
        None => {
            let id = c.id.clone().unwrap_or_else(|| new_id("can"));
            sqlx::query(
                "INSERT INTO canned_responses (id, app, name, trigger_pattern, body, updated_at, current_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1)",
            )
            .bind(&id)
            .bind(&c.app)
            .bind(&c.name)
            .bind(&c.trigger)
            .bind(&c.body)
            .bind(c.at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
            (id, 1, PutKind::Created)
        }
    };
    sqlx::query(
        "INSERT INTO canned_versions (canned_id, version, name, trigger_pattern, body, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(version)
    .bind(&c.name)
    .bind(&c.trigger)
    .bind(&c.body)
    .bind(&c.author)
    .bind(c.at)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    for s in &sources {
        let known = sqlx::query(
            "SELECT version FROM kb_article_versions WHERE article_id = $1 AND version = $2",
        )
        .bind(&s.article_id)
        .bind(s.version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_err)?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!(
                "article {} version {}",
                s.article_id, s.version
            )));
        }
        sqlx::query(
            "INSERT INTO canned_sources (canned_id, version, article_id, article_version) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(version)
        .bind(&s.article_id)
        .bind(s.version)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    }
    // Citing a version that is already outdated (or a removed article) is stale from the start.
    sqlx::query(
        "UPDATE canned_responses SET stale_at = $1 WHERE id = $2 AND EXISTS (SELECT 1 FROM canned_sources s \
         JOIN kb_articles a ON a.id = s.article_id WHERE s.canned_id = $2 AND s.version = $3 \
         AND (a.current_version > s.article_version OR a.removed_at IS NOT NULL))",
    )
    .bind(c.at)
    .bind(&id)
    .bind(version)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    Ok(CannedOutcome { id, version, kind })
}

async fn put_one(tx: &mut sqlx::AnyConnection, a: &ArticleInput) -> R<PutOutcome> {
    let existing = match (&a.id, &a.source) {
        (Some(id), _) => sqlx::query(crate::store_impl::safe!(
            "SELECT {ARTICLE_COLS}, removed_at FROM kb_articles WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_err)?,
        (None, Some(source)) => sqlx::query(crate::store_impl::safe!(
            "SELECT {ARTICLE_COLS}, removed_at FROM kb_articles WHERE app = $1 AND source = $2"
        ))
        .bind(&a.app)
        .bind(source)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_err)?,
        (None, None) => None,
    };
    if a.id.is_some() && existing.is_none() {
        return Err(StoreError::NotFound(format!(
            "article {}",
            a.id.as_deref().unwrap_or_default()
        )));
    }
    let tags = serde_json::to_string(&a.tags).map_err(|e| StoreError::Backend(e.to_string()))?;
    let (id, version, kind) = match &existing {
        Some(row) => {
            let current = article(row)?;
            let removed: Option<i64> = get(row, "removed_at")?;
            if current.app != a.app {
                return Err(StoreError::Conflict(format!(
                    "article {} belongs to app {}",
                    current.id, current.app
                )));
            }
            if removed.is_none() && current.content_hash == a.content_hash {
                return Ok(PutOutcome {
                    article_id: current.id,
                    version: current.current_version,
                    kind: PutKind::Unchanged,
                    stale_drafts: 0,
                    stale_canned: 0,
                });
            }
            let version = current.current_version + 1;
            sqlx::query(
                "UPDATE kb_articles SET title = $1, tags = $2, visibility = $3, url = $4, current_version = $5, \
                 content_hash = $6, updated_at = $7, removed_at = NULL WHERE id = $8",
            )
            .bind(&a.title)
            .bind(&tags)
            .bind(a.visibility.as_str())
            .bind(&a.url)
            .bind(version)
            .bind(&a.content_hash)
            .bind(a.at)
            .bind(&current.id)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
            (current.id, version, PutKind::Updated)
        }
        None => {
            let id = new_id("art");
            sqlx::query(
                "INSERT INTO kb_articles (id, app, source, title, tags, visibility, url, current_version, content_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)",
            )
            .bind(&id)
            .bind(&a.app)
            .bind(&a.source)
            .bind(&a.title)
            .bind(&tags)
            .bind(a.visibility.as_str())
            .bind(&a.url)
            .bind(&a.content_hash)
            .bind(a.at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
            (id, 1, PutKind::Created)
        }
    };
    sqlx::query(crate::store_impl::safe!(
        "INSERT INTO kb_article_versions ({VERSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&id)
    .bind(version)
    .bind(&a.title)
    .bind(&a.body)
    .bind(&tags)
    .bind(a.visibility.as_str())
    .bind(&a.url)
    .bind(&a.content_hash)
    .bind(&a.author)
    .bind(a.at)
    .execute(&mut *tx)
    .await
    .map_err(backend_err)?;
    for c in &a.chunks {
        sqlx::query(
            "INSERT INTO kb_article_chunks (id, article_id, version, app, ordinal, heading, text) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id("chk"))
        .bind(&id)
        .bind(version)
        .bind(&a.app)
        .bind(c.ordinal)
        .bind(&c.heading)
        .bind(&c.text)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    }
    let stale_drafts = mark_stale(tx, &id, version, a.at).await?;
    let stale_canned = mark_canned_stale(tx, &id, version, a.at).await?;
    Ok(PutOutcome {
        article_id: id,
        version,
        kind,
        stale_drafts,
        stale_canned,
    })
}

#[async_trait]
impl KnowledgeStore for Db {
    async fn upsert_trust(&self, t: &TrustRow) -> R<()> {
        sqlx::query(
            "INSERT INTO trust_scores (app, category, score, samples, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app, category) DO UPDATE SET score = excluded.score, samples = excluded.samples, updated_at = excluded.updated_at",
        )
        .bind(&t.app)
        .bind(&t.category)
        .bind(t.score)
        .bind(t.samples)
        .bind(t.updated_at)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn get_trust(&self, app: &str, category: &str) -> R<Option<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE app = $1 AND category = $2")
            .bind(app)
            .bind(category)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::trust(&r))
            .transpose()
    }

    async fn list_trust(&self, app: Option<&str>) -> R<Vec<TrustRow>> {
        sqlx::query("SELECT app, category, score, samples, updated_at FROM trust_scores WHERE ($1 IS NULL OR app = $1) ORDER BY app, category")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::trust)
            .collect()
    }

    async fn insert_kb_document(&self, doc: &KbDocument, chunks: &[KbChunk]) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query("INSERT INTO kb_documents (id, app, title, source, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&doc.id)
            .bind(&doc.app)
            .bind(&doc.title)
            .bind(&doc.source)
            .bind(&doc.body)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        for c in chunks {
            sqlx::query("INSERT INTO kb_chunks (id, document_id, app, ordinal, text) VALUES ($1, $2, $3, $4, $5)")
                .bind(&c.id)
                .bind(&c.document_id)
                .bind(&c.app)
                .bind(c.ordinal)
                .bind(&c.text)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn list_kb_chunks(&self, app: &str) -> R<Vec<KbChunk>> {
        sqlx::query("SELECT id, document_id, app, ordinal, text FROM kb_chunks WHERE app = $1 ORDER BY document_id, ordinal")
            .bind(app)
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::kb_chunk)
            .collect()
    }

    async fn upsert_canned(&self, c: &CannedResponse) -> R<()> {
        self.put_canned(&CannedInput {
            id: Some(c.id.clone()),
            app: c.app.clone(),
            name: c.name.clone(),
            trigger: c.trigger.clone(),
            body: c.body.clone(),
            sources: c.sources.clone(),
            base_version: None,
            author: "system".into(),
            at: c.updated_at,
        })
        .await
        .map(|_| ())
    }

    async fn list_canned(&self, app: Option<&str>) -> R<Vec<CannedResponse>> {
        let rows = sqlx::query(
            "SELECT id, app, name, trigger_pattern, body, updated_at, current_version FROM canned_responses \
             WHERE removed_at IS NULL AND stale_at IS NULL AND ($1 IS NULL OR app IS NULL OR app = $1) ORDER BY name, id",
        )
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        let sources = canned_sources(&self.read, None).await?;
        rows.iter()
            .map(|r| {
                let mut c = rows::canned(r)?;
                let v: i64 = get(r, "current_version")?;
                c.sources = sources_of(&sources, &c.id, v);
                Ok(c)
            })
            .collect()
    }

    async fn put_canned(&self, c: &CannedInput) -> R<CannedOutcome> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let out = put_canned_tx(&mut tx, c).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(out)
    }

    async fn list_canned_rows(&self, app: Option<&str>) -> R<Vec<CannedRow>> {
        let rows = sqlx::query(crate::store_impl::safe!(
            "SELECT {CANNED_COLS} FROM canned_responses WHERE removed_at IS NULL \
             AND ($1 IS NULL OR app IS NULL OR app = $1) ORDER BY name, id"
        ))
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        let sources = canned_sources(&self.read, None).await?;
        rows.iter()
            .map(|r| {
                let id: String = get(r, "id")?;
                let v: i64 = get(r, "current_version")?;
                canned_row(r, sources_of(&sources, &id, v))
            })
            .collect()
    }

    async fn get_canned(&self, id: &str) -> R<Option<CannedRow>> {
        let Some(row) = sqlx::query(crate::store_impl::safe!(
            "SELECT {CANNED_COLS} FROM canned_responses WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        else {
            return Ok(None);
        };
        let sources = canned_sources(&self.read, Some(id)).await?;
        let v: i64 = get(&row, "current_version")?;
        canned_row(&row, sources_of(&sources, id, v)).map(Some)
    }

    async fn canned_versions(&self, id: &str) -> R<Vec<CannedVersionRow>> {
        let rows = sqlx::query(
            "SELECT canned_id, version, name, trigger_pattern, body, author, created_at FROM canned_versions \
             WHERE canned_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        let sources = canned_sources(&self.read, Some(id)).await?;
        rows.iter()
            .map(|r| {
                let version: i64 = get(r, "version")?;
                Ok(CannedVersionRow {
                    canned_id: get(r, "canned_id")?,
                    version,
                    name: get(r, "name")?,
                    trigger: get(r, "trigger_pattern")?,
                    body: get(r, "body")?,
                    sources: sources_of(&sources, id, version),
                    author: get(r, "author")?,
                    created_at: get(r, "created_at")?,
                })
            })
            .collect()
    }

    async fn remove_canned(&self, id: &str, at: i64) -> R<bool> {
        let r = sqlx::query(
            "UPDATE canned_responses SET removed_at = $1, updated_at = $1 WHERE id = $2 AND removed_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(backend_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn put_articles(&self, inputs: &[ArticleInput]) -> R<Vec<PutOutcome>> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let mut out = Vec::with_capacity(inputs.len());
        for a in inputs {
            out.push(put_one(&mut tx, a).await?);
        }
        tx.commit().await.map_err(backend_err)?;
        Ok(out)
    }

    async fn list_articles(&self, app: Option<&str>) -> R<Vec<ArticleRow>> {
        sqlx::query(crate::store_impl::safe!(
            "SELECT {ARTICLE_COLS} FROM kb_articles WHERE removed_at IS NULL AND ($1 IS NULL OR app = $1) ORDER BY app, title, id"
        ))
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(article)
        .collect()
    }

    async fn get_article(&self, id: &str) -> R<Option<ArticleRow>> {
        sqlx::query(crate::store_impl::safe!(
            "SELECT {ARTICLE_COLS} FROM kb_articles WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| article(&r))
        .transpose()
    }

    async fn article_versions(&self, id: &str) -> R<Vec<ArticleVersionRow>> {
        sqlx::query(crate::store_impl::safe!(
            "SELECT {VERSION_COLS} FROM kb_article_versions WHERE article_id = $1 ORDER BY version DESC"
        ))
        .bind(id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(version)
        .collect()
    }

    async fn article_version(&self, id: &str, v: i64) -> R<Option<ArticleVersionRow>> {
        sqlx::query(crate::store_impl::safe!(
            "SELECT {VERSION_COLS} FROM kb_article_versions WHERE article_id = $1 AND version = $2"
        ))
        .bind(id)
        .bind(v)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| version(&r))
        .transpose()
    }

    async fn remove_article(&self, id: &str, at: i64) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let current: Option<i64> = sqlx::query(
            "SELECT current_version FROM kb_articles WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_err)?
        .map(|r| get(&r, "current_version"))
        .transpose()?;
        let Some(current) = current else {
            return Ok(false);
        };
        sqlx::query("UPDATE kb_articles SET removed_at = $1, updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        mark_stale(&mut tx, id, current + 1, at).await?;
        mark_canned_stale(&mut tx, id, current + 1, at).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn current_chunks(&self, app: Option<&str>) -> R<Vec<ArticleChunkRow>> {
        sqlx::query(crate::store_impl::safe!(
            "{CURRENT_CHUNKS} AND ($1 IS NULL OR a.app = $1) ORDER BY c.app, c.article_id, c.ordinal"
        ))
        .bind(app)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(chunk)
        .collect()
    }

    async fn article_chunks(&self, id: &str) -> R<Vec<ArticleChunkRow>> {
        sqlx::query(crate::store_impl::safe!(
            "{CURRENT_CHUNKS} AND a.id = $1 ORDER BY c.ordinal"
        ))
        .bind(id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?
        .iter()
        .map(chunk)
        .collect()
    }

    async fn record_draft_sources(&self, run_id: &str, sources: &[(String, i64)]) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        for (article_id, v) in sources {
            sqlx::query(
                "INSERT INTO kb_draft_sources (run_id, article_id, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, article_id, version) DO NOTHING",
            )
            .bind(run_id)
            .bind(article_id)
            .bind(*v)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    async fn article_uses(&self, id: &str) -> R<Vec<ArticleUse>> {
        let rows = sqlx::query(
            "SELECT d.id, d.conversation_id, s.version, d.created_at, d.sent_at, s.stale_at \
             FROM kb_draft_sources s JOIN drafts d ON d.run_id = s.run_id \
             WHERE s.article_id = $1 ORDER BY d.created_at DESC, d.id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await
        .map_err(backend_err)?;
        rows.iter()
            .map(|r| {
                let sent_at: Option<i64> = get(r, "sent_at")?;
                let stale_at: Option<i64> = get(r, "stale_at")?;
                Ok(ArticleUse {
                    draft_id: get(r, "id")?,
                    conversation_id: get(r, "conversation_id")?,
                    version: get(r, "version")?,
                    created_at: get(r, "created_at")?,
                    sent: sent_at.is_some(),
                    stale: sent_at.is_none() && stale_at.is_some(),
                })
            })
            .collect()
    }

    async fn knowledge_revision(&self) -> R<String> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(current_version), 0) AS BIGINT) AS v, COUNT(removed_at) AS r FROM kb_articles",
        )
        .fetch_one(&self.read)
        .await
        .map_err(backend_err)?;
        Ok(format!(
            "{}:{}:{}",
            get::<i64>(&row, "n")?,
            get::<i64>(&row, "v")?,
            get::<i64>(&row, "r")?
        ))
    }

    async fn draft_stale(&self, run_id: &str) -> R<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM kb_draft_sources s JOIN drafts d ON d.run_id = s.run_id \
             WHERE s.run_id = $1 AND s.stale_at IS NOT NULL AND d.sent_at IS NULL",
        )
        .bind(run_id)
        .fetch_one(&self.read)
        .await
        .map_err(backend_err)?;
        Ok(get::<i64>(&row, "n")? > 0)
    }
}
