//! Athena's column types (Hive DDL types as Athena reads them) and Glue's names:
//! what `validate` accepts, so a table never fails at its first query.

/// Why `t` is not a type Athena reads, or `None` when it is one.
pub fn check_type(t: &str) -> Option<String> {
    let mut p = Parser { s: t.trim(), i: 0 };
    match p.ty() {
        Err(e) => Some(e),
        Ok(()) if p.i < p.s.len() => Some(format!("unexpected `{}`", &p.s[p.i..])),
        Ok(()) => None,
    }
}

const PRIMITIVES: &[&str] = &[
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "integer",
    "bigint",
    "float",
    "double",
    "string",
    "binary",
    "date",
    "timestamp",
];

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn skip_ws(&mut self) {
        while self.rest().starts_with(' ') {
            self.i += 1;
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let n = self
            .rest()
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let w = self.rest()[..n].to_owned();
        self.i += n;
        w
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`"))
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        let w = self.word();
        w.parse()
            .map_err(|_| format!("expected a number, found `{w}`"))
    }

    fn ty(&mut self) -> Result<(), String> {
        let w = self.word();
        let lower = w.to_ascii_lowercase();
        if w != lower {
            return Err(format!("write types in lower case: `{lower}`"));
        }
        match lower.as_str() {
            p if PRIMITIVES.contains(&p) => Ok(()),
            "decimal" => {
                if self.eat('(') {
                    let precision = self.number()?;
                    if !(1..=38).contains(&precision) {
                        return Err("decimal precision is 1 to 38".into());
                    }
                    if self.eat(',') {
                        let scale = self.number()?;
                        if scale > precision {
                            return Err("a decimal's scale cannot exceed its precision".into());
                        }
                    }
                    self.expect(')')?;
                }
                Ok(())
            }
            "char" | "varchar" => {
                self.expect('(')?;
                let n = self.number()?;
                let max = if lower == "char" { 255 } else { 65535 };
                if !(1..=max).contains(&n) {
                    return Err(format!("{lower} length is 1 to {max}"));
                }
                self.expect(')')
            }
            "array" => {
                self.expect('<')?;
                self.ty()?;
                self.expect('>')
            }
            "map" => {
                self.expect('<')?;
                self.ty()?;
                self.expect(',')?;
                self.ty()?;
                self.expect('>')
            }
            "struct" => {
                self.expect('<')?;
                loop {
                    let field = self.word();
                    if field.is_empty() {
                        return Err("a struct field needs a name".into());
                    }
                    self.expect(':')?;
                    self.ty()?;
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect('>')
            }
            "" => Err("a type is missing".into()),
            other => Err(format!("`{other}` is not an Athena type")),
        }
    }
}

/// Glue's database, table and column names as Athena can use them.
pub fn name_problem(n: &str) -> Option<&'static str> {
    if n.is_empty() || n.len() > 255 {
        return Some("1 to 255 characters");
    }
    if !n
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Some(
            "lower-case letters, digits and `_` only (Glue lower-cases names, and Athena cannot use `-`)",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_types_are_told_from_typos() {
        for ok in [
            "string",
            "bigint",
            "timestamp",
            "decimal(10,2)",
            "decimal",
            "varchar(20)",
            "array<string>",
            "map<string,array<int>>",
            "struct<a:int, b:struct<c:string>>",
        ] {
            assert_eq!(check_type(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("strng", "not an Athena type"),
            ("String", "lower case"),
            ("decimal(40,2)", "precision"),
            ("decimal(5,6)", "scale"),
            ("varchar", "expected `(`"),
            ("array<string", "expected `>`"),
            ("map<string>", "expected `,`"),
            ("struct<:int>", "needs a name"),
            ("int extra", "unexpected"),
            ("", "missing"),
        ] {
            let got = check_type(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }

    #[test]
    fn glue_names_are_lower_case_words() {
        assert_eq!(name_problem("lab_backups"), None);
        assert!(name_problem("Lab").is_some());
        assert!(name_problem("lab-backups").is_some());
        assert!(name_problem("").is_some());
        assert!(name_problem(&"a".repeat(256)).is_some());
    }
}
