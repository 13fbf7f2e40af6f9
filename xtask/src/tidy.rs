//! Tidy checks: cheap rules about the repository itself, run as a test.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

pub fn check_all(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    problems.extend(crates_in_architecture(root)?);
    problems.extend(no_unwrap_outside_tests(root)?);
    problems.extend(test_command_matches(root)?);
    problems.extend(binaries_are_small(root)?);
    problems.extend(dependency_rules(root)?);
    problems.extend(migrations_match(root)?);
    problems.extend(files_are_small(root)?);
    problems.extend(core_modules_in_architecture(root)?);
    problems.extend(module_rules(root)?);
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

/// No `.unwrap()` outside tests. Everything after a `#[cfg(test)]` line counts as tests, and a
/// file that starts `#![cfg(test)]` (a test module in its own file) is tests.
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
            let line_start = line.trim_start();
            if line_start.starts_with("#[cfg(test)]") || line_start.starts_with("#![cfg(test)]") {
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

// ---- Dependency rules -------------------------------------------------------------------

/// What `support-core` (the domain, with the ports) never depends on, directly or through
/// another crate: web server, database, Slack, Stripe, HTTP client, the step runner, the search
/// engine (`tantivy`: core ranks nothing itself), and the crates that depend on core
/// (`support-workflow`, `support-host`, `support-knowledge`; a cycle, named for a clear message).
/// A name ending in `*` is a prefix (`async-stripe-core`, …).
const CORE_NEVER_DEPENDS_ON: &[&str] = &[
    "axum",
    "sqlx",
    "slack-morphism",
    "async-stripe*",
    "reqwest",
    "support-steps",
    "support-workflow",
    "support-host",
    "support-knowledge",
    "tantivy",
];

/// Crates that depend on no workspace crate (they are published-shaped: the runner and the SDK).
const STANDALONE: &[&str] = &["support-steps", "support-sdk"];

/// Crates only ever used as `[dev-dependencies]`.
const DEV_ONLY: &[&str] = &["support-testkit"];

/// The dependency kinds of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Normal,
    Build,
    Dev,
}

/// One dependency of a manifest, by package name (renames resolved).
#[derive(Debug, Clone)]
struct Dep {
    name: String,
    kind: DepKind,
    optional: bool,
}

/// A workspace member: its folder and its parsed manifest.
struct Manifest {
    dir: String,
    name: String,
    deps: Vec<Dep>,
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.parse::<toml::Table>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// The dependencies of one manifest, from `[dependencies]`, `[build-dependencies]`,
/// `[dev-dependencies]` and their `[target.'cfg(…)'.…]` forms; `workspace = true` entries take
/// their package name from the root's `[workspace.dependencies]`.
fn manifest_deps(manifest: &toml::Table, workspace_deps: &toml::Table) -> Vec<Dep> {
    let mut tables: Vec<&toml::Table> = vec![manifest];
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        tables.extend(targets.values().filter_map(toml::Value::as_table));
    }
    let mut out = Vec::new();
    for table in tables {
        for (section, kind) in [
            ("dependencies", DepKind::Normal),
            ("build-dependencies", DepKind::Build),
            ("dev-dependencies", DepKind::Dev),
        ] {
            let Some(deps) = table.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in deps {
                let spec = spec.as_table();
                let field = |f: &str| spec.and_then(|t| t.get(f));
                let inherited = field("workspace")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false);
                let package = field("package").and_then(toml::Value::as_str).or_else(|| {
                    inherited
                        .then(|| workspace_deps.get(key))
                        .flatten()
                        .and_then(toml::Value::as_table)
                        .and_then(|t| t.get("package"))
                        .and_then(toml::Value::as_str)
                });
                out.push(Dep {
                    name: package.unwrap_or(key).to_string(),
                    kind,
                    optional: field("optional")
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(false),
                });
            }
        }
    }
    out
}

