//! The shared components of every page (Leptos, rendered on the server). Text given to them is
//! escaped by Leptos; nothing here takes raw HTML.

use leptos::prelude::*;
use serde_json::Value;
use support_core::time::Millis;

/// A table with a sticky header. `head`: the column titles; children: the `<tr>` rows.
/// Put a [`Pager`] after it for cursor pagination.
#[component]
pub fn Table(
    /// Column titles.
    head: Vec<&'static str>,
    /// What the table lists (read by screen readers).
    #[prop(into)]
    caption: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table>
                <caption class="sr-only">{caption}</caption>
                <thead>
                    <tr>{head.into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}</tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// Cursor pagination: "Newer" and "Older" links (hrefs built with [`super::with_query`]);
/// `None` shows the direction disabled.
#[component]
pub fn Pager(newer: Option<String>, older: Option<String>) -> impl IntoView {
    let link = |href: Option<String>, label: &'static str, rel: &'static str| match href {
        Some(h) => view! { <a class="button" href=h rel=rel>{label}</a> }.into_any(),
        None => {
            view! { <span class="button disabled" aria-disabled="true">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {link(newer, "← Newer", "prev")}
            {link(older, "Older →", "next")}
        </nav>
    }
}

/// A filter bar: a GET form to `action` whose fields (children: [`TextField`], [`SelectField`],
/// [`DateField`]) live in the query string, so the URL is the state.
#[component]
pub fn FilterBar(#[prop(into)] action: String, children: Children) -> impl IntoView {
    let clear = action.clone();
    view! {
        <form class="filters" method="get" action=action role="search">
            {children()}
            <button type="submit">"Filter"</button>
            <a class="button secondary" href=clear>"Clear"</a>
        </form>
    }
}

/// A labelled text input.
#[component]
pub fn TextField(
    #[prop(into)] name: String,
    #[prop(into)] label: String,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional, into)] placeholder: Option<String>,
) -> impl IntoView {
    let id = format!("f-{name}");
    view! {
        <label for=id.clone()>{label}</label>
        <input type="text" id=id name=name value=value.unwrap_or_default() placeholder=placeholder.unwrap_or_default()/>
    }
}

/// A labelled date input (`YYYY-MM-DD`).
#[component]
pub fn DateField(
    #[prop(into)] name: String,
    #[prop(into)] label: String,
    #[prop(optional, into)] value: Option<String>,
) -> impl IntoView {
    let id = format!("f-{name}");
    view! {
        <label for=id.clone()>{label}</label>
        <input type="date" id=id name=name value=value.unwrap_or_default()/>
    }
}

/// A labelled select; `options` are `(value, label)`, the first usually `("", "Any")`.
#[component]
pub fn SelectField(
    #[prop(into)] name: String,
    #[prop(into)] label: String,
    options: Vec<(String, String)>,
    #[prop(optional, into)] selected: Option<String>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let selected = selected.unwrap_or_default();
    view! {
        <label for=id.clone()>{label}</label>
        <select id=id name=name>
            {options
                .into_iter()
                .map(|(v, l)| {
                    let sel = v == selected;
                    view! { <option value=v selected=sel>{l}</option> }
                })
                .collect_view()}
        </select>
    }
}

/// The colour class of a state (one colour per state; unknown states are neutral).
pub fn badge_class(status: &str) -> &'static str {
    match status {
        "pending" | "pending_approval" | "proposed" | "open" | "new" => "pending",
        "approved" | "respond" | "resolved" => "approved",
        "executed" | "completed" | "solved" | "closed" | "ok" => "executed",
        "rejected" | "silence" => "rejected",
        "expired" | "on_hold" => "expired",
        "failed" | "urgent" | "broken" => "failed",
        "escalate" | "executing" | "running" => "escalate",
        _ => "neutral",
    }
}

/// A status badge: the state's text on its colour.
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let class = format!("badge badge-{}", badge_class(&status));
    view! { <span class=class>{status.replace('_', " ")}</span> }
}

/// `at` as UTC, `2026-12-06 10:35:00 UTC`.
pub fn absolute_time(at: Millis) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// `at` relative to `now`: `just now`, `5 min ago`, `in 3 h`, `2 d ago`.
pub fn relative_time(at: Millis, now: Millis) -> String {
    let d = (now - at) / 1000;
    let (n, future) = if d >= 0 { (d, false) } else { (-d, true) };
    let text = match n {
        0..=44 => return "just now".into(),
        45..=3_599 => format!("{} min", (n + 30) / 60),
        3_600..=86_399 => format!("{} h", (n + 1_800) / 3_600),
        _ => format!("{} d", (n + 43_200) / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A time shown relative to `now`, with the absolute time in the tooltip and `datetime`.
#[component]
pub fn RelTime(at: Millis, now: Millis) -> impl IntoView {
    let iso = jiff::Timestamp::from_millisecond(at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    view! { <time datetime=iso title=absolute_time(at)>{relative_time(at, now)}</time> }
}

/// An amount in minor units with its currency (`$179.00`, `€12.50`, `1,000 JPY`).
#[component]
pub fn Money(minor: i64, #[prop(into)] currency: String) -> impl IntoView {
    let text = support_core::payments::format_amount(minor, &currency);
    view! { <span class="money">{text}</span> }
}

/// A JSON value, collapsed (`<details>`), pretty-printed and escaped.
#[component]
pub fn JsonView(value: Value, #[prop(optional, into)] summary: Option<String>) -> impl IntoView {
    let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
    let summary = summary.unwrap_or_else(|| match &value {
        Value::Object(m) => format!("{{…}} {} keys", m.len()),
        Value::Array(a) => format!("[…] {} items", a.len()),
        other => other.to_string().chars().take(60).collect(),
    });
    view! {
        <details class="json">
            <summary>{summary}</summary>
            <pre><code>{pretty}</code></pre>
        </details>
    }
}

/// One entry of a [`Timeline`].
pub struct TimelineItem {
    pub at: Millis,
    /// `message`, `decision`, `tool`, `approval`, `audit`, ... (a CSS class and a label).
    pub kind: &'static str,
    pub title: String,
    /// Details under the title.
    pub body: AnyView,
}

/// Messages, decisions, tool calls, approvals and audit entries in one list, oldest first.
#[component]
pub fn Timeline(mut items: Vec<TimelineItem>, now: Millis) -> impl IntoView {
    items.sort_by_key(|i| i.at);
    view! {
        <ol class="timeline">
            {items
                .into_iter()
                .map(|i| {
                    let class = format!("tl tl-{}", i.kind);
                    view! {
                        <li class=class>
                            <div class="tl-head">
                                <span class="tl-kind">{i.kind}</span>
                                <strong>{i.title}</strong>
                                <RelTime at=i.at now=now/>
                            </div>
                            <div class="tl-body">{i.body}</div>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// What an empty list says: what would appear here, and how.
#[component]
pub fn EmptyState(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <div class="empty">
            <strong>{title}</strong>
            <div>{children()}</div>
        </div>
    }
}

/// An error with its stable code, in place of what could not be shown (the rest of the page
/// still renders).
#[component]
pub fn ErrorPanel(#[prop(into)] code: String, #[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="error-panel" role="alert">
            <strong>{message}</strong>
            <div class="muted">"Error code: "<code>{code}</code></div>
        </div>
    }
}
