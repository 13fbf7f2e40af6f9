//! Slack as an approval channel, over Slack's Web API with slack-morphism: `chat.postMessage`,
//! `chat.update`, `views.open` and `chat.postEphemeral` with the bot token
//! (`Authorization: Bearer xoxb-…`).
//!
//! The Block Kit is built here as Slack's JSON (the [`blocks`] module: pure functions, also
//! usable for `response_url` answers) and handed to slack-morphism's typed models, so a block
//! the library cannot represent fails in tests, not in production.
//!
//! Slack answers errors as HTTP 200 `{"ok":false,"error":"channel_not_found"}`; those become
//! [`ApprovalChannelError::Api`] with Slack's code. A 429 becomes
//! [`ApprovalChannelError::RateLimited`] with `Retry-After`.

use async_trait::async_trait;
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use support_core::approvals::{
    Alert, ApprovalChannel, ApprovalChannelError, ApprovalModal, ApprovalRequest, ApprovalState,
    MessageRef,
};
use support_core::settings::Secret;

/// Slack's Web API base, without the trailing slash (slack-morphism appends `/{method}`).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

type Connector = SlackClientHyperConnector<SlackHyperHttpsConnector>;

/// The Slack approval channel.
pub struct SlackApprovals {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    api_url: String,
}

impl std::fmt::Debug for SlackApprovals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApprovals")
            .field("api_url", &self.api_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl SlackApprovals {
    /// A client for `api_url` (e.g. `https://slack.com/api/` or a local fake's
    /// `http://127.0.0.1:PORT/api`). Plain http is allowed so tests can reach a fake.
    pub fn new(bot_token: &Secret, api_url: &str) -> Result<Self, ApprovalChannelError> {
        crate::ensure_crypto_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let api_url = api_url.trim_end_matches('/').to_string();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ApprovalChannelError::Invalid(format!(
                "Slack API URL must be http(s): {api_url}"
            )));
        }
        let connector = SlackClientHyperConnector::from(https).with_slack_api_url(&api_url);
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue::new(bot_token.expose().to_string())),
            api_url,
        })
    }
}

/// The Slack approval channel of the settings: `Some` when `slack.bot_token` is set (an invalid
/// API URL is logged and leaves Slack off).
pub fn from_settings(
    settings: &support_core::settings::SlackSettings,
) -> Option<std::sync::Arc<dyn ApprovalChannel>> {
    let token = settings.bot_token.as_ref()?;
    match SlackApprovals::new(token, &settings.api_url) {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(e) => {
            tracing::error!(cause = %e, "cannot build the Slack client: Slack approvals are off");
            None
        }
    }
}

