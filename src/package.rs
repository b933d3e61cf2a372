//! Lambda packages: reproducible zips of a function's folder, and inspection of layer
//! zips. Same source, same bytes, same CodeSha256: that is what lets the plan compare
//! code with Lambda's hash instead of uploading on every run.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// What a layer is built from.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSource {
    Requirements(Vec<String>),
    Zip(PathBuf),
}

/// Files and folders never shipped to Lambda: caches, tests and local tooling.
fn skipped(name: &str) -> bool {
    name == "__pycache__"
        || name.ends_with(".pyc")
        || name == "tests"
        || name == "test"
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name == ".pytest_cache"
        || name == ".DS_Store"
        || name == ".git"
        || name == ".venv"
        || name == "node_modules/.cache"
}

/// Every file under `dir` that goes into the package, as (path in zip, path on disk), sorted.
pub fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    walk(dir, skipped)
}

/// Every file under `dir` but those `skip` names, sorted.
fn walk(dir: &Path, skip: fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    // Links are followed, as `zip -r` does; a folder reached twice (a link loop) once.
    let mut seen = std::collections::BTreeSet::new();
    while let Some((prefix, path)) = stack.pop() {
        if let Ok(real) = path.canonicalize()
            && !seen.insert(real)
        {
            continue;
        }
        let entries =
            std::fs::read_dir(&path).with_context(|| format!("reading {}", path.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("reading {}", path.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if skip(&name) {
                continue;
            }
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = std::fs::metadata(e.path()).with_context(|| {
                format!(
                    "{} is a link to nothing: fix or remove it",
                    e.path().display()
                )
            })?;
            if ft.is_dir() {
                stack.push((rel, e.path()));
            } else if ft.is_file() {
                out.push((rel, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for (_, p) in files(dir)? {
        total += std::fs::metadata(&p)?.len();
    }
    Ok(total)
}

/// Zips `entries` with fixed timestamps and modes, in the given (sorted) order.
pub fn zip_entries(entries: &[(String, PathBuf)]) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let ts =
        zip::DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0).context("fixed zip timestamp")?;
    for (name, path) in entries {
        let mode = if is_executable(path) { 0o755 } else { 0o644 };
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(ts)
            .unix_permissions(mode);
        w.start_file(name.as_str(), opts)?;
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        w.write_all(&data)?;
    }
    Ok(w.finish()?.into_inner())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// The function package for a code folder.
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>> {
    zip_entries(&files(dir)?)
}

/// Lambda's CodeSha256: base64 of the SHA-256 of the zip bytes.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

pub fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a layer zip holds that matters for compatibility.
#[derive(Debug, Default)]
pub struct LayerInfo {
    /// Compiled CPython extension modules: (path, python tag like "312", arch like "x86_64").
    pub extensions: Vec<(String, String, String)>,
    pub has_python_dir: bool,
    pub unzipped_size: u64,
}

pub fn inspect_layer_zip(path: &Path) -> Result<LayerInfo> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| "cannot open it".to_string())?
        .read_to_end(&mut bytes)?;
    inspect_layer_bytes(&bytes)
}

pub fn inspect_layer_bytes(bytes: &[u8]) -> Result<LayerInfo> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .context("it is not a valid zip archive")?;
    let mut info = LayerInfo::default();
    for i in 0..z.len() {
        let f = z.by_index(i)?;
        let name = f.name()?.into_owned();
        info.unzipped_size += f.size();
        if name.starts_with("python/") {
            info.has_python_dir = true;
        }
        // e.g. python/PIL/_imaging.cpython-312-x86_64-linux-gnu.so
        if let Some(rest) = name
            .rsplit('/')
            .next()
            .and_then(|b| b.split_once(".cpython-"))
            .map(|(_, r)| r)
            && let Some(tag) = rest.strip_suffix("-linux-gnu.so")
            && let Some((py, arch)) = tag.split_once('-')
        {
            info.extensions
                .push((name.clone(), py.to_owned(), arch.to_owned()));
        }
    }
    Ok(info)
}

/// Why a layer's compiled modules would fail to import on the given runtimes/architecture.
pub fn extension_mismatches(info: &LayerInfo, runtimes: &[String], arch: Arch) -> Vec<String> {
    let mut out = Vec::new();
    if !info.has_python_dir && runtimes.iter().any(|r| r.starts_with("python")) {
        out.push("the zip has no top-level `python/` folder, so Lambda will not put its packages on the import path".into());
    }
    let want_arch = match arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "aarch64",
    };
    for (path, py, a) in &info.extensions {
        if a != want_arch {
            out.push(format!(
                "{path} is built for {a}, but the layer is declared {}",
                arch.as_str()
            ));
            break;
        }
        for r in runtimes {
            if let Some(v) = r.strip_prefix("python") {
                let tag = v.replace('.', "");
                if &tag != py {
                    out.push(format!(
                        "{path} is built for CPython {py}, but runtime {r} needs cpython-{tag}"
                    ));
                }
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    if info.unzipped_size > 250 * 1024 * 1024 {
        out.push(format!(
            "it unzips to {} MB; Lambda allows 250 MB for a function and its layers",
            info.unzipped_size / (1024 * 1024)
        ));
    }
    out
}

/// Identifies a layer's content without building it: the requirements, runtimes and
/// architecture it is built from (pinned requirements give the same packages), or the
/// bytes of a prebuilt zip. Kept in the layer version's description, since layers
/// cannot be tagged.
pub fn layer_key(source: &LayerSource, runtimes: &[String], arch: Arch) -> Result<String> {
    let text = match source {
        LayerSource::Requirements(reqs) => {
            let mut r = reqs.clone();
            r.sort();
            format!(
                "labctl-layer-v1\nrequirements={}\nruntimes={}\narch={}",
                r.join(","),
                runtimes.join(","),
                arch.as_str()
            )
        }
        LayerSource::Zip(path) => {
            return Ok(hex_sha256(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            ));
        }
    };
    Ok(hex_sha256(text.as_bytes()))
}

/// labctl's cache folder: `$XDG_CACHE_HOME/labctl` or `~/.cache/labctl`.
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("labctl")
}

fn cache_dir() -> PathBuf {
    cache_root().join("layers")
}

fn cached_path(key: &str) -> PathBuf {
    cache_dir().join(format!("{key}.zip"))
}

/// A layer built earlier with this content key, from the build cache.
pub fn layer_zip_cached(key: &str) -> Option<Vec<u8>> {
    std::fs::read(cached_path(key)).ok()
}

/// The layer zip: a prebuilt one as it is, or one built with pip for the layer's
/// platform (never the host's) and cached on disk by `layer_key`.
pub fn layer_zip(source: &LayerSource, runtimes: &[String], arch: Arch) -> Result<Vec<u8>> {
    let reqs = match source {
        LayerSource::Zip(path) => {
            return std::fs::read(path).with_context(|| format!("reading {}", path.display()));
        }
        LayerSource::Requirements(r) => r,
    };
    let key = layer_key(source, runtimes, arch)?;
    let cached = cached_path(&key);
    if let Ok(bytes) = std::fs::read(&cached) {
        return Ok(bytes);
    }
    let work = tempfile::tempdir().context("creating a build folder")?;
    let platform = match arch {
        Arch::X86_64 => "manylinux2014_x86_64",
        Arch::Arm64 => "manylinux2014_aarch64",
    };
    let python = std::env::var("LABCTL_PYTHON").unwrap_or_else(|_| "python3".into());
    let one = runtimes.len() == 1;
    for rt in runtimes {
        let version = rt
            .strip_prefix("python")
            .context("layers built from requirements are for python runtimes")?;
        // One runtime: python/ (on the path of every Python runtime); several: each its own
        // site-packages, since compiled packages differ per Python version.
        let target = if one {
            work.path().join("python")
        } else {
            work.path()
                .join(format!("python/lib/python{version}/site-packages"))
        };
        let out = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--only-binary=:all:",
                "--implementation",
                "cp",
            ])
            .args([
                "--platform",
                platform,
                "--python-version",
                version,
                "--target",
            ])
            .arg(&target)
            .args(reqs)
            .output()
            .with_context(|| {
                format!("running {python} -m pip (set LABCTL_PYTHON to a Python with pip)")
            })?;
        if !out.status.success() {
            anyhow::bail!(
                "pip could not install {} for {rt} on {platform}:\n{}",
                reqs.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let mut entries: Vec<(String, PathBuf)> = files_all(work.path())?;
    entries.retain(|(n, _)| !n.contains("__pycache__") && !n.ends_with(".pyc"));
    let zip = zip_entries(&entries)?;
    if let Some(dir) = cached.parent() {
        let _ = std::fs::create_dir_all(dir);
        let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &zip).is_ok() {
            let _ = std::fs::rename(&tmp, &cached);
        }
    }
    Ok(zip)
}

/// Every file under `dir` (nothing skipped), sorted, as (path in zip, path on disk).
fn files_all(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    walk(dir, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_reproducible_and_skip_caches() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("app.py"), "def handler(e, c):\n    pass\n").unwrap();
        std::fs::create_dir(d.path().join("__pycache__")).unwrap();
        std::fs::write(d.path().join("__pycache__/app.cpython-312.pyc"), "x").unwrap();
        std::fs::create_dir(d.path().join("tests")).unwrap();
        std::fs::write(d.path().join("tests/test_app.py"), "x").unwrap();
        let a = zip_dir(d.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(d.path().join("app.py"), "def handler(e, c):\n    pass\n").unwrap();
        let b = zip_dir(d.path()).unwrap();
        assert_eq!(code_sha256(&a), code_sha256(&b));
        let names: Vec<String> = files(d.path()).unwrap().into_iter().map(|f| f.0).collect();
        assert_eq!(names, vec!["app.py"]);
    }

    #[test]
    fn linked_files_and_folders_are_packaged_and_loops_end() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("app.py"), "def handler(e, c):\n    pass\n").unwrap();
        let code = d.path().join("code");
        std::fs::create_dir(&code).unwrap();
        std::os::unix::fs::symlink(shared.join("app.py"), code.join("app.py")).unwrap();
        std::os::unix::fs::symlink(&shared, code.join("lib")).unwrap();
        std::os::unix::fs::symlink(&code, code.join("again")).unwrap();
        let names: Vec<String> = files(&code).unwrap().into_iter().map(|f| f.0).collect();
        assert_eq!(names, vec!["app.py", "lib/app.py"]);
        std::os::unix::fs::symlink(d.path().join("gone"), code.join("broken")).unwrap();
        let e = files(&code).unwrap_err();
        assert!(format!("{e:#}").contains("link to nothing"), "{e:#}");
    }

    fn layer_zip(entry: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(entry, SimpleFileOptions::default()).unwrap();
        w.write_all(b"x").unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn finds_python_and_arch_mismatches() {
        let z = layer_zip("python/PIL/_imaging.cpython-311-x86_64-linux-gnu.so");
        let info = inspect_layer_bytes(&z).unwrap();
        let m = extension_mismatches(&info, &["python3.12".into()], Arch::X86_64);
        assert!(m[0].contains("cpython-312"), "{m:?}");
        let m = extension_mismatches(&info, &["python3.11".into()], Arch::Arm64);
        assert!(m[0].contains("x86_64"), "{m:?}");
        assert!(extension_mismatches(&info, &["python3.11".into()], Arch::X86_64).is_empty());
        let z = layer_zip("PIL/_imaging.cpython-312-x86_64-linux-gnu.so");
        let m = extension_mismatches(
            &inspect_layer_bytes(&z).unwrap(),
            &["python3.12".into()],
            Arch::X86_64,
        );
        assert!(m[0].contains("python/"), "{m:?}");
    }
}
