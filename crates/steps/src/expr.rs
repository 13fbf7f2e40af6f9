//! CEL expressions (trigger filters, wait matches, concurrency/idempotency/debounce keys)
//! through `cel-interpreter`, with Inngest's variables: `event` is the triggering event and
//! `async` the candidate event of a wait.

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, Program, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// An expression that could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("invalid CEL expression `{expr}`: {message}")]
    Compile { expr: String, message: String },
    #[error("CEL expression `{expr}` failed: {message}")]
    Eval { expr: String, message: String },
    #[error("CEL expression `{expr}` must return a bool, got {got}")]
    NotBool { expr: String, got: String },
}

/// A compiled CEL expression.
pub struct Expr {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expr").field(&self.source).finish()
    }
}

impl Expr {
    /// Compile, turning any parser failure (including a panic inside the parser) into an error.
    pub fn compile(source: &str) -> Result<Self, ExprError> {
        let src = source.to_string();
        let compiled = std::panic::catch_unwind(move || Program::compile(&src));
        match compiled {
            Ok(Ok(program)) => Ok(Self {
                source: source.to_string(),
                program,
            }),
            Ok(Err(e)) => Err(ExprError::Compile {
                expr: source.to_string(),
                message: e.to_string(),
            }),
            Err(_) => Err(ExprError::Compile {
                expr: source.to_string(),
                message: "the parser rejected it".into(),
            }),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate with the given JSON variables.
    pub fn eval(&self, vars: &[(&str, &Value)]) -> Result<Value, ExprError> {
        let mut ctx = Context::default();
        for (name, value) in vars {
            ctx.add_variable_from_value(*name, json_to_cel(value));
        }
        let program = &self.program;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(&ctx)));
        match out {
            Ok(Ok(v)) => Ok(cel_to_json(&v)),
            Ok(Err(e)) => Err(ExprError::Eval {
                expr: self.source.clone(),
                message: e.to_string(),
            }),
            Err(_) => Err(ExprError::Eval {
                expr: self.source.clone(),
                message: "evaluation panicked".into(),
            }),
        }
    }

