//! Instances as `AWS::EC2::Instance`s. An image alias is a parameter resolved by
//! CloudFormation from the same SSM public parameter labctl reads; a key labctl would
//! import or create is an `AWS::EC2::KeyPair` (a created one's private key lands in
//! SSM Parameter Store, as CloudFormation does it).

use serde_json::{Value as Json, json};

use super::{Ami, KeySource, Profile, RootVolume, image};
use crate::export::{Template, id, sub, tags};
use crate::kind::Lab;
use crate::kind::network::cfn::{group, subnet};
use crate::kind::role::cfn as role;
use crate::template::Vars;
use base64::Engine;

pub fn export(lab: &Lab, _vars: &Vars, t: &mut Template) {
    for (name, i) in &lab.instances {
        let logical = id("Instance", name);
        let image = format!("{logical}Image");
        match &i.ami {
            Ami::Alias(a) => {
                let param = image::alias(a).map(|x| x.parameter).unwrap_or_default();
                t.parameter(
                    &image,
                    json!({
                        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                        "Default": param,
                        "Description": format!("The newest {a} image")
                    }),
                );
            }
            // An image id belongs to one region: a parameter lets another use its own.
            Ami::Id(ami) => t.parameter(
                &image,
                json!({ "Type": "AWS::EC2::Image::Id", "Default": ami }),
            ),
        }
        // A key labctl would import or create is the stack's own key pair.
        let key_pair = match &i.key {
            KeySource::Existing(k) => Err(json!(k)),
            KeySource::Import(path) => {
                let material = std::fs::read_to_string(path).unwrap_or_default();
                Ok(json!({ "PublicKeyMaterial": material.trim() }))
            }
            KeySource::Create => Ok(json!({ "KeyType": "ed25519" })),
        };
        let key_name = match key_pair {
            Err(existing) => existing,
            Ok(mut props) => {
                let kid = format!("{logical}Key");
                props["KeyName"] = json!(lab.physical(name));
                props["Tags"] = tags(lab, &Default::default());
                t.resource(&kid, "AWS::EC2::KeyPair", props);
                json!({ "Ref": kid })
            }
        };
        let groups: Vec<Json> = i
            .security_groups
            .iter()
            .map(|g| json!({ "Fn::GetAtt": [group(g), "GroupId"] }))
            .collect();
        let mut own = i.tags.clone();
        own.insert("Name".into(), lab.physical(name));
        let mut p = json!({
            "ImageId": { "Ref": image },
            "InstanceType": i.instance_type,
            "KeyName": key_name,
            "Tags": tags(lab, &own),
        });
        // A public address can only be asked for on the network interface.
        let mut nic = json!({
            "DeviceIndex": "0",
            "AssociatePublicIpAddress": i.public_ip,
            "GroupSet": groups,
        });
        if let Some(s) = &i.subnet {
            nic["SubnetId"] = json!({ "Ref": subnet(s) });
        }
        p["NetworkInterfaces"] = json!([nic]);
        if let Some(u) = &i.user_data {
            p["UserData"] = json!(base64::engine::general_purpose::STANDARD.encode(u));
        }
        if i.root_volume != RootVolume::default()
            && let Ami::Alias(a) = &i.ami
        {
            let device = if a.starts_with("ubuntu") {
                "/dev/sda1"
            } else {
                "/dev/xvda"
            };
            p["BlockDeviceMappings"] = json!([{
                "DeviceName": device,
                "Ebs": { "VolumeSize": i.root_volume.size, "VolumeType": i.root_volume.volume_type }
            }]);
        }
        match &i.instance_profile {
            Some(Profile::Existing(n)) => p["IamInstanceProfile"] = sub(n),
            Some(Profile::Role) => {
                if let Some(role) = role::name(lab) {
                    let pid = "InstanceProfile";
                    if !t.has(pid) {
                        t.resource(
                            pid,
                            "AWS::IAM::InstanceProfile",
                            json!({ "InstanceProfileName": role.clone(), "Roles": [role] }),
                        );
                    }
                    p["IamInstanceProfile"] = json!({ "Ref": pid });
                }
            }
            None => {}
        }
        t.resource(&logical, "AWS::EC2::Instance", p);
        if !i.public_ip {
            continue;
        }
        t.output(
            &format!("{logical}PublicIp"),
            json!({ "Fn::GetAtt": [logical, "PublicIp"] }),
            &format!("instance {name}"),
        );
    }
}
