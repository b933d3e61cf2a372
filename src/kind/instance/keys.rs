//! SSH keys on this machine: the public key an `import` sends (checked, never the
//! private one), and the private key a `create` writes once, readable only by its owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

/// An OpenSSH public key EC2 can import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `ssh-ed25519 AAAA... comment`, as the file has it (one line).
    pub line: String,
    /// SHA-256 of the key itself (type and material, not the comment), hex.
    pub sha256: String,
}

/// Reads and checks a public key file. The error never quotes the file: it may be a
/// private key given by mistake.
pub fn read_public(path: &Path) -> Result<PublicKey, String> {
    let meta = std::fs::metadata(path).map_err(|_| format!("{} does not exist", path.display()))?;
    if meta.len() > 16 * 1024 {
        return Err(format!(
            "{} is too big to be an OpenSSH public key",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_public(&text).map_err(|why| format!("{}: {why}", path.display()))
}

pub fn parse_public(text: &str) -> Result<PublicKey, &'static str> {
    if text.contains("PRIVATE KEY") {
        return Err(
            "this is a private key: give the public one (the `.pub` file); the private key never leaves your machine",
        );
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("the file holds no key")?;
    let mut fields = line.split_whitespace();
    let (kind, material) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    if !["ssh-ed25519", "ssh-rsa"].contains(&kind) {
        return Err(if kind.starts_with("ecdsa-") {
            "EC2 imports ED25519 and RSA keys, not ECDSA"
        } else {
            "this is not an OpenSSH public key (`ssh-ed25519 AAAA...` or `ssh-rsa AAAA...`)"
        });
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(material)
        .map_err(|_| "the key's base64 is damaged")?;
    // The blob starts with its own type, length-prefixed.
    let named = blob
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| blob.get(4..4 + n));
    if named != Some(kind.as_bytes()) {
        return Err("the key's material does not match its type");
    }
    let sha256 = Sha256::digest(&blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(PublicKey {
        line: line.to_owned(),
        sha256,
    })
}

/// `~/` at the start of a path is the home folder.
pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// The key an instance gets when lab.yaml names none: the user's own, if any.
pub fn default_public_key() -> Option<PathBuf> {
    ["~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub"]
        .into_iter()
        .map(expand_home)
        .find(|p| p.is_file())
}

/// Where a key pair EC2 made keeps its private key: beside the lab file.
pub fn pem_path(base_dir: &Path, lab: &str, key: &str) -> PathBuf {
    base_dir
        .join(".labctl")
        .join("keys")
        .join(lab)
        .join(format!("{key}.pem"))
}

/// The private key of an imported public key: the same path without `.pub`.
pub fn private_of(public: &Path) -> Option<PathBuf> {
    let s = public.to_str()?;
    s.strip_suffix(".pub")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// The private key of a key pair labctl did not make, where users keep it:
/// `~/.ssh/NAME.pem`, and for AWS Academy's `vockey` the `labsuser.pem` its
/// console hands out (in `~/.ssh` or `~/Downloads`).
pub fn private_of_existing(name: &str) -> Option<PathBuf> {
    let mut tries = vec![format!("~/.ssh/{name}.pem")];
    if name == "vockey" {
        tries.extend([
            "~/.ssh/labsuser.pem".into(),
            "~/Downloads/labsuser.pem".into(),
        ]);
    }
    tries.iter().map(|t| expand_home(t)).find(|p| p.is_file())
}

/// Writes a private key, readable only by its owner from the first byte on, and
/// atomically: a half-written key file never exists.
pub fn write_private(path: &Path, material: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // Keys never end up in the lab's repository: `.labctl/` ignores itself.
        if let Some(state) = path
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == ".labctl"))
        {
            let ignore = state.join(".gitignore");
            if !ignore.exists() {
                std::fs::write(ignore, "*\n")?;
            }
        }
    }
    let tmp = path.with_extension(format!("pem.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(material.as_bytes())?;
    if !material.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEm7SibQfS5B3r0hQ2P3zQn4Wn3m1m8p3w7jv8vX1b2c student@laptop\n";

    #[test]
    fn public_keys_are_checked_and_private_ones_refused_without_echo() {
        let k = parse_public(ED).unwrap();
        assert!(k.line.starts_with("ssh-ed25519 AAAA"));
        assert_eq!(k.sha256.len(), 64);
        // The comment is not the key.
        assert_eq!(
            parse_public(&ED.replace("student@laptop", "x"))
                .unwrap()
                .sha256,
            k.sha256
        );
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let e = parse_public(private).unwrap_err();
        assert!(e.contains("private key") && !e.contains("b3BlbnNz"), "{e}");
        assert!(
            parse_public("ecdsa-sha2-nistp256 AAAA x")
                .unwrap_err()
                .contains("ECDSA")
        );
        assert!(parse_public("ssh-ed25519 !!!").is_err());
        assert!(
            parse_public(
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEm7SibQfS5B3r0hQ2P3zQn4Wn3m1m8p3w7jv8vX1b2c"
            )
            .is_err()
        );
    }

    #[test]
    fn a_private_key_is_written_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = pem_path(d.path(), "lab", "lab-web");
        write_private(
            &p,
            "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("KEY-----\n"));
        let dir = p.parent().unwrap();
        assert_eq!(
            std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join(".labctl/.gitignore")).unwrap(),
            "*\n"
        );
    }
}
