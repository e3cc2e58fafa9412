//! Containers: every driver family as an image (`containers/<family>/Dockerfile`), the local
//! base images `siospec containers bootstrap` makes from Debian packages, and the engine
//! checks behind them. Images are built with the docker CLI (`docker build --network host`,
//! the project root as context); containers are run through testcontainers
//! (`targets::container`, which depends on this module, never the other way).
//!
//! An image is tagged by the content it is built from (`siospec/driver-<family>:<hash>`: the
//! Dockerfile, the bridge, every file of the driver family that goes into the build context,
//! the build arguments and the base images' ids), so it is built once and rebuilt exactly
//! when one of those changes.
pub mod bootstrap;
pub mod docker;

use serde::Deserialize;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `containers/containers.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub debian: DebianBase,
    #[serde(default)]
    pub family: BTreeMap<String, FamilyRecipe>,
    #[serde(default)]
    pub base: Vec<LocalBase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianBase {
    pub suite: String,
    pub mirror: String,
    pub image: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRecipe {
    /// Build arguments with the official base images.
    pub args: BTreeMap<String, String>,
    /// The same arguments with images made by `siospec containers bootstrap`.
    #[serde(default)]
    pub local: BTreeMap<String, String>,
    /// false: the recipe could not be built and checked where siospec is developed.
    #[serde(default = "yes")]
    pub verified: bool,
    #[serde(default)]
    pub note: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalBase {
    pub image: String,
    pub dockerfile: String,
    /// Other local bases it is built FROM (besides the Debian one).
    #[serde(default)]
    pub needs: Vec<String>,
}

pub const MANIFEST: &str = "containers/containers.toml";
/// Copied into every image as /usr/local/bin/siospec-bridge.
pub const BRIDGE: &str = "containers/bridge.sh";

impl Manifest {
    pub fn load(root: &Path) -> Result<Manifest, String> {
        let path = root.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn recipe(&self, family: &str) -> Result<&FamilyRecipe, String> {
        self.family.get(family).ok_or_else(|| {
            format!(
                "driver family `{family}` has no container recipe in {MANIFEST} (families with one: {})",
                self.family.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// Which base images a family image is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bases {
    /// The official images (`node:20-bookworm-slim`, ...), pulled by the engine when absent.
    Official,
    /// The images made by `siospec containers bootstrap` (no registry needed).
    Local,
    /// Local when every one of the family's local images exists, official otherwise.
    Auto,
}

impl Bases {
    /// `SIOSPEC_CONTAINER_BASES` (official, local, auto); auto when unset.
    pub fn from_env() -> Result<Bases, String> {
        match std::env::var("SIOSPEC_CONTAINER_BASES").unwrap_or_default().as_str() {
            "" | "auto" => Ok(Bases::Auto),
            "official" => Ok(Bases::Official),
            "local" => Ok(Bases::Local),
            other => Err(format!("SIOSPEC_CONTAINER_BASES must be official, local or auto, not `{other}`")),
        }
    }
}

/// An image to build for a driver family.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub family: String,
    /// `siospec/driver-<family>:<content hash>`.
    pub tag: String,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    /// True when the bases are the bootstrapped local ones.
    pub local_bases: bool,
}

/// Path components never sent to a build (installed packages, build outputs). Keep in
/// step with /.dockerignore, which does the same for builds by hand.
fn excluded(rel: &Path) -> bool {
    let comps: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
    comps.iter().any(|c| {
        matches!(c.as_str(), "node_modules" | "target" | "__pycache__" | ".build" | ".swiftpm" | ".git")
                || c.starts_with(".venv")
                // Preparation stamps and locks of the local checkout (targets::prepare).
                || c.starts_with(".siospec-")
    }) || comps.first().map(|c| c == "bin").unwrap_or(false)
}

/// Every file of the family's driver directory that goes into its image, sorted, relative
/// to that directory.
pub fn context_files(root: &Path, family: &str) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(rel) = p.strip_prefix(base) else { continue };
            if excluded(rel) {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(base, &p, out),
                Ok(t) if t.is_file() => out.push(rel.to_path_buf()),
                // Symlinks: followed when they name a file.
                Ok(_) if p.is_file() => out.push(rel.to_path_buf()),
                _ => {}
            }
        }
    }
    let base = root.join("fixtures/drivers").join(family);
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out.sort();
    out
}

/// The image a family's targets run in, with the bases chosen by `bases`.
pub fn plan(root: &Path, manifest: &Manifest, family: &str, bases: Bases) -> Result<ImagePlan, String> {
    let recipe = manifest.recipe(family)?;
    let dockerfile = format!("containers/{family}/Dockerfile");
    let df_text = std::fs::read(root.join(&dockerfile)).map_err(|e| format!("{dockerfile}: {e}"))?;
    let local = match bases {
        Bases::Official => false,
        Bases::Local => {
            if recipe.local.is_empty() {
                return Err(format!(
                    "family `{family}` has no local base images (`siospec containers bootstrap` cannot make them); use the official ones"
                ));
            }
            true
        }
        Bases::Auto => !recipe.local.is_empty() && recipe.local.values().all(|img| docker::image_id(img).is_some()),
    };
    let mut args = recipe.args.clone();
    if local {
        args.extend(recipe.local.clone());
    }
    let mut h = Sha1::new();
    h.update(b"siospec-driver-image-v1\0");
    h.update(&df_text);
    h.update(b"\0bridge\0");
    h.update(std::fs::read(root.join(BRIDGE)).map_err(|e| format!("{BRIDGE}: {e}"))?);
    for f in context_files(root, family) {
        h.update(b"\0file\0");
        h.update(f.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(std::fs::read(root.join("fixtures/drivers").join(family).join(&f)).unwrap_or_default());
    }
    for (k, v) in &args {
        h.update(format!("\0arg\0{k}={v}\0").as_bytes());
        // A re-made local base (or a newly pulled official one) gives a new image.
        if let Some(id) = docker::image_id(v) {
            h.update(id.as_bytes());
        }
    }
    let hash: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(ImagePlan { family: family.to_string(), tag: format!("siospec/driver-{family}:{hash}"), dockerfile, args, local_bases: local })
}

/// The PEM certificates to trust, in addition to the base images' own, while a build
/// downloads from a registry: `--extra-ca FILE`, else `SIOSPEC_EXTRA_CA` (a file name).
pub fn extra_ca(flag: Option<&Path>) -> Result<Option<String>, String> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("SIOSPEC_EXTRA_CA") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("extra CA bundle {}: {e}", path.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("extra CA bundle {} holds no PEM certificate", path.display()));
    }
    Ok(Some(text.trim().to_string()))
}

/// Build arguments a Dockerfile declares (`ARG NAME` or `ARG NAME=default`): only those are
/// passed, so the engine has no unused argument to warn about.
pub fn declared_args(dockerfile: &str) -> std::collections::BTreeSet<String> {
    dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ARG "))
        .map(|rest| rest.trim().split(['=', ' ']).next().unwrap_or("").to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Arguments of `docker build` for a family image, relative to the project root (the context).
pub fn build_args(root: &Path, plan: &ImagePlan, extra_ca: Option<&str>) -> Vec<String> {
    let declared = declared_args(&std::fs::read_to_string(root.join(&plan.dockerfile)).unwrap_or_default());
    let mut a: Vec<String> = vec![
        "build".into(),
        "--network".into(),
        "host".into(),
        "--force-rm".into(),
        "-f".into(),
        plan.dockerfile.clone(),
        "-t".into(),
        plan.tag.clone(),
        "--label".into(),
        format!("siospec.family={}", plan.family),
    ];
    for (k, v) in plan.args.iter().filter(|(k, _)| declared.contains(*k)) {
        a.push("--build-arg".into());
        a.push(format!("{k}={v}"));
    }
    if let Some(ca) = extra_ca.filter(|_| declared.contains("EXTRA_CA")) {
        a.push("--build-arg".into());
        a.push(format!("EXTRA_CA={ca}"));
    }
    a.push(".".into());
    a
}

/// Where the output of a family image build goes.
pub fn build_log(root: &Path, family: &str) -> PathBuf {
    root.join(".siospec/containers").join(format!("build-{family}.log"))
}

/// Builds the plan's image unless it exists; then removes the family's older images (other
/// tags of the same repository), so rebuilt images do not pile up. Returns true if it built.
/// The docker CLI is killed if this future is dropped (Ctrl-C), which cancels the build.
pub async fn ensure_image(root: &Path, plan: &ImagePlan, extra_ca: Option<&str>, on_build: &(dyn Fn(&str) + Sync)) -> Result<bool, String> {
    let lock = build_lock(&plan.tag);
    let _guard = lock.lock().await;
    if docker::image_id(&plan.tag).is_some() {
        return Ok(false);
    }
    // Declared before the build process: dropped after it (killed) when this future is dropped.
    let mut leftovers = PruneGuard { family: plan.family.clone(), armed: true };
    on_build(&format!(
        "building the {} driver image {} ({} bases; first use, cached afterwards) …",
        plan.family,
        plan.tag,
        if plan.local_bases { "local" } else { "official" }
    ));
    let log = build_log(root, &plan.family);
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(docker::cli())
        .args(build_args(root, plan, extra_ca))
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{} build`: {e}", docker::cli()))?;
    // Generous: a cold build downloads every pinned package of the family.
    let status = match tokio::time::timeout(Duration::from_secs(3600), child.wait()).await {
        Ok(s) => s.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!("building {} took more than an hour; log: {}", plan.tag, log.display()));
        }
    };
    leftovers.armed = false;
    prune_build_leftovers(&plan.family);
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        let mut hint = String::new();
        if !plan.local_bases
            && (text.contains("pull access denied")
                || text.contains("registry")
                || text.contains("dial tcp")
                || text.contains("no such host"))
        {
            hint = "\nno image registry reachable? `siospec containers bootstrap` builds local base images from Debian packages (then SIOSPEC_CONTAINER_BASES=auto or local)".into();
        }
        if text.contains("certificate") && extra_ca.is_none() {
            hint.push_str("\nbehind a TLS-inspecting proxy? pass its CA bundle: SIOSPEC_EXTRA_CA=/path/to/ca.pem");
        }
        return Err(format!("building the {} driver image failed ({status}); log: {}\n{tail}{hint}", plan.family, log.display()));
    }
    // Older images of the family (other content hashes) are not needed any more.
    let repo = plan.tag.split(':').next().unwrap_or_default().to_string();
    for old in docker::list_tags(&repo) {
        if old != plan.tag {
            docker::remove_image(&old);
        }
    }
    Ok(true)
}

