//! `skill config show`.

use super::context::{Failure, emit, load_settings};
use crate::args::{Cli, ConfigCmd};
use serde_json::Value;

pub(crate) fn run(cli: &Cli, cmd: &ConfigCmd) -> Result<(), Failure> {
    let ConfigCmd::Show = cmd;
    let s = load_settings(cli)?;
    let v = s.redacted_json();
    emit(cli, &v, || {
        // TOML has no null: unset settings are left out of the human view.
        let shown = strip_nulls(v.clone());
        toml::to_string_pretty(&shown).unwrap_or_else(|_| shown.to_string())
    });
    Ok(())
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}