/// Every workspace member's manifest, parsed.
fn manifests(root: &Path) -> Result<Vec<Manifest>> {
    let root_manifest = read_toml(&root.join("Cargo.toml"))?;
    let workspace = root_manifest
        .get("workspace")
        .and_then(toml::Value::as_table)
        .context("root Cargo.toml has no [workspace]")?;
    let empty = toml::Table::new();
    let workspace_deps = workspace
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    let members = workspace
        .get("members")
        .and_then(toml::Value::as_array)
        .context("workspace.members")?;
    let mut out = Vec::new();
    for dir in members.iter().filter_map(toml::Value::as_str) {
        let manifest = read_toml(&root.join(dir).join("Cargo.toml"))?;
        let name = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .with_context(|| format!("package name of {dir}"))?
            .to_string();
        out.push(Manifest {
            dir: dir.to_string(),
            name,
            deps: manifest_deps(&manifest, workspace_deps),
        });
    }
    Ok(out)
}

/// The registry packages of `Cargo.lock` and what each depends on (normal and build
/// dependencies only: a lock file records no dev-dependencies of registry packages). Several
/// versions of a name are merged: an over-approximation, which is the safe side here.
fn lock_graph(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let path = root.join("Cargo.lock");
    if !path.exists() {
        return Ok(graph);
    }
    let lock = read_toml(&path)?;
    let packages = lock
        .get("package")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for p in packages {
        let Some(name) = p.get("name").and_then(toml::Value::as_str) else {
            continue;
        };
        let deps = graph.entry(name.to_string()).or_default();
        for d in p
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            // "name", "name version" or "name version (source)".
            if let Some(dep) = d.as_str().and_then(|d| d.split(' ').next()) {
                deps.insert(dep.to_string());
            }
        }
    }
    Ok(graph)
}

fn forbidden(name: &str, rules: &[&str]) -> bool {
    rules.iter().any(|r| match r.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *r,
    })
}

/// What `krate` depends on when built for production, each with the path that leads there:
/// its own normal and build dependencies (optional ones included), then, through workspace
/// crates, their non-optional normal and build dependencies (features are not resolved), and
/// through registry crates, `Cargo.lock`.
fn production_closure(
    krate: &Manifest,
    all: &[Manifest],
    lock: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, Vec<String>> {
    let by_name: BTreeMap<&str, &Manifest> = all.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    let direct = krate
        .deps
        .iter()
        .filter(|d| d.kind != DepKind::Dev)
        .map(|d| d.name.clone());
    for name in direct {
        queue.push_back((name, vec![krate.name.clone()]));
    }
    while let Some((name, path)) = queue.pop_front() {
        if seen.contains_key(&name) || name == krate.name {
            continue;
        }
        let mut via = path.clone();
        via.push(name.clone());
        let next: Vec<String> = match by_name.get(name.as_str()) {
            Some(m) => m
                .deps
                .iter()
                .filter(|d| d.kind != DepKind::Dev && !d.optional)
                .map(|d| d.name.clone())
                .collect(),
            None => lock
                .get(&name)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default(),
        };
        for n in next {
            queue.push_back((n, via.clone()));
        }
        seen.insert(name, path);
    }
    seen
}

/// `support-core` reaches none of [`CORE_NEVER_DEPENDS_ON`]; the [`STANDALONE`] crates depend
/// on no workspace crate; the [`DEV_ONLY`] crates are only ever dev-dependencies. Crates that do
/// not exist (yet) pass.
fn dependency_rules(root: &Path) -> Result<Vec<String>> {
    let all = manifests(root)?;
    let lock = lock_graph(root)?;
    let workspace: BTreeSet<&str> = all.iter().map(|m| m.name.as_str()).collect();
    let mut problems = Vec::new();
    if let Some(core) = all.iter().find(|m| m.name == "support-core") {
        for (dep, path) in production_closure(core, &all, &lock) {
            if forbidden(&dep, CORE_NEVER_DEPENDS_ON) {
                let via = if path.len() > 1 {
                    format!(" (through {})", path[1..].join(" → "))
                } else {
                    String::new()
                };
                problems.push(format!(
                    "support-core depends on {dep}{via}; core holds the domain and the ports, \
                     adapters depend on it"
                ));
            }
        }
    }
    for m in &all {
        for d in &m.deps {
            if STANDALONE.contains(&m.name.as_str())
                && d.kind != DepKind::Dev
                && workspace.contains(d.name.as_str())
            {
                problems.push(format!(
                    "{} ({}) depends on the workspace crate {}; it must stand alone",
                    m.name, m.dir, d.name
                ));
            }
            if DEV_ONLY.contains(&d.name.as_str()) && d.kind != DepKind::Dev {
                problems.push(format!(
                    "{} ({}/Cargo.toml) has {} as a normal dependency; it is only a \
                     [dev-dependencies] entry",
                    m.name, m.dir, d.name
                ));
            }
        }
    }
    Ok(problems)
}

// ---- Migrations ---------------------------------------------------------------------------

/// `migrations/sqlite` and `migrations/postgres` hold the same file names.
fn migrations_match(root: &Path) -> Result<Vec<String>> {
    let names = |dialect: &str| -> Result<BTreeSet<String>> {
        let dir = root.join("migrations").join(dialect);
        let mut out = BTreeSet::new();
        for e in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            out.insert(e?.file_name().to_string_lossy().to_string());
        }
        Ok(out)
    };
    let (sqlite, postgres) = (names("sqlite")?, names("postgres")?);
    let mut problems = Vec::new();
    for f in sqlite.difference(&postgres) {
        problems.push(format!(
            "migrations/sqlite/{f} has no migrations/postgres/{f}"
        ));
    }
    for f in postgres.difference(&sqlite) {
        problems.push(format!(
            "migrations/postgres/{f} has no migrations/sqlite/{f}"
        ));
    }
    Ok(problems)
}

