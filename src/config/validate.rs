//! Every rule about a lab file that can be checked without AWS. Each one is a rule real
//! AWS enforces (and the local emulator often does not), checked here so that a bad lab
//! fails in a second with a line number instead of half-way through an apply.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::decode::Decoded;
use super::diag::{Pos, Sink};
use crate::model::*;
use crate::template::{STAND_IN_ACCOUNT, Vars};

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
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-east-1",
    "sa-east-1",
    "me-south-1",
    "me-central-1",
    "il-central-1",
    "af-south-1",
    "mx-central-1",
];
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
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
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
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
/// The default VPC's block in every region.
pub const DEFAULT_VPC_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 31, 0, 0), 16);

pub fn check(d: &Decoded, s: &mut Sink) {
    let lab = &d.lab;
    lab_name(&lab.name, d.lab_pos, s);
    if !lab.region.is_empty() && !REGIONS.contains(&lab.region.as_str()) {
        s.err(d.region_pos, format!("unknown region `{}`", lab.region), "use an AWS region code such as `us-east-1` (AWS Academy allows us-east-1 and us-west-2)");
    }
    tags(d, s);
    let vars = stand_in_vars(lab);
    buckets(lab, &vars, s);
    if let Some(role) = &lab.role {
        self::role(role, &vars, s);
    }
    for (name, layer) in &lab.layers {
        self::layer(lab, name, layer, s);
    }
    for (name, f) in &lab.functions {
        function(lab, name, f, &vars, s);
    }
    triggers(lab, &vars, s);
    if let Some(net) = &lab.network {
        network(lab, net, s);
    }
}

/// Placeholders as `validate` sees them: a 12-digit stand-in for the account id.
pub fn stand_in_vars(lab: &Lab) -> Vars {
    let mut v = Vars {
        lab: lab.name.clone(),
        account_id: STAND_IN_ACCOUNT.into(),
        region: lab.region.clone(),
        ..Default::default()
    };
    let names: BTreeMap<String, String> = lab
        .buckets
        .iter()
        .filter_map(|(k, b)| v.expand(&b.name, false).ok().map(|n| (k.clone(), n)))
        .collect();
    v.buckets = names;
    v
}

fn lab_name(name: &str, pos: Pos, s: &mut Sink) {
    if name.is_empty() {
        return; // reported as missing
    }
    let ok = name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        s.err(pos, format!("lab name `{name}` is not valid"), "use 1-20 characters of a-z, 0-9 and '-', starting with a letter, e.g. `photo-lab`: it prefixes every resource name");
    }
}

fn tags(d: &Decoded, s: &mut Sink) {
    let lab_count = d
        .tag_sites
        .sites
        .iter()
        .find(|(w, _)| w == "lab")
        .map(|(_, t)| t.len())
        .unwrap_or(0);
    for (what, entries) in &d.tag_sites.sites {
        let total = entries.len() + 1 + if what == "lab" { 0 } else { lab_count };
        if total > 50 {
            let p = entries.first().map(|e| e.2).unwrap_or_default();
            s.err(p, format!("{what} would carry {total} tags (with the lab's tags and labctl's own); AWS allows 50"), "remove tags");
        }
        for (k, v, p) in entries {
            let p = *p;
            if k.is_empty() || k.chars().count() > 128 {
                s.err(
                    p,
                    format!("tag key `{k}` must be 1-128 characters"),
                    "shorten the key",
                );
            }
            if v.chars().count() > 256 {
                s.err(
                    p,
                    format!("the value of tag `{k}` is longer than 256 characters"),
                    "shorten the value",
                );
            }
            if k.to_ascii_lowercase().starts_with("aws:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the reserved prefix `aws:`"),
                    "AWS keeps `aws:` for itself: rename the key",
                );
            }
            if k.starts_with("labctl:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the prefix `labctl:`"),
                    "labctl keeps `labctl:` for its ownership tag: rename the key",
                );
            }
            let ok = |t: &str| {
                t.chars()
                    .all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c))
            };
            if !ok(k) || !ok(v) {
                s.err(
                    p,
                    format!("tag `{k}` has characters AWS does not accept in tags"),
                    "use letters, digits, spaces and + - = . _ : / @",
                );
            }
        }
    }
}

