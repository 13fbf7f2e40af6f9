//! `skill audit verify`, `skill audit archive --before DATE [--out FILE]` and
//! `skill audit verify-archive FILE`.
//!
//! The audit log is pruned only here. The archive verifies the whole chain, exports the rows
//! written before DATE (JSON lines: a header with the range and its head hash, then one row per
//! line, oldest first) to a new file (mode 0600), syncs it, checks it back, and only then, in one
//! transaction, records the archive (the new genesis), deletes the rows and appends its own
//! `audit.archived` entry. `skill audit verify` then starts from the recorded genesis.

use super::context::{Failure, emit, exit, load_settings, open_db, usage};
use crate::args::{ArchiveArgs, AuditCmd, Cli, VerifyArchiveArgs};
use serde_json::json;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use support_core::audit::{self, ArchiveError, ArchiveHeader};
use support_core::time::{Millis, now_ms};

pub(crate) async fn run(cli: &Cli, cmd: &AuditCmd) -> Result<(), Failure> {
    match cmd {
        AuditCmd::Verify => verify(cli).await,
        AuditCmd::Archive(args) => archive(cli, args).await,
        AuditCmd::VerifyArchive(args) => verify_archive(cli, args),
    }
}

async fn verify(cli: &Cli) -> Result<(), Failure> {
    let s = load_settings(cli)?;
    let db = open_db(&s).await?;
    match audit::verify(&db).await {
        Ok(r) => {
            emit(
                cli,
                &json!({"ok": true, "rows": r.rows, "head_hash": r.head_hash,
                        "genesis_seq": r.genesis_seq, "genesis_hash": r.genesis_hash}),
                || match r.genesis_seq {
                    0 => {
                        format!("audit chain intact: {} rows, head {}", r.rows, r.head_hash)
                    }
                    g => format!(
                        "audit chain intact: {} rows after archived seq {g} (genesis {}), head {}",
                        r.rows, r.genesis_hash, r.head_hash
                    ),
                },
            );
            Ok(())
        }
        Err(e) => Err(Failure {
            code: exit::CHECK_FAILED,
            message: e.to_string(),
        }),
    }
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339, as Unix milliseconds.
pub fn parse_date(s: &str) -> Option<Millis> {
    let s = s.trim();
    let date = s.get(..10)?;
    let midnight = support_steps::timestr::parse_rfc3339(&format!("{date}T00:00:00Z"))?;
    // The parser does not check ranges: a real date formats back to itself.
    if format_utc(midnight).get(..10) != Some(date) {
        return None;
    }
    if s.len() == 10 {
        return Some(midnight);
    }
    let field = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    if field(11..13)? > 23 || field(14..16)? > 59 || field(17..19)? > 59 {
        return None;
    }
    support_steps::timestr::parse_rfc3339(s)
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc(ms: Millis) -> String {
    support_core::pipeline::inbound::format_iso_millis(ms)
}

fn archive_failure(e: ArchiveError) -> Failure {
    let code = match e {
        ArchiveError::Chain(_) | ArchiveError::Invalid(_) => exit::CHECK_FAILED,
        _ => exit::FAILED,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

fn header_json(h: &ArchiveHeader) -> serde_json::Value {
    json!({"from_seq": h.from_seq, "through_seq": h.through_seq, "rows": h.rows,
           "prev_hash": h.prev_hash, "head_hash": h.head_hash, "before": h.before,
           "before_utc": format_utc(h.before)})
}

fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

pub async fn archive(cli: &Cli, args: &ArchiveArgs) -> Result<(), Failure> {
    let before = parse_date(&args.before).ok_or_else(|| {
        usage(format!(
            "--before {:?}: expected YYYY-MM-DD or an RFC 3339 date such as 2026-11-01T00:00:00Z",
            args.before
        ))
    })?;
    if before > now_ms() {
        return Err(usage(format!(
            "--before {} is in the future; archive only what has been written",
            args.before
        )));
    }
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    let Some(plan) = audit::plan_archive(&db, before)
        .await
        .map_err(archive_failure)?
    else {
        emit(
            cli,
            &json!({"archived": false, "rows": 0, "before": before, "before_utc": format_utc(before)}),
            || {
                format!(
                    "nothing to archive: no audit rows before {}",
                    format_utc(before)
                )
            },
        );
        return Ok(());
    };
    if args.dry_run {
        let mut v = header_json(&plan);
        v["archived"] = json!(false);
        v["dry_run"] = json!(true);
        emit(cli, &v, || {
            format!(
                "would archive audit rows {}..={} ({} rows written before {}); nothing was changed",
                plan.from_seq,
                plan.through_seq,
                plan.rows,
                format_utc(before)
            )
        });
        return Ok(());
    }
    let path = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "audit-archive-{:08}-{:08}.jsonl",
            plan.from_seq, plan.through_seq
        ))
    });
    let file = create_new(&path).map_err(|e| Failure {
        code: exit::FAILED,
        message: format!(
            "cannot create {} ({e}); an archive is never overwritten",
            path.display()
        ),
    })?;
    let written = async {
        let mut w = BufWriter::new(file);
        let sha = audit::write_archive(&db, &plan, &mut w).await?;
        let file = w
            .into_inner()
            .map_err(|e| ArchiveError::Io(e.to_string()))?;
        file.sync_all()
            .map_err(|e| ArchiveError::Io(e.to_string()))?;
        // Read the file back before deleting anything.
        let back = std::fs::File::open(&path).map_err(|e| ArchiveError::Io(e.to_string()))?;
        let header = audit::verify_archive(BufReader::new(back))?;
        if header != plan {
            return Err(ArchiveError::Invalid(
                "the file read back differs from what was archived".into(),
            ));
        }
        Ok(sha)
    }
    .await;
    let sha = match written {
        Ok(sha) => sha,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(archive_failure(e));
        }
    };
    let shown = path.display().to_string();
    let actor = super::context::cli_actor();
    let record = match audit::commit_archive(&db, &plan, &actor, Some(&shown), &sha, now_ms()).await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(Failure {
                code: exit::FAILED,
                message: format!("{e}; nothing was deleted and {shown} was removed"),
            });
        }
    };
    let mut v = header_json(&plan);
    v["archived"] = json!(true);
    v["file"] = json!(shown);
    v["file_sha256"] = json!(sha);
    v["audit_seq"] = json!(record.seq);
    v["genesis_seq"] = json!(plan.through_seq);
    v["genesis_hash"] = json!(plan.head_hash);
    emit(cli, &v, || {
        format!(
            "archived audit rows {}..={} ({} rows written before {}) to {shown}\n  \
             head hash    {} (the remaining chain starts from it)\n  \
             file sha256  {sha}\n  \
             recorded as audit entry #{} ({})",
            plan.from_seq,
            plan.through_seq,
            plan.rows,
            format_utc(before),
            plan.head_hash,
            record.seq,
            audit::ARCHIVED_KIND
        )
    });
    Ok(())
}

pub fn verify_archive(cli: &Cli, args: &VerifyArchiveArgs) -> Result<(), Failure> {
    let file = std::fs::File::open(&args.file).map_err(|e| Failure {
        code: exit::FAILED,
        message: format!("cannot open {}: {e}", args.file.display()),
    })?;
    let header = audit::verify_archive(BufReader::new(file)).map_err(archive_failure)?;
    let mut v = header_json(&header);
    v["ok"] = json!(true);
    emit(cli, &v, || {
        format!(
            "archive intact: audit rows {}..={} ({} rows written before {}), head {}",
            header.from_seq,
            header.through_seq,
            header.rows,
            format_utc(header.before),
            header.head_hash
        )
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-01"), Some(1_793_491_200_000));
        assert_eq!(format_utc(1_793_491_200_000), "2026-11-01T00:00:00.000Z");
        let t = 1_764_977_123_456;
        assert_eq!(parse_date(&format_utc(t)), Some(t));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-11-01T24:00:00Z"), None);
        assert_eq!(
            parse_date("2026-11-01T01:00:00+01:00"),
            Some(1_793_491_200_000)
        );
    }
}
