//! `skill trust show [--app SLUG] [--json]`: trust per app × category, recomputed from the
//! signal rows now (the same rows as `/api/v1/trust`).

use super::context::{Failure, emit, load_settings, open_db};
use crate::args::{Cli, TrustCmd};
use serde_json::json;
use support_core::time::now_ms;
use support_core::trust::{HALF_LIFE_DAYS, current, row_json};

pub(crate) async fn run(cli: &Cli, cmd: &TrustCmd) -> Result<(), Failure> {
    let settings = load_settings(cli)?;
    let db = open_db(&settings).await?;
    match cmd {
        TrustCmd::Show { app } => {
            let rows = current(&db, app.as_deref(), now_ms(), HALF_LIFE_DAYS).await?;
            let items: Vec<_> = rows.iter().map(row_json).collect();
            emit(cli, &json!({"items": items}), || {
                if rows.is_empty() {
                    return "no signals yet".into();
                }
                let mut out = format!(
                    "{:<20} {:<16} {:>6} {:>9} {:>8} {:>7}  mode\n",
                    "app", "category", "score", "eff.samp", "signals", "trend"
                );
                for r in &rows {
                    out.push_str(&format!(
                        "{:<20} {:<16} {:>6.3} {:>9.1} {:>8} {:>+7.3}  draft\n",
                        r.app, r.category, r.score, r.effective_samples, r.signals, r.trend
                    ));
                }
                out.trim_end().to_string()
            });
            Ok(())
        }
    }
}