// ---- File size ----------------------------------------------------------------------------

/// The most lines a source file under `src/` may have.
const MAX_LINES: usize = 1_000;

/// Source files allowed over [`MAX_LINES`], each with the reason. Keep it short: an entry that
/// is no longer needed (the file shrank or moved) is reported, so the list only ever shrinks.
const LONG_FILES: &[(&str, &str)] = &[
    // Test code under src/: the fake OpenAI-compatible server of the test kit.
    (
        "crates/testkit/src/fakes/llm.rs",
        "test kit: the fake LLM server",
    ),
    // Not split yet (issue 12; state at the end of the restructuring). Remove an entry when its
    // file is under the limit.
];

/// Whether a path is under a `src/` folder.
fn is_src_path(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "src")
}

/// No file under `src/` over [`MAX_LINES`] lines, except [`LONG_FILES`].
fn files_are_small(root: &Path) -> Result<Vec<String>> {
    files_are_small_except(root, LONG_FILES)
}

fn files_are_small_except(root: &Path, allowed: &[(&str, &str)]) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for top in ["crates", "apps", "xtask", "examples"] {
        rust_files(&root.join(top), &mut files);
    }
    let mut problems = Vec::new();
    let mut long = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
        if !is_src_path(&rel) || is_test_path(&rel) {
            continue;
        }
        let lines = std::fs::read_to_string(&f)?.lines().count();
        let key = rel.to_string_lossy().replace('\\', "/");
        if lines > MAX_LINES {
            if !allowed.iter().any(|(p, _)| *p == key) {
                problems.push(format!(
                    "{key} has {lines} lines; split it by job (at most {MAX_LINES})"
                ));
            }
            long.insert(key);
        }
    }
    for (p, _) in allowed {
        if !long.contains(*p) {
            problems.push(format!(
                "{p} is no longer over {MAX_LINES} lines (or moved): remove it from LONG_FILES \
                 in xtask/src/tidy.rs"
            ));
        }
    }
    Ok(problems)
}

// ---- Core's modules in the codemap --------------------------------------------------------