    /// Evaluate a boolean expression. A missing key is a non-match, not an error.
    pub fn matches(&self, vars: &[(&str, &Value)]) -> Result<bool, ExprError> {
        match self.eval(vars) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(ExprError::NotBool {
                expr: self.source.clone(),
                got: other.to_string(),
            }),
            Err(ExprError::Eval { message, .. }) if message.starts_with("No such key") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Evaluate to a key string: strings as they are, anything else as JSON text. `None` when
    /// the value is null or missing.
    pub fn key(&self, vars: &[(&str, &Value)]) -> Result<Option<String>, ExprError> {
        match self.eval(vars) {
            Ok(Value::Null) => Ok(None),
            Ok(Value::String(s)) => Ok(Some(s)),
            Ok(other) => Ok(Some(other.to_string())),
            Err(ExprError::Eval { message, .. }) if message.starts_with("No such key") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Compile-check an expression without keeping it.
pub fn validate(source: &str) -> Result<(), ExprError> {
    Expr::compile(source).map(|_| ())
}

fn json_to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Value::Object(map) => {
            let m: HashMap<Key, Cel> = map
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Cel::Map(Map { map: Arc::new(m) })
        }
    }
}

fn cel_to_json(v: &Cel) -> Value {
    match v {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::from(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Cel::String(s) => Value::String(s.to_string()),
        Cel::Bytes(b) => Value::String(hex::encode(b.as_slice())),
        Cel::List(items) => Value::Array(items.iter().map(cel_to_json).collect()),
        Cel::Map(m) => Value::Object(
            m.map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => s.to_string(),
                        Key::Int(i) => i.to_string(),
                        Key::Uint(u) => u.to_string(),
                        Key::Bool(b) => b.to_string(),
                    };
                    (key, cel_to_json(v))
                })
                .collect(),
        ),
        Cel::Function(name, _) => Value::String(name.to_string()),
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replace every `event` / `event.a.b` reference (outside string literals) with the JSON
/// literal of that value in `event` (null when missing), as Inngest does when a wait is
/// registered, so the stored expression only refers to `async`.
pub fn substitute_event(expr: &str, event: &Value) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            out.push(c);
            i += 1;
            continue;
        }
        let prev_ok = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == '.');
        let word: String = chars[i..].iter().take(5).collect();
        let after = chars.get(i + 5).copied();
        if prev_ok && word == "event" && after.is_none_or(|a| !is_ident(a)) {
            let mut j = i + 5;
            let mut path: Vec<String> = Vec::new();
            while j < chars.len() && chars[j] == '.' {
                let start = j + 1;
                let mut k = start;
                while k < chars.len() && is_ident(chars[k]) {
                    k += 1;
                }
                if k == start {
                    break;
                }
                path.push(chars[start..k].iter().collect());
                j = k;
            }
            let mut cur = Some(event);
            for seg in &path {
                cur = cur.and_then(|v| v.get(seg.as_str()));
            }
            let literal = cur
                .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
                .unwrap_or_else(|| "null".into());
            out.push_str(&literal);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_and_evaluates() {
        let e = Expr::compile("event.data.n > 2 && event.name == 'a'").unwrap();
        assert!(
            e.matches(&[("event", &json!({"name": "a", "data": {"n": 3}}))])
                .unwrap()
        );
        assert!(
            !e.matches(&[("event", &json!({"name": "a", "data": {"n": 1}}))])
                .unwrap()
        );
        // Missing keys do not match.
        assert!(
            !e.matches(&[("event", &json!({"name": "a", "data": {}}))])
                .unwrap()
        );
    }

    #[test]
    fn bad_cel_is_a_clear_error() {
        for bad in ["event.data. ==", "((", "", "a ? b", "'unterminated"] {
            let err = Expr::compile(bad).map(|_| ()).unwrap_err();
            assert!(matches!(err, ExprError::Compile { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("invalid CEL"));
        }
        let e = Expr::compile("event.data.n").unwrap();
        assert!(matches!(
            e.matches(&[("event", &json!({"data": {"n": 1}}))]),
            Err(ExprError::NotBool { .. })
        ));
    }

    #[test]
    fn keys() {
        let e = Expr::compile("event.data.conversation_id").unwrap();
        assert_eq!(
            e.key(&[("event", &json!({"data": {"conversation_id": "cnv_1"}}))])
                .unwrap(),
            Some("cnv_1".into())
        );
        assert_eq!(e.key(&[("event", &json!({"data": {}}))]).unwrap(), None);
        assert_eq!(
            e.key(&[("event", &json!({"data": {"conversation_id": 7}}))])
                .unwrap(),
            Some("7".into())
        );
    }

    #[test]
    fn substitutes_event_values() {
        let ev = json!({"name": "x", "data": {"action_id": "a\"1", "n": 2, "o": {"k": [1, 2]}}});
        let s = substitute_event(
            "async.data.action_id == event.data.action_id && async.data.n == event.data.n && 'event.data.n' != '' && event.data.missing == null",
            &ev,
        );
        assert_eq!(
            s,
            r#"async.data.action_id == "a\"1" && async.data.n == 2 && 'event.data.n' != '' && null == null"#
        );
        let e = Expr::compile(&s).unwrap();
        assert!(
            e.matches(&[("async", &json!({"data": {"action_id": "a\"1", "n": 2}}))])
                .unwrap()
        );
        assert!(
            !e.matches(&[("async", &json!({"data": {"action_id": "b", "n": 2}}))])
                .unwrap()
        );
        assert_eq!(
            substitute_event("async.data.event == 1 && myevent.x", &ev),
            "async.data.event == 1 && myevent.x"
        );
        assert_eq!(
            substitute_event("event.data.o.k[1] == 2", &ev),
            "[1,2][1] == 2"
        );
    }
}
