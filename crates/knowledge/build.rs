//! Embeds the demo knowledge base in the crate: every `demo/<app>/*.md` becomes an entry of
//! `DEMO_FILES` (`OUT_DIR/demo_files.rs`, read by `src/demo.rs`) through `include_str!`, so the
//! binary imports the demo articles without the source tree and a changed file rebuilds.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.sort();
    Ok(v)
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("demo");
    println!("cargo:rerun-if-changed=demo");
    let mut out =
        String::from("/// `(app, file name, contents)` of every demo article, by app then name.\n");
    out.push_str("pub const DEMO_FILES: &[(&str, &str, &str)] = &[\n");
    for app in sorted_entries(&root)?.into_iter().filter(|p| p.is_dir()) {
        let app_name = app
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("app folder name")?;
        for file in sorted_entries(&app)? {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or("file name")?;
            if !name.ends_with(".md") {
                continue;
            }
            let path = file.to_str().ok_or("non-UTF-8 path")?;
            writeln!(out, "    ({app_name:?}, {name:?}, include_str!({path:?})),")?;
        }
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR")?).join("demo_files.rs");
    std::fs::write(dest, out)?;
    Ok(())
}