/// The top-level modules of `crates/core`: `src/*.rs` (not `lib.rs`) and `src/*/` folders.
fn core_modules(root: &Path) -> Result<Vec<String>> {
    let src = root.join("crates/core/src");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&src).with_context(|| src.display().to_string())? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() {
            if name != "bin" {
                out.push(name);
            }
        } else if let Some(stem) = name.strip_suffix(".rs")
            && !matches!(stem, "lib" | "main")
        {
            out.push(stem.to_string());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// ARCHITECTURE.md's core section (from its `### \`crates/core\`` heading to the next heading
/// of the same or a higher level) names every top-level module of core in backticks: `name`,
/// `name.rs`, `name/` or `name::…`.
fn core_modules_in_architecture(root: &Path) -> Result<Vec<String>> {
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("ARCHITECTURE.md")?;
    let mut section = String::new();
    let mut inside = false;
    for line in arch.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            inside = line.starts_with("### `crates/core`");
        } else if inside {
            section.push_str(line);
            section.push('\n');
        }
    }
    if section.is_empty() {
        return Ok(vec![
            "ARCHITECTURE.md has no ### `crates/core` section".to_string(),
        ]);
    }
    let spans: Vec<&str> = section.split('`').skip(1).step_by(2).collect();
    let named = |m: &str| {
        spans.iter().any(|s| {
            s.strip_prefix(m).is_some_and(|rest| {
                rest.is_empty() || rest == ".rs" || rest.starts_with('/') || rest.starts_with("::")
            })
        })
    };
    Ok(core_modules(root)?
        .into_iter()
        .filter(|m| !named(m))
        .map(|m| {
            format!("ARCHITECTURE.md's core section does not name the module `{m}` (crates/core/src/{m})")
        })
        .collect())
}

// ---- Module rules inside crates ---------------------------------------------------------

/// Paths (a folder or a file) whose source never names a module: `(path, module, why)`. The
/// module is a path from the crate root (`crate::store`); a line names it when it contains
/// `crate::store` or imports it from a list (`crate::{…, store, …}`). A simple scan of every
/// line, comments included, so a doc link counts too.
const MODULE_RULES: &[(&str, &str, &str)] = &[
    (
        "crates/core/src/pipeline",
        "crate::store",
        "core's pipeline never depends on the store (the types both use are in `status` and `corpus`)",
    ),
    (
        "crates/cli/src/args.rs",
        "crate::cmd",
        "the CLI's arguments name no command (dispatch → commands → arguments, no cycle)",
    ),
    (
        "crates/core/src/knowledge",
        "crate::store",
        "core's knowledge types never depend on the store (the store persists them: one direction)",
    ),
];

fn module_rules(root: &Path) -> Result<Vec<String>> {
    module_rules_except(root, MODULE_RULES)
}

/// Whether `line` names `module` (`crate::store`): the path itself, the path's last segment
/// through `cmd::` when the rule is about a top-level module (`cmd::Cli`), or the last segment
/// in a `crate::{…}` list.
fn names_module(line: &str, module: &str) -> bool {
    let Some(last) = module.strip_prefix("crate::") else {
        return line.contains(module);
    };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let word_at = |text: &str, i: usize| {
        !text[..i].ends_with(is_ident) && !text[i + last.len()..].starts_with(is_ident)
    };
    if line.contains(module) {
        return true;
    }
    // `cmd::Cli` without `crate::` (e.g. through `super::`), as a whole word.
    let qualified = format!("{last}::");
    if line
        .match_indices(&qualified)
        .any(|(i, _)| word_at(line, i))
    {
        return true;
    }
    line.match_indices("crate::{").any(|(i, m)| {
        let list = &line[i + m.len()..];
        let list = &list[..list.find('}').unwrap_or(list.len())];
        list.match_indices(last).any(|(j, _)| word_at(list, j))
    })
}

