//! The example product (`examples/course-app`) mounted at `POST /demo-app/support` in `--demo`,
//! so the demo apps have a real SDK endpoint to call.
//!
//! It accepts the live SDK secrets of every registered app whose endpoint is
//! `…/demo-app/support`, read from the registry on each request: `skill init --url
//! …/demo-app/support` works at once, and `skill keys rotate` takes effect on the next request
//! (the old secret keeps working until `--retire-old`).

use axum::Router;
use axum::extract::Request;
use axum::routing::post;
use course_app::CourseApp;
use std::sync::Arc;
use support_host::Platform;
use support_host::host::HostError;
use support_sdk::SupportHandler;

/// The path of the demo SDK endpoint.
pub const PATH: &str = course_app::SUPPORT_PATH;

/// Whether `url` points at the demo SDK endpoint (any host: the demo's port may change between
/// runs while the registered URL keeps the old one).
pub fn is_demo_endpoint(url: &str) -> bool {
    url.trim_end_matches('/').ends_with(PATH)
}

/// Opens (and seeds) `DIR/course-app.db` and builds the router serving the endpoint.
pub async fn router(platform: &Platform) -> Result<Router, HostError> {
    let path = platform.settings.data_dir.join("course-app.db");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::Io(format!("{}: {e}", dir.display())))?;
    }
    let app = CourseApp::open(&path)
        .await
        .map_err(|e| HostError::Io(format!("{}: {e}", path.display())))?;
    app.seed()
        .await
        .map_err(|e| HostError::Io(format!("seeding {}: {e}", path.display())))?;
    let app = Arc::new(app);
    let registry = platform.registry.clone();
    let key = platform.master_key.clone();
    // Used only when the registry cannot be read (database down).
    let fallback: Vec<String> = platform
        .demo
        .as_ref()
        .map(|d| d.apps.iter().map(|a| a.sdk_secret.clone()).collect())
        .unwrap_or_default();
    Ok(Router::new().route(
        PATH,
        post(move |request: Request| {
            let (app, registry, key, fallback) =
                (app.clone(), registry.clone(), key.clone(), fallback.clone());
            async move {
                let secrets = match registry
                    .live_secrets_where(&key, |a| is_demo_endpoint(&a.sdk_base_url))
                    .await
                {
                    Ok(secrets) => secrets,
                    Err(e) => {
                        tracing::warn!(error = %e, "demo app: registry unavailable, using demo.json secrets");
                        fallback
                    }
                };
                SupportHandler::new(app, secrets).handle(request).await
            }
        }),
    ))
}
