//! `report.json`'s JSON Schema, derived from the record types (schemars), so the types and the
//! schema cannot drift apart. The committed `src/report/report.schema.json` is this output, for
//! users; `tests/reports.rs` fails when they differ (`ETCD_DRILL_WRITE_SCHEMA=1` rewrites it).
//!
//! Two naming rules of the report become constraints here: a field named `*_at` is a UTC time
//! (RFC 3339, `Z`), and a field named `sha256` or `*_sha256` is a lowercase hex SHA-256. Every
//! object is closed: a field added to the report appears in the schema by construction.

use super::{RunReport, SCHEMA_VERSION};
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

const UTC: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$";
const SHA256: &str = "^[0-9a-f]{64}$";

/// The schema of `report.json` at this `SCHEMA_VERSION`.
pub fn schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut v = generator.into_root_schema_for::<RunReport>().to_value();
    v["$id"] = json!(format!("urn:etcd-drill:report:{SCHEMA_VERSION}"));
    v["title"] = json!(format!(
        "etcd-drill run report (report.json), schema version {SCHEMA_VERSION}"
    ));
    v["description"] = json!(
        "The evidence of one drill. Times are RFC 3339 UTC; *_ms fields are milliseconds \
         since the run started, or durations. null means not measured. Every object is \
         closed (additionalProperties false). Derived from etcd-drill's record types; a \
         change in meaning bumps schema_version."
    );
    v["properties"]["schema_version"] = json!({ "const": SCHEMA_VERSION });
    constrain(&mut v);
    v
}

/// Closes every object and applies the naming rules, everywhere in the schema.
fn constrain(v: &mut Value) {
    constrain_as(v, true)
}

/// Subschemas that combine into their parent object: a flattened enum's variants.
const COMBINED: [&str; 3] = ["oneOf", "anyOf", "allOf"];

/// `close`: this object stands alone. An object with a flattened enum (its own properties
/// and a `oneOf` of variants) is closed with `unevaluatedProperties`, which sees the
/// variant's properties too; its variants stay open, or each would refuse the parent's.
fn constrain_as(v: &mut Value, close: bool) {
    match v {
        Value::Object(o) => {
            let flattened =
                o.contains_key("properties") && COMBINED.iter().any(|k| o.contains_key(*k));
            if let Some(Value::Object(props)) = o.get_mut("properties") {
                for (name, p) in props.iter_mut() {
                    named(name, p);
                }
                if flattened {
                    o.entry("unevaluatedProperties").or_insert(json!(false));
                } else if close {
                    o.entry("additionalProperties").or_insert(json!(false));
                }
            }
            for (key, child) in o.iter_mut() {
                match child {
                    Value::Array(variants) if flattened && COMBINED.contains(&key.as_str()) => {
                        variants.iter_mut().for_each(|v| constrain_as(v, false))
                    }
                    child => constrain(child),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(constrain),
        _ => {}
    }
}

fn named(name: &str, p: &mut Value) {
    let Value::Object(p) = p else { return };
    let set = |p: &mut Map<String, Value>, key: &str, value: &str| {
        p.insert(key.into(), json!(value));
    };
    if name.ends_with("_at") {
        set(p, "format", "date-time");
        set(p, "pattern", UTC);
    } else if name == "sha256" || name.ends_with("_sha256") {
        set(p, "pattern", SHA256);
    }
}
