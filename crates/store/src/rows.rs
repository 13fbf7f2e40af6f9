//! Mapping between `AnyRow`s and the port's record types.

use sqlx::Row;
use sqlx::any::AnyRow;
use support_core::audit::AuditRecord;
use support_core::auth::Role;
use support_core::pipeline::inbound::Direction;
use support_core::pipeline::tools::{RiskClass, ToolName};
use support_core::store::*;

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn get<T>(row: &AnyRow, col: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn json(row: &AnyRow, col: &str) -> StoreResult<serde_json::Value> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn opt_json(row: &AnyRow, col: &str) -> StoreResult<Option<serde_json::Value>> {
    let s: Option<String> = get(row, col)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("column {col}: {e}"))))
        .transpose()
}

/// A text column parsed into its enum: an unknown value is a corrupt row.
pub(crate) fn parsed<T, E: std::fmt::Display>(
    row: &AnyRow,
    col: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    let s: String = get(row, col)?;
    parse(&s).map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn tool(s: &str) -> Result<ToolName, String> {
    ToolName::parse(s).ok_or_else(|| format!("unknown tool: {s:?}"))
}

fn role(row: &AnyRow) -> StoreResult<Role> {
    let s: String = get(row, "role")?;
    Role::parse(&s).map_err(corrupt)
}

pub(crate) fn app(row: &AnyRow) -> StoreResult<AppRow> {
    let inboxes: String = get(row, "front_inbox_ids")?;
    Ok(AppRow {
        id: get(row, "id")?,
        slug: get(row, "slug")?,
        name: get(row, "name")?,
        front_inbox_ids: serde_json::from_str(&inboxes).map_err(corrupt)?,
        sdk_base_url: get(row, "sdk_base_url")?,
        secrets_enc: get(row, "secrets_enc")?,
        stripe_account: get(row, "stripe_account")?,
        policy: json(row, "policy")?,
        capabilities: json(row, "capabilities")?,
        status: parsed(row, "status", AppStatus::parse)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn audit(row: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: get(row, "seq")?,
        at: get(row, "at")?,
        kind: get(row, "kind")?,
        app: get(row, "app")?,
        conversation_id: get(row, "conversation_id")?,
        actor: get(row, "actor")?,
        trace_id: get(row, "trace_id")?,
        data: json(row, "data")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

pub(crate) fn token(row: &AnyRow) -> StoreResult<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: get(row, "id")?,
        name: get(row, "name")?,
        role: role(row)?,
        token_hash: get(row, "token_hash")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
        user_id: get(row, "user_id")?,
    })
}

pub(crate) fn user(row: &AnyRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        role: role(row)?,
        password_hash: get(row, "password_hash")?,
        slack_user_id: get(row, "slack_user_id")?,
        created_at: get(row, "created_at")?,
        deactivated_at: get(row, "deactivated_at")?,
    })
}

pub(crate) fn session(row: &AnyRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        token_hash: get(row, "token_hash")?,
        user_id: get(row, "user_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

pub(crate) fn dead_letter(row: &AnyRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        id: get(row, "id")?,
        kind: parsed(row, "kind", DeadLetterKind::parse)?,
        ref_id: get(row, "ref_id")?,
        error: get(row, "error")?,
        payload: json(row, "payload")?,
        created_at: get(row, "created_at")?,
        resolved_at: get(row, "resolved_at")?,
    })
}

pub(crate) fn conversation(row: &AnyRow) -> StoreResult<ConversationRow> {
    Ok(ConversationRow {
        id: get(row, "id")?,
        front_id: get(row, "front_id")?,
        app: get(row, "app")?,
        customer_email: get(row, "customer_email")?,
        subject: get(row, "subject")?,
        status: parsed(row, "status", ConversationStatus::parse)?,
        escalation: get(row, "escalation")?,
        escalation_reason: get(row, "escalation_reason")?,
        assignee: get(row, "assignee")?,
        sla_due_at: get(row, "sla_due_at")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn message(row: &AnyRow) -> StoreResult<MessageRow> {
    Ok(MessageRow {
        id: get(row, "id")?,
        front_id: get(row, "front_id")?,
        conversation_id: get(row, "conversation_id")?,
        direction: parsed(row, "direction", Direction::parse)?,
        author: get(row, "author")?,
        body: get(row, "body")?,
        raw_body: get(row, "raw_body")?,
        sent_at: get(row, "sent_at")?,
        purged_at: get(row, "purged_at")?,
    })
}

pub(crate) fn action(row: &AnyRow) -> StoreResult<ActionRow> {
    Ok(ActionRow {
        id: get(row, "id")?,
        conversation_id: get(row, "conversation_id")?,
        app: get(row, "app")?,
        kind: parsed(row, "kind", tool)?,
        params: json(row, "params")?,
        category: get(row, "category")?,
        confidence: get(row, "confidence")?,
        reasoning: get(row, "reasoning")?,
        risk: parsed(row, "risk", RiskClass::parse)?,
        status: parsed(row, "status", ActionStatus::parse)?,
        idempotency_key: get(row, "idempotency_key")?,
        result: opt_json(row, "result")?,
        error: get(row, "error")?,
        trace_id: get(row, "trace_id")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn approval(row: &AnyRow) -> StoreResult<ApprovalRow> {
    Ok(ApprovalRow {
        id: get(row, "id")?,
        action_id: get(row, "action_id")?,
        channel: parsed(row, "channel", DecisionChannel::parse)?,
        slack_channel: get(row, "slack_channel")?,
        slack_ts: get(row, "slack_ts")?,
        status: parsed(row, "status", ApprovalStatus::parse)?,
        decided_by: get(row, "decided_by")?,
        reason: get(row, "reason")?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
        decided_at: get(row, "decided_at")?,
        approvers_required: get(row, "approvers_required")?,
        amount_cents: get(row, "amount_cents")?,
        currency: get(row, "currency")?,
        capability: get(row, "capability")?,
        draft: get(row, "draft")?,
    })
}

pub(crate) fn approval_vote(row: &AnyRow) -> StoreResult<ApprovalVote> {
    Ok(ApprovalVote {
        approval_id: get(row, "approval_id")?,
        approver: get(row, "approver")?,
        user_id: get(row, "user_id")?,
        actor: get(row, "actor")?,
        channel: parsed(row, "channel", DecisionChannel::parse)?,
        voted_at: get(row, "voted_at")?,
    })
}

pub(crate) fn trust(row: &AnyRow) -> StoreResult<TrustRow> {
    Ok(TrustRow {
        app: get(row, "app")?,
        category: get(row, "category")?,
        score: get(row, "score")?,
        samples: get(row, "samples")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn kb_chunk(row: &AnyRow) -> StoreResult<KbChunk> {
    Ok(KbChunk {
        id: get(row, "id")?,
        document_id: get(row, "document_id")?,
        app: get(row, "app")?,
        ordinal: get(row, "ordinal")?,
        text: get(row, "text")?,
    })
}

pub(crate) fn canned(row: &AnyRow) -> StoreResult<CannedResponse> {
    Ok(CannedResponse {
        id: get(row, "id")?,
        app: get(row, "app")?,
        name: get(row, "name")?,
        trigger: get(row, "trigger_pattern")?,
        body: get(row, "body")?,
        updated_at: get(row, "updated_at")?,
        sources: Vec::new(),
    })
}
