//! Exactly-once bookkeeping: webhook receipts, idempotency keys and dead letters.

use crate::time::Millis;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    /// What died: `run`, `action`, `webhook`.
    pub kind: DeadLetterKind,
    pub ref_id: String,
    pub error: String,
    pub payload: Value,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

/// The state of an idempotency key when an operation starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IdempotencyState {
    /// This caller owns the key now and must complete it.
    Started,
    /// Another attempt started and has not completed.
    InProgress,
    /// Done before: here is the stored result.
    Completed(Value),
}

/// Exactly-once bookkeeping: webhook receipts, idempotency keys and dead letters.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// `true` when this `(source, event_id)` was not seen before.
    async fn record_webhook_receipt(
        &self,
        source: &str,
        event_id: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn receipt_exists(&self, source: &str, event_id: &str) -> StoreResult<bool>;
    async fn idempotency_begin(
        &self,
        key: &str,
        scope: &str,
        at: Millis,
    ) -> StoreResult<IdempotencyState>;
    async fn idempotency_complete(&self, key: &str, result: &Value, at: Millis) -> StoreResult<()>;
    /// Forget an unfinished key so a later attempt can start again.
    async fn idempotency_abandon(&self, key: &str) -> StoreResult<()>;
    async fn insert_dead_letter(&self, d: &DeadLetter) -> StoreResult<()>;
    async fn list_dead_letters(&self, include_resolved: bool) -> StoreResult<Vec<DeadLetter>>;
    async fn resolve_dead_letter(&self, id: &str, at: Millis) -> StoreResult<bool>;
    async fn get_dead_letter(&self, id: &str) -> StoreResult<Option<DeadLetter>>;
    /// Every letter (resolved ones too) about one action, run or delivery, oldest first.
    async fn dead_letters_of(&self, ref_id: &str) -> StoreResult<Vec<DeadLetter>>;
}