fn map_err(e: SlackClientError) -> ApprovalChannelError {
    match e {
        SlackClientError::ApiError(api) => ApprovalChannelError::Api { code: api.code },
        SlackClientError::RateLimitError(rl) => ApprovalChannelError::RateLimited {
            retry_after_secs: rl.retry_after.map(|d| d.as_secs()).unwrap_or(1),
        },
        SlackClientError::HttpError(h) => ApprovalChannelError::Http {
            status: h.status_code.as_u16(),
        },
        SlackClientError::ProtocolError(p) => ApprovalChannelError::Invalid(p.to_string()),
        other => ApprovalChannelError::Transport(other.to_string()),
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApprovalChannelError> {
    serde_json::from_value(v).map_err(|e| ApprovalChannelError::Invalid(e.to_string()))
}

fn content(blocks: Value, text: String) -> Result<SlackMessageContent, ApprovalChannelError> {
    let blocks: Vec<SlackBlock> = typed(blocks)?;
    Ok(SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks))
}

#[async_trait]
impl ApprovalChannel for SlackApprovals {
    async fn post_request(
        &self,
        channel: &str,
        request: &ApprovalRequest,
    ) -> Result<MessageRef, ApprovalChannelError> {
        let state = ApprovalState::Pending {
            approved_by: vec![],
        };
        let req = SlackApiChatPostMessageRequest::new(
            channel.into(),
            content(
                blocks::approval_message(request, &state),
                blocks::fallback_text(request, &state),
            )?,
        )
        .with_unfurl_links(false)
        .with_unfurl_media(false);
        let res = self
            .client
            .open_session(&self.token)
            .chat_post_message(&req)
            .await
            .map_err(map_err)?;
        Ok(MessageRef {
            channel: res.channel.to_string(),
            ts: res.ts.to_string(),
        })
    }

    async fn update_request(
        &self,
        message: &MessageRef,
        request: &ApprovalRequest,
        state: &ApprovalState,
    ) -> Result<(), ApprovalChannelError> {
        let req = SlackApiChatUpdateRequest::new(
            message.channel.as_str().into(),
            content(
                blocks::approval_message(request, state),
                blocks::fallback_text(request, state),
            )?,
            message.ts.as_str().into(),
        );
        self.client
            .open_session(&self.token)
            .chat_update(&req)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn open_modal(
        &self,
        trigger_id: &str,
        modal: &ApprovalModal,
    ) -> Result<(), ApprovalChannelError> {
        let view: SlackView = typed(blocks::modal(modal))?;
        let req = SlackApiViewsOpenRequest::new(trigger_id.into(), view);
        self.client
            .open_session(&self.token)
            .views_open(&req)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), ApprovalChannelError> {
        let req = SlackApiChatPostEphemeralRequest::new(
            channel.into(),
            user.into(),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        self.client
            .open_session(&self.token)
            .chat_post_ephemeral(&req)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn post_alert(
        &self,
        channel: &str,
        alert: &Alert,
    ) -> Result<MessageRef, ApprovalChannelError> {
        let req = SlackApiChatPostMessageRequest::new(
            channel.into(),
            content(
                blocks::alert(alert),
                blocks::truncate(
                    &format!("{}: {}", alert.title, alert.text),
                    blocks::MAX_SECTION,
                ),
            )?,
        )
        .with_unfurl_links(false)
        .with_unfurl_media(false);
        let res = self
            .client
            .open_session(&self.token)
            .chat_post_message(&req)
            .await
            .map_err(map_err)?;
        Ok(MessageRef {
            channel: res.channel.to_string(),
            ts: res.ts.to_string(),
        })
    }
}

/// Block Kit for approval requests, their transitions and modals, as Slack's JSON.
///
/// Slack's limits are enforced here: header text ≤ 150, section text ≤ 3000, fields ≤ 2000,
/// button text ≤ 75, button value ≤ 2000, modal title/submit/close ≤ 24, private metadata
/// ≤ 3000, input initial value ≤ 3000.
pub mod blocks {
    use serde_json::{Value, json};
    use support_core::approvals::{ApprovalModal, ApprovalRequest, ApprovalState, Approver, ids};
    use support_core::payments::{currency_exponent, format_amount, major_units};

    pub const MAX_HEADER: usize = 150;
    pub const MAX_SECTION: usize = 3000;
    pub const MAX_FIELD: usize = 2000;
    pub const MAX_BUTTON_TEXT: usize = 75;
    pub const MAX_BUTTON_VALUE: usize = 2000;
    pub const MAX_MODAL_TITLE: usize = 24;
    pub const MAX_INPUT: usize = 3000;
    pub const MAX_URL: usize = 3000;

    /// Cut `s` to at most `max` characters, ending with `…` when cut.
    pub fn truncate(s: &str, max: usize) -> String {
        if s.chars().count() <= max {
            return s.to_string();
        }
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }

    /// Escape the three characters Slack's mrkdwn treats as control characters.
    pub fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    fn plain(text: &str, max: usize) -> Value {
        json!({"type": "plain_text", "text": truncate(text, max), "emoji": true})
    }

    fn mrkdwn(text: &str, max: usize) -> Value {
        json!({"type": "mrkdwn", "text": truncate(text, max)})
    }

    fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
        let mut b = json!({
            "type": "button",
            "text": plain(text, MAX_BUTTON_TEXT),
            "action_id": action_id,
            "value": truncate(value, MAX_BUTTON_VALUE),
        });
        if let Some(s) = style {
            b["style"] = json!(s);
        }
        b
    }

    fn mention(a: &Approver) -> String {
        // Slack user ids are `U…`/`W…`: mention them; anything else is shown as text.
        let is_slack_id = a.id.len() > 1
            && a.id.starts_with(['U', 'W'])
            && a.id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_slack_id {
            format!("<@{}>", a.id)
        } else {
            escape(a.name.as_deref().unwrap_or(&a.id))
        }
    }

    fn mentions(list: &[Approver]) -> String {
        list.iter().map(mention).collect::<Vec<_>>().join(", ")
    }

    /// A one-line description of the action: `processRefund $25.00 USD`.
    pub fn summary(req: &ApprovalRequest) -> String {
        match req.amount_cents {
            Some(a) => format!(
                "{} {}",
                req.tool,
                format_amount(a, req.currency.as_deref().unwrap_or("usd"))
            ),
            None => req.tool.clone(),
        }
    }

    /// The money line: the charge's amount and currency and the charge id (`*Refund*
    /// $179.00 USD from Stripe charge `ch_…``), or why there is no charge.
    pub fn money(req: &ApprovalRequest) -> Option<String> {
        let amount = format_amount(req.amount_cents?, req.currency.as_deref().unwrap_or("usd"));
        Some(match req.params["chargeId"].as_str() {
            Some(charge) => format!(
                "*Amount*\n{amount} from Stripe charge `{}` (what is left on the charge, read from Stripe)",
                escape(charge)
            ),
            None => format!(
                "*Amount*\n{amount} as the product reports it (Stripe is not configured: no money moves, access is revoked)"
            ),
        })
    }

    fn status_line(state: &ApprovalState) -> (&'static str, String) {
        match state {
            ApprovalState::Pending { approved_by } if approved_by.is_empty() => {
                ("Approval needed", String::new())
            }
            ApprovalState::Pending { approved_by } => (
                "Approval needed",
                format!(
                    ":hourglass: Approved by {}; waiting for one more approver",
                    mentions(approved_by)
                ),
            ),
            ApprovalState::Approved { approved_by } => (
                "Approved",
                format!(":white_check_mark: Approved by {}", mentions(approved_by)),
            ),
            ApprovalState::Executing { approved_by } => (
                "Executing",
                format!(":gear: Executing… (approved by {})", mentions(approved_by)),
            ),
            ApprovalState::Executed {
                approved_by,
                result,
            } => (
                "Executed",
                format!(
                    ":white_check_mark: Executed: {} (approved by {})",
                    escape(result),
                    mentions(approved_by)
                ),
            ),
            ApprovalState::Failed { approved_by, error } => (
                "Failed",
                format!(
                    ":x: Failed: {} (approved by {})",
                    escape(error),
                    mentions(approved_by)
                ),
            ),
            ApprovalState::Rejected { by, reason } => (
                "Rejected",
                match reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                    Some(r) => format!(":no_entry: Rejected by {}: {}", mention(by), escape(r)),
                    None => format!(":no_entry: Rejected by {}", mention(by)),
                },
            ),
            ApprovalState::Expired => (
                "Expired",
                ":alarm_clock: Expired without a decision; nothing was done".to_string(),
            ),
        }
    }

    /// A plain alert: a header, the text and up to ten fields, no buttons.
    pub fn alert(a: &support_core::approvals::Alert) -> Value {
        let mut blocks = vec![
            json!({"type": "header", "text": plain(&a.title, MAX_HEADER)}),
            json!({"type": "section", "text": mrkdwn(&escape(&a.text), MAX_SECTION)}),
        ];
        let fields: Vec<Value> = a
            .fields
            .iter()
            .take(10)
            .map(|(k, v)| mrkdwn(&format!("*{}*\n{}", escape(k), escape(v)), MAX_FIELD))
            .collect();
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        Value::Array(blocks)
    }

    /// The notification text that goes with the blocks.
    pub fn fallback_text(req: &ApprovalRequest, state: &ApprovalState) -> String {
        let (title, _) = status_line(state);
        truncate(
            &format!("{title}: {} for {}", summary(req), req.app_name),
            MAX_SECTION,
        )
    }

    fn code_block(v: &Value) -> String {
        let pretty = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        // Leave room for the fences and the title inside the section limit.
        let body = truncate(&escape(&pretty), MAX_SECTION - 40);
        format!("*Parameters*\n```{body}```")
    }

    fn quote(text: &str) -> String {
        let body = truncate(&escape(text.trim()), MAX_SECTION - 40);
        let quoted: Vec<String> = body.lines().map(|l| format!(">{l}")).collect();
        format!("*Draft reply*\n{}", quoted.join("\n"))
    }

    /// The approval message in `state`: buttons while pending, a status line after.
    pub fn approval_message(req: &ApprovalRequest, state: &ApprovalState) -> Value {
        let (title, status) = status_line(state);
        let mut blocks = vec![json!({
            "type": "header",
            "text": plain(&format!("{title}: {}", summary(req)), MAX_HEADER),
        })];

        let customer = match (&req.customer_name, &req.customer_email) {
            (Some(n), Some(e)) => format!("{} <mailto:{e}|{e}>", escape(n)),
            (None, Some(e)) => format!("<mailto:{e}|{e}>"),
            (Some(n), None) => escape(n),
            (None, None) => "unknown".to_string(),
        };
        let conversation = match &req.front_url {
            Some(u) => format!(
                "<{}|{}>",
                truncate(u, MAX_URL),
                escape(&req.conversation_id)
            ),
            None => escape(&req.conversation_id),
        };
        let fields = [
            format!(
                "*App*\n{} (`{}`)",
                escape(&req.app_name),
                escape(&req.app_slug)
            ),
            format!("*Customer*\n{customer}"),
            format!(
                "*Inbox*\n{}",
                escape(req.inbox.as_deref().unwrap_or("unknown"))
            ),
            format!("*Conversation*\n{conversation}"),
        ];
        blocks.push(json!({
            "type": "section",
            "fields": fields.iter().map(|f| mrkdwn(f, MAX_FIELD)).collect::<Vec<_>>(),
        }));
        if let Some(m) = money(req) {
            blocks.push(json!({"type": "section", "text": mrkdwn(&m, MAX_SECTION)}));
        }
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(&format!("*Why*\n{}", escape(req.reasoning.trim())), MAX_SECTION),
        }));
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(&code_block(&req.params), MAX_SECTION),
        }));
        if let Some(d) = req.draft.as_deref().filter(|d| !d.trim().is_empty()) {
            blocks.push(json!({"type": "section", "text": mrkdwn(&quote(d), MAX_SECTION)}));
        }
        let mut context = vec![format!("Action `{}`", escape(&req.action_id))];
        if req.approvers_required > 1 {
            context.push(format!("needs {} approvers", req.approvers_required));
        }
        if state.is_open() {
            let secs = req.expires_at.div_euclid(1000);
            context.push(format!(
                "expires <!date^{secs}^{{date_short_pretty}} at {{time}}|at {secs}>"
            ));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [mrkdwn(&context.join(" · "), MAX_SECTION)],
        }));
        if !status.is_empty() {
            blocks.push(json!({"type": "section", "text": mrkdwn(&status, MAX_SECTION)}));
        }
        if state.is_open() {
            let mut elements = vec![
                button("Approve", ids::APPROVE, &req.action_id, Some("primary")),
                button("Reject", ids::REJECT, &req.action_id, Some("danger")),
                button("Edit", ids::EDIT, &req.action_id, None),
            ];
            if let Some(u) = req.front_url.as_deref().filter(|u| u.len() <= MAX_URL) {
                let mut link = button("Open in Front", ids::OPEN_IN_FRONT, &req.action_id, None);
                link["url"] = json!(u);
                elements.push(link);
            }
            blocks.push(json!({
                "type": "actions",
                "block_id": truncate(&format!("approval:{}", req.action_id), 255),
                "elements": elements,
            }));
        }
        // The draft can be rated while the request is open (a decided post shows no buttons).
        if state.is_open() && req.draft.as_deref().is_some_and(|d| !d.trim().is_empty()) {
            blocks.push(json!({
                "type": "actions",
                "block_id": truncate(&format!("rating:{}", req.action_id), 255),
                "elements": [
                    button("Good draft", ids::RATE_GOOD, &req.action_id, None),
                    button("Bad draft", ids::RATE_BAD, &req.action_id, None),
                ],
            }));
        }
        Value::Array(blocks)
    }

    /// A modal view (`{"type":"modal",…}`) for `views.open`.
    pub fn modal(m: &ApprovalModal) -> Value {
        match m {
            ApprovalModal::Reject { action_id, summary } => json!({
                "type": "modal",
                "callback_id": ids::REJECT_MODAL,
                "private_metadata": truncate(action_id, MAX_INPUT),
                "title": plain("Reject action", MAX_MODAL_TITLE),
                "submit": plain("Reject", MAX_MODAL_TITLE),
                "close": plain("Cancel", MAX_MODAL_TITLE),
                "blocks": [
                    {"type": "section", "text": mrkdwn(&format!("Reject *{}*?", escape(summary)), MAX_SECTION)},
                    {
                        "type": "input",
                        "block_id": ids::REASON_BLOCK,
                        "label": plain("Reason", 2000),
                        "element": {
                            "type": "plain_text_input",
                            "action_id": ids::REASON_INPUT,
                            "multiline": true,
                            "min_length": 3,
                            "max_length": MAX_INPUT,
                            "placeholder": plain("Why not? The agent learns from this.", 150),
                        },
                    },
                ],
            }),
            ApprovalModal::Edit {
                action_id,
                draft,
                amount_cents,
                currency,
            } => {
                let mut blocks = vec![json!({
                    "type": "input",
                    "block_id": ids::DRAFT_BLOCK,
                    "label": plain("Reply to the customer", 2000),
                    "element": {
                        "type": "plain_text_input",
                        "action_id": ids::DRAFT_INPUT,
                        "multiline": true,
                        "max_length": MAX_INPUT,
                        "initial_value": truncate(draft.as_deref().unwrap_or(""), MAX_INPUT),
                    },
                })];
                if let Some(a) = amount_cents {
                    let code = currency.as_deref().unwrap_or("usd");
                    let cur = code.to_ascii_uppercase();
                    let major = major_units(*a, code);
                    let min = major_units(1, code);
                    let decimals = currency_exponent(code) > 0;
                    blocks.push(json!({
                        "type": "input",
                        "block_id": ids::AMOUNT_BLOCK,
                        "label": plain(&format!("Amount ({cur})"), 2000),
                        "hint": plain("At most what is left on the Stripe charge.", 2000),
                        "element": {
                            "type": "number_input",
                            "action_id": ids::AMOUNT_INPUT,
                            "is_decimal_allowed": decimals,
                            "initial_value": major,
                            "min_value": min,
                            "max_value": major,
                        },
                    }));
                }
                json!({
                    "type": "modal",
                    "callback_id": ids::EDIT_MODAL,
                    "private_metadata": truncate(action_id, MAX_INPUT),
                    "title": plain("Edit and approve", MAX_MODAL_TITLE),
                    "submit": plain("Approve", MAX_MODAL_TITLE),
                    "close": plain("Cancel", MAX_MODAL_TITLE),
                    "blocks": blocks,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::blocks::*;
    use super::*;
    use serde_json::json;
    use support_core::approvals::{Approver, ids};

    pub(crate) fn request() -> ApprovalRequest {
        ApprovalRequest {
            action_id: "act_01HX".into(),
            app_slug: "total-typescript".into(),
            app_name: "Total TypeScript".into(),
            customer_email: Some("jane@example.com".into()),
            customer_name: Some("Jane <Doe>".into()),
            inbox: Some("inb_1".into()),
            conversation_id: "cnv_1".into(),
            front_url: Some("https://app.frontapp.com/open/cnv_1".into()),
            tool: "processRefund".into(),
            params: json!({"purchaseId": "pur_1", "reason": "r", "chargeId": "ch_3Mtw"}),
            amount_cents: Some(2500),
            currency: Some("usd".into()),
            reasoning: "Bought 40 days ago; policy allows refunds with approval up to 60 days."
                .into(),
            draft: Some("Hi Jane,\n\nYour refund is on its way.".into()),
            approvers_required: 1,
            expires_at: 1_700_000_000_000,
        }
    }

    fn all_states() -> Vec<ApprovalState> {
        let by = vec![Approver::new("U123ABC")];
        vec![
            ApprovalState::Pending {
                approved_by: vec![],
            },
            ApprovalState::Pending {
                approved_by: by.clone(),
            },
            ApprovalState::Approved {
                approved_by: by.clone(),
            },
            ApprovalState::Executing {
                approved_by: by.clone(),
            },
            ApprovalState::Executed {
                approved_by: by.clone(),
                result: "Refunded $25.00 (re_1)".into(),
            },
            ApprovalState::Failed {
                approved_by: by.clone(),
                error: "card_declined".into(),
            },
            ApprovalState::Rejected {
                by: Approver::new("U123ABC"),
                reason: Some("outside <policy>".into()),
            },
            ApprovalState::Expired,
        ]
    }

    #[test]
    fn every_state_renders_as_blocks_slack_morphism_accepts() {
        for state in all_states() {
            let v = approval_message(&request(), &state);
            let typed: Result<Vec<SlackBlock>, _> = serde_json::from_value(v.clone());
            assert!(typed.is_ok(), "{}: {typed:?}\n{v:#}", state.as_str());
            let has_buttons = v.as_array().unwrap().iter().any(|b| b["type"] == "actions");
            assert_eq!(has_buttons, state.is_open(), "{}", state.as_str());
        }
    }

    #[test]
    fn pending_message_has_the_four_buttons() {
        let v = approval_message(
            &request(),
            &ApprovalState::Pending {
                approved_by: vec![],
            },
        );
        let blocks = v.as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "Approval needed: processRefund $25.00 USD"
        );
        let text = v.to_string();
        assert!(text.contains("Total TypeScript"));
        assert!(text.contains("jane@example.com"));
        assert!(text.contains("Jane &lt;Doe&gt;"), "mrkdwn is escaped");
        assert!(text.contains("policy allows refunds"));
        assert!(text.contains("Your refund is on its way"));
        assert!(text.contains("purchaseId"));
        assert!(
            text.contains("$25.00 USD from Stripe charge `ch_3Mtw`"),
            "the charge's amount, currency and id: {text}"
        );
        // Without a charge (Stripe not configured) the figure is labelled as the product's.
        let mut r = request();
        r.params = json!({"purchaseId": "pur_1", "reason": "r"});
        let text = approval_message(
            &r,
            &ApprovalState::Pending {
                approved_by: vec![],
            },
        )
        .to_string();
        assert!(text.contains("as the product reports it"), "{text}");
        // Zero-decimal currencies are not divided by 100.
        r.amount_cents = Some(12_000);
        r.currency = Some("jpy".into());
        assert_eq!(summary(&r), "processRefund ¥12000 JPY");
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        let els = actions["elements"].as_array().unwrap();
        let ids_: Vec<&str> = els
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids_,
            [ids::APPROVE, ids::REJECT, ids::EDIT, ids::OPEN_IN_FRONT]
        );
        assert_eq!(els[0]["style"], "primary");
        assert_eq!(els[1]["style"], "danger");
        assert_eq!(els[0]["value"], "act_01HX");
        assert_eq!(els[3]["url"], "https://app.frontapp.com/open/cnv_1");
    }

    #[test]
    fn transitions_say_who_and_what() {
        let texts: Vec<String> = all_states()
            .iter()
            .map(|s| approval_message(&request(), s).to_string())
            .collect();
        assert!(texts[1].contains("Approved by <@U123ABC>; waiting for one more"));
        assert!(texts[2].contains("Approved by <@U123ABC>"));
        assert!(texts[3].contains("Executing"));
        assert!(texts[4].contains("Executed: Refunded $25.00 (re_1)"));
        assert!(texts[5].contains("Failed: card_declined"));
        assert!(texts[6].contains("Rejected by <@U123ABC>: outside &lt;policy&gt;"));
        assert!(texts[7].contains("Expired"));
        assert_eq!(
            fallback_text(&request(), &ApprovalState::Expired),
            "Expired: processRefund $25.00 USD for Total TypeScript"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let mut r = request();
        r.action_id = "a".repeat(5000);
        r.tool = "t".repeat(500);
        r.reasoning = "r".repeat(10_000);
        r.draft = Some("d".repeat(10_000));
        r.params = json!({"blob": "x".repeat(10_000)});
        r.app_name = "n".repeat(5000);
        let v = approval_message(
            &r,
            &ApprovalState::Pending {
                approved_by: vec![],
            },
        );
        let blocks = v.as_array().unwrap();
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD);
            }
            for e in b["elements"].as_array().into_iter().flatten() {
                if e["type"] == "button" {
                    assert!(e["text"]["text"].as_str().unwrap().chars().count() <= MAX_BUTTON_TEXT);
                    assert!(e["value"].as_str().unwrap().chars().count() <= MAX_BUTTON_VALUE);
                }
            }
        }
        assert!(serde_json::from_value::<Vec<SlackBlock>>(v).is_ok());
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn modals_are_valid_views() {
        let reject = modal(&ApprovalModal::Reject {
            action_id: "act_1".into(),
            summary: "processRefund $25.00".into(),
        });
        assert_eq!(reject["callback_id"], ids::REJECT_MODAL);
        assert_eq!(reject["private_metadata"], "act_1");
        assert_eq!(reject["blocks"][1]["block_id"], ids::REASON_BLOCK);
        assert_eq!(
            reject["blocks"][1]["element"]["action_id"],
            ids::REASON_INPUT
        );
        let edit = modal(&ApprovalModal::Edit {
            action_id: "act_1".into(),
            draft: Some("Hi".into()),
            amount_cents: Some(2505),
            currency: Some("usd".into()),
        });
        assert_eq!(edit["callback_id"], ids::EDIT_MODAL);
        assert_eq!(edit["blocks"][0]["element"]["initial_value"], "Hi");
        assert_eq!(edit["blocks"][1]["element"]["type"], "number_input");
        assert_eq!(edit["blocks"][1]["element"]["initial_value"], "25.05");
        for v in [reject, edit] {
            assert!(v["title"]["text"].as_str().unwrap().chars().count() <= MAX_MODAL_TITLE);
            let typed: Result<SlackView, _> = serde_json::from_value(v.clone());
            assert!(matches!(typed, Ok(SlackView::Modal(_))), "{typed:?}");
        }
        let no_amount = modal(&ApprovalModal::Edit {
            action_id: "act_1".into(),
            draft: None,
            amount_cents: None,
            currency: None,
        });
        assert_eq!(no_amount["blocks"].as_array().unwrap().len(), 1);
        let yen = modal(&ApprovalModal::Edit {
            action_id: "act_1".into(),
            draft: None,
            amount_cents: Some(12_000),
            currency: Some("jpy".into()),
        });
        let input = &yen["blocks"][1]["element"];
        assert_eq!(
            (
                &input["initial_value"],
                &input["max_value"],
                &input["min_value"]
            ),
            (&json!("12000"), &json!("12000"), &json!("1"))
        );
        assert_eq!(input["is_decimal_allowed"], false);
    }

    #[test]
    fn bad_api_urls_are_refused_and_the_token_is_hidden() {
        assert!(SlackApprovals::new(&Secret::new("xoxb-1"), "ftp://x").is_err());
        let c = SlackApprovals::new(&Secret::new("xoxb-secret-value"), "https://slack.com/api/")
            .unwrap();
        assert_eq!(c.api_url, "https://slack.com/api");
        assert!(!format!("{c:?}").contains("xoxb-secret-value"));
    }
}
