//! Tidy checks: cheap rules about the repository itself, run as a test.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub fn check_all(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    problems.extend(crates_in_architecture(root)?);
    problems.extend(no_unwrap_outside_tests(root)?);
    problems.extend(test_command_matches(root)?);
    problems.extend(binaries_are_small(root)?);
    Ok(problems)
}

/// Workspace members listed in the root manifest.
pub fn members(root: &Path) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("root Cargo.toml")?;
    let start = manifest.find("members = [").context("workspace members")?;
    let end = manifest[start..].find(']').context("end of members")? + start;
    Ok(manifest[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next()))
        .map(str::to_string)
        .collect())
}

fn package_name(root: &Path, member: &str) -> Result<String> {
    let manifest = std::fs::read_to_string(root.join(member).join("Cargo.toml"))
        .with_context(|| format!("{member}/Cargo.toml"))?;
    manifest
        .lines()
        .find_map(|l| {
            l.strip_prefix("name = \"")
                .and_then(|l| l.strip_suffix('"'))
        })
        .map(str::to_string)
        .with_context(|| format!("package name of {member}"))
}

/// Every crate appears in ARCHITECTURE.md, by path and package name.
fn crates_in_architecture(root: &Path) -> Result<Vec<String>> {
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("ARCHITECTURE.md")?;
    let mut problems = Vec::new();
    for m in members(root)? {
        let name = package_name(root, &m)?;
        if !arch.contains(&format!("`{m}`")) || !arch.contains(&name) {
            problems.push(format!("ARCHITECTURE.md does not describe `{m}` ({name})"));
        }
    }
    Ok(problems)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Whether a path is test code: a `tests/` or `benches/` folder.
fn is_test_path(rel: &Path) -> bool {
    rel.components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "benches")))
}

/// No `.unwrap()` outside tests. Everything after a `#[cfg(test)]` line counts as tests.
fn no_unwrap_outside_tests(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for top in ["crates", "apps", "xtask", "examples"] {
        rust_files(&root.join(top), &mut files);
    }
    let mut problems = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
        if is_test_path(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f)?;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(concat!(".unwrap", "()")) {
                problems.push(format!(
                    "{}:{}: unwrap() outside tests",
                    rel.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(problems)
}

/// The first code line after `<!-- test-command -->` in the README.
pub fn readme_test_command(root: &Path) -> Result<String> {
    let readme = std::fs::read_to_string(root.join("README.md")).context("README.md")?;
    let after = readme
        .split("<!-- test-command -->")
        .nth(1)
        .context("README has no <!-- test-command --> marker")?;
    after
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```"))
        .map(str::to_string)
        .context("no command after the marker")
}

/// The command `.ci/run` ends with (`exec <command>`).
pub fn ci_test_command(root: &Path) -> Result<String> {
    let ci = std::fs::read_to_string(root.join(".ci/run")).context(".ci/run")?;
    ci.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("exec "))
        .map(str::to_string)
        .context(".ci/run has no `exec <test command>` line")
}

fn test_command_matches(root: &Path) -> Result<Vec<String>> {
    let readme = readme_test_command(root)?;
    let ci = ci_test_command(root)?;
    Ok(if readme == ci {
        Vec::new()
    } else {
        vec![format!(
            "README's test command `{readme}` differs from .ci/run's `{ci}`"
        )]
    })
}

/// The app binaries stay thin (under 100 lines).
fn binaries_are_small(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for app in ["apps/web", "apps/slack", "apps/front"] {
        let main = root.join(app).join("src/main.rs");
        let lines = std::fs::read_to_string(&main)
            .with_context(|| main.display().to_string())?
            .lines()
            .count();
        if lines >= 100 {
            problems.push(format!(
                "{app}/src/main.rs has {lines} lines; keep binaries under 100"
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_unwrap_and_skips_tests() {
        let dir = std::env::temp_dir().join(format!("tidy-{}", std::process::id()));
        let src = dir.join("crates/x/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("lib.rs"),
            "fn a() { b().unwrap(); }\n#[cfg(test)]\nmod t { fn c() { d().unwrap(); } }\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("crates/x/tests")).unwrap();
        std::fs::write(
            dir.join("crates/x/tests/t.rs"),
            "fn c() { d().unwrap(); }\n",
        )
        .unwrap();
        let problems = no_unwrap_outside_tests(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("lib.rs:1"));
    }
}
