//! `cargo xtask bench-steps`: the durable step runner's benchmark. Builds and runs
//! `crates/store/examples/steps_bench.rs` in release (only that example), which measures on a
//! fresh SQLite file, loopback only, with bounded loops:
//!
//! - per-step overhead of a five-step function in the embedded executor (target <= 1 ms/step),
//! - sustained runs per second (1000 runs by default),
//! - event-to-resume latency of a run in `wait_for_event` (target p99 <= 10 ms),
//! - the same five-step function in the official JS SDK (npm `inngest`, the conformance app in
//!   `crates/steps/tests/inngest-js`) executed by our engine over HTTP, as a ratio.
//!
//! Options are passed through (`--sequential N --runs N --waits N --js-runs N --postgres URL`).
//! Writes `target/bench-report-steps.json` and prints a table.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    crate::npm_install(root)?;
    let out = root.join("target/bench-report-steps.json");
    std::fs::create_dir_all(root.join("target"))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: building and running the step runner benchmark in release");
    crate::run(
        Command::new(cargo)
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "support-store",
                "--example",
                "steps_bench",
                "--",
                "--out",
            ])
            .arg(&out)
            .args(args)
            .current_dir(root),
    )?;
    let report: Value = serde_json::from_slice(
        &std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?,
    )?;
    println!("{}", table(&report));
    println!("report: {}", out.display());
    Ok(())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// The report as a table.
pub fn table(r: &Value) -> String {
    let mut t = String::new();
    let mut row = |what: &str, value: String, target: &str| {
        t.push_str(&format!("{what:<52} {value:>26}   {target}\n"));
    };
    row(
        &format!(
            "support-steps bench ({}, {} cpus)",
            r["build"].as_str().unwrap_or("?"),
            r["cpus"]
        ),
        "value".into(),
        "target",
    );
    row(
        "sqlx round trip on SQLite (floor: one statement)",
        format!("{:.0} us", f(&r["sqlx_roundtrip"]["statement_us"])),
        "",
    );
    for (key, label) in [
        ("embedded_sqlite", "embedded, SQLite"),
        ("embedded_postgres", "embedded, Postgres"),
    ] {
        let e = &r[key];
        if e.is_null() {
            continue;
        }
        let step = f(&e["sequential"]["per_step_us"]);
        row(
            &format!("{label}: per-step overhead, one run at a time"),
            format!("{step:.0} us/step"),
            &format!("<= 1000 us  {}", verdict(step <= 1000.0)),
        );
        row(
            &format!("{label}: five-step run latency p50 / p99"),
            format!(
                "{:.2} / {:.2} ms",
                f(&e["sequential"]["per_run"]["p50_ms"]),
                f(&e["sequential"]["per_run"]["p99_ms"])
            ),
            "",
        );
        row(
            &format!(
                "{label}: sustained, {} runs at once",
                e["throughput"]["runs"]
            ),
            format!(
                "{:.0} runs/s ({:.0} us/step)",
                f(&e["throughput"]["runs_per_second"]),
                f(&e["throughput"]["per_step_us"])
            ),
            "",
        );
        let p99 = f(&e["event_to_resume"]["p99_ms"]);
        row(
            &format!("{label}: event-to-resume p50 / p99"),
            format!("{:.2} / {p99:.2} ms", f(&e["event_to_resume"]["p50_ms"])),
            &format!("p99 <= 10 ms  {}", verdict(p99 <= 10.0)),
        );
    }
    let js = &r["js_sdk_http_sqlite"];
    if js.is_null() {
        row("JS SDK (npm inngest) over HTTP", "skipped".into(), "");
    } else {
        let x = &r["ratio_js_to_embedded"];
        row(
            "JS SDK over HTTP: per step, one run at a time",
            format!(
                "{:.0} us/step (x{:.1})",
                f(&js["sequential"]["per_step_us"]),
                f(&x["per_step_latency"])
            ),
            "ratio to embedded",
        );
        row(
            &format!(
                "JS SDK over HTTP: sustained, {} runs",
                js["throughput"]["runs"]
            ),
            format!(
                "{:.0} runs/s (x{:.1})",
                f(&js["throughput"]["runs_per_second"]),
                f(&x["runs_per_second"])
            ),
            "embedded is xN faster",
        );
    }
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_shows_targets_and_skips() {
        let r = serde_json::json!({
            "build": "release", "cpus": 2,
            "sqlx_roundtrip": {"statement_us": 50.0},
            "embedded_sqlite": {
                "sequential": {"per_step_us": 800.0, "per_run": {"p50_ms": 4.0, "p99_ms": 6.0}},
                "throughput": {"runs": 1000, "runs_per_second": 200.0, "per_step_us": 1000.0},
                "event_to_resume": {"p50_ms": 2.0, "p99_ms": 12.0}
            }
        });
        let t = super::table(&r);
        assert!(t.contains("800 us/step"), "{t}");
        assert!(t.contains("<= 1000 us  ok"), "{t}");
        assert!(t.contains("p99 <= 10 ms  MISSED"), "{t}");
        assert!(t.contains("skipped"), "{t}");
    }
}
