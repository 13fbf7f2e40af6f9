//! A fake Front for the sidebar plugin's browser tests: a host page that iframes a plugin URL
//! and speaks Front's side of the plugin protocol (the page's handshake with a MessagePort,
//! `context_update` on every selection the test sets, `function_call` answered with
//! `function_result` / `function_error`, a name missing from `functionArities` refused), and
//! records every call in `window.hostCalls` for the test to read.
//!
//! - `GET /?plugin=<url>`: the host page framing `<url>`.
//! - `GET /sdk`: the same host framing `/sdk-frame`, a page that runs the official npm
//!   `@frontapp/plugin-sdk` bundle (from the test-only `node_modules` given to [`FrontPluginHost::start`];
//!   never served by the product) and logs what it receives in the host's `window.sdkLog`.
//!
//! Tests drive it with `window.hostSetContext(ctx)` and read `window.hostCalls`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::path::PathBuf;
use support_core::pipeline::text::escape_html;

const HOST_JS: &str = r#"
(function () {
  window.hostCalls = [];
  window.sdkLog = [];
  window.handshakes = 0;
  var port = null;
  var ctx = null;
  function send() { if (port && ctx) { port.postMessage({ type: 'context_update', context: ctx }); } }
  window.hostSetContext = function (c) { ctx = c; send(); };
  window.addEventListener('message', function (ev) {
    if (ev.data === '@frontapp/ui-sdk#WebViewBridge.handshake' && ev.ports && ev.ports[0]) {
      window.handshakes += 1;
      port = ev.ports[0];
      port.onmessage = onCall;
      send();
    }
  });
  function onCall(ev) {
    var m = ev.data || {};
    if (m.type !== 'function_call') { return; }
    window.hostCalls.push({ name: m.name, args: m.args, contextId: m.contextId, id: m.id });
    if (!ctx || m.contextId !== ctx.id) { port.postMessage({ type: 'function_error', id: m.id, error: 'stale context' }); return; }
    if (!(m.name in (ctx.functionArities || {}))) { port.postMessage({ type: 'function_error', id: m.id, error: 'unknown function ' + m.name }); return; }
    var value = null;
    if (m.name === 'createDraft') { value = { id: 'dft_fake_' + window.hostCalls.length }; }
    if (m.name === 'listMessages') { value = { results: [], nextPageToken: null }; }
    port.postMessage({ type: 'function_result', id: m.id, value: value });
  }
}());
"#;

const SDK_FRAME_JS: &str = r#"
(function () {
  var log = function (x) { window.parent.sdkLog.push(x); };
  Front.contextUpdates.subscribe(function (context) {
    log({ kind: 'context', type: context.type, conversation: context.conversation ? context.conversation.id : null,
          teammate: context.teammate ? context.teammate.id : null });
    if (context.type === 'singleConversation') {
      context.createDraft({ content: { body: 'from the official sdk', type: 'text' } })
        .then(function (r) { log({ kind: 'result', value: r }); })
        .catch(function (e) { log({ kind: 'error', error: String(e) }); });
      context.noSuchFunction === undefined && log({ kind: 'no-such-function' });
    }
  });
}());
"#;

#[derive(Clone)]
struct HostState {
    sdk_bundle: Option<PathBuf>,
}

/// The running fake host.
pub struct FakeFrontHost {
    pub base_url: String,
}

/// Where tests find the fake host.
pub struct FrontPluginHost;

impl FrontPluginHost {
    /// Serve the host on a free loopback port; `sdk_bundle` is the official SDK's UMD bundle
    /// (`…/node_modules/@frontapp/plugin-sdk/dist/index.umd.js`), when installed.
    pub async fn start(sdk_bundle: Option<PathBuf>) -> std::io::Result<FakeFrontHost> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/", get(host_page))
            .route("/sdk", get(sdk_host_page))
            .route("/sdk-frame", get(sdk_frame))
            .route("/host.js", get(|| async { js(HOST_JS) }))
            .route("/sdk-frame.js", get(|| async { js(SDK_FRAME_JS) }))
            .route("/sdk/plugin-sdk.umd.js", get(sdk_bundle_route))
            .with_state(HostState { sdk_bundle });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeFrontHost {
            base_url: format!("http://{addr}"),
        })
    }
}

impl FakeFrontHost {
    /// The host page framing `plugin_url`.
    pub fn page(&self, plugin_url: &str) -> String {
        let q: String = plugin_url
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("{}/?plugin={q}", self.base_url)
    }
}

fn js(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/javascript")], body).into_response()
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn frame_page(src: &str) -> String {
    format!(
        "<!doctype html><html><head><title>Fake Front</title><script src=\"/host.js\"></script></head>\
         <body><iframe id=\"plugin\" title=\"plugin\" width=\"380\" height=\"760\" \
         sandbox=\"allow-scripts allow-same-origin allow-forms\" src=\"{}\"></iframe></body></html>",
        escape_html(src)
    )
}

#[derive(Deserialize)]
struct HostQuery {
    plugin: String,
}

async fn host_page(Query(q): Query<HostQuery>) -> Response {
    html(frame_page(&q.plugin))
}

async fn sdk_host_page() -> Response {
    html(frame_page("/sdk-frame"))
}

async fn sdk_frame() -> Response {
    html(
        "<!doctype html><html><head><script src=\"/sdk/plugin-sdk.umd.js\"></script>\
         <script src=\"/sdk-frame.js\"></script></head><body>official sdk</body></html>"
            .into(),
    )
}

async fn sdk_bundle_route(State(s): State<HostState>) -> Response {
    match s.sdk_bundle.as_ref().map(std::fs::read) {
        Some(Ok(bytes)) => ([(header::CONTENT_TYPE, "text/javascript")], bytes).into_response(),
        _ => (StatusCode::NOT_FOUND, "the official SDK is not installed").into_response(),
    }
}
