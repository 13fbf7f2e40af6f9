//! A fake of Upstash Vector's REST API for a hybrid index (dense + sparse, cosine), for the
//! `kb.backend = "upstash"` tests. `POST /{op}[/{namespace}]` with `Authorization: Bearer
//! <token>`; a success is `{"result": …}`, an error `{"error": "…", "status": 4xx}` with the same
//! HTTP status (401 for a missing or wrong token, 400 for a malformed body, a vector of the
//! wrong dimension, a hybrid upsert or query without both vectors, or a filter that does not
//! parse; 404 for an unknown path).
//!
//! - `/upsert/{ns}`: one `{id, vector, sparseVector:{indices, values}, metadata?, data?}` or an
//!   array of them → `"Success"`;
//! - `/query/{ns}`: `{vector, sparseVector, topK, includeMetadata, includeData, includeVectors,
//!   filter, queryMode: "HYBRID"|"DENSE"|"SPARSE", fusionAlgorithm: "RRF"|"DBSF"}` → `[{id,
//!   score, metadata?, data?}]`. Dense scores are `(1 + cosine) / 2`, sparse scores the inner
//!   product; hybrid fuses both rankings with RRF (`Σ 1 / (60 + rank)`, rank from 1) or DBSF
//!   (each score mapped by `(s − (μ − 3σ)) / 6σ`, summed);
//! - `/delete/{ns}`: `[ids]`, `{ids}`, `{prefix}` or `{filter}` → `{"deleted": n}`;
//! - `/fetch/{ns}`: `{ids, includeMetadata, includeData}` → `[{id, metadata?, data?} | null]`;
//! - `/reset/{ns}` → `"Success"`; `/info` → `{vectorCount, pendingVectorCount, indexSize,
//!   dimension, similarityFunction: "COSINE", indexType: "HYBRID", namespaces: {ns:
//!   {vectorCount, pendingVectorCount}}}`.
//!
//! Filters: `=`, `!=`, `<`, `<=`, `>`, `>=` on strings (single or double quotes) and numbers,
//! `IN (…)`, `NOT IN (…)`, `AND`, `OR`, parentheses; fields by name (`a.b` for nested objects).

use super::{lock, serve};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Stored {
    vector: Vec<f32>,
    sparse: Vec<(u32, f32)>,
    metadata: Option<Value>,
    data: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    namespaces: BTreeMap<String, BTreeMap<String, Stored>>,
    /// (path, body) of every authorized request.
    requests: Vec<(String, Value)>,
}

