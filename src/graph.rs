//! `labctl graph`: a picture of the lab, from the lab file alone (no AWS call): its
//! resources and what sets what off. An object put into a bucket fires a function
//! (directly, or through an EventBridge rule), the function writes into a bucket (its
//! environment names it), and so on; the role, layers, network and catalog hang off
//! what uses them. Mermaid (GitHub renders it in Markdown) or Graphviz dot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::kind::Lab;
use crate::kind::lambda::Via;
use crate::kind::role::Role;
use crate::names::rule_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Store,
    Code,
    Other,
}

#[derive(Debug, Default)]
struct Graph {
    /// id -> (label, shape), in a stable order.
    nodes: BTreeMap<String, (String, Shape)>,
    /// (from, to, label, the event path rather than a use)
    edges: Vec<(String, String, String, bool)>,
}

impl Graph {
    fn node(&mut self, id: String, label: String, shape: Shape) -> String {
        self.nodes.entry(id.clone()).or_insert((label, shape));
        id
    }
    fn edge(&mut self, from: &str, to: &str, label: &str, flow: bool) {
        self.edges
            .push((from.to_owned(), to.to_owned(), label.to_owned(), flow));
    }
}

fn id(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{kind}_{clean}")
}

/// The lab, expanded with stand-in values (names as they read in lab.yaml would be
/// account-specific; the picture shows the lab's own names).
fn build(lab: &Lab) -> Graph {
    let vars = lab.vars(crate::template::STAND_IN_ACCOUNT);
    let (lab, _) = crate::config::expand(lab, &vars);
    let mut g = Graph::default();
    for name in lab.buckets.keys() {
        g.node(id("bucket", name), format!("bucket {name}"), Shape::Store);
    }
    let role = match &lab.role {
        Some(Role::Existing { name, .. }) => {
            Some(g.node(id("role", name), format!("role {name}"), Shape::Other))
        }
        Some(Role::Managed(r)) => {
            let n = crate::kind::role::name(r, &vars);
            Some(g.node(id("role", &n), format!("role {n}"), Shape::Other))
        }
        None => None,
    };
    for name in lab.lambda.layers.keys() {
        g.node(id("layer", name), format!("layer {name}"), Shape::Other);
    }
    for (fname, f) in &lab.lambda.functions {
        let fid = g.node(id("fn", fname), format!("function {fname}"), Shape::Code);
        for (i, t) in f.triggers.iter().enumerate() {
            let events = t
                .events
                .iter()
                .map(|e| e.trim_start_matches("s3:"))
                .collect::<Vec<_>>()
                .join(", ");
            let filter = match (&t.prefix, t.suffixes.as_slice()) {
                (None, []) => String::new(),
                (p, s) => format!(
                    " {}*{}",
                    p.as_deref().unwrap_or_default(),
                    if s.is_empty() {
                        String::new()
                    } else {
                        s.join(" ")
                    }
                ),
            };
            let bid = id("bucket", &t.bucket);
            match t.via {
                Via::S3 => g.edge(&bid, &fid, &format!("{events}{filter}"), true),
                Via::EventBridge => {
                    let rule = rule_name(&lab.physical(fname), i);
                    let rid = g.node(id("rule", &rule), format!("rule {rule}"), Shape::Other);
                    g.edge(&bid, &rid, &format!("{events}{filter}"), true);
                    g.edge(&rid, &fid, "invokes", true);
                }
            }
        }
        // A bucket the function's environment names is one it writes to.
        for (logical, real) in &vars.buckets {
            if f.environment.values().any(|v| {
                vars.expand(v, true)
                    .is_ok_and(|v| v.contains(real.as_str()))
            }) {
                g.edge(&fid, &id("bucket", logical), "writes", true);
            }
        }
        for l in &f.layers {
            g.edge(&fid, &id("layer", l), "uses", false);
        }
        if let Some(r) = &role {
            g.edge(&fid, r, "runs as", false);
        }
    }
    if let Some(net) = &lab.network {
        for name in net.subnets.keys() {
            g.node(id("subnet", name), format!("subnet {name}"), Shape::Other);
        }
        for name in net.security_groups.keys() {
            g.node(
                id("sg", name),
                format!("security group {name}"),
                Shape::Other,
            );
        }
    }
    for (name, i) in &lab.instances {
        let iid = g.node(
            id("instance", name),
            format!("instance {name}"),
            Shape::Code,
        );
        if let Some(s) = &i.subnet {
            g.edge(&iid, &id("subnet", s), "in", false);
        }
        for sg in &i.security_groups {
            g.edge(&iid, &id("sg", sg), "behind", false);
        }
    }
    for (name, t) in &lab.catalog.tables {
        let tid = g.node(id("table", name), format!("table {name}"), Shape::Store);
        g.edge(
            &tid,
            &id("bucket", &t.location.bucket),
            &format!("reads {}", t.location.prefix),
            false,
        );
    }
    for (name, w) in &lab.athena.workgroups {
        let wid = g.node(id("wg", name), format!("workgroup {name}"), Shape::Other);
        for t in lab.catalog.tables.keys() {
            g.edge(&wid, &id("table", t), "queries", false);
        }
        g.edge(
            &wid,
            &id("bucket", &w.results.bucket),
            &format!("results {}", w.results.prefix),
            false,
        );
    }
    g
}

pub fn render(lab: &Lab, format: Format) -> String {
    let g = build(lab);
    let mut out = String::new();
    match format {
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for (id, (label, shape)) in &g.nodes {
                let _ = match shape {
                    Shape::Store => writeln!(out, "  {id}[(\"{label}\")]"),
                    Shape::Code => writeln!(out, "  {id}[[\"{label}\"]]"),
                    Shape::Other => writeln!(out, "  {id}[\"{label}\"]"),
                };
            }
            for (from, to, label, flow) in &g.edges {
                let arrow = if *flow { "-->" } else { "-.->" };
                let label = label.trim();
                let _ = if label.is_empty() {
                    writeln!(out, "  {from} {arrow} {to}")
                } else {
                    writeln!(out, "  {from} {arrow}|\"{label}\"| {to}")
                };
            }
        }
        Format::Dot => {
            out.push_str("digraph lab {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
            for (id, (label, shape)) in &g.nodes {
                let shape = match shape {
                    Shape::Store => "cylinder",
                    Shape::Code => "box3d",
                    Shape::Other => "box",
                };
                let _ = writeln!(out, "  {id} [label=\"{label}\", shape={shape}];");
            }
            for (from, to, label, flow) in &g.edges {
                let style = if *flow { "solid" } else { "dashed" };
                let _ = writeln!(
                    out,
                    "  {from} -> {to} [label=\"{}\", style={style}];",
                    label.trim()
                );
            }
            out.push_str("}\n");
        }
    }
    out
}
