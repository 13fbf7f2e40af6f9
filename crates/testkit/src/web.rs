//! Signing in to the dashboard from a test: [`TestApp::login_as`] creates a user of a role and
//! logs in through the real `/login` form; the [`WebSession`] carries the session cookie and
//! the CSRF token, with a client that does not follow redirects (so tests see the `303`s).

use crate::app::TestApp;
use support_core::auth::Role;
use support_core::store::UserRow;

/// A signed-in browser, as far as the server can tell.
pub struct WebSession {
    /// `support_session=…`, to send as the `Cookie` header.
    pub cookie: String,
    /// The session's CSRF token (the `_csrf` field of every form).
    pub csrf: String,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    pub base_url: String,
    pub user: UserRow,
    pub password: String,
}

/// A client that does not follow redirects.
pub fn web_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// The value of the first `name="_csrf"` hidden field in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

/// The `name=value` of cookie `name` among a response's `Set-Cookie` headers.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, v)| k == name && !v.is_empty())
        })
        .map(str::to_string)
}

impl WebSession {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET path` with the session cookie.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("GET")
    }

    /// `GET path`, expecting `200`, as text.
    pub async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.expect("body");
        assert_eq!(status.as_u16(), 200, "GET {path}: {text}");
        text
    }

    /// `POST path` with `fields` and this session's `_csrf`, as a browser form.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Follow a `303` (after a POST) as a browser would: `GET` its `Location` with the session
    /// and the flash cookie it set; the page's HTML (asserts the `303` and a `200`).
    pub async fn follow(&self, res: reqwest::Response) -> String {
        assert_eq!(res.status().as_u16(), 303, "expected a redirect");
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_string();
        let mut cookie = self.cookie.clone();
        if let Some(flash) = set_cookie(&res, "support_flash") {
            cookie = format!("{cookie}; {flash}");
        }
        let page = self
            .client
            .get(self.url(&location))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("GET after redirect");
        let status = page.status().as_u16();
        let text = page.text().await.expect("body");
        assert_eq!(status, 200, "GET {location}: {text}");
        text
    }

    /// `POST path` with exactly `fields` (no `_csrf` added), with the session cookie.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}

impl TestApp {
    /// A new active user with `role` and a random password (no session yet).
    pub async fn user_with_password(&self, role: Role) -> (UserRow, String) {
        let password = support_core::crypto::random_token("pw-", 12);
        let id = support_core::ids::new_id("usr");
        let u = UserRow {
            email: format!("{}-{}@example.com", role.as_str(), id.to_ascii_lowercase()),
            id,
            name: Some(format!("Test {}", role.as_str())),
            role,
            password_hash: Some(support_core::auth::hash_password(&password).expect("hash")),
            slack_user_id: None,
            created_at: support_core::time::now_ms(),
            deactivated_at: None,
        };
        self.platform.store.insert_user(&u).await.expect("user");
        (u, password)
    }

    /// Create a user with `role` and sign in through the real `/login` form.
    pub async fn login_as(&self, role: Role) -> WebSession {
        let (user, password) = self.user_with_password(role).await;
        match self.login(&user.email, &password).await {
            Ok(s) => s,
            Err(status) => panic!("login as {} refused: {status}", user.email),
        }
    }

    /// Sign in with `email` and `password` through `GET /login` + `POST /login`; `Err` with
    /// the status when refused.
    pub async fn login(&self, email: &str, password: &str) -> Result<WebSession, u16> {
        let client = web_client();
        let form = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("GET /login");
        let login_cookie = set_cookie(&form, "support_login_csrf").expect("login cookie");
        let html = form.text().await.expect("login page");
        let token = csrf_in(&html).expect("login form token");
        let res = client
            .post(self.url("/login"))
            .header(reqwest::header::COOKIE, &login_cookie)
            .form(&[
                ("_csrf", token.as_str()),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("POST /login");
        if res.status().as_u16() != 303 {
            return Err(res.status().as_u16());
        }
        let cookie = set_cookie(&res, "support_session").expect("session cookie");
        let home = client
            .get(self.url("/"))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("GET /");
        let html = home.text().await.expect("home");
        let csrf = csrf_in(&html).expect("a form with _csrf on /");
        let user = self
            .platform
            .store
            .get_user_by_email(email)
            .await
            .expect("store")
            .expect("user");
        Ok(WebSession {
            cookie,
            csrf,
            client,
            base_url: self.base_url.clone(),
            user,
            password: password.to_string(),
        })
    }
}