/// The fake index.
#[derive(Clone, Debug)]
pub struct FakeUpstashVector {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct Ctx {
    token: String,
    dims: usize,
    inner: Arc<Mutex<Inner>>,
}

type Failure = (u16, String);

fn fail<T>(status: u16, message: impl Into<String>) -> Result<T, Failure> {
    Err((status, message.into()))
}

fn reply(result: Result<Value, Failure>) -> Response {
    let (status, body) = match result {
        Ok(v) => (200, json!({ "result": v })),
        Err((s, m)) => (s, json!({ "error": m, "status": s })),
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn root_op(
    State(ctx): State<Ctx>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(ctx, op, String::new(), headers, body)
}

async fn ns_op(
    State(ctx): State<Ctx>,
    Path((op, ns)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(ctx, op, ns, headers, body)
}

fn handle(ctx: Ctx, op: String, ns: String, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth.is_empty() {
        return reply(fail(401, "Unauthorized: Authorization header is missing"));
    }
    if auth != format!("Bearer {}", ctx.token) {
        return reply(fail(401, "Unauthorized: Invalid auth token"));
    }
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return reply(fail(400, format!("Invalid request body: {e}"))),
        }
    };
    let mut inner = lock(&ctx.inner);
    inner.requests.push((
        format!("/{op}/{ns}").trim_end_matches('/').to_string(),
        parsed.clone(),
    ));
    let result = match op.as_str() {
        "upsert" => upsert(&mut inner, ctx.dims, &ns, &parsed),
        "query" => query(&inner, ctx.dims, &ns, &parsed),
        "delete" => delete(&mut inner, &ns, &parsed),
        "fetch" => fetch(&inner, &ns, &parsed),
        "reset" => {
            inner.namespaces.remove(&ns);
            Ok(json!("Success"))
        }
        "info" if ns.is_empty() => Ok(info(&inner, ctx.dims)),
        _ => fail(404, format!("Not Found: /{op}")),
    };
    reply(result)
}

fn parse_vector(v: &Value, dims: usize) -> Result<Vec<f32>, Failure> {
    let Some(a) = v.as_array() else {
        return fail(400, "vector must be an array of numbers");
    };
    let out: Option<Vec<f32>> = a.iter().map(|x| x.as_f64().map(|f| f as f32)).collect();
    let Some(out) = out else {
        return fail(400, "vector must be an array of numbers");
    };
    if out.len() != dims {
        return fail(
            400,
            format!("Invalid vector dimension: {}, expected: {dims}", out.len()),
        );
    }
    Ok(out)
}

fn parse_sparse(v: &Value) -> Result<Vec<(u32, f32)>, Failure> {
    let indices = v.get("indices").and_then(Value::as_array);
    let values = v.get("values").and_then(Value::as_array);
    let (Some(indices), Some(values)) = (indices, values) else {
        return fail(400, "sparseVector must have indices and values");
    };
    if indices.len() != values.len() {
        return fail(
            400,
            "Sparse vector indices and values must have the same length",
        );
    }
    let mut out = Vec::with_capacity(indices.len());
    for (i, x) in indices.iter().zip(values) {
        let (Some(i), Some(x)) = (i.as_u64().and_then(|i| u32::try_from(i).ok()), x.as_f64())
        else {
            return fail(
                400,
                "sparseVector indices must be unsigned 32-bit integers and values numbers",
            );
        };
        out.push((i, x as f32));
    }
    let mut seen: Vec<u32> = out.iter().map(|(i, _)| *i).collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != out.len() {
        return fail(400, "Sparse vector indices must be unique");
    }
    Ok(out)
}

fn upsert(inner: &mut Inner, dims: usize, ns: &str, body: &Value) -> Result<Value, Failure> {
    let items: Vec<&Value> = match body {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![body],
        _ => {
            return fail(
                400,
                "Invalid request body: expected a vector or an array of vectors",
            );
        }
    };
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let Some(id) = item.get("id").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }) else {
            return fail(400, "id is required");
        };
        if item
            .get("data")
            .is_some_and(|d| !d.is_string() && !d.is_null())
        {
            return fail(400, "data must be a string");
        }
        let (Some(v), Some(s)) = (item.get("vector"), item.get("sparseVector")) else {
            return fail(
                400,
                "This index requires dense and sparse vectors; both vector and sparseVector must be given",
            );
        };
        let metadata = item.get("metadata").cloned().filter(|m| !m.is_null());
        if metadata.as_ref().is_some_and(|m| !m.is_object()) {
            return fail(400, "metadata must be a JSON object");
        }
        parsed.push((
            id,
            Stored {
                vector: parse_vector(v, dims)?,
                sparse: parse_sparse(s)?,
                metadata,
                data: item.get("data").and_then(Value::as_str).map(str::to_string),
            },
        ));
    }
    let space = inner.namespaces.entry(ns.to_string()).or_default();
    for (id, s) in parsed {
        space.insert(id, s);
    }
    Ok(json!("Success"))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        d / (na * nb)
    }
}

fn sparse_dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let m: HashMap<u32, f32> = a.iter().copied().collect();
    b.iter().filter_map(|(i, v)| m.get(i).map(|w| w * v)).sum()
}

