//! Just enough of the Kubernetes protobuf encoding to accept the request bodies that
//! client-go's typed clients send as `application/vnd.kubernetes.protobuf` (helm stores
//! releases in Secrets through one): Secret, ConfigMap and DeleteOptions. Responses are
//! always JSON, which client-go accepts.

use base64::Engine;
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\x00";

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i)?;
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn next(&mut self) -> Option<Result<(u64, Field<'a>), ()>> {
        if self.i >= self.b.len() {
            return None;
        }
        let Some(key) = self.varint() else {
            return Some(Err(()));
        };
        let field = match key & 7 {
            0 => match self.varint() {
                Some(v) => Field::Varint(v),
                None => return Some(Err(())),
            },
            2 => {
                let Some(len) = self.varint() else {
                    return Some(Err(()));
                };
                let end = self.i.saturating_add(len as usize);
                if end > self.b.len() {
                    return Some(Err(()));
                }
                let s = &self.b[self.i..end];
                self.i = end;
                Field::Bytes(s)
            }
            1 => {
                self.i += 8;
                Field::Varint(0)
            }
            5 => {
                self.i += 4;
                Field::Varint(0)
            }
            _ => return Some(Err(())),
        };
        Some(Ok((key >> 3, field)))
    }
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut r = Reader::new(b);
    let mut out = vec![];
    while let Some(f) = r.next() {
        out.push(f.map_err(|_| "malformed protobuf".to_string())?);
    }
    Ok(out)
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn map_entry(b: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut k = String::new();
    let mut v = vec![];
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x),
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, String> {
    let mut secs = 0i64;
    for (n, f) in fields(b)? {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
    }
    Ok(chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = vec![];
    let mut owners = vec![];
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)));
            }
            (2, Field::Bytes(x)) => {
                m.insert("generateName".into(), json!(string(x)));
            }
            (3, Field::Bytes(x)) => {
                m.insert("namespace".into(), json!(string(x)));
            }
            (5, Field::Bytes(x)) => {
                m.insert("uid".into(), json!(string(x)));
            }
            (6, Field::Bytes(x)) => {
                m.insert("resourceVersion".into(), json!(string(x)));
            }
            (8, Field::Bytes(x)) => {
                m.insert("creationTimestamp".into(), time(x)?);
            }
            (11, Field::Bytes(x)) => {
                let (k, v) = map_entry(x)?;
                labels.insert(k, json!(string(&v)));
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = map_entry(x)?;
                annotations.insert(k, json!(string(&v)));
            }
            (13, Field::Bytes(x)) => {
                let mut o = Map::new();
                for (n, f) in fields(x)? {
                    match (n, f) {
                        (1, Field::Bytes(y)) => {
                            o.insert("kind".into(), json!(string(y)));
                        }
                        (3, Field::Bytes(y)) => {
                            o.insert("name".into(), json!(string(y)));
                        }
                        (4, Field::Bytes(y)) => {
                            o.insert("uid".into(), json!(string(y)));
                        }
                        (5, Field::Bytes(y)) => {
                            o.insert("apiVersion".into(), json!(string(y)));
                        }
                        (6, Field::Varint(v)) => {
                            o.insert("controller".into(), json!(v != 0));
                        }
                        (7, Field::Varint(v)) => {
                            o.insert("blockOwnerDeletion".into(), json!(v != 0));
                        }
                        _ => {}
                    }
                }
                owners.push(Value::Object(o));
            }
            (14, Field::Bytes(x)) => finalizers.push(json!(string(x))),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    Ok(Value::Object(m))
}

/// Decodes a `k8s\0`-prefixed runtime.Unknown envelope into a JSON object.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let b = body
        .strip_prefix(MAGIC)
        .ok_or("protobuf body without the k8s envelope")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &b[..0]);
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => api_version = string(x),
                        (2, Field::Bytes(x)) => kind = string(x),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let b64 = |v: &[u8]| json!(base64::engine::general_purpose::STANDARD.encode(v));
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    match kind.as_str() {
        "Secret" | "ConfigMap" => {
            let mut data = Map::new();
            let mut other = Map::new();
            for (n, f) in fields(raw)? {
                match (kind.as_str(), n, f) {
                    (_, 1, Field::Bytes(x)) => obj["metadata"] = object_meta(x)?,
                    ("Secret", 2, Field::Bytes(x)) => {
                        let (k, v) = map_entry(x)?;
                        data.insert(k, b64(&v));
                    }
                    ("Secret", 3, Field::Bytes(x)) => obj["type"] = json!(string(x)),
                    ("Secret", 4, Field::Bytes(x)) => {
                        let (k, v) = map_entry(x)?;
                        other.insert(k, json!(string(&v)));
                    }
                    ("Secret", 5, Field::Varint(v)) | ("ConfigMap", 4, Field::Varint(v)) => {
                        obj["immutable"] = json!(v != 0)
                    }
                    ("ConfigMap", 2, Field::Bytes(x)) => {
                        let (k, v) = map_entry(x)?;
                        data.insert(k, json!(string(&v)));
                    }
                    ("ConfigMap", 3, Field::Bytes(x)) => {
                        let (k, v) = map_entry(x)?;
                        other.insert(k, b64(&v));
                    }
                    _ => {}
                }
            }
            if !data.is_empty() {
                obj["data"] = Value::Object(data);
            }
            if !other.is_empty() {
                let key = if kind == "Secret" {
                    "stringData"
                } else {
                    "binaryData"
                };
                obj[key] = Value::Object(other);
            }
            Ok(obj)
        }
        "DeleteOptions" => {
            let mut dry = vec![];
            for (n, f) in fields(raw)? {
                match (n, f) {
                    (1, Field::Varint(v)) => obj["gracePeriodSeconds"] = json!(v as i64),
                    (3, Field::Varint(v)) => obj["orphanDependents"] = json!(v != 0),
                    (4, Field::Bytes(x)) => obj["propagationPolicy"] = json!(string(x)),
                    (5, Field::Bytes(x)) => dry.push(json!(string(x))),
                    (2, Field::Bytes(x)) => {
                        let mut p = Map::new();
                        for (n, f) in fields(x)? {
                            match (n, f) {
                                (1, Field::Bytes(y)) => {
                                    p.insert("uid".into(), json!(string(y)));
                                }
                                (2, Field::Bytes(y)) => {
                                    p.insert("resourceVersion".into(), json!(string(y)));
                                }
                                _ => {}
                            }
                        }
                        obj["preconditions"] = Value::Object(p);
                    }
                    _ => {}
                }
            }
            if !dry.is_empty() {
                obj["dryRun"] = Value::Array(dry);
            }
            Ok(obj)
        }
        other => Err(format!(
            "kube-sim decodes protobuf only for Secret, ConfigMap and DeleteOptions, not {other}; send JSON"
        )),
    }
}
