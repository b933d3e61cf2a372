//! Lambda's rules: runtimes, limits, code and handler, layers.

use std::collections::BTreeSet;

use super::{Function, Layer, LayerSource};
use crate::kind::Lab;
use crate::kind::role::Role;
use crate::model::Pos;
use crate::template::Vars;
use crate::yaml::diag::{Sink, did_you_mean};

/// Lambda runtimes that can be used to create or update functions today.
pub const RUNTIMES: &[&str] = &[
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java17",
    "java21",
    "java25",
    "dotnet8",
    "ruby3.3",
    "ruby3.4",
    "provided.al2023",
];
/// Runtimes Lambda has deprecated: creating or updating functions on them is blocked.
const DEPRECATED: &[&str] = &[
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "java8",
    "java8.al2",
    "java11",
    "dotnet6",
    "ruby2.7",
    "ruby3.2",
    "go1.x",
    "provided",
    "provided.al2",
];
const RESERVED_ENV: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_EXECUTION_ENV",
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

/// Every Lambda rule, and the one that ties functions to the role they run as.
pub(super) fn lambda(lab: &Lab, vars: &Vars, s: &mut Sink) {
    if let Some((name, f)) = lab.lambda.functions.iter().next() {
        match &lab.role {
            None => s.err(
                f.pos,
                format!("function `{name}` needs a role to run as, and the lab declares none"),
                "add `role:` (on AWS Academy: `role: { existing: LabRole }`)",
            ),
            Some(Role::Managed(r)) if !r.trust.iter().any(|t| t == "lambda.amazonaws.com") => s
                .err(
                    r.keys.at("trust", r.pos),
                    "the lab's functions run as this role, but it does not trust Lambda",
                    "add `lambda.amazonaws.com` to `trust`",
                ),
            _ => {}
        }
    }
    for (name, layer) in &lab.lambda.layers {
        self::layer(lab, name, layer, s);
    }
    for (name, f) in &lab.lambda.functions {
        function(lab, name, f, vars, s);
    }
}

fn layer(lab: &Lab, name: &str, l: &Layer, s: &mut Sink) {
    let at = |k: &str| l.keys.at(k, l.pos);
    let phys = lab.physical(name);
    if phys.len() > 140
        || !phys
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.err(
            l.pos,
            format!("layer name `{phys}` is not valid"),
            "layer names are up to 140 characters of a-z, A-Z, 0-9, '-' and '_'",
        );
    }
    if l.runtimes.is_empty() {
        s.err(
            at("runtimes"),
            format!("layer `{name}` lists no runtimes"),
            "add `runtimes: [python3.12]`: labctl builds the layer for them",
        );
    }
    for r in &l.runtimes {
        runtime_ok(r, at("runtimes"), s);
    }
    match &l.source {
        LayerSource::Requirements(reqs) => {
            if reqs.is_empty() {
                s.err(
                    l.pos,
                    format!("layer `{name}` has no requirements"),
                    "list packages, e.g. `[Pillow==11.1.0]`",
                );
            }
            for r in reqs {
                if r.trim().is_empty() || r.trim_start().starts_with('-') {
                    s.err(
                        at("requirements"),
                        format!("requirement `{r}` is not a package specification"),
                        "write `Package==1.2.3`; pip options are not accepted",
                    );
                }
            }
            let py: Vec<&String> = l
                .runtimes
                .iter()
                .filter(|r| r.starts_with("python"))
                .collect();
            if py.len() != l.runtimes.len() {
                s.err(at("runtimes"), format!("layer `{name}` is built from Python requirements but lists non-Python runtimes"), "list only python3.x runtimes");
            }
        }
        LayerSource::Zip(path) => match crate::package::inspect_layer_zip(path) {
            Err(e) => s.err(
                at("zip"),
                format!("layer zip {}: {e:#}", path.display()),
                "point `zip:` at a readable zip archive, relative to the lab file",
            ),
            Ok(info) => {
                for m in crate::package::extension_mismatches(&info, &l.runtimes, l.architecture) {
                    s.err(at("zip"), format!("layer `{name}`: {m}"), "rebuild the zip for the declared runtime and architecture, or use `requirements:` and let labctl build it");
                }
            }
        },
    }
}

