//! The shared components of every page (Leptos, rendered on the server). Text given to them is
//! escaped by Leptos; nothing here takes raw HTML.

use leptos::prelude::*;
use serde_json::Value;
use support_core::store::{ListPage, TimeCursor};
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

/// Cursor pagination: "Newer" and "Older" links (hrefs built with [`pager_links`]);
/// `None` shows the direction disabled. A list in another order names its directions
/// (`prev_label`, `next_label`).
#[component]
pub fn Pager(
    newer: Option<String>,
    older: Option<String>,
    #[prop(optional)] prev_label: Option<&'static str>,
    #[prop(optional)] next_label: Option<&'static str>,
) -> impl IntoView {
    let link = |href: Option<String>, label: &'static str, rel: &'static str| match href {
        Some(h) => view! { <a class="button" href=h rel=rel>{label}</a> }.into_any(),
        None => {
            view! { <span class="button disabled" aria-disabled="true">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {link(newer, prev_label.unwrap_or("← Newer"), "prev")}
            {link(older, next_label.unwrap_or("Older →"), "next")}
        </nav>
    }
}

/// Where a keyset page starts, in the list's own order: the first page, the rows after a
/// cursor (the next page, further down) or the rows before it (one page up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAt {
    First,
    Next(String),
    Prev(String),
}

/// The query keys of a list's cursors: `prev` (one page up) and `next` (one page down), e.g.
/// `("newer", "older")` for a list newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKeys {
    pub prev: &'static str,
    pub next: &'static str,
}

impl PageKeys {
    /// `newer` / `older`: a list newest first.
    pub const NEWEST_FIRST: PageKeys = PageKeys {
        prev: "newer",
        next: "older",
    };

