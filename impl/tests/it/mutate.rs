//! Mutations for the fuzz targets and property tests: byte edits of any input, and structured
//! edits of JSON (one node replaced by an extreme number, another type, or removed). Shared by
//! `impl/tests/it/fuzz.rs` and `conformance/tests/it/fuzz.rs` (which includes this file by path).

#![allow(dead_code)]

use serde_json::Value;

/// Apply byte edits `(position, op, value)` to `bytes`: overwrite, insert, delete, or cut.
pub fn bytes(mut bytes: Vec<u8>, edits: &[(u32, u8, u8)]) -> Vec<u8> {
    for &(pos, op, value) in edits {
        let at = if bytes.is_empty() {
            0
        } else {
            pos as usize % (bytes.len() + 1)
        };
        match op % 4 {
            0 if at < bytes.len() => bytes[at] = value,
            1 => bytes.insert(at, value),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            3 => bytes.truncate(at),
            _ => {}
        }
    }
    bytes
}

/// Values worth trying where a number was: edges of the integer types and of the model's
/// bounds.
pub const EXTREMES: &[i128] = &[
    -1,
    0,
    1,
    2,
    7,
    8,
    9,
    20,
    21,
    60,
    61,
    64,
    65,
    254,
    255,
    256,
    65_535,
    65_536,
    u32::MAX as i128,
    1 << 32,
    i64::MAX as i128,
    u64::MAX as i128,
];

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The pre-order indices of the lists and objects in `v` (0, `v` itself, if it is one).
fn containers(v: &Value) -> Vec<usize> {
    fn walk(v: &Value, at: &mut usize, out: &mut Vec<usize>) {
        let here = *at;
        *at += 1;
        match v {
            Value::Array(a) => {
                out.push(here);
                a.iter().for_each(|c| walk(c, at, out));
            }
            Value::Object(o) => {
                out.push(here);
                o.values().for_each(|c| walk(c, at, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut 0, &mut out);
    if out.is_empty() {
        out.push(0);
    }
    out
}

/// The node at pre-order index `i` (0 is `v` itself).
fn node(v: &mut Value, mut i: usize) -> Option<&mut Value> {
    if i == 0 {
        return Some(v);
    }
    i -= 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Object(o) => o.values_mut().collect(),
        _ => return None,
    };
    for c in children {
        let n = count(c);
        if i < n {
            return node(c, i);
        }
        i -= n;
    }
    None
}

/// Apply structured edits `(node, op, value)` to a JSON value: the node is picked by its
/// pre-order index (modulo the count), then replaced by an extreme number, a negated or float
/// number, a string, `null`, `true`, an empty array or object, or a copy of another node; or
/// an array's first element is dropped or doubled; or an object's first key removed.
pub fn json(mut v: Value, edits: &[(u32, u8, u32)]) -> Value {
    for &(at, op, value) in edits {
        let n = count(&v);
        let other = node(&mut v.clone(), value as usize % n).map(|x| x.clone());
        // Edits of a list or an object pick among lists and objects, the others among all
        // nodes: a document has few containers and many leaves.
        let index = if op % 12 >= 9 {
            let containers = containers(&v);
            containers[at as usize % containers.len()]
        } else {
            at as usize % n
        };
        let Some(target) = node(&mut v, index) else {
            continue;
        };
        match op % 12 {
            0 => {
                let x = EXTREMES[value as usize % EXTREMES.len()];
                *target = serde_json::from_str(&x.to_string()).unwrap();
            }
            1 => *target = Value::from(value),
            2 => *target = Value::from(value as f64 + 0.5),
            3 => *target = Value::from(format!("k{value}")),
            4 => *target = Value::Null,
            5 => *target = Value::Bool(value % 2 == 0),
            6 => *target = Value::Array(Vec::new()),
            7 => *target = Value::Object(Default::default()),
            8 => {
                if let Some(o) = other {
                    *target = o;
                }
            }
            9 => {
                if let Value::Array(a) = target {
                    if !a.is_empty() {
                        a.remove(0);
                    }
                }
            }
            10 => {
                if let Value::Array(a) = target {
                    if let Some(first) = a.first().cloned() {
                        for _ in 0..(value % 40) {
                            a.push(first.clone());
                        }
                    }
                }
            }
            _ => {
                if let Value::Object(o) = target {
                    if let Some(k) = o.keys().nth(value as usize % o.len().max(1)).cloned() {
                        o.remove(&k);
                    }
                }
            }
        }
    }
    v
}