fn runtime_ok(r: &str, pos: Pos, s: &mut Sink) -> bool {
    if RUNTIMES.contains(&r) {
        return true;
    }
    if DEPRECATED.contains(&r) {
        s.err(
            pos,
            format!(
                "runtime `{r}` is deprecated: Lambda blocks creating and updating functions on it"
            ),
            "use python3.13 (or another current runtime)",
        );
    } else {
        let help = match did_you_mean(r, RUNTIMES) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("use one of {}", RUNTIMES.join(", ")),
        };
        s.err(pos, format!("unknown runtime `{r}`"), help);
    }
    false
}

fn function(lab: &Lab, name: &str, f: &Function, vars: &Vars, s: &mut Sink) {
    let phys = lab.physical(name);
    if phys.len() > 64
        || !phys
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.err(f.pos, format!("function name `{phys}` (lab name + `-` + `{name}`) is not valid"), "Lambda function names are 1-64 characters of a-z, A-Z, 0-9, '-' and '_': shorten the name");
    }
    let at = |k: &str| f.keys.at(k, f.pos);
    let runtime_known = runtime_ok(&f.runtime, at("runtime"), s);
    if !(1..=900).contains(&f.timeout) {
        s.err(
            at("timeout"),
            format!("timeout {} is out of range", f.timeout),
            "Lambda timeouts are 1-900 seconds",
        );
    }
    if !(128..=10240).contains(&f.memory) {
        s.err(
            at("memory"),
            format!("memory {} MB is out of range", f.memory),
            "Lambda memory is 128-10240 MB",
        );
    }
    code(f, runtime_known, s);
    let mut env_size = 0;
    for (k, v) in &f.environment {
        let key_ok = k.len() >= 2
            && k.as_bytes()[0].is_ascii_alphabetic()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            s.err(
                at("environment"),
                format!("environment variable name `{k}` is not valid"),
                "names are a letter followed by letters, digits and '_' (at least 2 characters)",
            );
        }
        if RESERVED_ENV.contains(&k.as_str()) || k.starts_with("AWS_LAMBDA_") {
            s.err(
                at("environment"),
                format!("environment variable `{k}` is reserved by Lambda"),
                "choose another name; Lambda sets this one itself",
            );
        }
        match vars.expand(v, true) {
            Err(e) => s.err(
                at("environment"),
                format!("environment `{k}`: {e}"),
                "fix the placeholder",
            ),
            Ok(x) => env_size += k.len() + x.len(),
        }
    }
    if env_size > 4096 {
        s.err(
            at("environment"),
            format!("environment variables total {env_size} bytes; Lambda allows 4 KB"),
            "move large values to S3 or SSM Parameter Store",
        );
    }
    if f.layers.len() > 5 {
        s.err(
            at("layers"),
            format!("{} layers; Lambda allows 5 per function", f.layers.len()),
            "merge layers",
        );
    }
    let mut listed = BTreeSet::new();
    for l in &f.layers {
        if !listed.insert(l) {
            s.err(
                at("layers"),
                format!("layer `{l}` is listed twice"),
                "list each layer once",
            );
        }
        match lab.lambda.layers.get(l) {
            None => {
                let known: Vec<&str> = lab.lambda.layers.keys().map(String::as_str).collect();
                let help = did_you_mean(l, &known)
                    .map(|m| format!("did you mean `{m}`?"))
                    .unwrap_or_else(|| "declare it under `layers:`".into());
                s.err(
                    at("layers"),
                    format!("function `{name}` uses layer `{l}`, which is not declared"),
                    help,
                );
            }
            Some(layer) => {
                if layer.architecture != f.architecture {
                    s.err(at("layers"), format!("function `{name}` runs on {} but layer `{l}` is built for {}", f.architecture.as_str(), layer.architecture.as_str()), "set the same `architecture` on both: compiled packages such as Pillow only load on the one they were built for");
                }
                if !layer.runtimes.contains(&f.runtime) {
                    s.err(
                        at("layers"),
                        format!(
                            "function `{name}` runs {} but layer `{l}` is built for {}",
                            f.runtime,
                            layer.runtimes.join(", ")
                        ),
                        format!(
                            "add {} to the layer's runtimes or change the function's runtime",
                            f.runtime
                        ),
                    );
                }
            }
        }
    }
}

