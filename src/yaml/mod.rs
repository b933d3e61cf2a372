//! The lab file's syntax: a YAML document as a tree of nodes that remember where they
//! came from (`Node`), the toolkit kinds decode their sections with (`decode`), and the
//! diagnostics every problem becomes (`diag`). Knows no resource kind.
//!
//! serde-based loaders stop at the first type error; labctl wants every problem of a lab
//! file in one run, each with its line and column, so it builds this tree from
//! saphyr-parser's event stream and decodes it by hand.

pub mod decode;
pub mod diag;
pub mod schema;
pub mod shape;

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use diag::{Diagnostic, Pos};

const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar with whether it was written plain (unquoted): only plain scalars can be
    /// numbers, booleans or null.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys keep their own position, for "unknown key" errors.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, plain } => {
                if *plain && is_null_text(text) {
                    "nothing (null)"
                } else {
                    "a scalar"
                }
            }
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

fn is_null_text(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

/// Parses one YAML document. An empty file gives `Ok(None)`; syntax errors, aliases,
/// duplicate keys and non-scalar keys are diagnostics.
pub fn parse(src: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(src) {
        match item {
            Ok((event, span)) => {
                if let Err(d) = builder.event(event, span) {
                    return Err(vec![d]);
                }
            }
            Err(e) => {
                let m = e.marker();
                let at = Pos {
                    line: m.line(),
                    col: m.col() + 1,
                };
                // The parser reports a tab where the scalar before it ended: point at
                // the tab itself.
                if e.info().contains("tab")
                    && let Some(tab) = first_tab_from(src, at)
                {
                    return Err(vec![Diagnostic::new(
                        tab,
                        "a tab in the indentation: YAML indents with spaces only",
                        "replace the tab with spaces",
                    )]);
                }
                return Err(vec![Diagnostic::new(
                    at,
                    format!("YAML syntax error: {}", e.info()),
                    "fix the YAML syntax at this point (indentation, a missing ':' or a closing bracket or quote)",
                )]);
            }
        }
    }
    if builder.documents > 1 {
        return Err(vec![Diagnostic::new(
            builder.second_doc.unwrap_or_default(),
            "the file holds more than one YAML document",
            "keep one lab per file: remove the `---` separator and what follows it",
        )]);
    }
    let mut errors = builder.errors;
    let root = builder.root;
    if let Some(r) = &root {
        check_duplicates(r, &mut errors);
    }
    if errors.is_empty() {
        Ok(root)
    } else {
        Err(errors)
    }
}

/// The first tab at or after `from` (1-based line and column).
fn first_tab_from(src: &str, from: Pos) -> Option<Pos> {
    src.lines()
        .enumerate()
        .skip(from.line.saturating_sub(1))
        .find_map(|(i, l)| {
            let skip = if i + 1 == from.line {
                from.col.saturating_sub(1)
            } else {
                0
            };
            l.chars()
                .enumerate()
                .skip(skip)
                .find(|(_, c)| *c == '\t')
                .map(|(j, _)| Pos {
                    line: i + 1,
                    col: j + 1,
                })
        })
}

fn check_duplicates(node: &Node, errors: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Map(entries) => {
            let mut seen: HashMap<&str, Pos> = HashMap::new();
            for (k, v) in entries {
                if let Some(first) = seen.get(k.name.as_str()) {
                    errors.push(Diagnostic::new(
                        k.pos,
                        format!("duplicate key `{}` (first set on line {})", k.name, first.line),
                        "remove one of the two; YAML keeps only one and labctl will not guess which",
                    ));
                } else {
                    seen.insert(&k.name, k.pos);
                }
                check_duplicates(v, errors);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| check_duplicates(i, errors)),
        Value::Scalar { .. } => {}
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Key, Node)>, Option<Key>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    second_doc: Option<Pos>,
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_doc = Some(pos(&span));
                }
            }
            Event::Alias(_) => {
                return Err(Diagnostic::new(
                    pos(&span),
                    "YAML aliases (`*name`) are not supported in lab files",
                    "write the value out in full",
                ));
            }
            Event::Scalar(text, style, _, _) => {
                let node = Node {
                    pos: pos(&span),
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                };
                self.push(node)?;
            }
            Event::SequenceStart(..) => {
                self.deeper(&span)?;
                self.stack.push(Frame::Seq(pos(&span), Vec::new()));
            }
            Event::MappingStart(..) => {
                self.deeper(&span)?;
                self.stack.push(Frame::Map(pos(&span), Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(p, items)) => Node {
                        pos: p,
                        value: Value::Seq(items),
                    },
                    Some(Frame::Map(p, entries, _)) => Node {
                        pos: p,
                        value: Value::Map(entries),
                    },
                    None => return Ok(()),
                };
                self.push(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// A lab file is a few levels deep; a limit keeps hostile input from exhausting the
    /// stack of the recursive passes that follow.
    fn deeper(&self, span: &Span) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::new(
                pos(span),
                format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
                "a lab file needs a handful of levels: check for runaway brackets",
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), Diagnostic> {
        match self.stack.last_mut() {
            None => {
                if self.documents <= 1 {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => match node.value {
                    Value::Scalar { text, .. } => {
                        *pending = Some(Key {
                            pos: node.pos,
                            name: text,
                        })
                    }
                    _ => {
                        return Err(Diagnostic::new(
                            node.pos,
                            "a mapping key must be a plain name, not a list or a mapping",
                            "check the indentation: a nested block may have lost its key",
                        ));
                    }
                },
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let root = parse("lab: x\nbuckets:\n  a:\n    name: y\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = &root.value else {
            panic!()
        };
        assert_eq!(entries[1].0.pos, Pos { line: 2, col: 1 });
        let Value::Map(b) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(b[0].0.pos, Pos { line: 3, col: 3 });
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let errs = parse("lab: x\nregion: a\nlab: y\n").unwrap_err();
        assert_eq!(errs[0].pos.line, 3);
        assert!(errs[0].message.contains("line 1"));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let errs = parse("lab: x\nregion: [us-east-1\n").unwrap_err();
        assert!(errs[0].message.contains("syntax"));
        assert!(errs[0].pos.line >= 2);
    }

    #[test]
    fn a_tab_is_reported_where_it_is() {
        let errs = parse("lab: x\nbuckets:\n  a:\n    name: y\n\tregion: z\n").unwrap_err();
        assert_eq!(errs[0].pos, Pos { line: 5, col: 1 }, "{errs:?}");
        assert!(errs[0].message.contains("tab"));
    }

    #[test]
    fn empty_document_is_none() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# only a comment\n").unwrap().is_none());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        for depth in [40, 100_000] {
            let deep = format!("lab: {}{}", "[".repeat(depth), "]".repeat(depth));
            let errs = parse(&deep).unwrap_err();
            assert!(
                errs[0].message.contains("nested") || errs[0].message.contains("recursion limit"),
                "{errs:?}"
            );
        }
    }

    #[test]
    fn aliases_are_refused() {
        let errs = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert_eq!(errs[0].pos.line, 2);
    }
}
