//! What each mapping of lab.yaml may hold: its keys, their types, which are required and
//! what each means. The decoder reads its allowed and required keys from these tables,
//! and `labctl schema` turns the same tables into the editor's JSON Schema, so the two
//! cannot drift apart (a test mutates every field to a wrong type and checks both
//! refuse it).

/// The type of one value, as the decoder's getters read it.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// Any scalar (YAML's `5` or `true` is read as the text `5` or `true`).
    Str,
    Bool,
    Int,
    /// A scalar that must be one of these.
    OneOf(&'static [&'static str]),
    /// One string, or a list of them.
    Strings,
    /// `KEY: value` pairs of scalars (tags, environment variables).
    Pairs,
    /// A mapping with these keys.
    Obj(&'static [Field]),
    /// A mapping from names the user chooses to values of this type.
    Named(&'static Ty),
    List(&'static Ty),
    /// This type, or nothing (`name:` alone).
    OrNull(&'static Ty),
    /// A scalar, or this type (a query's file alone, or its full form).
    ScalarOr(&'static Ty),
    /// Passed on as written (an IAM condition block).
    Any,
}

/// One key of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub doc: &'static str,
    /// A typical value, shown by editors (and used where `x` would not do).
    pub example: Option<&'static str>,
}

impl Field {
    pub const fn opt(key: &'static str, ty: Ty, doc: &'static str) -> Field {
        Field {
            key,
            ty,
            required: false,
            doc,
            example: None,
        }
    }

    pub const fn req(key: &'static str, ty: Ty, doc: &'static str) -> Field {
        Field {
            key,
            ty,
            required: true,
            doc,
            example: None,
        }
    }

    pub const fn eg(self, example: &'static str) -> Field {
        Field {
            example: Some(example),
            ..self
        }
    }
}

/// `tags:`, as every taggable resource takes it.
pub const TAGS: Field = Field::opt(
    "tags",
    Ty::Pairs,
    "Tags for this resource, `key: value`; the lab's own tags (labctl:*) are added.",
);
