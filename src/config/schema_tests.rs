//! The editor's schema and the decoder come from one set of shape tables; these tests
//! prove they agree: every field given a value of the wrong type, and every mapping
//! given an unknown key, is refused by both, at the line it was written.

use std::fmt::Write;
use std::path::Path;

use crate::yaml::schema::to_json;
use crate::yaml::shape::{Field, Ty};

/// A YAML value to write out; `Bad` is the one mutation of a case.
#[derive(Clone)]
enum Y {
    Scalar(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Bad(String),
}

const MARK: &str = "# <- wrong";

fn emit(y: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Map(entries) => {
            for (k, v) in entries {
                match v {
                    Y::Map(e) if !e.is_empty() => {
                        let _ = writeln!(out, "{pad}{k}:");
                        emit(v, indent + 2, out);
                    }
                    Y::Seq(_) => {
                        let _ = writeln!(out, "{pad}{k}:");
                        emit(v, indent + 2, out);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{k}: {}", inline(v));
                    }
                }
            }
        }
        Y::Seq(items) => {
            for i in items {
                match i {
                    Y::Map(e) if !e.is_empty() => {
                        // `- ` then the mapping's keys, all at the dash's indent + 2.
                        let mut inner = String::new();
                        emit(i, indent + 2, &mut inner);
                        let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", inline(i));
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{pad}{}", inline(y));
        }
    }
}

fn inline(y: &Y) -> String {
    match y {
        Y::Scalar(s) => s.clone(),
        Y::Bad(s) => format!("{s} {MARK}"),
        Y::Map(_) => "{}".into(),
        Y::Seq(_) => "[]".into(),
    }
}

/// The least valid-shaped value of a type.
fn minimal(t: &Ty) -> Y {
    match t {
        Ty::Str => Y::Scalar("x".into()),
        Ty::Bool => Y::Scalar("true".into()),
        Ty::Int => Y::Scalar("1".into()),
        Ty::OneOf(v) => Y::Scalar(v[0].into()),
        Ty::Strings => Y::Scalar("x".into()),
        Ty::Pairs | Ty::Any => Y::Map(Vec::new()),
        Ty::Obj(fields) => object(fields),
        Ty::Named(inner) => Y::Map(vec![("n1".into(), minimal(inner))]),
        Ty::List(inner) => Y::Seq(vec![minimal(inner)]),
        Ty::OrNull(inner) | Ty::ScalarOr(inner) => minimal(inner),
    }
}

fn field_value(f: &Field) -> Y {
    match f.example {
        Some(e) => Y::Scalar(e.into()),
        None => minimal(&f.ty),
    }
}

fn object(fields: &[Field]) -> Y {
    Y::Map(
        fields
            .iter()
            .filter(|f| f.required)
            .map(|f| (f.key.to_owned(), field_value(f)))
            .collect(),
    )
}

/// A value the decoder must refuse where `t` is expected.
fn wrong(t: &Ty) -> Option<&'static str> {
    Some(match t {
        Ty::Str => "[a, b]",
        Ty::Bool => "maybe",
        Ty::Int => "ten",
        Ty::OneOf(_) => "zz-none-of-these",
        Ty::Strings | Ty::List(_) => "{a: b}",
        Ty::Pairs | Ty::Obj(_) | Ty::Named(_) | Ty::ScalarOr(_) => "[a]",
        Ty::OrNull(inner) => return wrong(inner),
        Ty::Any => return None,
    })
}

/// Every minimal value of `t` with exactly one mutation somewhere inside, and the path
/// to it.
fn cases(t: &Ty, path: &str) -> Vec<(String, Y)> {
    match t {
        Ty::Obj(fields) => {
            let mut out = Vec::new();
            let base = object(fields);
            let with = |key: &str, v: Y| {
                let Y::Map(mut entries) = base.clone() else {
                    unreachable!()
                };
                match entries.iter_mut().find(|(k, _)| k == key) {
                    Some(e) => e.1 = v,
                    None => entries.push((key.to_owned(), v)),
                }
                Y::Map(entries)
            };
            out.push((
                format!("{path}.zz_unknown"),
                with("zz_unknown", Y::Bad("1".into())),
            ));
            for f in fields.iter() {
                let here = format!("{path}.{}", f.key);
                if let Some(w) = wrong(&f.ty) {
                    out.push((here.clone(), with(f.key, Y::Bad(w.into()))));
                }
                for (p, v) in cases(&f.ty, &here) {
                    out.push((p, with(f.key, v)));
                }
            }
            out
        }
        Ty::Named(inner) => cases(inner, &format!("{path}.n1"))
            .into_iter()
            .map(|(p, v)| (p, Y::Map(vec![("n1".into(), v)])))
            .collect(),
        Ty::List(inner) => cases(inner, &format!("{path}[0]"))
            .into_iter()
            .map(|(p, v)| (p, Y::Seq(vec![v])))
            .collect(),
        Ty::OrNull(inner) | Ty::ScalarOr(inner) => cases(inner, path),
        _ => Vec::new(),
    }
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&super::schema()).unwrap()
}

fn schema_accepts(v: &jsonschema::Validator, src: &str) -> Result<(), String> {
    let root = crate::yaml::parse(src).unwrap().unwrap();
    let errors: Vec<String> = v
        .iter_errors(&to_json(&root))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn every_wrong_key_or_type_is_refused_by_the_decoder_and_the_schema_alike() {
    let top = Ty::Obj(Box::leak(super::top_level().into_boxed_slice()));
    let all = cases(&top, "");
    assert!(all.len() > 150, "only {} cases", all.len());
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (path, doc) in &all {
        let mut src = String::new();
        emit(doc, 0, &mut src);
        let line = src
            .lines()
            .position(|l| l.ends_with(MARK))
            .map(|i| i + 1)
            .unwrap();
        let decoder = match super::parse_str("lab.yaml", &src, dir.path()) {
            Ok(_) => Vec::new(),
            Err(d) => d.items.into_iter().map(|d| d.pos.line).collect(),
        };
        if !decoder.contains(&line) {
            failures.push(format!(
                "{path}: the decoder found nothing at line {line}:\n{src}"
            ));
        }
        if schema_accepts(&v, &src).is_ok() {
            failures.push(format!("{path}: the schema accepts it:\n{src}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn the_shipped_labs_and_every_template_match_the_schema() {
    let v = validator();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["lab.yaml", "lab.academy.yaml"] {
        let src = std::fs::read_to_string(root.join(file)).unwrap();
        assert_eq!(schema_accepts(&v, &src), Ok(()), "{file}");
    }
    for t in [
        crate::init::Template::Course,
        crate::init::Template::Academy,
        crate::init::Template::Minimal,
    ] {
        for (name, text) in crate::init::files(t) {
            if name.ends_with(".yaml") {
                assert_eq!(schema_accepts(&v, &text), Ok(()), "{t:?} {name}");
            }
        }
    }
}

#[test]
fn yaml_scalars_are_typed_as_an_editor_types_them() {
    let root = crate::yaml::parse("a: 12\nb: '12'\nc: true\nd: ~\ne: 1.5\nf: x1\ng: 0x1F\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&root),
        serde_json::json!({"a": 12, "b": "12", "c": true, "d": null, "e": 1.5, "f": "x1", "g": 31})
    );
}
