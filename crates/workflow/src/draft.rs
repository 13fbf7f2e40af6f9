//! The draft step: the reply goes to Front as a draft (HTML, marked with the run id), with its
//! comment and tags, or the conversation is escalated.

use serde_json::json;
use support_core::autosend::Mode;
use support_core::front::NewDraft;
use support_core::pipeline::router::{RouteAction, RouteDecision};
use support_core::store::DraftRow;
use support_core::time::now_ms;
use support_steps::StepError;

use crate::inbound::{Drafted, InboundDeps, Snapshot, THREAD_DEPTH, audit, front_err, store_err};

/// Marks drafts written by the platform, so a later diff can find them.
pub fn draft_marker(run_id: &str) -> String {
    format!("<!-- support-draft:{run_id} -->")
}

/// Tag the conversation in Front, record the escalation and audit it.
pub(crate) async fn escalate(
    d: &InboundDeps,
    s: &Snapshot,
    trace: &str,
    tag: &str,
    reason: &str,
) -> Result<(), StepError> {
    d.front
        .add_tags(&s.conversation_id, &[tag.to_string()])
        .await
        .map_err(front_err)?;
    if let Some(mut c) = d
        .store
        .get_conversation(&s.conversation_id)
        .await
        .map_err(store_err)?
    {
        c.escalation = Some(tag.to_string());
        c.escalation_reason = Some(reason.to_string());
        c.updated_at = now_ms();
        d.store.upsert_conversation(&c).await.map_err(store_err)?;
    }
    crate::analytics::escalated(d.store.as_ref(), &s.app, &s.conversation_id, trace, tag).await;
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "conversation.escalated",
        json!({"tag": tag, "reason": reason}),
    )
    .await
}

pub(crate) async fn write_draft(
    d: &InboundDeps,
    s: &Snapshot,
    r: &RouteDecision,
    dr: &Drafted,
    trace: &str,
    run_id: &str,
) -> Result<Option<String>, StepError> {
    let marker = draft_marker(run_id);
    // The category's mode (`autosend`): shadow writes nothing to Front, auto sends when the
    // gate holds at this moment, draft is the default.
    let mode = crate::autosend::mode_of(d.store.as_ref(), &s.app, r.category.as_str())
        .await
        .map_err(store_err)?;
    let escalated = dr.outcome.action.is_escalation() || dr.withheld;
    if escalated && mode == Mode::Shadow {
        audit(
            d.store.as_ref(),
            trace,
            &s.app,
            &s.conversation_id,
            "shadow.escalation",
            json!({"action": dr.outcome.action, "withheld": dr.withheld}),
        )
        .await?;
        return Ok(None);
    }
    if escalated {
        let tag = match dr.outcome.action {
            RouteAction::EscalateUrgent => "urgent",
            RouteAction::EscalateInstructor => "instructor",
            _ => "needs-human",
        };
        // The agent's own hand-over reason (the gate refused, the model agent stopped) says
        // more than the route's when the agent changed the action.
        let handed_over = (dr.outcome.action != r.action)
            .then(|| {
                dr.outcome
                    .notes
                    .iter()
                    .rev()
                    .find_map(|n| n.strip_prefix("handed over: "))
            })
            .flatten();
        let reason = if dr.withheld {
            "the draft failed validation twice".to_string()
        } else if let Some(why) = handed_over {
            why.to_string()
        } else {
            r.reasons.first().cloned().unwrap_or_default()
        };
        escalate(d, s, trace, tag, &reason).await?;
    }
    let body = match (&dr.outcome.draft, dr.withheld) {
        (Some(text), false) => text.clone(),
        _ => return Ok(None),
    };
    let html = format!("{}{marker}", text_to_html(&body));
    match mode {
        Mode::Shadow => {
            // Kept on our side only; the human's reply is compared with it later.
            record_draft(d, s, (r, dr), run_id, None, (&body, &html)).await?;
            audit(
                d.store.as_ref(),
                trace,
                &s.app,
                &s.conversation_id,
                "draft.shadowed",
                json!({"chars": body.len(), "action": dr.outcome.action, "category": r.category}),
            )
            .await?;
            return Ok(None);
        }
        Mode::Auto => {
            if let Some(sent) = crate::autosend::try_send(d, s, r, dr, trace, run_id, &body).await?
            {
                record_draft(d, s, (r, dr), run_id, Some(&sent), (&body, &html)).await?;
                // Sent as written: the copy reads sent (the dashboard's diff, reopen detection).
                d.store
                    .set_draft_sent(run_id, &body, now_ms())
                    .await
                    .map_err(store_err)?;
                crate::analytics::reply_sent(
                    d.store.as_ref(),
                    &s.app,
                    r.category.as_str(),
                    &s.conversation_id,
                    run_id,
                    true,
                )
                .await;
                return Ok(Some(sent));
            }
        }
        Mode::Draft => {}
    }
    // Idempotent: a draft with this run's marker is not written twice.
    let existing = d
        .front
        .list_messages(&s.conversation_id, THREAD_DEPTH)
        .await
        .map_err(front_err)?;
    if let Some(m) = existing
        .iter()
        .find(|m| m.is_draft && m.body.as_deref().unwrap_or_default().contains(&marker))
    {
        // Written before a crash or a retry: the stored copy may still be missing.
        record_draft(d, s, (r, dr), run_id, Some(&m.id), (&body, &html)).await?;
        return Ok(Some(m.id.clone()));
    }
    let channel = s
        .channel_id
        .clone()
        .unwrap_or_else(|| format!("cha_{}", s.app));
    let created = d
        .front
        .create_draft(
            &s.conversation_id,
            &NewDraft {
                body: html.clone(),
                channel_id: channel,
                mode: "shared".into(),
                author_id: None,
            },
        )
        .await
        .map_err(front_err)?;
    record_draft(d, s, (r, dr), run_id, Some(&created.id), (&body, &html)).await?;
    let context = format!(
        "Support agent: {} ({}; rule {}). {}",
        dr.outcome.action,
        r.category.as_str(),
        r.rule,
        dr.outcome.notes.join(" ")
    );
    d.front
        .add_comment(
            &s.conversation_id,
            &format!(
                "{context}\nAudit: /api/v1/audit?conversation={}",
                s.conversation_id
            ),
        )
        .await
        .map_err(front_err)?;
    audit(
        d.store.as_ref(),
        trace,
        &s.app,
        &s.conversation_id,
        "draft.created",
        json!({"draft_id": created.id, "chars": body.len(), "action": dr.outcome.action}),
    )
    .await?;
    Ok(Some(created.id))
}

