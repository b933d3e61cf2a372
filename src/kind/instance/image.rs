//! Images by alias, and the architecture of instance types: what lab.yaml's `ami:` and
//! `type:` mean, checked offline where they can be.

/// An image lab.yaml names by alias: where AWS publishes its newest id (an SSM public
/// parameter), and how to find it without SSM (AWS Academy denies it there).
#[derive(Debug)]
pub struct Alias {
    pub name: &'static str,
    pub architecture: &'static str,
    pub parameter: &'static str,
    pub owner: &'static str,
    pub name_pattern: &'static str,
    pub user: &'static str,
}

const AMAZON: &str = "137112412989";
const CANONICAL: &str = "099720109477";

pub const ALIASES: &[Alias] = &[
    Alias {
        name: "al2023",
        architecture: "x86_64",
        parameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        owner: AMAZON,
        name_pattern: "al2023-ami-2023.*-kernel-*-x86_64",
        user: "ec2-user",
    },
    Alias {
        name: "al2023-arm64",
        architecture: "arm64",
        parameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        owner: AMAZON,
        name_pattern: "al2023-ami-2023.*-kernel-*-arm64",
        user: "ec2-user",
    },
    Alias {
        name: "ubuntu-24.04",
        architecture: "x86_64",
        parameter: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
        owner: CANONICAL,
        name_pattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        user: "ubuntu",
    },
    Alias {
        name: "ubuntu-24.04-arm64",
        architecture: "arm64",
        parameter: "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
        owner: CANONICAL,
        name_pattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*",
        user: "ubuntu",
    },
];

pub fn alias(name: &str) -> Option<&'static Alias> {
    ALIASES.iter().find(|a| a.name == name)
}

/// `ami-` and 8 or 17 hex digits.
pub fn is_image_id(s: &str) -> bool {
    s.strip_prefix("ami-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// The user an image's default login is for: Ubuntu's is `ubuntu`, Amazon Linux's
/// (and most others') `ec2-user`.
pub fn login_user(image_name: &str) -> &'static str {
    if image_name.contains("ubuntu") {
        "ubuntu"
    } else {
        "ec2-user"
    }
}

/// An instance type's family, generation, attributes and size: `m7gd.large` ->
/// ("m", 7, "gd", "large").
fn parts(t: &str) -> Option<(&str, u32, &str, &str)> {
    let (class, size) = t.split_once('.')?;
    let digit = class.find(|c: char| c.is_ascii_digit())?;
    let (family, rest) = class.split_at(digit);
    let gen_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let generation = rest[..gen_end].parse().ok()?;
    let attrs = &rest[gen_end..];
    let ok = !family.is_empty()
        && family.bytes().all(|b| b.is_ascii_lowercase())
        && attrs.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && !size.is_empty()
        && size
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some((family, generation, attrs, size))
}

/// Whether `t` reads as an EC2 instance type (`t3.micro`, `m7gd.2xlarge`).
pub fn is_instance_type(t: &str) -> bool {
    parts(t).is_some_and(|(_, _, _, size)| {
        ["nano", "micro", "small", "medium", "large", "metal"].contains(&size)
            || size
                .strip_suffix("xlarge")
                .is_some_and(|n| n.is_empty() || n.parse::<u32>().is_ok())
            || size.starts_with("metal-")
    })
}

/// The architecture an instance type runs: Graviton types (a `g` among the attributes,
/// and the `a1` family) are arm64, the rest x86_64.
pub fn type_architecture(t: &str) -> Option<&'static str> {
    let (family, _, attrs, _) = parts(t)?;
    Some(if family == "a" || attrs.contains('g') {
        "arm64"
    } else {
        "x86_64"
    })
}

/// The sizes AWS Academy Learner Lab allows: nano to large.
pub fn academy_size(t: &str) -> bool {
    parts(t).is_some_and(|(_, _, _, size)| {
        ["nano", "micro", "small", "medium", "large"].contains(&size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_and_their_architecture() {
        for (t, arch) in [
            ("t3.micro", "x86_64"),
            ("t3a.large", "x86_64"),
            ("t4g.small", "arm64"),
            ("m7gd.2xlarge", "arm64"),
            ("c6gn.medium", "arm64"),
            ("g4dn.xlarge", "x86_64"),
            ("g5g.xlarge", "arm64"),
            ("a1.medium", "arm64"),
            ("m5.metal", "x86_64"),
        ] {
            assert!(is_instance_type(t), "{t}");
            assert_eq!(type_architecture(t), Some(arch), "{t}");
        }
        for bad in [
            "t3", "t3.", "T3.micro", "t3.mini", "micro", ".micro", "3.micro",
        ] {
            assert!(!is_instance_type(bad), "{bad}");
        }
        assert!(academy_size("t3.large") && !academy_size("t3.xlarge"));
    }

    #[test]
    fn image_ids_and_users() {
        assert!(is_image_id("ami-0123456789abcdef0") && is_image_id("ami-12345678"));
        assert!(!is_image_id("ami-0123456789ABCDEF0") && !is_image_id("ami-xyz"));
        assert_eq!(
            login_user("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101"),
            "ubuntu"
        );
        assert_eq!(
            login_user("al2023-ami-2023.6.20250101.0-kernel-6.1-x86_64"),
            "ec2-user"
        );
    }
}
