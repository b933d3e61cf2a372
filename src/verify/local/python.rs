//! A function made ready to run here as Lambda's Python runtime runs it: its package
//! unzipped as the task root, its layers unzipped in order into one `/opt` (a later
//! layer's files win, as on Lambda), a boto3 for the runtime's libraries, and an
//! interpreter of the runtime's version. Where the machine has none, the closest one
//! runs it, with the layers rebuilt for it, and the result is marked approximate.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::kind::Lab;
use crate::kind::lambda::{Arch, LayerSource};
use crate::package;
use crate::template::Vars;

/// The boto3 handlers get: Lambda's runtime includes one whose version AWS does not pin.
pub const BOTO3: &str = "boto3==1.44.8";

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    /// "3.12"
    pub version: String,
}

/// A function ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its real name.
    pub name: String,
    pub handler: String,
    pub runtime: String,
    pub memory: i32,
    pub timeout: i32,
    pub environment: Vec<(String, String)>,
    pub python: Interpreter,
    pub task_root: PathBuf,
    /// The import path, in Lambda's order: task root, each layer's paths, runtime libraries.
    pub path: Vec<PathBuf>,
    pub bin: Vec<PathBuf>,
    pub lib: Vec<PathBuf>,
    /// What differs from Lambda here (another Python, another architecture).
    pub approximate: Vec<String>,
}

fn host_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::X86_64),
        "aarch64" => Some(Arch::Arm64),
        _ => None,
    }
}

/// Prepares function `logical` of `lab` (placeholders filled in with `vars`) under `dir`.
pub fn prepare(lab: &Lab, vars: &Vars, logical: &str, dir: &Path) -> Result<Prepared> {
    let f = lab
        .lambda
        .functions
        .get(logical)
        .with_context(|| format!("the lab declares no function `{logical}`"))?;
    let want = f.runtime.strip_prefix("python").with_context(|| {
        format!(
            "function {logical}: verify runs Python functions; {} is not one",
            f.runtime
        )
    })?;
    let mut approximate = Vec::new();
    let t0 = std::time::Instant::now();
    let python = match find(want) {
        Some(p) => p,
        None => {
            let p = closest().with_context(|| {
                format!(
                    "no Python interpreter found to run {logical} ({})",
                    f.runtime
                )
            })?;
            approximate.push(format!(
                "{} is not on this machine: ran with Python {} ({}), layers rebuilt for it (install Python {want}, e.g. `pyenv install {want}` or `uv python install {want}`, for a faithful run)",
                f.runtime,
                p.version,
                p.path.display()
            ));
            p
        }
    };
    let host = host_arch();
    if host != Some(f.architecture) {
        approximate.push(format!(
            "the function runs on {}, this machine is {}: compiled packages were rebuilt for it",
            f.architecture.as_str(),
            std::env::consts::ARCH
        ));
    }
    if std::env::consts::OS != "linux" {
        approximate.push(format!(
            "Lambda runs Linux and this is {}: compiled packages built for Lambda may not load here",
            std::env::consts::OS
        ));
    }
    // Layers and libraries as this interpreter can load them.
    let (runtime, arch) = if approximate.is_empty() {
        (f.runtime.clone(), f.architecture)
    } else {
        (
            format!("python{}", python.version),
            host.unwrap_or(f.architecture),
        )
    };

    tracing::info!(function = logical, ms = t0.elapsed().as_millis() as u64, python = %python.path.display(), "interpreter found");
    let root = dir.join(logical);
    let task_root = root.join("task");
    let code = package::zip_dir(&f.code)
        .with_context(|| format!("packaging function {logical} from {}", f.code.display()))?;
    unzip(&code, &task_root)?;
    // Layers and the runtime's boto3, unpacked once per content into the cache.
    let mut layer_dirs = Vec::new();
    for name in &f.layers {
        let l = lab.lambda.layers.get(name).with_context(|| {
            format!("function {logical} uses layer {name}, which the lab does not declare")
        })?;
        let rebuilt = !approximate.is_empty() && matches!(l.source, LayerSource::Requirements(_));
        let runtimes = if rebuilt {
            std::slice::from_ref(&runtime)
        } else {
            l.runtimes.as_slice()
        };
        let a = if rebuilt { arch } else { l.architecture };
        let key = package::layer_key(&l.source, runtimes, a)?;
        let d = unpacked(&key, || package::layer_zip(&l.source, runtimes, a))
            .with_context(|| format!("unpacking layer {name}"))?;
        layer_dirs.push(d);
    }
    let boto_source = LayerSource::Requirements(vec![BOTO3.into()]);
    let runtimes = std::slice::from_ref(&runtime);
    let libs = unpacked(&package::layer_key(&boto_source, runtimes, arch)?, || {
        package::layer_zip(&boto_source, runtimes, arch)
    })
    .context("getting boto3 for the handlers (pip, from the package index)")?;
    let v = &python.version;
    let mut path = vec![task_root.clone()];
    // Lambda unpacks layers into one /opt, a later layer's files replacing an earlier
    // one's: with a folder per layer, the later layer comes first on the path.
    for d in layer_dirs.iter().rev() {
        path.push(d.join(format!("python/lib/python{v}/site-packages")));
        path.push(d.join("python"));
    }
    path.push(libs.join("python"));
    tracing::info!(
        function = logical,
        ms = t0.elapsed().as_millis() as u64,
        "ready"
    );
    Ok(Prepared {
        name: lab.physical(logical),
        handler: f.handler.clone(),
        runtime: f.runtime.clone(),
        memory: f.memory,
        timeout: f.timeout,
        // As the plan sends them: `${buckets.x.name}` filled in.
        environment: f
            .environment
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    vars.expand(v, true).unwrap_or_else(|_| v.clone()),
                )
            })
            .collect(),
        path,
        bin: layer_dirs.iter().rev().map(|d| d.join("bin")).collect(),
        lib: std::iter::once(task_root.join("lib"))
            .chain(layer_dirs.iter().rev().map(|d| d.join("lib")))
            .collect(),
        python,
        task_root,
        approximate,
    })
}