pub fn bucket_name_problem(name: &str) -> Option<String> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some(format!("is {} characters long; S3 allows 3-63", b.len()));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Some("may only hold lowercase letters, digits, '.' and '-'".into());
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Some("may not contain two adjacent dots".into());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return Some("may not be formatted as an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(p) {
            return Some(format!("may not start with `{p}`"));
        }
    }
    for sfx in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(sfx) {
            return Some(format!("may not end with `{sfx}`"));
        }
    }
    None
}

fn buckets(lab: &Lab, vars: &Vars, s: &mut Sink) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (logical, b) in &lab.buckets {
        match vars.expand(&b.name, false) {
            Err(e) => s.err(
                b.name_pos,
                e,
                "bucket names may use ${lab}, ${account_id} and ${region}",
            ),
            Ok(name) => {
                if let Some(why) = bucket_name_problem(&name) {
                    s.err(b.name_pos, format!("bucket name `{name}` {why}"), "S3 bucket names are 3-63 characters of a-z, 0-9, '.' and '-'; e.g. `${lab}-source-${account_id}`");
                } else if name.contains('.') {
                    s.err(
                        b.name_pos,
                        format!("bucket name `{name}` contains a dot"),
                        "dots break HTTPS virtual-host addressing of the bucket: use '-' instead",
                    );
                }
                if let Some(other) = seen.insert(name.clone(), logical) {
                    s.err(
                        b.name_pos,
                        format!(
                            "buckets `{other}` and `{logical}` both resolve to the name `{name}`"
                        ),
                        "give each bucket its own name",
                    );
                }
            }
        }
        lifecycle(b, s);
    }
}

fn class_rank(c: &str) -> usize {
    STORAGE_CLASSES.iter().position(|x| *x == c).unwrap_or(0)
}

