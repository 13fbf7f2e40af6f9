//! The settings' tests: layering, validation and redaction.
#![allow(clippy::result_large_err, clippy::field_reassign_with_default)]

use super::*;
use figment::Jail;

#[test]
fn defaults_then_file_then_env() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "support.toml",
            "bind = \"127.0.0.1:5000\"\n[log]\nformat = \"json\"\nfilter = \"debug\"\n",
        )?;
        jail.set_env("SUPPORT_LOG__FILTER", "warn");
        jail.set_env("SUPPORT_FRONT__SIGNING_SECRETS", "[one, two]");
        jail.set_env("INNGEST_SIGNING_KEY", "signkey-test-abc");
        jail.set_env("INNGEST_DEV", "1");
        jail.set_env("SUPPORT_WORKER", "false");
        let s = Settings::from_figment(Settings::figment(None)).map_err(|e| e.to_string())?;
        assert!(!s.worker, "SUPPORT_WORKER=false makes a web-only instance");
        assert_eq!(s.bind.port(), 5000);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.filter, "warn");
        assert_eq!(s.front.signing_secrets.len(), 2);
        assert_eq!(s.front.signing_secrets[1].expose(), "two");
        assert_eq!(
            s.inngest.signing_key.as_ref().map(Secret::expose),
            Some("signkey-test-abc")
        );
        assert!(s.inngest.is_dev());
        assert_eq!(s.runner, RunnerKind::Embedded);
        Ok(())
    });
}

#[test]
fn llm_settings_come_from_the_environment_too() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORT_LLM__AGENT__PROVIDER", "local");
        jail.set_env("SUPPORT_LLM__AGENT__MODEL", "llama3.2");
        jail.set_env(
            "SUPPORT_LLM__PROVIDERS__LOCAL__BASE_URL",
            "http://localhost:11434/v1",
        );
        let s = Settings::from_figment(Settings::figment(None)).map_err(|e| e.to_string())?;
        let agent = s.llm.agent.clone().ok_or("no agent choice")?;
        assert_eq!(
            (agent.provider.as_str(), agent.model.as_str()),
            ("local", "llama3.2")
        );
        assert_eq!(
            s.llm.providers["local"].base_url,
            "http://localhost:11434/v1"
        );
        assert_eq!(s.llm.providers["local"].kind, LlmKind::Openai);
        Ok(())
    });
}

#[test]
fn invalid_env_names_key_and_origin() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORT_LOG__FORMAT", "xml");
        let err = Settings::from_figment(Settings::figment(None)).expect_err("xml is not a format");
        assert_eq!(err.key, "log.format");
        assert!(err.origin.contains("SUPPORT_LOG__FORMAT"), "{err}");
        assert!(err.to_string().contains("xml"), "{err}");
        Ok(())
    });
}

#[test]
fn invalid_file_value_names_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file("support.toml", "bind = \"nope\"\n")?;
        let err = Settings::from_figment(Settings::figment(None)).expect_err("bad bind");
        assert_eq!(err.key, "bind");
        assert!(err.origin.contains("support.toml"), "{err}");
        Ok(())
    });
}

#[test]
fn http_and_rate_limit_settings_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORT_HTTP__HEADER_READ_TIMEOUT_SECS", "1");
        jail.set_env("SUPPORT_RATE_LIMIT__ENABLED", "false");
        jail.set_env("SUPPORT_RATE_LIMIT__FRONT__PER_MINUTE", "5");
        let s = Settings::from_figment(Settings::figment(None)).map_err(|e| e.to_string())?;
        assert_eq!(s.http.header_read_timeout_secs, 1);
        assert_eq!(s.http.request_timeout_secs, 60);
        assert!(!s.rate_limit.enabled);
        assert_eq!(s.rate_limit.front, RouteQuota::new(5, 300));
        Ok(())
    });
}

#[test]
fn bad_master_key_is_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORT_MASTER_KEY", "too-short");
        let err = Settings::from_figment(Settings::figment(None)).expect_err("short key");
        assert_eq!(err.key, "master_key");
        Ok(())
    });
}

#[test]
fn unrelated_support_env_is_ignored_but_file_typos_are_not() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORT_REQUIRE_NPM", "1");
        assert!(Settings::from_figment(Settings::figment(None)).is_ok());
        jail.create_file("support.toml", "bnid = \"127.0.0.1:1\"\n")?;
        let err = Settings::from_figment(Settings::figment(None)).expect_err("typo");
        assert!(err.message.contains("bnid"), "{err}");
        Ok(())
    });
}

#[test]
fn oidc_settings_from_a_file_and_the_client_secret_never_prints() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "support.toml",
            "[oidc]\nissuer_url = \"https://id.example.com\"\nclient_id = \"support\"\n\
             role_claim = \"groups\"\n[oidc.role_values]\nsupport-admins = \"admin\"\n\
             [oidc.allow]\n\"ada@example.com\" = \"agent\"\n\"@example.org\" = \"viewer\"\n",
        )?;
        jail.set_env("SUPPORT_OIDC__CLIENT_SECRET", "oidc-client-secret-value");
        let s = Settings::from_figment(Settings::figment(None)).map_err(|e| e.to_string())?;
        assert!(s.oidc.enabled());
        assert_eq!(
            s.oidc.role_values["support-admins"],
            crate::auth::Role::Admin
        );
        assert_eq!(s.oidc.allow["@example.org"], crate::auth::Role::Viewer);
        let secret = s.oidc.client_secret.as_ref().map(Secret::expose);
        assert_eq!(secret, Some("oidc-client-secret-value"));
        let shown = format!("{s:?} {}", s.redacted_json());
        assert!(!shown.contains("oidc-client-secret-value"), "{shown}");
        jail.create_file("support.toml", "[oidc]\nissuer_url = \"id.example.com\"\n")?;
        let err = Settings::from_figment(Settings::figment(None)).expect_err("not a URL");
        assert_eq!(err.key, "oidc.issuer_url");
        Ok(())
    });
}

#[test]
fn secrets_never_print() {
    let mut s = Settings::default();
    s.master_key = Some(Secret::new("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXh4eHg="));
    s.front.signing_secrets = vec![Secret::new("front-secret-value")];
    s.database_url = Some(Secret::new("postgres://u:hunter2@db/x"));
    let dbg = format!("{s:?}");
    let json = s.redacted_json().to_string();
    for text in [dbg, json] {
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("front-secret-value"));
        assert!(!text.contains("c2VjcmV0"));
        assert!(text.contains("[redacted]"));
    }
    assert_eq!(s.redacted_json()["database_backend"], "postgres");
}
