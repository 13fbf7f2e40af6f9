//! A real browser for the dashboard's tests: Debian's headless Chromium driven through
//! `chromedriver` (W3C WebDriver) by `fantoccini`, over plain HTTP on loopback (no TLS stack,
//! so no second crypto provider).
//!
//! [`Browser::start`] spawns `/usr/bin/chromedriver` on a free port, opens a session with a
//! fresh profile directory and a 1280×800 window, and returns `None` (printing
//! `SKIPPED: <why>`) when Chromium or ChromeDriver is not installed, unless
//! `SUPPORT_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs both), in which case it
//! panics: CI must run the browser tests, never skip them. Dropping a [`Browser`] kills
//! chromedriver and the browsers it started (their whole process group) and removes the
//! profile.
//!
//! Waiting is polling with a deadline ([`Browser::wait_for`], [`Browser::wait_for_text`]),
//! never a sleep. [`Browser::screenshot`] writes `docs/screenshots/<name>.png`.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `chromium-driver` package puts ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The window (and screenshot) size.
pub const WINDOW: (u32, u32) = (1280, 800);
/// How long [`Browser::wait_for`] and friends poll before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// Poll `probe` until it answers `Some` (panics after `within`, naming `what`): the one wait on a
/// browser's state that WebDriver offers no event for.
pub async fn poll<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How a browser session is started.
#[derive(Debug, Clone, Copy)]
pub struct BrowserOptions {
    /// `false`: JavaScript is off for every site (Chrome's managed content setting), to prove a
    /// page works as plain HTML forms.
    pub javascript: bool,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self { javascript: true }
    }
}

/// A headless Chromium session. Dropping it kills chromedriver and its browsers.
pub struct Browser {
    pub client: Client,
    pub javascript: bool,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// Whether the browser tests must run (CI) rather than skip.
pub fn browser_required() -> bool {
    std::env::var("SUPPORT_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// Why the browser cannot run here, if it cannot.
fn missing_binaries() -> Option<String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        )
    })
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The W3C capabilities of a session: Debian's Chromium, headless, a fresh profile.
fn capabilities(profile: &Path, opts: BrowserOptions) -> serde_json::Map<String, Value> {
    let mut chrome = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if !opts.javascript {
        chrome["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let caps = json!({"browserName": "chrome", "goog:chromeOptions": chrome});
    match caps {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

impl Browser {
    /// A session with JavaScript on; `None` (after printing `SKIPPED: …`) when Chromium is not
    /// installed and `SUPPORT_REQUIRE_BROWSER` is not `1`.
    pub async fn start() -> Option<Browser> {
        Self::start_with(BrowserOptions::default()).await
    }

    /// A session with JavaScript off.
    pub async fn start_without_javascript() -> Option<Browser> {
        Self::start_with(BrowserOptions { javascript: false }).await
    }

    /// A session with `opts`. Panics when the browser is installed but does not start, or when
    /// it is missing and required.
    pub async fn start_with(opts: BrowserOptions) -> Option<Browser> {
        if let Some(why) = missing_binaries() {
            if browser_required() {
                panic!(
                    "SUPPORT_REQUIRE_BROWSER=1 but {why}: the browser tests must run here (.ci/run installs them)"
                );
            }
            println!("SKIPPED: browser test: {why}");
            return None;
        }
        Some(
            Self::launch(opts)
                .await
                .unwrap_or_else(|e| panic!("headless Chromium did not start: {e}")),
        )
    }

    async fn launch(opts: BrowserOptions) -> Result<Browser, String> {
        crate::app::init_crypto();
        let profile = tempfile::tempdir().map_err(|e| format!("profile dir: {e}"))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so that drop can kill chromedriver and every browser process.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .spawn()
            .map_err(|e| format!("spawn {CHROMEDRIVER}: {e}"))?;
        // From here on `guard` kills the driver if anything fails.
        let mut guard = DriverGuard(Some(driver));
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url).await?;
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities(profile.path(), opts))
            .connect(&url)
            .await
            .map_err(|e| format!("new WebDriver session: {e}"))?;
        fit_viewport(&client).await?;
        let driver = guard.0.take().ok_or("driver gone")?;
        Ok(Browser {
            client,
            javascript: opts.javascript,
            driver,
            _profile: profile,
        })
    }

    /// Open `url` (waits for the page load, as WebDriver does).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The current URL.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The first element matching `css`, polling until it exists (panics after [`WAIT`]).
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element `{css}` after {WAIT:?} on {}:\n{}",
                    self.current_url().await,
                    truncate(&self.body_text().await, 2000)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Poll until the element matching `css` contains `text` (panics after [`WAIT`]); returns
    /// its text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t.contains(text)
            {
                return t;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{css}` never contained {text:?} after {WAIT:?} on {}:\n{}",
                    self.current_url().await,
                    truncate(&self.body_text().await, 2000)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Poll until the current URL satisfies `pred` (panics after [`WAIT`]).
    pub async fn wait_for_url(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if pred(&url) {
                return url;
            }
            if Instant::now() > deadline {
                panic!("URL never became {what} after {WAIT:?}: still {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every element matching `css` now (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// The visible text of the page's body.
    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Type `value` into the field matching `css` (cleared first).
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.wait_for(css).await;
        e.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        e.send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Click the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// A PNG of the viewport written to `path` (parents created); returns its bytes.
    pub async fn screenshot_to(&self, path: &Path) -> Vec<u8> {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        png
    }

    /// A PNG of the viewport (1280×800) at `docs/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = screenshots_dir().join(format!("{name}.png"));
        self.screenshot_to(&path).await;
        path
    }

    /// End the session politely (chromedriver closes the browser), then kill the driver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills the driver if the session never came up.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            kill_group(c);
        }
    }
}

/// SIGKILL the child's process group (chromedriver and the Chromium processes it started),
/// then reap the child.
fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Size the window so that the viewport (what a screenshot shows) is exactly [`WINDOW`]:
/// headless Chromium's window includes some browser chrome. Measured from a screenshot, so it
/// works with JavaScript off too.
async fn fit_viewport(client: &Client) -> Result<(), String> {
    let (mut w, mut h) = WINDOW;
    for _ in 0..3 {
        client
            .set_window_size(w, h)
            .await
            .map_err(|e| format!("window size: {e}"))?;
        let png = client
            .screenshot()
            .await
            .map_err(|e| format!("screenshot: {e}"))?;
        let (vw, vh) = png_size(&png).ok_or("the screenshot is not a PNG")?;
        if (vw, vh) == WINDOW {
            return Ok(());
        }
        w = (w + WINDOW.0).saturating_sub(vw);
        h = (h + WINDOW.1).saturating_sub(vh);
    }
    Err(format!("could not fit the viewport to {WINDOW:?}"))
}

/// Poll chromedriver's `/status` until it says it is ready.
async fn wait_ready(url: &str) -> Result<(), String> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(res) = http.get(format!("{url}/status")).send().await
            && let Ok(v) = res.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("chromedriver at {url} not ready after {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `docs/screenshots/` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Width and height of a PNG, from its header.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let n = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((n(&png[16..20]), n(&png[20..24])))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