fn lifecycle(b: &Bucket, s: &mut Sink) {
    if b.lifecycle.len() > 1000 {
        s.err(
            b.pos,
            "more than 1000 lifecycle rules",
            "S3 allows 1000 rules per bucket: merge rules",
        );
    }
    let mut ids = BTreeSet::new();
    for r in &b.lifecycle {
        if r.id.is_empty() || r.id.len() > 255 {
            s.err(
                r.pos,
                "a lifecycle rule `id` must be 1-255 characters",
                "give each rule a short, unique id: it keeps the rule stable across runs",
            );
        } else if !ids.insert(r.id.as_str()) {
            s.err(
                r.pos,
                format!("lifecycle rule id `{}` is used twice in this bucket", r.id),
                "give each rule a unique id",
            );
        }
        let has_action = !r.transitions.is_empty()
            || r.expiration_days.is_some()
            || !r.noncurrent_transitions.is_empty()
            || r.noncurrent_expiration_days.is_some()
            || r.abort_incomplete_multipart_days.is_some();
        if !has_action {
            s.err(r.pos, format!("lifecycle rule `{}` does nothing", r.id), "add transitions, expiration_days, noncurrent_expiration_days or abort_incomplete_multipart_days");
        }
        for (list, noncurrent) in [(&r.transitions, false), (&r.noncurrent_transitions, true)] {
            let days_key = if noncurrent { "NoncurrentDays" } else { "Days" };
            let mut prev: Option<&Transition> = None;
            let mut classes = BTreeSet::new();
            for t in list {
                if !STORAGE_CLASSES.contains(&t.storage_class.as_str()) {
                    let hint = match t.storage_class.as_str() {
                        "GLACIER_FLEXIBLE_RETRIEVAL" => "S3 calls it `GLACIER`".to_owned(),
                        "STANDARD" => {
                            "objects start in STANDARD; transitions go to colder classes".to_owned()
                        }
                        _ => format!("use one of {}", STORAGE_CLASSES.join(", ")),
                    };
                    s.err(
                        t.pos,
                        format!("unknown storage class `{}`", t.storage_class),
                        hint,
                    );
                    continue;
                }
                if t.days < 0 {
                    s.err(
                        t.pos,
                        format!("transition days {} is negative", t.days),
                        "use 0 or more days",
                    );
                }
                if matches!(t.storage_class.as_str(), "STANDARD_IA" | "ONEZONE_IA") && t.days < 30 {
                    s.err(t.pos, format!("'{days_key}' for {} must be at least 30, found {}", t.storage_class, t.days), "S3 keeps objects in STANDARD at least 30 days before an IA class: use 30 or more");
                }
                if !classes.insert(t.storage_class.as_str()) {
                    s.err(
                        t.pos,
                        format!(
                            "storage class {} appears twice in one rule",
                            t.storage_class
                        ),
                        "each class may be a transition target once per rule",
                    );
                }
                if let Some(p) = prev {
                    if class_rank(&t.storage_class) <= class_rank(&p.storage_class)
                        || (p.storage_class == "ONEZONE_IA" && t.storage_class == "GLACIER_IR")
                    {
                        s.err(
                            t.pos,
                            format!(
                                "transition from {} to {} goes up the storage-class waterfall",
                                p.storage_class, t.storage_class
                            ),
                            format!(
                                "order transitions from warm to cold: {}",
                                STORAGE_CLASSES.join(" -> ")
                            ),
                        );
                    } else if t.days <= p.days {
                        s.err(
                            t.pos,
                            format!(
                                "transition to {} at day {} is not after the one to {} at day {}",
                                t.storage_class, t.days, p.storage_class, p.days
                            ),
                            "give each later transition more days than the one before",
                        );
                    } else if matches!(p.storage_class.as_str(), "STANDARD_IA" | "ONEZONE_IA")
                        && t.days - p.days < 30
                    {
                        s.err(
                            t.pos,
                            format!(
                                "objects must stay 30 days in {} before moving to {}",
                                p.storage_class, t.storage_class
                            ),
                            format!("use {} days or more", p.days + 30),
                        );
                    }
                }
                prev = Some(t);
            }
        }
        let last = |l: &Vec<Transition>| l.iter().map(|t| t.days).max();
        if let Some(e) = r.expiration_days {
            if e < 1 {
                s.err(
                    r.keys.at("expiration_days", r.pos),
                    format!("expiration_days must be at least 1, found {e}"),
                    "use 1 or more days",
                );
            } else if let Some(t) = last(&r.transitions).filter(|t| e <= *t) {
                s.err(r.keys.at("expiration_days", r.pos), format!("rule `{}` expires objects at day {e}, not after its last transition at day {t}", r.id), format!("set expiration_days above {t}, or drop the transition"));
            }
        }
        if let Some(e) = r.noncurrent_expiration_days {
            if e < 1 {
                s.err(
                    r.keys.at("noncurrent_expiration_days", r.pos),
                    format!("noncurrent_expiration_days must be at least 1, found {e}"),
                    "use 1 or more days",
                );
            } else if let Some(t) = last(&r.noncurrent_transitions).filter(|t| e <= *t) {
                s.err(r.keys.at("noncurrent_expiration_days", r.pos), format!("rule `{}` expires noncurrent versions at day {e}, not after their last transition at day {t}", r.id), format!("set noncurrent_expiration_days above {t}"));
            }
        }
        if let Some(a) = r.abort_incomplete_multipart_days
            && a < 1
        {
            s.err(
                r.keys.at("abort_incomplete_multipart_days", r.pos),
                format!("abort_incomplete_multipart_days must be at least 1, found {a}"),
                "use 1 or more days",
            );
        }
    }
}