fn ranked(mut scored: Vec<(String, f32)>) -> Vec<(String, f32)> {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

fn dbsf(list: &[(String, f32)]) -> Vec<(String, f64)> {
    let n = list.len().max(1) as f64;
    let mean = list.iter().map(|(_, s)| f64::from(*s)).sum::<f64>() / n;
    let var = list
        .iter()
        .map(|(_, s)| (f64::from(*s) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    list.iter()
        .map(|(id, s)| {
            let v = if sd == 0.0 {
                0.5
            } else {
                (f64::from(*s) - (mean - 3.0 * sd)) / (6.0 * sd)
            };
            (id.clone(), v)
        })
        .collect()
}

fn query(inner: &Inner, dims: usize, ns: &str, body: &Value) -> Result<Value, Failure> {
    if !body.is_object() {
        return fail(400, "Invalid request body: expected a query object");
    }
    let top_k = body.get("topK").and_then(Value::as_u64).unwrap_or(10) as usize;
    let mode = body
        .get("queryMode")
        .and_then(Value::as_str)
        .unwrap_or("HYBRID");
    let fusion = body
        .get("fusionAlgorithm")
        .and_then(Value::as_str)
        .unwrap_or("RRF");
    if !matches!(fusion, "RRF" | "DBSF") {
        return fail(400, format!("Invalid fusion algorithm: {fusion}"));
    }
    let dense = body
        .get("vector")
        .map(|v| parse_vector(v, dims))
        .transpose()?;
    let sparse = body.get("sparseVector").map(parse_sparse).transpose()?;
    match (mode, dense.is_some(), sparse.is_some()) {
        ("HYBRID", true, true) | ("DENSE", true, _) | ("SPARSE", _, true) => {}
        ("HYBRID" | "DENSE" | "SPARSE", _, _) => {
            return fail(
                400,
                format!(
                    "Query mode {mode} requires the matching dense and/or sparse query vectors"
                ),
            );
        }
        _ => return fail(400, format!("Invalid query mode: {mode}")),
    }
    let filter = match body.get("filter").and_then(Value::as_str).unwrap_or("") {
        "" => None,
        f => Some(Filter::parse(f).map_err(|m| (400, format!("Invalid filter: {m}")))?),
    };
    let empty = BTreeMap::new();
    let space = inner.namespaces.get(ns).unwrap_or(&empty);
    let candidates: Vec<(&String, &Stored)> = space
        .iter()
        .filter(|(_, s)| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(s.metadata.as_ref().unwrap_or(&Value::Null)))
        })
        .collect();
    let dense_list = dense.as_ref().map(|q| {
        ranked(
            candidates
                .iter()
                .map(|(id, s)| ((*id).clone(), (1.0 + cosine(q, &s.vector)) / 2.0))
                .collect(),
        )
    });
    let sparse_list = sparse.as_ref().map(|q| {
        ranked(
            candidates
                .iter()
                .map(|(id, s)| ((*id).clone(), sparse_dot(q, &s.sparse)))
                .filter(|(_, s)| *s > 0.0)
                .collect(),
        )
    });
    let scored: Vec<(String, f64)> = match mode {
        "DENSE" => dense_list
            .unwrap_or_default()
            .into_iter()
            .map(|(i, s)| (i, f64::from(s)))
            .collect(),
        "SPARSE" => sparse_list
            .unwrap_or_default()
            .into_iter()
            .map(|(i, s)| (i, f64::from(s)))
            .collect(),
        _ => {
            let lists = [
                dense_list.unwrap_or_default(),
                sparse_list.unwrap_or_default(),
            ];
            let mut total: BTreeMap<String, f64> = BTreeMap::new();
            for list in &lists {
                let mapped: Vec<(String, f64)> = if fusion == "RRF" {
                    list.iter()
                        .enumerate()
                        .map(|(r, (id, _))| (id.clone(), 1.0 / (60.0 + (r + 1) as f64)))
                        .collect()
                } else {
                    dbsf(list)
                };
                for (id, s) in mapped {
                    *total.entry(id).or_default() += s;
                }
            }
            let mut v: Vec<(String, f64)> = total.into_iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        }
    };
    let include_metadata = body.get("includeMetadata").and_then(Value::as_bool) == Some(true);
    let include_data = body.get("includeData").and_then(Value::as_bool) == Some(true);
    let include_vectors = body.get("includeVectors").and_then(Value::as_bool) == Some(true);
    let out: Vec<Value> = scored
        .into_iter()
        .take(top_k)
        .filter_map(|(id, score)| {
            let s = space.get(&id)?;
            let mut m = json!({ "id": id, "score": score });
            if include_metadata && let Some(md) = &s.metadata {
                m["metadata"] = md.clone();
            }
            if include_data && let Some(d) = &s.data {
                m["data"] = json!(d);
            }
            if include_vectors {
                m["vector"] = json!(s.vector);
                m["sparseVector"] = json!({
                    "indices": s.sparse.iter().map(|(i, _)| i).collect::<Vec<_>>(),
                    "values": s.sparse.iter().map(|(_, v)| v).collect::<Vec<_>>(),
                });
            }
            Some(m)
        })
        .collect();
    Ok(Value::Array(out))
}

fn delete(inner: &mut Inner, ns: &str, body: &Value) -> Result<Value, Failure> {
    let Some(space) = inner.namespaces.get_mut(ns) else {
        return Ok(json!({ "deleted": 0 }));
    };
    let before = space.len();
    let ids = |a: &Vec<Value>| -> Vec<String> {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    match body {
        Value::Array(a) => ids(a).iter().for_each(|id| {
            space.remove(id);
        }),
        Value::String(id) => {
            space.remove(id);
        }
        Value::Object(o) => {
            if let Some(Value::Array(a)) = o.get("ids") {
                ids(a).iter().for_each(|id| {
                    space.remove(id);
                });
            } else if let Some(p) = o.get("prefix").and_then(Value::as_str) {
                space.retain(|id, _| !id.starts_with(p));
            } else if let Some(f) = o.get("filter").and_then(Value::as_str) {
                let f = Filter::parse(f).map_err(|m| (400, format!("Invalid filter: {m}")))?;
                space.retain(|_, s| !f.matches(s.metadata.as_ref().unwrap_or(&Value::Null)));
            } else {
                return fail(400, "Either ids, prefix or filter must be given");
            }
        }
        _ => return fail(400, "Either ids, prefix or filter must be given"),
    }
    Ok(json!({ "deleted": before - space.len() }))
}

fn fetch(inner: &Inner, ns: &str, body: &Value) -> Result<Value, Failure> {
    let Some(ids) = body.get("ids").and_then(Value::as_array) else {
        return fail(400, "ids are required");
    };
    let space = inner.namespaces.get(ns);
    let md = body.get("includeMetadata").and_then(Value::as_bool) == Some(true);
    let data = body.get("includeData").and_then(Value::as_bool) == Some(true);
    Ok(Value::Array(
        ids.iter()
            .map(|id| {
                let id = id.as_str().unwrap_or_default();
                match space.and_then(|s| s.get(id)) {
                    None => Value::Null,
                    Some(s) => {
                        let mut v = json!({ "id": id });
                        if md && let Some(m) = &s.metadata {
                            v["metadata"] = m.clone();
                        }
                        if data && let Some(d) = &s.data {
                            v["data"] = json!(d);
                        }
                        v
                    }
                }
            })
            .collect(),
    ))
}

fn info(inner: &Inner, dims: usize) -> Value {
    let total: usize = inner.namespaces.values().map(BTreeMap::len).sum();
    let namespaces: serde_json::Map<String, Value> = inner
        .namespaces
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({ "vectorCount": v.len(), "pendingVectorCount": 0 }),
            )
        })
        .collect();
    json!({
        "vectorCount": total,
        "pendingVectorCount": 0,
        "indexSize": total * dims * 4,
        "dimension": dims,
        "similarityFunction": "COSINE",
        "indexType": "HYBRID",
        "namespaces": namespaces,
    })
}