/// Keep our copy of a draft written to Front (its text, the run, the knowledge it used); once
/// per run, so a retried or replayed step does not record it twice.
async fn record_draft(
    d: &InboundDeps,
    s: &Snapshot,
    (r, dr): (&RouteDecision, &Drafted),
    run_id: &str,
    front_draft_id: Option<&str>,
    (text, html): (&str, &str),
) -> Result<(), StepError> {
    let mut sources: Vec<_> = dr
        .outcome
        .knowledge
        .iter()
        .map(|k| {
            json!({"chunk_id": k.id, "document_id": k.document_id, "score": k.score,
                   "article_id": k.article_id, "version": k.version})
        })
        .collect();
    // The article versions it used, for "where an article was used" and stale drafts.
    let mut used: Vec<(String, i64)> = dr
        .outcome
        .knowledge
        .iter()
        .filter_map(|k| Some((k.article_id.clone()?, k.version?)))
        .collect();
    // A reply answered from a canned response used the article versions it cites (of this
    // app: a response for every app cites each app's copy).
    for c in r.canned.iter().flat_map(|c| &c.sources) {
        let article = d
            .store
            .get_article(&c.article_id)
            .await
            .map_err(store_err)?;
        if article.is_some_and(|a| a.app == s.app) {
            used.push((c.article_id.clone(), c.version));
            sources.push(json!({"article_id": c.article_id, "version": c.version,
                                "canned_id": r.canned.as_ref().map(|m| &m.id)}));
        }
    }
    used.sort();
    used.dedup();
    d.store
        .record_draft_sources(run_id, &used)
        .await
        .map_err(store_err)?;
    d.store
        .insert_draft(&DraftRow {
            id: support_core::ids::new_id("drf"),
            conversation_id: s.conversation_id.clone(),
            app: Some(s.app.clone()),
            run_id: run_id.to_string(),
            front_draft_id: front_draft_id.map(str::to_string),
            text: text.to_string(),
            html: Some(html.to_string()),
            knowledge_sources: json!(sources),
            created_at: now_ms(),
            sent_text: None,
            sent_at: None,
        })
        .await
        .map(|_| ())
        .map_err(store_err)
}

pub(crate) fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(|p| {
            format!(
                "<p>{}</p>",
                support_core::pipeline::text::escape_html(p).replace('\n', "<br>")
            )
        })
        .collect()
}