fn iam_name_ok(n: &str, max: usize) -> bool {
    !n.is_empty()
        && n.len() <= max
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn role(role: &Role, vars: &Vars, s: &mut Sink) {
    let r = match role {
        Role::Existing { pos, name } => {
            if !iam_name_ok(name, 64) {
                s.err(
                    *pos,
                    format!("role name `{name}` is not a valid IAM role name"),
                    "IAM role names are 1-64 characters of A-Z a-z 0-9 and + = , . @ _ -",
                );
            }
            return;
        }
        Role::Managed(r) => r,
    };
    let at = |k: &str| r.keys.at(k, r.pos);
    match vars.expand(&r.name, false) {
        Err(e) => s.err(
            at("name"),
            e,
            "role names may use ${lab}, ${account_id} and ${region}",
        ),
        Ok(n) if !iam_name_ok(&n, 64) => s.err(
            at("name"),
            format!("role name `{n}` is not a valid IAM role name"),
            "IAM role names are 1-64 characters of A-Z a-z 0-9 and + = , . @ _ -",
        ),
        Ok(_) => {}
    }
    if r.trust.is_empty() {
        s.err(
            at("trust"),
            "the role trusts no service",
            "add `trust: [lambda.amazonaws.com]`",
        );
    }
    for t in &r.trust {
        let host = t.strip_suffix(".amazonaws.com");
        if !host.is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        }) {
            s.err(
                at("trust"),
                format!("trusted principal `{t}` is not an AWS service principal"),
                "write service principals such as `lambda.amazonaws.com`",
            );
        }
    }
    if r.managed_policies.len() > 10 {
        s.err(
            at("managed_policies"),
            format!(
                "{} managed policies; IAM attaches at most 10 per role by default",
                r.managed_policies.len()
            ),
            "merge policies or move statements into `policies`",
        );
    }
    for arn in &r.managed_policies {
        let ok = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":policy/"))
            .is_some_and(|(acct, name)| {
                (acct == "aws" || (acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())))
                    && !name.is_empty()
            });
        if !ok {
            s.err(at("managed_policies"), format!("managed policy `{arn}` is not a policy ARN"), "write the full ARN, e.g. `arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`");
        }
    }
    let mut total = 0;
    for (name, stmts) in &r.policies {
        if !iam_name_ok(name, 128) {
            s.err(
                at("policies"),
                format!("inline policy name `{name}` is not valid"),
                "use 1-128 characters of A-Z a-z 0-9 and + = , . @ _ -",
            );
        }
        if stmts.is_empty() {
            s.err(
                at("policies"),
                format!("inline policy `{name}` has no statements"),
                "add statements or remove the policy",
            );
        }
        for st in stmts {
            statement(st, vars, s);
        }
        if let Ok(doc) = crate::policy::document(stmts, vars) {
            total += doc.len();
        }
    }
    if total > 10_240 {
        s.err(
            at("policies"),
            format!("inline policies total {total} characters; IAM allows 10,240 per role"),
            "shorten the policies (wildcards, fewer resources) or use a managed policy",
        );
    }
    let trust_len = crate::policy::trust_document(&r.trust).len();
    if trust_len > 2048 {
        s.err(
            r.pos,
            format!("trust policy is {trust_len} characters; IAM allows 2,048"),
            "trust fewer principals",
        );
    }
}