/// A zip's content unpacked under the cache, once per content `key`: a later run (or a
/// function running beside this one) finds it there.
fn unpacked(key: &str, zip: impl FnOnce() -> Result<Vec<u8>>) -> Result<PathBuf> {
    let dir = package::cache_root().join("unpacked").join(key);
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().context("cache folder")?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::tempdir_in(parent)?;
    unzip(&zip()?, tmp.path())?;
    // Another run may have won the race: its copy is as good.
    if std::fs::rename(tmp.path(), &dir).is_err() && !dir.is_dir() {
        anyhow::bail!("could not move the unpacked files to {}", dir.display());
    }
    Ok(dir)
}

fn unzip(zip: &[u8], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("reading a zip")?;
    a.extract(dir)
        .with_context(|| format!("unzipping into {}", dir.display()))
}

/// The version an interpreter reports, if it runs at all (a pyenv shim for a version
/// not selected does not).
fn version_of(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// An interpreter of exactly `want` ("3.12"): on PATH, or where pyenv and uv keep theirs.
pub fn find(want: &str) -> Option<Interpreter> {
    let exe = format!("python{want}");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let mut candidates: Vec<PathBuf> = dirs.iter().map(|d| d.join(&exe)).collect();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut roots: Vec<PathBuf> = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    roots.extend(home.iter().map(|h| h.join(".pyenv")));
    // A pyenv shim directory on PATH names its root, whatever HOME is.
    roots.extend(
        dirs.iter()
            .filter(|d| d.ends_with("shims"))
            .filter_map(|d| d.parent().map(Path::to_path_buf)),
    );
    for r in &roots {
        candidates.extend(versions_in(&r.join("versions"), want, "", &exe));
    }
    if let Some(h) = &home {
        candidates.extend(versions_in(
            &h.join(".local/share/uv/python"),
            want,
            "cpython-",
            &exe,
        ));
    }
    candidates
        .into_iter()
        .filter(|p| p.is_file())
        .find_map(|p| {
            (version_of(&p).as_deref() == Some(want)).then(|| Interpreter {
                path: p,
                version: want.to_owned(),
            })
        })
}

/// `ROOT/<prefix>3.12.x.../bin/python3.12`, newest first.
fn versions_in(root: &Path, want: &str, prefix: &str, exe: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let start = format!("{prefix}{want}.");
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&start))
        .map(|e| e.path().join("bin").join(exe))
        .collect();
    found.sort();
    found.reverse();
    found
}

/// The machine's own Python 3 (`LABCTL_PYTHON` or `python3`).
fn closest() -> Result<Interpreter> {
    let p = std::env::var_os("LABCTL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    match version_of(&p) {
        Some(v) if v.starts_with("3.") => Ok(Interpreter {
            path: p,
            version: v,
        }),
        _ => bail!(
            "{} does not run; install Python 3, or set LABCTL_PYTHON",
            p.display()
        ),
    }
}