// ------------------------------------------------------------------ filters

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' | '"' => {
                let mut j = i + 1;
                let mut v = String::new();
                while j < chars.len() && chars[j] != c {
                    v.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("unterminated string".into());
                }
                out.push(Tok::Str(v));
                i = j + 1;
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if matches!(two.as_str(), "!=" | "<=" | ">=") {
                    out.push(Tok::Op(two));
                    i += 2;
                } else if c == '!' {
                    return Err("unexpected `!`".into());
                } else {
                    out.push(Tok::Op(c.to_string()));
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                out.push(Tok::Num(
                    text.parse().map_err(|_| format!("bad number {text}"))?,
                ));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.')
                {
                    j += 1;
                }
                out.push(Tok::Ident(chars[i..j].iter().collect()));
                i = j;
            }
            c => return Err(format!("unexpected character `{c}`")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Cmp(String, String, Value),
    In(String, bool, Vec<Value>),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_kw("OR") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.atom()?;
        while self.peek_kw("AND") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn value(&mut self) -> Result<Value, String> {
        let v = match self.toks.get(self.pos) {
            Some(Tok::Str(s)) => json!(s),
            Some(Tok::Num(n)) => json!(n),
            Some(Tok::Ident(s)) if s == "true" || s == "false" => json!(s == "true"),
            other => return Err(format!("expected a value, found {other:?}")),
        };
        self.pos += 1;
        Ok(v)
    }

    fn atom(&mut self) -> Result<Filter, String> {
        if self.toks.get(self.pos) == Some(&Tok::LParen) {
            self.pos += 1;
            let f = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err("expected `)`".into());
            }
            self.pos += 1;
            return Ok(f);
        }
        let Some(Tok::Ident(field)) = self.toks.get(self.pos).cloned() else {
            return Err("expected a field name".into());
        };
        self.pos += 1;
        let negated = self.peek_kw("NOT");
        if negated {
            self.pos += 1;
        }
        if self.peek_kw("IN") {
            self.pos += 1;
            if self.toks.get(self.pos) != Some(&Tok::LParen) {
                return Err("expected `(` after IN".into());
            }
            self.pos += 1;
            let mut values = vec![self.value()?];
            while self.toks.get(self.pos) == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.value()?);
            }
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err("expected `)` after IN values".into());
            }
            self.pos += 1;
            return Ok(Filter::In(field, negated, values));
        }
        if negated {
            return Err("expected IN after NOT".into());
        }
        let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() else {
            return Err(format!("expected an operator after `{field}`"));
        };
        self.pos += 1;
        Ok(Filter::Cmp(field, op, self.value()?))
    }
}

