//! Subnets and security groups in the default VPC, whose id is a parameter (it differs
//! per account). A rule whose source is another group of the lab is its own resource,
//! so two groups that admit each other make no cycle.

use serde_json::{Value as Json, json};

use super::{RuleSource, SgRule};
use crate::export::{Template, id, sub, tags};
use crate::kind::Lab;
use crate::template::Vars;

pub const VPC: &str = "VpcId";

pub fn export(lab: &Lab, _vars: &Vars, t: &mut Template) {
    let Some(net) = &lab.network else {
        return;
    };
    t.parameter(
        VPC,
        json!({
            "Type": "AWS::EC2::VPC::Id",
            "Description": "The region's default VPC: `aws ec2 describe-vpcs --filters Name=is-default,Values=true`"
        }),
    );
    for (name, s) in &net.subnets {
        let mut own = s.tags.clone();
        own.insert("Name".into(), lab.physical(name));
        t.resource(
            &subnet(name),
            "AWS::EC2::Subnet",
            json!({
                "VpcId": { "Ref": VPC },
                "CidrBlock": s.cidr,
                "AvailabilityZone": sub(&s.az),
                "MapPublicIpOnLaunch": s.map_public_ip,
                "Tags": tags(lab, &own),
            }),
        );
    }
    for (name, g) in &net.security_groups {
        let mut own = g.tags.clone();
        own.insert("Name".into(), lab.physical(name));
        let inline = |rules: &[SgRule]| -> Vec<Json> {
            rules
                .iter()
                .filter(|r| !matches!(r.source, RuleSource::Group(_)))
                .map(|r| rule(r, None))
                .collect()
        };
        let mut p = json!({
            "GroupName": lab.physical(name),
            "GroupDescription": g.description,
            "VpcId": { "Ref": VPC },
            "SecurityGroupIngress": inline(&g.ingress),
            "Tags": tags(lab, &own),
        });
        if let Some(egress) = &g.egress {
            let mut out = inline(egress);
            // Naming egress rules replaces the default allow-all; none at all is
            // written as CloudFormation documents it: one rule that matches nothing.
            if egress.is_empty() {
                out.push(json!({ "IpProtocol": "-1", "CidrIp": "127.0.0.1/32" }));
            }
            p["SecurityGroupEgress"] = json!(out);
        }
        t.resource(&group(name), "AWS::EC2::SecurityGroup", p);
        for (dir, rules, ty) in [
            ("Ingress", &g.ingress, "AWS::EC2::SecurityGroupIngress"),
            (
                "Egress",
                g.egress.as_ref().unwrap_or(&Vec::new()),
                "AWS::EC2::SecurityGroupEgress",
            ),
        ] {
            for (i, r) in rules.iter().enumerate() {
                let RuleSource::Group(other) = &r.source else {
                    continue;
                };
                let mut body = rule(r, Some((dir, other)));
                body["GroupId"] = json!({ "Fn::GetAtt": [group(name), "GroupId"] });
                t.resource(&format!("{}{dir}{i}", group(name)), ty, body);
            }
        }
    }
}

pub fn subnet(name: &str) -> String {
    id("Subnet", name)
}

pub fn group(name: &str) -> String {
    id("SecurityGroup", name)
}

/// One rule; `peer` is (direction, group) when its source is another lab group.
fn rule(r: &SgRule, peer: Option<(&str, &str)>) -> Json {
    let mut j = json!({ "IpProtocol": r.protocol });
    if r.protocol != "-1" {
        j["FromPort"] = json!(r.from_port);
        j["ToPort"] = json!(r.to_port);
    }
    match (&r.source, peer) {
        (RuleSource::Cidr(c), _) => j["CidrIp"] = json!(c),
        (RuleSource::Cidr6(c), _) => j["CidrIpv6"] = json!(c),
        (RuleSource::Group(_), Some(("Egress", g))) => {
            j["DestinationSecurityGroupId"] = json!({ "Fn::GetAtt": [group(g), "GroupId"] })
        }
        (RuleSource::Group(_), Some((_, g))) => {
            j["SourceSecurityGroupId"] = json!({ "Fn::GetAtt": [group(g), "GroupId"] })
        }
        (RuleSource::Group(_), None) => {}
    }
    if let Some(d) = &r.description {
        j["Description"] = json!(d);
    }
    j
}
