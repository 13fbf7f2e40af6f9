//! `cargo xtask fuzz [--cases N]`: opt-in, not part of `cargo xtask test`.
//!
//! Runs the property tests of every signature verifier and webhook/interaction parser (the
//! `prop_*` test files) in release with `PROPTEST_CASES=N` (default 100,000 per property, so at
//! least that many per target) and writes `target/fuzz-report.json`: per target, the cases run,
//! the failures and the seconds, read from the `prop-cases …` lines the tests print.
//!
//! The release build keeps the release profile's semantics (opt-level 3, no debug assertions,
//! no overflow checks) but skips LTO (`CARGO_PROFILE_RELEASE_LTO=off`) to keep the build short;
//! the normal suite runs the same properties in debug, with overflow checks.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Cases per property unless `--cases` says otherwise.
pub const DEFAULT_CASES: u64 = 100_000;

/// (package, test file) of every property suite.
pub const SUITES: &[(&str, &str)] = &[
    ("support-core", "prop_signing"),
    ("support-steps", "prop_signing"),
    ("support-sdk", "prop_signing"),
    ("support-sdk", "prop_handler"),
    ("support-front", "prop_intake"),
    ("support-slack", "prop_slack"),
];

/// One `prop-cases target=… property=… cases=… failed=… seconds=…` line.
#[derive(Debug, Clone, PartialEq)]
pub struct PropLine {
    pub target: String,
    pub property: String,
    pub cases: u64,
    pub failed: u64,
    pub seconds: f64,
}

/// Parse a line printed by a property test (libtest may print `test name ... ` before it on
/// the same line); `None` for any other line.
pub fn parse_line(line: &str) -> Option<PropLine> {
    let at = line.find("prop-cases ")?;
    let rest = &line[at + "prop-cases ".len()..];
    let mut fields = BTreeMap::new();
    for part in rest.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        fields.insert(k, v);
    }
    Some(PropLine {
        target: fields.get("target")?.to_string(),
        property: fields.get("property")?.to_string(),
        cases: fields.get("cases")?.parse().ok()?,
        failed: fields.get("failed")?.parse().ok()?,
        seconds: fields.get("seconds")?.parse().ok()?,
    })
}

/// The report: per target, cases, failures and seconds summed over its properties.
pub fn report(cases_per_property: u64, lines: &[PropLine], suites: &[Value], wall: f64) -> Value {
    let mut targets: BTreeMap<&str, (u64, u64, f64, Vec<&str>)> = BTreeMap::new();
    for l in lines {
        let t = targets.entry(&l.target).or_default();
        t.0 += l.cases;
        t.1 += l.failed;
        t.2 += l.seconds;
        t.3.push(&l.property);
    }
    let targets: Vec<Value> = targets
        .into_iter()
        .map(|(name, (cases, failures, seconds, properties))| {
            json!({"target": name, "cases": cases, "failures": failures,
                   "seconds": (seconds * 1000.0).round() / 1000.0, "properties": properties})
        })
        .collect();
    json!({
        "profile": "release (no LTO)",
        "cases_per_property": cases_per_property,
        "targets": targets,
        "suites": suites,
        "wall_seconds": (wall * 10.0).round() / 10.0,
    })
}

fn parse_cases(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(DEFAULT_CASES),
        [flag, n] if flag == "--cases" => n
            .parse()
            .with_context(|| format!("--cases {n}: not a number")),
        _ => bail!("usage: cargo xtask fuzz [--cases N]"),
    }
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let cases = parse_cases(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut suites = Vec::new();
    let mut broken = Vec::new();
    for (package, test) in SUITES {
        eprintln!("xtask fuzz: {package} --test {test} ({cases} cases per property, release)");
        let suite_start = Instant::now();
        let mut child = Command::new(&cargo)
            .args(["test", "--release", "-p", package, "--test", test])
            .args(["--", "--nocapture", "--test-threads=1"])
            .env("PROPTEST_CASES", cases.to_string())
            .env("CARGO_PROFILE_RELEASE_LTO", "off")
            .current_dir(root)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start cargo test -p {package}"))?;
        let mut found = 0;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let line = line.context("reading the test output")?;
                println!("{line}");
                if let Some(l) = parse_line(&line) {
                    found += 1;
                    lines.push(l);
                }
            }
        }
        let status = child.wait().context("waiting for cargo test")?;
        suites.push(
            json!({"package": package, "test": test, "ok": status.success(),
                           "properties": found,
                           "seconds": (suite_start.elapsed().as_secs_f64() * 10.0).round() / 10.0}),
        );
        if !status.success() {
            broken.push(format!("{package} --test {test}"));
        }
    }
    let report = report(cases, &lines, &suites, started.elapsed().as_secs_f64());
    let path = root.join("target/fuzz-report.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| path.display().to_string())?;
    println!("{}", serde_json::to_string_pretty(&report["targets"])?);
    println!("xtask fuzz: report written to {}", path.display());
    if !broken.is_empty() {
        bail!("failing property suites: {}", broken.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prop_lines_and_sums_per_target() {
        let a = parse_line(
            "prop-cases target=slack_verifier property=a cases=100000 failed=0 seconds=1.5",
        )
        .expect("a prop line");
        assert_eq!(a.cases, 100_000);
        let b =
            parse_line("prop-cases target=slack_verifier property=b cases=7 failed=1 seconds=0.5")
                .expect("a prop line");
        assert_eq!(parse_line("test foo ... ok"), None);
        let prefixed =
            parse_line("test x ... prop-cases target=t property=p cases=3 failed=0 seconds=0.1");
        assert_eq!(prefixed.map(|l| (l.target, l.cases)), Some(("t".into(), 3)));
        assert_eq!(parse_line("prop-cases target=x cases=nope"), None);
        let r = report(100_000, &[a, b], &[], 2.0);
        assert_eq!(r["targets"][0]["target"], "slack_verifier");
        assert_eq!(r["targets"][0]["cases"], 100_007);
        assert_eq!(r["targets"][0]["failures"], 1);
        assert_eq!(r["targets"][0]["seconds"], 2.0);
        assert!(parse_cases(&[]).is_ok_and(|c| c == DEFAULT_CASES));
        assert!(parse_cases(&["--cases".into(), "5".into()]).is_ok_and(|c| c == 5));
        assert!(parse_cases(&["--bogus".into()]).is_err());
    }

    #[test]
    fn every_suite_file_exists() {
        let root = crate::root();
        for (package, test) in SUITES {
            let dir = match *package {
                "support-core" => "crates/core",
                "support-steps" => "crates/steps",
                "support-sdk" => "crates/sdk",
                "support-front" => "apps/front",
                "support-slack" => "apps/slack",
                other => panic!("unknown package {other}"),
            };
            let file = root.join(dir).join("tests").join(format!("{test}.rs"));
            assert!(file.exists(), "{}", file.display());
        }
    }
}
