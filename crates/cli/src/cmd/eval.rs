//! `skill eval`: arguments and the report; the run itself is [`crate::eval`].

use super::context::{Failure, usage};
#[cfg(feature = "demo")]
use super::context::{emit, exit, load_settings};
use crate::args::{Cli, EvalArgs, EvalSteps};

#[cfg(feature = "demo")]
pub(crate) async fn run(cli: &Cli, args: &EvalArgs) -> Result<(), Failure> {
    if let Some(dir) = args.dirs.iter().find(|d| !d.is_dir()) {
        return Err(usage(format!(
            "{} is not a folder of scenario files",
            dir.display()
        )));
    }
    if args.certify {
        return certify(cli, args).await;
    }
    let progress = !cli.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let model = match (&args.provider, &args.model) {
        (Some(provider), Some(model)) => {
            let llm = load_settings(cli)?.llm;
            if !llm.providers.contains_key(provider) {
                return Err(usage(format!(
                    "no provider {provider:?} in llm.providers (configured: {})",
                    llm.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            let choice = support_core::settings::ModelChoice {
                provider: provider.clone(),
                model: model.clone(),
            };
            let (agent, classifier) = match args.steps {
                EvalSteps::Agent => (Some(choice), None),
                EvalSteps::Classifier => (None, Some(choice)),
                EvalSteps::Both => (Some(choice.clone()), Some(choice)),
            };
            Some(crate::eval::EvalModel {
                llm,
                agent,
                classifier,
            })
        }
        _ => None,
    };
    let mut runs = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        runs.push(
            crate::eval::run_with(dir, progress, model.clone())
                .await
                .map_err(|e| Failure {
                    code: exit::FAILED,
                    message: e,
                })?,
        );
    }
    let several = runs.len() > 1;
    let run = crate::eval::EvalRun::combine(&runs);
    let failures = run.gate_failures();
    let mut json = run.to_json();
    if several {
        json["sets"] = serde_json::Value::Array(
            args.dirs
                .iter()
                .zip(&runs)
                .map(|(dir, r)| {
                    let mut v = r.to_json();
                    v["dir"] = serde_json::Value::from(dir.display().to_string());
                    v
                })
                .collect(),
        );
    }
    let per_set: String = if several {
        args.dirs
            .iter()
            .zip(&runs)
            .map(|(dir, r)| format!("== {}\n{}\n\n", dir.display(), r.report))
            .collect::<String>()
            + "== total\n"
    } else {
        String::new()
    };
    emit(cli, &json, || {
        format!(
            "{per_set}{}\nlatency (webhook to settled run): p50 {:.1} ms, p99 {:.1} ms\n{}{}",
            run.report,
            run.percentile(50.0),
            run.percentile(99.0),
            run.model_json()
                .map(|m| format!("model: {m}\n"))
                .unwrap_or_default(),
            if failures.is_empty() {
                "gate: pass".to_string()
            } else {
                format!("gate: FAIL\n  {}", failures.join("\n  "))
            }
        )
    });
    if args.gate && !failures.is_empty() {
        return Err(Failure {
            code: exit::CHECK_FAILED,
            message: format!("eval below the gate: {}", failures.join("; ")),
        });
    }
    Ok(())
}

/// `skill eval --certify`: `support_workflow::autosend::certify` on the configured database.
#[cfg(feature = "demo")]
async fn certify(cli: &Cli, args: &EvalArgs) -> Result<(), Failure> {
    use std::sync::Arc;
    let settings = load_settings(cli)?;
    let db = super::context::open_db(&settings).await?;
    let store: Arc<dyn support_core::store::Store> = Arc::new(db);
    let registry = support_host::host::shared_registry(&settings, store.clone()).await;
    let mut scenarios = Vec::new();
    for d in &args.dirs {
        scenarios
            .extend(support_core::pipeline::eval::load_dir(d).map_err(|e| usage(e.to_string()))?);
    }
    if let Some(app) = &args.app {
        registry
            .require(app)
            .await
            .map_err(|e| usage(e.to_string()))?;
    }
    let llm = support_core::registry::AppLlm {
        classifier: settings.llm.classifier.clone(),
        agent: settings.llm.agent.clone(),
    };
    let out = support_workflow::autosend::certify(
        store.as_ref(),
        &registry,
        &llm,
        &scenarios,
        args.app.as_deref(),
        support_core::time::now_ms(),
        &super::context::scenario_knowledge()?,
    )
    .await
    .map_err(|e| Failure {
        code: exit::FAILED,
        message: e.to_string(),
    })?;
    emit(cli, &serde_json::json!({"certificates": out}), || {
        out.iter()
            .map(|c| {
                format!(
                    "{:<20} {:<16} {} {}/{}{}",
                    c.app,
                    c.result.category,
                    if c.result.certified { "PASS" } else { "fail" },
                    c.result.passed,
                    c.result.scenarios,
                    if c.result.failures.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", c.result.failures.join("; "))
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

#[cfg(not(feature = "demo"))]
pub(crate) async fn run(_cli: &Cli, _args: &EvalArgs) -> Result<(), Failure> {
    Err(usage(
        "`skill eval` needs a `skill` built with the `demo` feature (the default)",
    ))
}