/// Removes the untagged images a family's builds left: everything labelled
/// `siospec.family=<family>` (the Dockerfiles label the first layer of every stage) except the
/// newest build stage (`siospec.stage=build`), kept as the cache of the next rebuild. What an
/// interrupted or failed build committed goes too.
pub fn prune_build_leftovers(family: &str) {
    let fam = format!("siospec.family={family}");
    let keep = docker::dangling_with_labels(&[&fam, "siospec.stage=build"]).into_iter().next();
    for id in docker::dangling_with_labels(&[&fam]) {
        if Some(&id) != keep.as_ref() {
            docker::remove_image(&id);
        }
    }
}

/// Prunes a family's build leftovers when a build is abandoned (its future dropped: Ctrl-C).
struct PruneGuard {
    family: String,
    armed: bool,
}

impl Drop for PruneGuard {
    fn drop(&mut self) {
        if self.armed {
            // The engine cancels the build when its client is killed; give it a moment.
            std::thread::sleep(Duration::from_millis(500));
            prune_build_leftovers(&self.family);
        }
    }
}

fn build_lock(tag: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut m = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    m.entry(tag.to_string()).or_default().clone()
}

/// Whether a family's image can run here (the targets layer reads it as a readiness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    Built,
    /// Not built yet, and buildable: its bases are here, or a registry may have them.
    Buildable,
    /// What is missing: the engine, the manifest's recipe, the bases of an unverified recipe.
    Unavailable(String),
}

/// The state of a family's image here, and what is missing if it cannot be built.
pub fn image_state(root: &Path, family: &str) -> ImageState {
    if let Err(e) = docker::engine() {
        return ImageState::Unavailable(e);
    }
    let manifest = match Manifest::load(root) {
        Ok(m) => m,
        Err(e) => return ImageState::Unavailable(e),
    };
    let recipe = match manifest.recipe(family) {
        Ok(r) => r,
        Err(e) => return ImageState::Unavailable(e),
    };
    let bases = match Bases::from_env() {
        Ok(b) => b,
        Err(e) => return ImageState::Unavailable(e),
    };
    match plan(root, &manifest, family, bases) {
        Ok(p) if docker::image_id(&p.tag).is_some() => ImageState::Built,
        Ok(p) => {
            // Not built yet: fine when its bases are here (or a registry may have them).
            let missing: Vec<&String> = p.args.values().filter(|img| docker::image_id(img).is_none()).collect();
            if !recipe.verified && !missing.is_empty() {
                ImageState::Unavailable(format!(
                    "{} (needs base image(s) {})",
                    recipe.note,
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))
            } else {
                ImageState::Buildable
            }
        }
        Err(e) => ImageState::Unavailable(e),
    }
}
