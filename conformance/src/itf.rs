//! Traces in the Informal Trace Format (ITF), the JSON trace format Apalache and Quint read
//! and write (<https://apalache-mc.org/docs/adr/015adr-trace.html>).
//!
//! A trace is `{"#meta": {...}, "vars": [...], "states": [...]}`; each state is a record of
//! the model's [`State`] fields plus `"#meta": {"index": i, "action": ...}`. Values are encoded
//! per ITF: integers `{"#bigint": "N"}`, structs records (objects), sequences arrays, tuples
//! `{"#tup": [...]}`, maps `{"#map": [[k, v], ...]}`, booleans and strings as themselves.
//! Enums and `Option` are encoded as Quint encodes sum types: `{"tag": "Name", "value": v}`,
//! with `{"#tup": []}` as the value of a variant that carries none (`None`, `Running`).

use crate::trace::Trace;
use serde::ser::{self, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// The ITF file written beside a native trace: `x.trace.json` -> `x.itf.json`.
pub fn path_beside(trace_path: &Path) -> PathBuf {
    let name = trace_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".trace.json")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(&name);
    trace_path.with_file_name(format!("{stem}.itf.json"))
}

/// The ITF document of a trace: every state from the initial one, replayed on the model.
pub fn document(t: &Trace) -> Result<Value, String> {
    let states = t.states()?;
    let mut vars = Vec::new();
    let mut out = Vec::new();
    for (i, s) in states.iter().enumerate() {
        let Value::Object(mut rec) = to_value(s) else {
            unreachable!("a State is a struct, so a record")
        };
        if i == 0 {
            vars = rec.keys().cloned().collect();
        }
        let action = match i {
            0 => "init".to_string(),
            _ => format!("{:?}", t.actions[i - 1]),
        };
        rec.insert("#meta".into(), json!({"index": i, "action": action}));
        out.push(Value::Object(rec));
    }
    Ok(json!({
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": "warmcheck",
            "description": format!(
                "{} of \"{}\" in design `{}` within {}; native trace format {}",
                if t.property.is_some() { "counterexample" } else { "behaviour" },
                t.property.as_deref().unwrap_or("?"),
                t.design,
                t.bounds,
                t.format
            ),
            "design": t.design.to_string(),
            "property": t.property,
        },
        "vars": vars,
        "states": out,
    }))
}

/// Write the ITF document of `t` to `path`.
pub fn save(t: &Trace, path: &Path) -> Result<(), String> {
    let doc = document(t).map_err(|e| format!("{}: cannot write ITF: {e}", path.display()))?;
    let text = serde_json::to_string_pretty(&doc).expect("ITF serialises");
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// Any serialisable value as an ITF value.
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Value {
    v.serialize(Itf)
        .expect("every model value has an ITF encoding")
}

fn bigint(s: impl fmt::Display) -> Value {
    json!({ "#bigint": s.to_string() })
}

fn unit() -> Value {
    json!({ "#tup": [] })
}

fn tagged(tag: &str, value: Value) -> Value {
    json!({ "tag": tag, "value": value })
}

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// A serde serializer that builds ITF values.
struct Itf;

/// Collects the elements of a sequence or tuple.
struct Seq {
    items: Vec<Value>,
    tuple: bool,
    tag: Option<&'static str>,
}

/// Collects the fields of a struct (a record).
struct Rec {
    fields: Map<String, Value>,
    tag: Option<&'static str>,
}

/// Collects the pairs of a map.
struct MapSer {
    pairs: Vec<Value>,
    key: Option<Value>,
}

macro_rules! ints {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<Value, Error> { Ok(bigint(v)) })*
    };
}

impl ser::Serializer for Itf {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = MapSer;
    type SerializeStruct = Rec;
    type SerializeStructVariant = Rec;

    ints!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
          serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
          serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_f32(self, _: f32) -> Result<Value, Error> {
        Err(Error("ITF has no floating-point numbers".into()))
    }
    fn serialize_f64(self, _: f64) -> Result<Value, Error> {
        Err(Error("ITF has no floating-point numbers".into()))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Array(v.iter().map(bigint).collect()))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(tagged("None", unit()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, Error> {
        Ok(tagged("Some", v.serialize(Itf)?))
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(unit())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, Error> {
        Ok(unit())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<Value, Error> {
        Ok(tagged(v, unit()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, Error> {
        v.serialize(Itf)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, Error> {
        Ok(tagged(variant, v.serialize(Itf)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len.unwrap_or(0)),
            tuple: false,
            tag: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len),
            tuple: true,
            tag: None,
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, Error> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len),
            tuple: true,
            tag: Some(variant),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapSer, Error> {
        Ok(MapSer {
            pairs: Vec::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Rec, Error> {
        Ok(Rec {
            fields: Map::new(),
            tag: None,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Rec, Error> {
        Ok(Rec {
            fields: Map::new(),
            tag: Some(variant),
        })
    }
}

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.items.push(v.serialize(Itf)?);
        Ok(())
    }
    fn done(self) -> Result<Value, Error> {
        let v = if self.tuple {
            json!({ "#tup": self.items })
        } else {
            Value::Array(self.items)
        };
        Ok(match self.tag {
            Some(t) => tagged(t, v),
            None => v,
        })
    }
}

/// serde's four sequence and tuple traits are one shape here: push each element, then wrap.
macro_rules! seq_like {
    ($($tr:ident :: $element:ident),*) => {$(
        impl ser::$tr for Seq {
            type Ok = Value;
            type Error = Error;
            fn $element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                self.push(v)
            }
            fn end(self) -> Result<Value, Error> {
                self.done()
            }
        }
    )*};
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.key = Some(k.serialize(Itf)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let k = self
            .key
            .take()
            .ok_or_else(|| Error("map value without a key".into()))?;
        self.pairs.push(Value::Array(vec![k, v.serialize(Itf)?]));
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(json!({ "#map": self.pairs }))
    }
}

impl Rec {
    fn field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), Error> {
        self.fields.insert(k.to_string(), v.serialize(Itf)?);
        Ok(())
    }
    fn done(self) -> Result<Value, Error> {
        let v = Value::Object(self.fields);
        Ok(match self.tag {
            Some(t) => tagged(t, v),
            None => v,
        })
    }
}

/// serde's two struct traits are one shape here: insert each field, then wrap.
macro_rules! record_like {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Rec {
            type Ok = Value;
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                k: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                self.field(k, v)
            }
            fn end(self) -> Result<Value, Error> {
                self.done()
            }
        }
    )*};
}

record_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn values_are_encoded_as_itf_says() {
        assert_eq!(to_value(&7u8), json!({"#bigint": "7"}));
        assert_eq!(
            to_value(&(1u8, true)),
            json!({"#tup": [{"#bigint": "1"}, true]})
        );
        assert_eq!(to_value(&vec![1u8]), json!([{"#bigint": "1"}]));
        assert_eq!(
            to_value(&None::<u8>),
            json!({"tag": "None", "value": {"#tup": []}})
        );
        let m: BTreeMap<u8, bool> = [(2, false)].into();
        assert_eq!(to_value(&m), json!({"#map": [[{"#bigint": "2"}, false]]}));
        let e = warmcheck_model::Node::Warming(warmcheck_model::Phase::Initialize);
        assert_eq!(
            to_value(&e),
            json!({"tag": "Warming", "value": {"tag": "Initialize", "value": {"#tup": []}}})
        );
    }

    #[test]
    fn path_beside_replaces_the_trace_suffix() {
        assert_eq!(
            path_beside(Path::new("d/current-x.trace.json")),
            PathBuf::from("d/current-x.itf.json")
        );
    }
}