impl Filter {
    fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            toks: lex(s)?,
            pos: 0,
        };
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected token {:?}", p.toks[p.pos]));
        }
        Ok(f)
    }

    fn field<'a>(md: &'a Value, path: &str) -> Option<&'a Value> {
        path.split('.').try_fold(md, |v, k| v.get(k))
    }

    fn matches(&self, md: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(md) && b.matches(md),
            Filter::Or(a, b) => a.matches(md) || b.matches(md),
            Filter::In(f, neg, values) => {
                let found = Self::field(md, f).is_some_and(|v| values.iter().any(|x| eq(v, x)));
                found != *neg
            }
            Filter::Cmp(f, op, x) => {
                let Some(v) = Self::field(md, f) else {
                    return false;
                };
                match op.as_str() {
                    "=" => eq(v, x),
                    "!=" => !eq(v, x),
                    _ => {
                        let ord = match (v.as_f64(), x.as_f64()) {
                            (Some(a), Some(b)) => a.partial_cmp(&b),
                            _ => match (v.as_str(), x.as_str()) {
                                (Some(a), Some(b)) => Some(a.cmp(b)),
                                _ => None,
                            },
                        };
                        ord.is_some_and(|o| match op.as_str() {
                            "<" => o.is_lt(),
                            "<=" => o.is_le(),
                            ">" => o.is_gt(),
                            ">=" => o.is_ge(),
                            _ => false,
                        })
                    }
                }
            }
        }
    }
}

fn eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl FakeUpstashVector {
    /// Starts a hybrid index of `dims` dimensions on a free port; only `token` is accepted.
    pub async fn start(token: &str, dims: usize) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let ctx = Ctx {
            token: token.to_string(),
            dims,
            inner: inner.clone(),
        };
        let app = Router::new()
            .route("/{op}", post(root_op).get(root_op))
            .route("/{op}/{ns}", post(ns_op))
            .with_state(ctx);
        Ok(Self {
            url: serve(app).await?,
            inner,
        })
    }

    /// `(path, body)` of every authorized request, in order.
    pub fn requests(&self) -> Vec<(String, Value)> {
        lock(&self.inner).requests.clone()
    }

    /// The ids stored in `namespace`, sorted.
    pub fn ids(&self, namespace: &str) -> Vec<String> {
        lock(&self.inner)
            .namespaces
            .get(namespace)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The metadata stored for `id` in `namespace`.
    pub fn metadata(&self, namespace: &str, id: &str) -> Option<Value> {
        lock(&self.inner)
            .namespaces
            .get(namespace)
            .and_then(|s| s.get(id))
            .and_then(|s| s.metadata.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        let md = json!({"app": "a", "visibility": "public", "version": 3, "x": {"y": "z"}});
        let ok = |f: &str| Filter::parse(f).map(|p| p.matches(&md));
        assert_eq!(ok("visibility = 'public'"), Ok(true));
        assert_eq!(ok("visibility != \"public\""), Ok(false));
        assert_eq!(ok("version >= 3 AND app = 'a'"), Ok(true));
        assert_eq!(ok("version < 3 OR x.y = 'z'"), Ok(true));
        assert_eq!(ok("app IN ('b', 'c')"), Ok(false));
        assert_eq!(ok("app NOT IN ('b', 'c')"), Ok(true));
        assert_eq!(ok("(app = 'b' OR app = 'a') AND version = 3"), Ok(true));
        assert!(Filter::parse("visibility = ").is_err());
        assert!(Filter::parse("visibility == 'x'").is_err());
        assert!(Filter::parse("'x' = visibility").is_err());
    }
}
