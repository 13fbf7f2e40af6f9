//! `impl AppStore for Db`: the app rows and their Front inboxes.

use crate::rows::{self, corrupt};
use crate::store_impl::{APP_COLS, R, safe, to_json};
use crate::{Db, backend_err};
use async_trait::async_trait;
use support_core::store::*;

impl Db {
    async fn replace_inboxes(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        app: &AppRow,
    ) -> R<()> {
        sqlx::query("DELETE FROM app_inboxes WHERE app_id = $1")
            .bind(&app.id)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        for inbox in &app.front_inbox_ids {
            sqlx::query("INSERT INTO app_inboxes (inbox_id, app_id) VALUES ($1, $2)")
                .bind(inbox)
                .bind(&app.id)
                .execute(&mut **tx)
                .await
                .map_err(|e| match backend_err(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "Front inbox {inbox} already belongs to another app"
                    )),
                    other => other,
                })?;
        }
        Ok(())
    }
}

#[async_trait]
impl AppStore for Db {
    async fn insert_app(&self, app: &AppRow) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query(safe!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(&app.id)
            .bind(&app.slug)
            .bind(&app.name)
            .bind(serde_json::to_string(&app.front_inbox_ids).map_err(corrupt)?)
            .bind(&app.sdk_base_url)
            .bind(&app.secrets_enc)
            .bind(&app.stripe_account)
            .bind(to_json(&app.policy))
            .bind(to_json(&app.capabilities))
            .bind(app.status.as_str())
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("app {} already exists", app.slug)),
                other => other,
            })?;
        self.replace_inboxes(&mut tx, app).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn update_app(&self, app: &AppRow) -> R<()> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        let done = sqlx::query(
            "UPDATE apps SET name = $2, front_inbox_ids = $3, sdk_base_url = $4, secrets_enc = $5, stripe_account = $6, \
             policy = $7, capabilities = $8, status = $9, updated_at = $10 WHERE slug = $1",
        )
        .bind(&app.slug)
        .bind(&app.name)
        .bind(serde_json::to_string(&app.front_inbox_ids).map_err(corrupt)?)
        .bind(&app.sdk_base_url)
        .bind(&app.secrets_enc)
        .bind(&app.stripe_account)
        .bind(to_json(&app.policy))
        .bind(to_json(&app.capabilities))
        .bind(app.status.as_str())
        .bind(app.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {}", app.slug)));
        }
        self.replace_inboxes(&mut tx, app).await?;
        tx.commit().await.map_err(backend_err)
    }

    async fn get_app(&self, slug: &str) -> R<Option<AppRow>> {
        sqlx::query(safe!("SELECT {APP_COLS} FROM apps WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.read)
            .await
            .map_err(backend_err)?
            .map(|r| rows::app(&r))
            .transpose()
    }

    async fn find_app_by_inbox(&self, inbox_id: &str) -> R<Option<AppRow>> {
        let cols = APP_COLS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(safe!(
            "SELECT {cols} FROM apps a JOIN app_inboxes i ON i.app_id = a.id WHERE i.inbox_id = $1"
        ))
        .bind(inbox_id)
        .fetch_optional(&self.read)
        .await
        .map_err(backend_err)?
        .map(|r| rows::app(&r))
        .transpose()
    }

    async fn list_apps(&self) -> R<Vec<AppRow>> {
        sqlx::query(safe!("SELECT {APP_COLS} FROM apps ORDER BY slug"))
            .fetch_all(&self.read)
            .await
            .map_err(backend_err)?
            .iter()
            .map(rows::app)
            .collect()
    }

    async fn delete_app(&self, slug: &str) -> R<bool> {
        let mut tx = self.write.begin().await.map_err(backend_err)?;
        sqlx::query(
            "DELETE FROM app_inboxes WHERE app_id IN (SELECT id FROM apps WHERE slug = $1)",
        )
        .bind(slug)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        let done = sqlx::query("DELETE FROM apps WHERE slug = $1")
            .bind(slug)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(done.rows_affected() > 0)
    }
}
