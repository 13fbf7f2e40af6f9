//! The dashboard's islands of interactivity (Leptos `#[island]`).
//!
//! `support-web` renders every page on the server and puts these components into them; the
//! HTML they render works without JavaScript. When the hydrate bundle was built
//! (`cargo xtask build-hydrate`: this crate for `wasm32-unknown-unknown` with the `hydrate`
//! feature, then `wasm-bindgen`), the server adds `/pkg/boot.js`, which loads the bundle and
//! hydrates each `<leptos-island>`; nothing else of the page is shipped to the browser.
//!
//! - [`LiveFilter`]: narrows the rows of a table as you type and refreshes the table from the
//!   server without a full reload (hidden until hydrated: without JavaScript the page's own
//!   filter form does the job);
//! - [`Countdown`]: an approval's expiry, ticking every second once hydrated.

use leptos::prelude::*;

/// What is left before `expires_at` (ms since the epoch) at `now`: `2 h 14 min left`,
/// `4 min 05 s left`, `expired`. The same text on the server and in the browser.
pub fn time_left(expires_at: i64, now: i64) -> String {
    let secs = (expires_at - now) / 1000;
    if secs <= 0 {
        return "expired".into();
    }
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s left"),
        (0, 0, m) if m < 10 => format!("{m} min {s:02} s left"),
        (0, 0, m) => format!("{m} min left"),
        (0, h, m) => format!("{h} h {m} min left"),
        (d, h, _) => format!("{d} d {h} h left"),
    }
}

/// A filter box over the rows of the table inside the element with id `target`: typing
/// hides the rows that do not contain the text (case-insensitive), and "Refresh" reloads the
/// table from the server (the same URL, fetched in the background) without leaving the page.
/// Rendered hidden; shown once hydrated.
#[island]
pub fn LiveFilter(
    /// The id of the element holding the table.
    target: String,
    /// What the box filters, for its label ("Filter these conversations").
    label: String,
) -> impl IntoView {
    let (ready, set_ready) = signal(false);
    let (query, set_query) = signal(String::new());
    let (shown, set_shown) = signal(None::<(u32, u32)>);
    let (status, set_status) = signal(String::new());
    Effect::new(move |_| set_ready.set(true));
    let input_id = format!("{target}-live-filter");
    #[cfg(feature = "hydrate")]
    let (on_input, on_refresh) = {
        let t1 = target.clone();
        let t2 = target.clone();
        (
            move |ev: leptos::ev::Event| {
                let q = event_target_value(&ev);
                set_shown.set(Some(browser::narrow(&t1, &q)));
                set_query.set(q);
            },
            move |_: leptos::ev::MouseEvent| {
                let target = t2.clone();
                set_status.set("Refreshing…".into());
                leptos::task::spawn_local(async move {
                    match browser::refresh(&target).await {
                        Ok(()) => {
                            set_shown.set(Some(browser::narrow(&target, &query.get_untracked())));
                            set_status.set("Refreshed".into());
                        }
                        Err(e) => set_status.set(format!("Could not refresh: {e}")),
                    }
                });
            },
        )
    };
    #[cfg(not(feature = "hydrate"))]
    let (on_input, on_refresh) = {
        let _ = (&target, set_shown, set_query, set_status);
        (|_: leptos::ev::Event| {}, |_: leptos::ev::MouseEvent| {})
    };
    let count = move || {
        shown
            .get()
            .filter(|_| !query.get().trim().is_empty())
            .map(|(shown, all)| format!("{shown} of {all} rows shown"))
            .unwrap_or_default()
    };
    view! {
        <div class="live-filter" hidden=move || !ready.get()>
            <label for=input_id.clone()>{label}</label>
            " "
            <input id=input_id type="search" autocomplete="off" on:input=on_input/>
            " "
            <button type="button" class="secondary" on:click=on_refresh>"Refresh"</button>
            " "
            <span class="muted live-filter-count" aria-live="polite">
                {move || format!("{} {}", count(), status.get()).trim().to_string()}
            </span>
        </div>
    }
}

/// An expiry countdown (`2 h 14 min left`) that ticks every second once hydrated.
#[island]
pub fn Countdown(
    /// When it expires (ms since the epoch).
    expires_at: i64,
    /// The server's clock when it rendered the page.
    now: i64,
) -> impl IntoView {
    let (now, set_now) = signal(now);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        set_now.set(js_sys::Date::now() as i64);
        let _ = set_interval_with_handle(
            move || set_now.set(js_sys::Date::now() as i64),
            std::time::Duration::from_secs(1),
        );
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = set_now;
    view! { <span class="countdown">{move || time_left(expires_at, now.get())}</span> }
}

/// The browser's entry point: `/pkg/boot.js` calls it once the module is loaded, then
/// hydrates each island.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_islands();
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    fn document() -> Option<web_sys::Document> {
        web_sys::window().and_then(|w| w.document())
    }

    /// Hides the rows of `#target`'s table bodies that do not contain `query`; returns
    /// (shown, all).
    pub fn narrow(target: &str, query: &str) -> (u32, u32) {
        let q = query.trim().to_lowercase();
        let Some(rows) =
            document().and_then(|d| d.query_selector_all(&format!("#{target} tbody tr")).ok())
        else {
            return (0, 0);
        };
        let mut shown = 0;
        for i in 0..rows.length() {
            let Some(row) = rows
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            else {
                continue;
            };
            let text = row.text_content().unwrap_or_default().to_lowercase();
            let hit = q.is_empty() || text.contains(&q);
            row.set_hidden(!hit);
            shown += u32::from(hit);
        }
        (shown, rows.length())
    }

    /// Fetches the page again (same URL, same session cookie) and swaps in its `#target`.
    pub async fn refresh(target: &str) -> Result<(), String> {
        let err = |e: wasm_bindgen::JsValue| format!("{e:?}");
        let window = web_sys::window().ok_or("no window")?;
        let url = window.location().href().map_err(err)?;
        let init = web_sys::RequestInit::new();
        init.set_credentials(web_sys::RequestCredentials::SameOrigin);
        let resp =
            wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&url, &init))
                .await
                .map_err(err)?;
        let resp: web_sys::Response = resp.dyn_into().map_err(err)?;
        if !resp.ok() {
            return Err(format!("the server answered {}", resp.status()));
        }
        let text = wasm_bindgen_futures::JsFuture::from(resp.text().map_err(err)?)
            .await
            .map_err(err)?
            .as_string()
            .unwrap_or_default();
        let parsed = web_sys::DomParser::new()
            .map_err(err)?
            .parse_from_string(&text, web_sys::SupportedType::TextHtml)
            .map_err(err)?;
        let fresh = parsed
            .get_element_by_id(target)
            .ok_or("the page no longer has this table")?;
        let current = document()
            .and_then(|d| d.get_element_by_id(target))
            .ok_or("the table is gone")?;
        current.set_inner_html(&fresh.inner_html());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::time_left;

    #[test]
    fn time_left_reads_naturally() {
        let s = 1000;
        assert_eq!(time_left(0, 1), "expired");
        assert_eq!(time_left(42 * s, 0), "42 s left");
        assert_eq!(time_left(245 * s, 0), "4 min 05 s left");
        assert_eq!(time_left(14 * 60 * s, 0), "14 min left");
        assert_eq!(time_left((2 * 3600 + 14 * 60) * s, 0), "2 h 14 min left");
        assert_eq!(time_left((3 * 86_400 + 5 * 3600) * s, 0), "3 d 5 h left");
    }
}
