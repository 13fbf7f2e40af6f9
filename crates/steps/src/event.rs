//! Events in Inngest's JSON shape: `{name, data, id, ts, user?, v?}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Unix milliseconds.
pub type Millis = i64;

/// The current time in Unix milliseconds.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// An event, exactly as Inngest shapes it on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub name: String,
    #[serde(default = "empty_object")]
    pub data: Value,
    /// Filled in (a ULID) when empty; events with the same id are stored once.
    #[serde(default)]
    pub id: String,
    /// Unix milliseconds; filled in when zero.
    #[serde(default)]
    pub ts: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The name of the event that starts an invoked function.
pub const INVOKED_EVENT: &str = "inngest/function.invoked";

/// Sent (as Inngest does) when a run fails for good: `{function_id, run_id, error, event}`.
/// Stored in the same transaction as the failure, so a handler of it sees every dead letter.
pub const FAILED_EVENT: &str = "inngest/function.failed";

impl Event {
    /// A new event with the given name and data (id and ts are filled in when sent).
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        Self {
            name: name.into(),
            data,
            id: String::new(),
            ts: 0,
            user: None,
            v: None,
        }
    }

    /// Set the event id (events with the same id are deduplicated).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Fill in a missing id and timestamp.
    pub fn normalized(mut self, now: Millis) -> Self {
        if self.id.is_empty() {
            self.id = ulid::Ulid::new().to_string();
        }
        if self.ts == 0 {
            self.ts = now;
        }
        if self.data.is_null() {
            self.data = empty_object();
        }
        self
    }

    /// The event as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Parse one event or an array of events (the body of `POST /e/{key}`).
    pub fn parse_many(body: &[u8]) -> Result<Vec<Event>, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let items = match v {
            Value::Array(items) => items,
            other => vec![other],
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let ev: Event =
                    serde_json::from_value(item).map_err(|e| format!("event {i}: {e}"))?;
                if ev.name.trim().is_empty() {
                    return Err(format!("event {i}: name is required"));
                }
                if !ev.data.is_object() && !ev.data.is_null() {
                    return Err(format!("event {i}: data must be an object"));
                }
                Ok(ev)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_shape_round_trips() {
        let ev = Event::new("a/b", json!({"x": 1})).normalized(5);
        let v = ev.to_value();
        assert_eq!(v["name"], "a/b");
        assert_eq!(v["ts"], 5);
        assert!(v.get("user").is_none());
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn parses_one_or_many() {
        assert_eq!(Event::parse_many(br#"{"name":"a"}"#).unwrap().len(), 1);
        assert_eq!(
            Event::parse_many(br#"[{"name":"a"},{"name":"b","data":{}}]"#)
                .unwrap()
                .len(),
            2
        );
        assert!(Event::parse_many(b"{nope").is_err());
        assert!(Event::parse_many(br#"{"data":{}}"#).is_err());
        assert!(Event::parse_many(br#"{"name":"a","data":3}"#).is_err());
    }
}
