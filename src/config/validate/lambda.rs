//! Lambda rules: runtimes, limits, code and handler, layers, and S3 triggers.

use std::collections::BTreeSet;

use crate::config::diag::{Pos, Sink};
use crate::model::*;
use crate::template::Vars;

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
const S3_EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
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

pub(super) fn layer(lab: &Lab, name: &str, l: &Layer, s: &mut Sink) {
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
        let help = match crate::config::diag::did_you_mean(r, RUNTIMES) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("use one of {}", RUNTIMES.join(", ")),
        };
        s.err(pos, format!("unknown runtime `{r}`"), help);
    }
    false
}

pub(super) fn function(lab: &Lab, name: &str, f: &Function, vars: &Vars, s: &mut Sink) {
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
        match lab.layers.get(l) {
            None => {
                let known: Vec<&str> = lab.layers.keys().map(String::as_str).collect();
                let help = crate::config::diag::did_you_mean(l, &known)
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
    for (i, t) in f.triggers.iter().enumerate() {
        if t.via == Via::EventBridge && phys.len() + 1 + i.to_string().len() > 64 {
            s.err(t.pos, format!("the EventBridge rule for this trigger would be named `{phys}-{i}`, longer than 64 characters"), "shorten the lab or function name");
        }
        if t.via == Via::EventBridge
            && let Some(bucket) = vars.buckets.get(&t.bucket)
        {
            let len = crate::plan::trigger::pattern(bucket, t).len();
            if len > 2048 {
                s.err(
                    t.pos,
                    format!("this trigger's EventBridge pattern would be {len} characters; EventBridge allows 2,048"),
                    "list fewer suffixes, or split the trigger in two",
                );
            }
        }
        if !lab.buckets.contains_key(&t.bucket) {
            let known: Vec<&str> = lab.buckets.keys().map(String::as_str).collect();
            let help = crate::config::diag::did_you_mean(&t.bucket, &known)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| {
                    "name a bucket declared under `buckets:` (its logical name)".into()
                });
            s.err(
                t.pos,
                format!("trigger names bucket `{}`, which is not declared", t.bucket),
                help,
            );
        }
        if t.events.is_empty() {
            s.err(
                t.pos,
                "a trigger with no events",
                "add `events: [\"s3:ObjectCreated:*\"]`",
            );
        }
        for e in &t.events {
            if !S3_EVENTS.contains(&e.as_str()) {
                let help = crate::config::diag::did_you_mean(e, S3_EVENTS)
                    .map(|m| format!("did you mean `{m}`?"))
                    .unwrap_or_else(|| "use an S3 event type such as `s3:ObjectCreated:*`".into());
                s.err(t.pos, format!("unknown S3 event `{e}`"), help);
            } else if t.via == Via::EventBridge
                && !(e.starts_with("s3:ObjectCreated") || e.starts_with("s3:ObjectRemoved"))
            {
                s.err(
                    t.pos,
                    format!("event `{e}` is not routed through EventBridge by labctl"),
                    "EventBridge triggers take s3:ObjectCreated:* and s3:ObjectRemoved:* events",
                );
            }
        }
        for sfx in &t.suffixes {
            if sfx.is_empty() || sfx.contains('*') {
                s.err(
                    t.pos,
                    format!("suffix `{sfx}` is not a literal file ending"),
                    "S3 filters match literal text: write `.jpg`, without wildcards",
                );
            }
        }
        if t.prefix.as_deref().is_some_and(|p| p.contains('*')) {
            s.err(
                t.pos,
                "prefix contains `*`",
                "S3 filters match literal text: write `uploads/`, without wildcards",
            );
        }
        write_loop(name, f, t, vars, s);
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

/// A function that writes into the bucket that triggers it runs forever (S3 -> Lambda ->
/// S3 ...). labctl cannot read the code, so it takes the destination from the
/// environment: a value naming the trigger's bucket is a write there, safe only when the
/// trigger's prefix cannot match what the function writes (a `*_PREFIX` variable).
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

fn write_loop(name: &str, f: &Function, t: &Trigger, vars: &Vars, s: &mut Sink) {
    let Some(bucket) = vars.buckets.get(&t.bucket) else {
        return;
    };
    let names_bucket = |x: &str| {
        x == bucket
            || x.contains(&format!("s3://{bucket}"))
            || x.contains(&format!("arn:aws:s3:::{bucket}"))
    };
    // A variable named for where the function reads (SOURCE_BUCKET, INPUT_BUCKET...)
    // is not where it writes.
    let read_side = |k: &str| {
        let k = k.to_ascii_uppercase();
        ["SOURCE", "SRC", "INPUT", "READ", "FROM"]
            .iter()
            .any(|w| k.contains(w))
    };
    let writes_there = f
        .environment
        .iter()
        .filter(|(k, _)| !read_side(k))
        .any(|(_, v)| vars.expand(v, true).is_ok_and(|x| names_bucket(&x)));
    // Writing an object fires ObjectCreated (and tagging it ObjectTagging); a trigger
    // on removals or restores only is not fed by the function's writes.
    let fed = t
        .events
        .iter()
        .any(|e| e.starts_with("s3:ObjectCreated") || e.starts_with("s3:ObjectTagging"));
    if !writes_there || !fed {
        return;
    }
    let out_prefixes: Vec<String> = f
        .environment
        .iter()
        .filter(|(k, _)| k.ends_with("PREFIX"))
        .filter_map(|(_, v)| vars.expand(v, true).ok())
        .collect();
    let safe = match &t.prefix {
        Some(p) if !p.is_empty() => {
            !out_prefixes.is_empty()
                && out_prefixes
                    .iter()
                    .all(|o| !o.starts_with(p.as_str()) && !p.starts_with(o.as_str()))
        }
        _ => false,
    };
    if !safe {
        s.err(t.pos, format!("function `{name}` writes into bucket `{}`, which triggers it: every object it writes would trigger it again", t.bucket), "write to another bucket, or give the trigger a `prefix` that the function's output (its *_PREFIX variable) can never match");
    }
}

pub(super) fn triggers(lab: &Lab, vars: &Vars, s: &mut Sink) {
    // (bucket, function, trigger) for every direct notification, one entry per suffix.
    let mut direct: Vec<(&str, &str, &Trigger, Option<&str>)> = Vec::new();
    for (fname, f) in &lab.functions {
        for t in f.triggers.iter().filter(|t| t.via == Via::S3) {
            if t.suffixes.is_empty() {
                direct.push((&t.bucket, fname, t, None));
            }
            for sfx in &t.suffixes {
                direct.push((&t.bucket, fname, t, Some(sfx)));
            }
        }
    }
    let _ = vars;
    let mut reported = BTreeSet::new();
    for (i, a) in direct.iter().enumerate() {
        for b in &direct[i + 1..] {
            // Entries of one trigger are its suffixes: S3 gets one rule for each.
            if a.0 != b.0 {
                continue;
            }
            let events =
                a.2.events
                    .iter()
                    .any(|x| b.2.events.iter().any(|y| events_overlap(x, y)));
            let prefix = overlaps(
                a.2.prefix.as_deref().unwrap_or(""),
                b.2.prefix.as_deref().unwrap_or(""),
                |x, y| x.starts_with(y),
            );
            let suffix = overlaps(a.3.unwrap_or(""), b.3.unwrap_or(""), |x, y| x.ends_with(y));
            if events && prefix && suffix && std::ptr::eq(a.2, b.2) {
                s.err(
                    b.2.pos,
                    format!(
                        "suffixes `{}` and `{}` of this trigger overlap: S3 rejects two notifications whose suffixes can match the same key",
                        a.3.unwrap_or(""),
                        b.3.unwrap_or("")
                    ),
                    "list each suffix once, and none that ends with another (`photo.jpg` ends with both `.jpg` and `jpg`)",
                );
            } else if events && prefix && suffix && reported.insert((b.2.pos, a.2.pos)) {
                s.err(
                    b.2.pos,
                    format!("this trigger overlaps the one on line {} (function `{}`) on bucket `{}`: S3 rejects two notifications with overlapping events, prefixes and suffixes", a.2.pos.line, a.1, a.0),
                    "add `via: eventbridge` to one of them (EventBridge rules may overlap), or make their prefixes or suffixes disjoint",
                );
            }
        }
    }
}

fn events_overlap(a: &str, b: &str) -> bool {
    let family = |e: &str| {
        e.rsplit_once(':')
            .map(|(f, _)| f.to_owned())
            .unwrap_or_default()
    };
    a == b || (family(a) == family(b) && (a.ends_with(":*") || b.ends_with(":*")))
}

fn overlaps(a: &str, b: &str, f: fn(&str, &str) -> bool) -> bool {
    f(a, b) || f(b, a)
}