fn module_rules_except(root: &Path, rules: &[(&str, &str, &str)]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (path, module, why) in rules {
        let full = root.join(path);
        let mut files = Vec::new();
        if full.is_dir() {
            rust_files(&full, &mut files);
        } else if full.is_file() {
            files.push(full.clone());
        } else {
            problems.push(format!(
                "module rule for {path} names a path that does not exist (update MODULE_RULES)"
            ));
            continue;
        }
        files.sort();
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            let text = std::fs::read_to_string(&f).with_context(|| rel.clone())?;
            for (i, line) in text.lines().enumerate() {
                if names_module(line, module) {
                    problems.push(format!("{rel}:{}: names `{module}`: {why}", i + 1));
                }
            }
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

    /// A fresh directory for one test's fixture.
    fn fixture(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tidy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn package(name: &str, deps: &str) -> String {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n\n{deps}\n")
    }

    #[test]
    fn detects_forbidden_and_workspace_and_testkit_dependencies() {
        let dir = fixture("deps");
        write(
            &dir,
            "Cargo.toml",
            r#"[workspace]
members = ["crates/core", "crates/mid", "crates/steps", "crates/sdk", "crates/app", "crates/testkit"]
[workspace.dependencies]
support-mid = { path = "crates/mid" }
support-core = { path = "crates/core" }
http-client = { package = "reqwest", version = "0.13" }
"#,
        );
        // core → mid (workspace) → reqwest (renamed in the workspace table); core → figment →
        // sqlx (through the lock file). mid's optional axum is not reached.
        write(
            &dir,
            "crates/core/Cargo.toml",
            &package(
                "support-core",
                "[dependencies]\nsupport-mid.workspace = true\nfigment = \"0.10\"\n\
                 [dev-dependencies]\naxum = \"0.8\"\n",
            ),
        );
        write(
            &dir,
            "crates/mid/Cargo.toml",
            &package(
                "support-mid",
                "[dependencies]\nhttp-client.workspace = true\naxum = { version = \"0.8\", optional = true }\n",
            ),
        );
        write(
            &dir,
            "Cargo.lock",
            "version = 4\n[[package]]\nname = \"figment\"\nversion = \"0.10.19\"\n\
             dependencies = [\"serde\", \"sqlx 0.9.0\"]\n[[package]]\nname = \"sqlx\"\nversion = \"0.9.0\"\n",
        );
        // steps depends on a workspace crate; sdk only as a dev-dependency (allowed).
        write(
            &dir,
            "crates/steps/Cargo.toml",
            &package(
                "support-steps",
                "[dependencies]\nsupport-core.workspace = true\n",
            ),
        );
        write(
            &dir,
            "crates/sdk/Cargo.toml",
            &package(
                "support-sdk",
                "[dev-dependencies]\nsupport-core.workspace = true\n",
            ),
        );
        // The test kit as a normal (target-specific) dependency, and as a dev-dependency.
        write(
            &dir,
            "crates/app/Cargo.toml",
            &package(
                "support-app",
                "[target.'cfg(unix)'.dependencies]\nsupport-testkit = { path = \"../testkit\" }\n\
                 [dev-dependencies]\nsupport-testkit = { path = \"../testkit\" }\n",
            ),
        );
        write(
            &dir,
            "crates/testkit/Cargo.toml",
            &package(
                "support-testkit",
                "[dependencies]\nsupport-core.workspace = true\n",
            ),
        );
        let mut problems = dependency_rules(&dir).unwrap();
        problems.sort();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("support-app (crates/app/Cargo.toml) has support-testkit"));
        assert!(problems[1].starts_with("support-core depends on reqwest (through support-mid)"));
        assert!(problems[2].starts_with("support-core depends on sqlx (through figment)"));
        assert!(problems[3].starts_with(
            "support-steps (crates/steps) depends on the workspace crate support-core"
        ));

        // The same workspace without the offending lines (and without a test kit) passes.
        write(
            &dir,
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/core\", \"crates/sdk\"]\n",
        );
        write(
            &dir,
            "crates/core/Cargo.toml",
            &package("support-core", "[dependencies]\nserde = \"1\"\n"),
        );
        let problems = dependency_rules(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn detects_migrations_missing_in_one_dialect() {
        let dir = fixture("migrations");
        for f in ["migrations/sqlite/001_a.sql", "migrations/sqlite/002_b.sql"] {
            write(&dir, f, "");
        }
        for f in [
            "migrations/postgres/001_a.sql",
            "migrations/postgres/003_c.sql",
        ] {
            write(&dir, f, "");
        }
        let problems = migrations_match(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            problems,
            [
                "migrations/sqlite/002_b.sql has no migrations/postgres/002_b.sql",
                "migrations/postgres/003_c.sql has no migrations/sqlite/003_c.sql",
            ]
        );
    }

    #[test]
    fn detects_long_source_files_and_stale_exceptions() {
        let dir = fixture("lines");
        let lines = |n: usize| "x\n".repeat(n);
        write(&dir, "crates/x/src/long.rs", &lines(MAX_LINES + 1));
        write(&dir, "crates/x/src/fine.rs", &lines(MAX_LINES));
        write(&dir, "crates/x/src/allowed.rs", &lines(MAX_LINES + 1));
        write(&dir, "crates/x/src/shrunk.rs", &lines(10));
        write(&dir, "crates/x/tests/long_test.rs", &lines(3 * MAX_LINES));
        write(&dir, "crates/x/build.rs", &lines(3 * MAX_LINES));
        let allowed = [
            ("crates/x/src/allowed.rs", "a generated table"),
            ("crates/x/src/shrunk.rs", "was long"),
            ("crates/x/src/moved.rs", "was long"),
        ];
        let mut problems = files_are_small_except(&dir, &allowed).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        problems.sort();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("crates/x/src/long.rs has 1001 lines"));
        assert!(problems[1].starts_with("crates/x/src/moved.rs is no longer over"));
        assert!(problems[2].starts_with("crates/x/src/shrunk.rs is no longer over"));
    }

    #[test]
    fn detects_core_modules_missing_from_the_codemap() {
        let dir = fixture("codemap");
        for f in [
            "crates/core/src/lib.rs",
            "crates/core/src/time.rs",
            "crates/core/src/ids.rs",
            "crates/core/src/store.rs",
            "crates/core/src/pipeline/mod.rs",
        ] {
            write(&dir, f, "");
        }
        // `time` is only named outside the core section, and `timeline` does not name it; a
        // `####` heading stays inside the section.
        write(
            &dir,
            "ARCHITECTURE.md",
            "# A\n## Crates\n### `crates/core` (`support-core`)\nThe `pipeline/` folder, \
             `store::Store`, `timeline`.\n#### Details\n`ids.rs`\n### `crates/steps`\n`time`\n",
        );
        let problems = core_modules_in_architecture(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("`time`"), "{problems:?}");
        write(
            &dir,
            "ARCHITECTURE.md",
            "### `crates/core`\n`pipeline` `store` `ids`\n#### More\n`time.rs`\n## Apps\n",
        );
        let problems = core_modules_in_architecture(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn detects_modules_named_against_a_rule() {
        let dir = fixture("modules");
        write(
            &dir,
            "crates/core/src/pipeline/ok.rs",
            "use crate::corpus::KbChunk;\nuse crate::{restore, status};\n// a store of chunks\n",
        );
        write(
            &dir,
            "crates/core/src/pipeline/a.rs",
            "use crate::store::KbChunk;\n",
        );
        write(
            &dir,
            "crates/core/src/pipeline/deep/b.rs",
            "use crate::{llm, store};\n/// See [`crate::store::Store`].\n",
        );
        write(
            &dir,
            "crates/cli/src/args.rs",
            "use clap::Args;\npub enum C { Dev(cmd::dev::X) }\n// subcmd::x is fine\n",
        );
        let rules = [
            ("crates/core/src/pipeline", "crate::store", "no store"),
            ("crates/cli/src/args.rs", "crate::cmd", "no cmd"),
            ("crates/gone", "crate::x", "stale"),
        ];
        let problems = module_rules_except(&dir, &rules).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            problems,
            vec![
                "crates/core/src/pipeline/a.rs:1: names `crate::store`: no store".to_string(),
                "crates/core/src/pipeline/deep/b.rs:1: names `crate::store`: no store".to_string(),
                "crates/core/src/pipeline/deep/b.rs:2: names `crate::store`: no store".to_string(),
                "crates/cli/src/args.rs:2: names `crate::cmd`: no cmd".to_string(),
                "module rule for crates/gone names a path that does not exist (update MODULE_RULES)"
                    .to_string(),
            ]
        );
    }
}
