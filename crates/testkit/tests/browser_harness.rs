//! The browser harness itself: a session starts, waits by polling, runs or refuses
//! JavaScript as asked, posts forms, and takes 1280×800 screenshots.

use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use support_testkit::browser::{Browser, png_size};

const PAGE: &str = "<!doctype html><html><head><title>harness</title></head><body>\
    <p id=\"static\">served &lt;as&gt; html</p>\
    <p id=\"js\">javascript off</p>\
    <script>document.getElementById('js').textContent = 'javascript on';</script>\
    <form method=\"post\" action=\"/submit\"><label>Name <input id=\"name\" name=\"name\"></label>\
    <button id=\"go\" type=\"submit\">Send</button></form></body></html>";

async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/submit",
            post(
                |axum::Form(f): axum::Form<Vec<(String, String)>>| async move {
                    let name = f
                        .iter()
                        .find(|(k, _)| k == "name")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    Html(format!(
                        "<p id=\"done\">got {}</p>",
                        support_core::pipeline::text::escape_html(&name)
                    ))
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_session_runs_javascript_posts_forms_and_screenshots_at_1280x800() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let url = serve().await;
    browser.goto(&url).await;
    assert_eq!(
        browser
            .wait_for("#static")
            .await
            .text()
            .await
            .expect("text"),
        "served <as> html"
    );
    browser.wait_for_text("#js", "javascript on").await;
    browser.fill("#name", "<b>Ada</b>").await;
    browser.click("#go").await;
    assert_eq!(
        browser.wait_for_text("#done", "Ada").await,
        "got <b>Ada</b>"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let png = browser.screenshot_to(&dir.path().join("shot.png")).await;
    assert_eq!(png_size(&png), Some((1280, 800)));
    browser.close().await;
}

#[tokio::test]
async fn javascript_can_be_turned_off() {
    let Some(browser) = Browser::start_without_javascript().await else {
        return;
    };
    let url = serve().await;
    browser.goto(&url).await;
    browser.wait_for("#static").await;
    assert_eq!(
        browser.wait_for("#js").await.text().await.expect("text"),
        "javascript off",
        "the inline script must not run"
    );
    // Forms still work without it.
    browser.fill("#name", "Grace").await;
    browser.click("#go").await;
    browser.wait_for_text("#done", "got Grace").await;
}