    /// The page the query string asks for (`next` wins over `prev`; blank values are none).
    pub fn page_at(&self, query: &[(String, String)]) -> PageAt {
        let get = |k: &str| {
            query
                .iter()
                .find(|(key, v)| key == k && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        };
        match (get(self.next), get(self.prev)) {
            (Some(c), _) => PageAt::Next(c),
            (None, Some(c)) => PageAt::Prev(c),
            _ => PageAt::First,
        }
    }

    /// `query` without this list's cursors: what its pager links keep.
    pub fn without(&self, query: &[(String, String)]) -> Vec<(String, String)> {
        query
            .iter()
            .filter(|(k, v)| k != self.prev && k != self.next && !v.is_empty())
            .cloned()
            .collect()
    }
}

/// `1733480000000.apr_x` → a keyset position `(at, id)`; `None` when malformed.
pub fn parse_time_cursor(s: &str) -> Option<TimeCursor> {
    let (at, id) = s.split_once('.')?;
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    Some(TimeCursor {
        at: at.parse().ok()?,
        id: ok.then(|| id.to_string())?,
    })
}

/// The text of a keyset position, as [`parse_time_cursor`] reads it.
pub fn time_cursor_text(at: Millis, id: &str) -> String {
    format!("{at}.{id}")
}

/// The store's page for `at` (a malformed cursor reads the first page).
pub fn list_page(at: &PageAt) -> ListPage {
    match at {
        PageAt::First => ListPage::First,
        PageAt::Next(c) => parse_time_cursor(c).map_or(ListPage::First, ListPage::After),
        PageAt::Prev(c) => parse_time_cursor(c).map_or(ListPage::First, ListPage::Before),
    }
}

/// Trim a page read with one row more than `limit` (to learn whether more rows lie beyond it,
/// in the direction it was read) to `limit` rows in the list's order: the extra row is the
/// last one going down, the first one going up. Returns the rows and whether there are more.
pub fn take_page<T>(mut rows: Vec<T>, limit: usize, at: &PageAt) -> (Vec<T>, bool) {
    if rows.len() <= limit {
        return (rows, false);
    }
    match at {
        PageAt::Prev(_) => {
            let extra = rows.len() - limit;
            rows.drain(..extra);
        }
        _ => rows.truncate(limit),
    }
    (rows, true)
}

/// The pager's links of a keyset page (`prev`, `next`): `first` and `last` are the cursors of
/// the page's first and last rows, `more` whether rows lie beyond the page in the direction it
/// was read ([`take_page`]). Going up from a page gives the page just above it, not the first
/// page; a page reached by going down always links one page up, a page reached by going up
/// always links one page down.
pub fn pager_links(
    path: &str,
    query: &[(String, String)],
    keys: PageKeys,
    at: &PageAt,
    first: Option<String>,
    last: Option<String>,
    more: bool,
) -> (Option<String>, Option<String>) {
    let kept = keys.without(query);
    let link =
        |key: &str, c: Option<String>| c.map(|c| super::with_query(path, &kept, key, Some(&c)));
    let top = || Some(super::with_query(path, &kept, keys.next, None));
    match at {
        PageAt::First => (None, link(keys.next, more.then_some(last).flatten())),
        // An empty page past either end links back to the first page.
        PageAt::Next(_) if first.is_none() => (top(), None),
        PageAt::Prev(_) if first.is_none() => (None, top()),
        PageAt::Next(_) => (
            link(keys.prev, first),
            link(keys.next, more.then_some(last).flatten()),
        ),
        PageAt::Prev(_) => (
            link(keys.prev, more.then_some(first).flatten()),
            link(keys.next, last),
        ),
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
        "expired" | "on_hold" | "stale" => "expired",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const K: PageKeys = PageKeys::NEWEST_FIRST;

    fn links(
        query: &[(&str, &str)],
        first: &str,
        last: &str,
        more: bool,
    ) -> (Option<String>, Option<String>) {
        let query = q(query);
        let at = K.page_at(&query);
        pager_links(
            "/x",
            &query,
            K,
            &at,
            Some(first.into()),
            Some(last.into()),
            more,
        )
    }

    #[test]
    fn newer_goes_one_page_up_not_to_the_first_page() {
        // Page 1 (first): only Older.
        assert_eq!(
            links(&[("app", "a")], "9", "7", true),
            (None, Some("/x?app=a&older=7".into()))
        );
        // Page 3 reached by Older: Newer is the rows above its first row (page 2).
        assert_eq!(
            links(&[("app", "a"), ("older", "4")], "3", "1", true),
            (
                Some("/x?app=a&newer=3".into()),
                Some("/x?app=a&older=1".into())
            )
        );
        // Page 2 reached by Newer from page 3, with rows above it: both ways, keeping filters.
        assert_eq!(
            links(&[("newer", "3"), ("app", "a")], "6", "4", true),
            (
                Some("/x?app=a&newer=6".into()),
                Some("/x?app=a&older=4".into())
            )
        );
        // Page 1 reached by Newer: nothing above it.
        assert_eq!(
            links(&[("newer", "6")], "9", "7", false),
            (None, Some("/x?older=7".into()))
        );
        // The last page: no Older.
        assert_eq!(
            links(&[("older", "1")], "0", "0", false),
            (Some("/x?newer=0".into()), None)
        );
    }

    #[test]
    fn empty_pages_past_an_end_link_back_to_the_first_page() {
        let query = q(&[("older", "1"), ("app", "a")]);
        let at = K.page_at(&query);
        assert_eq!(
            pager_links("/x", &query, K, &at, None, None, false),
            (Some("/x?app=a".into()), None)
        );
    }

    #[test]
    fn take_page_drops_the_row_beyond_the_page() {
        let down = PageAt::Next("c".into());
        let up = PageAt::Prev("c".into());
        assert_eq!(take_page(vec![1, 2, 3], 2, &down), (vec![1, 2], true));
        assert_eq!(take_page(vec![1, 2, 3], 2, &up), (vec![2, 3], true));
        assert_eq!(
            take_page(vec![1, 2], 2, &PageAt::First),
            (vec![1, 2], false)
        );
        assert_eq!(
            K.page_at(&q(&[("older", " "), ("newer", "5")])),
            PageAt::Prev("5".into())
        );
    }
}