fn code(f: &Function, python: bool, s: &mut Sink) {
    let code_at = f.keys.at("code", f.pos);
    let handler_at = f.keys.at("handler", f.pos);
    if !f.code.is_dir() {
        let what = if f.code.exists() {
            "is a file, not a folder"
        } else {
            "does not exist"
        };
        s.err(
            code_at,
            format!("code folder {} {what}", f.code.display()),
            "point `code:` at the function's folder, relative to the lab file",
        );
        return;
    }
    // Custom runtimes hand the handler to the function's own bootstrap: any name does.
    if f.runtime.starts_with("provided") {
        if f.handler.is_empty()
            || f.handler.len() > 128
            || f.handler.chars().any(char::is_whitespace)
        {
            s.err(
                handler_at,
                format!("handler `{}` is not valid", f.handler),
                "write 1-128 characters without spaces, e.g. `bootstrap`",
            );
        }
        return;
    }
    let Some((module, func)) = f.handler.rsplit_once('.') else {
        s.err(
            handler_at,
            format!("handler `{}` is not `module.function`", f.handler),
            "write e.g. `app.handler` for `def handler(event, context)` in app.py",
        );
        return;
    };
    if f.handler.len() > 128
        || f.handler.chars().any(char::is_whitespace)
        || module.is_empty()
        || func.is_empty()
    {
        s.err(
            handler_at,
            format!("handler `{}` is not valid", f.handler),
            "write `module.function` (at most 128 characters, no spaces)",
        );
        return;
    }
    if python && f.runtime.starts_with("python") {
        let path = module.replace('.', "/");
        // A module is `app.py` or a package `app/__init__.py`.
        let file = [
            f.code.join(format!("{path}.py")),
            f.code.join(&path).join("__init__.py"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        let Some(file) = file else {
            s.err(
                handler_at,
                format!(
                    "handler `{}` needs {}, which is missing",
                    f.handler,
                    f.code.join(format!("{path}.py")).display()
                ),
                "create the module or fix `handler`",
            );
            return;
        };
        if let Ok(src) = std::fs::read_to_string(&file)
            && !defines(&src, func)
        {
            s.err(
                handler_at,
                format!("{} defines no function `{func}`", file.display()),
                format!("add `def {func}(event, context):` or fix `handler`"),
            );
        }
    }
    match crate::package::tree_size(&f.code) {
        Ok(size) if size > 250 * 1024 * 1024 => s.err(
            code_at,
            format!(
                "code folder holds {} MB; Lambda allows 250 MB unzipped (with layers)",
                size / (1024 * 1024)
            ),
            "move dependencies into a layer or trim the folder",
        ),
        _ => {}
    }
}

/// Whether module source makes `name` at top level: `def`/`async def`, an assignment,
/// or an import (`from impl import handler`, `import x as handler`).
fn defines(src: &str, name: &str) -> bool {
    let word = |rest: &str| {
        rest.strip_prefix(name)
            .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    };
    src.lines().any(|l| {
        if l.starts_with(char::is_whitespace) {
            return false;
        }
        let def = l
            .strip_prefix("def ")
            .or_else(|| l.strip_prefix("async def "))
            .is_some_and(|r| word(r) && r[name.len()..].trim_start().starts_with('('));
        let assign = word(l) && {
            let r = l[name.len()..].trim_start();
            r.starts_with('=') && !r.starts_with("==") || r.starts_with(':')
        };
        let import = (l.starts_with("from ") || l.starts_with("import "))
            && l.split(|c: char| c == ',' || c.is_whitespace() || c == '(' || c == ')')
                .any(|t| t == name);
        def || assign || import
    })
}