fn statement(st: &Statement, vars: &Vars, s: &mut Sink) {
    if st.effect != "Allow" && st.effect != "Deny" {
        s.err(
            st.pos,
            format!("effect `{}` is neither Allow nor Deny", st.effect),
            "write `effect: Allow` or `effect: Deny`",
        );
    }
    if st.actions.is_empty() {
        s.err(
            st.pos,
            "a statement with no actions",
            "list actions such as `s3:GetObject`",
        );
    }
    for a in &st.actions {
        let ok = a == "*"
            || a.split_once(':').is_some_and(|(svc, act)| {
                !svc.is_empty()
                    && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !act.is_empty()
                    && act
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
            });
        if !ok {
            s.err(
                st.pos,
                format!("action `{a}` is not `service:Action`"),
                "prefix each action with its service, e.g. `s3:GetObject`",
            );
        }
    }
    if st.resources.is_empty() {
        s.err(
            st.pos,
            "a statement with no resources",
            "list ARNs, e.g. `${buckets.source.arn}/*`",
        );
    }
    for r in &st.resources {
        match vars.expand(r, true) {
            Err(e) => s.err(st.pos, e, "fix the placeholder"),
            Ok(x) if x != "*" && !x.starts_with("arn:") => s.err(
                st.pos,
                format!("resource `{x}` is not an ARN"),
                "write an ARN (`arn:aws:...`), `${buckets.NAME.arn}` or `*`",
            ),
            Ok(_) => {}
        }
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
        let help = match super::diag::did_you_mean(r, RUNTIMES) {
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
    for l in &f.layers {
        match lab.layers.get(l) {
            None => {
                let known: Vec<&str> = lab.layers.keys().map(String::as_str).collect();
                let help = super::diag::did_you_mean(l, &known)
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
    for t in &f.triggers {
        if !lab.buckets.contains_key(&t.bucket) {
            let known: Vec<&str> = lab.buckets.keys().map(String::as_str).collect();
            let help = super::diag::did_you_mean(&t.bucket, &known)
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
                let help = super::diag::did_you_mean(e, S3_EVENTS)
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
        s.err(
            code_at,
            format!("code folder {} does not exist", f.code.display()),
            "point `code:` at the function's folder, relative to the lab file",
        );
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
        let file = f.code.join(format!("{}.py", module.replace('.', "/")));
        match std::fs::read_to_string(&file) {
            Err(_) => s.err(
                handler_at,
                format!(
                    "handler `{}` needs {}, which is missing",
                    f.handler,
                    file.display()
                ),
                "create the module or fix `handler`",
            ),
            Ok(src) => {
                let defined = src.lines().any(|l| {
                    let l = l.trim_start();
                    l.strip_prefix("def ")
                        .or_else(|| l.strip_prefix("async def "))
                        .is_some_and(|rest| {
                            rest.starts_with(func)
                                && rest[func.len()..].trim_start().starts_with('(')
                        })
                });
                if !defined {
                    s.err(
                        handler_at,
                        format!("{} defines no function `{func}`", file.display()),
                        format!("add `def {func}(event, context):` or fix `handler`"),
                    );
                }
            }
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
fn write_loop(name: &str, f: &Function, t: &Trigger, vars: &Vars, s: &mut Sink) {
    let Some(bucket) = vars.buckets.get(&t.bucket) else {
        return;
    };
    let writes_there = f
        .environment
        .values()
        .any(|v| vars.expand(v, true).is_ok_and(|x| &x == bucket));
    if !writes_there {
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

fn triggers(lab: &Lab, vars: &Vars, s: &mut Sink) {
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
            if a.0 != b.0 || std::ptr::eq(a.2, b.2) {
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
            if events && prefix && suffix && reported.insert((b.2.pos, a.2.pos)) {
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

pub fn parse_cidr4(c: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = c.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((ip, len))
}

fn mask4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

pub fn canonical4(ip: Ipv4Addr, len: u8) -> bool {
    u32::from(ip) & !mask4(len) == 0
}

pub fn cidr4_overlap(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let m = mask4(a.1.min(b.1));
    u32::from(a.0) & m == u32::from(b.0) & m
}

pub fn cidr4_contains(outer: (Ipv4Addr, u8), inner: (Ipv4Addr, u8)) -> bool {
    inner.1 >= outer.1 && u32::from(inner.0) & mask4(outer.1) == u32::from(outer.0)
}

fn network(lab: &Lab, net: &Network, s: &mut Sink) {
    let mut seen: Vec<(&str, (Ipv4Addr, u8))> = Vec::new();
    for (name, sub) in &net.subnets {
        match parse_cidr4(&sub.cidr) {
            None => s.err(
                sub.cidr_pos,
                format!("`{}` is not an IPv4 CIDR", sub.cidr),
                "write e.g. `172.31.96.0/24`",
            ),
            Some(c) => {
                if !canonical4(c.0, c.1) {
                    let base = Ipv4Addr::from(u32::from(c.0) & mask4(c.1));
                    s.err(
                        sub.cidr_pos,
                        format!("`{}` has host bits set", sub.cidr),
                        format!("write `{base}/{}`", c.1),
                    );
                } else if !(16..=28).contains(&c.1) {
                    s.err(
                        sub.cidr_pos,
                        format!("subnet `{name}` is a /{}; AWS subnets are /16 to /28", c.1),
                        "choose a prefix length between 16 and 28, e.g. /24",
                    );
                } else if !cidr4_contains(DEFAULT_VPC_CIDR, c) {
                    s.err(sub.cidr_pos, format!("`{}` lies outside the default VPC's 172.31.0.0/16", sub.cidr), "choose a block inside 172.31.0.0/16 above the default subnets, e.g. 172.31.96.0/24");
                } else {
                    if let Some((other, _)) = seen.iter().find(|(_, o)| cidr4_overlap(*o, c)) {
                        s.err(
                            sub.cidr_pos,
                            format!("subnet `{name}` ({}) overlaps subnet `{other}`", sub.cidr),
                            "give each subnet its own block",
                        );
                    }
                    seen.push((name, c));
                }
            }
        }
        let az_ok = sub
            .az
            .strip_prefix(lab.region.as_str())
            .is_some_and(|z| z.len() == 1 && z.as_bytes()[0].is_ascii_lowercase())
            || (sub.az.contains("-az")
                && sub
                    .az
                    .split_once("-az")
                    .is_some_and(|(a, n)| !a.is_empty() && n.parse::<u8>().is_ok()));
        if !az_ok {
            s.err(
                sub.pos,
                format!(
                    "availability zone `{}` is not a zone of {}",
                    sub.az, lab.region
                ),
                format!(
                    "write a zone name such as `{}a` or a zone id such as `use1-az1`",
                    lab.region
                ),
            );
        }
    }
    let mut lower = BTreeSet::new();
    for (name, g) in &net.security_groups {
        let phys = lab.physical(name);
        let charset = |t: &str| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
        };
        if phys.len() > 255 || !charset(&phys) || name.starts_with("sg-") || name == "default" {
            s.err(g.pos, format!("security group name `{phys}` is not valid"), "use up to 255 characters of a-z A-Z 0-9 and ._-:/()#,@[]+=&;{}!$*, not starting with `sg-`");
        }
        if !lower.insert(name.to_ascii_lowercase()) {
            s.err(
                g.pos,
                format!("security group `{name}` differs from another only in case"),
                "EC2 compares group names without case: rename one",
            );
        }
        if g.description.is_empty() || g.description.len() > 255 || !charset(&g.description) {
            s.err(
                g.pos,
                format!("security group `{name}` needs a description of 1-255 ASCII characters"),
                "write a short description using letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
            );
        }
        for (dir, rules) in [("ingress", Some(&g.ingress)), ("egress", g.egress.as_ref())] {
            let Some(rules) = rules else { continue };
            if rules.len() > 60 {
                s.err(
                    g.pos,
                    format!("{} {dir} rules; EC2 allows 60", rules.len()),
                    "merge rules (port ranges, wider CIDRs)",
                );
            }
            let mut dup = BTreeSet::new();
            for r in rules {
                sg_rule(net, dir, r, s);
                if !dup.insert((&r.protocol, r.from_port, r.to_port, &r.source)) {
                    s.err(
                        r.pos,
                        "this rule repeats another rule of the same group",
                        "remove the duplicate",
                    );
                }
            }
        }
    }
}

fn sg_rule(net: &Network, dir: &str, r: &SgRule, s: &mut Sink) {
    let world = match &r.source {
        RuleSource::Cidr(c) => match parse_cidr4(c) {
            None => {
                s.err(
                    r.pos,
                    format!("`{c}` is not an IPv4 CIDR"),
                    "write e.g. `203.0.113.0/24`",
                );
                false
            }
            Some((ip, len)) if !canonical4(ip, len) => {
                s.err(
                    r.pos,
                    format!("`{c}` has host bits set"),
                    format!(
                        "write `{}/{len}`",
                        Ipv4Addr::from(u32::from(ip) & mask4(len))
                    ),
                );
                false
            }
            Some((_, len)) => len == 0,
        },
        RuleSource::Cidr6(c) => {
            let parsed = c.split_once('/').and_then(|(ip, l)| {
                Some((
                    ip.parse::<Ipv6Addr>().ok()?,
                    l.parse::<u8>().ok().filter(|l| *l <= 128)?,
                ))
            });
            match parsed {
                None => {
                    s.err(
                        r.pos,
                        format!("`{c}` is not an IPv6 CIDR"),
                        "write e.g. `2001:db8::/32`",
                    );
                    false
                }
                Some((ip, len)) => {
                    let host = match len {
                        0 => u128::MAX,
                        128 => 0,
                        l => u128::MAX >> l,
                    };
                    if u128::from(ip) & host != 0 {
                        s.err(
                            r.pos,
                            format!("`{c}` has host bits set"),
                            "write the network address of the block",
                        );
                    }
                    len == 0
                }
            }
        }
        RuleSource::Group(g) => {
            if !net.security_groups.contains_key(g) {
                s.err(
                    r.pos,
                    format!("rule names security group `{g}`, which is not declared"),
                    "name a group declared under `security_groups:`",
                );
            }
            false
        }
    };
    if world && dir == "ingress" && !r.allow_world {
        let what = if r.protocol == "tcp" && r.from_port <= 22 && r.to_port >= 22 {
            "SSH".to_owned()
        } else {
            format!("ports {}-{}", r.from_port, r.to_port)
        };
        s.err(r.pos, format!("this rule opens {what} to the whole internet"), "narrow the CIDR to your network (e.g. your campus /24), or add `allow_world: true` if that is really intended");
    }
    if r.protocol == "icmp"
        && (r.from_port < -1 || r.from_port > 255 || r.to_port < -1 || r.to_port > 255)
    {
        s.err(
            r.pos,
            "icmp rules take an ICMP type and code (0-255) as `port`/`ports`",
            "omit the ports for all ICMP",
        );
    }
    if let Some(d) = &r.description
        && d.len() > 255
    {
        s.err(
            r.pos,
            "rule description is longer than 255 characters",
            "shorten it",
        );
    }
}
