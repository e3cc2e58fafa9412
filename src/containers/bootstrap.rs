//! `siospec containers bootstrap`: local base images from Debian packages, for machines and
//! CI runners with a container engine but no image registry.
//!
//! 1. `siospec/debian:bookworm`: `debootstrap --variant=minbase` into a scratch directory,
//!    slimmed (no docs, man pages, locales, package lists), then `docker import`.
//! 2. The runtimes (`containers/bootstrap/*.Dockerfile`), FROM that image, with Debian's own
//!    packages (apt over the Debian mirror) or, where Debian has no suitable version, the
//!    ecosystem's own distribution (built with `--network host`).
//!
//! Every image is skipped when it already exists (`--force` remakes them). Nothing is
//! installed on the host: a missing `docker` or `debootstrap` is reported with what to install.
use super::{docker, Manifest};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    /// Families whose local bases to make; empty = every family that has some.
    pub families: Vec<String>,
    /// Debian mirror (default: the manifest's, http://deb.debian.org/debian).
    pub mirror: Option<String>,
    /// PEM certificates for downloads over TLS inside the builds.
    pub extra_ca: Option<String>,
    /// Remake images that exist.
    pub force: bool,
}

/// What one bootstrap did, image by image.
#[derive(Debug, Default)]
pub struct Report {
    pub made: Vec<(String, Duration)>,
    pub present: Vec<String>,
}

fn say(msg: &str) {
    eprintln!("[bootstrap] {msg}");
}

fn on_path(prog: &str) -> bool {
    crate::host::on_path(prog) || ["/usr/sbin", "/sbin"].iter().any(|d| Path::new(d).join(prog).is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Removes the scratch root file system however bootstrap ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(root: &Path, opts: &Options) -> Result<Report, String> {
    let manifest = Manifest::load(root)?;
    let version = docker::engine()?;
    say(&format!("container engine {version}"));
    let families: Vec<String> = if opts.families.is_empty() {
        manifest.family.iter().filter(|(_, r)| !r.local.is_empty()).map(|(n, _)| n.clone()).collect()
    } else {
        for f in &opts.families {
            let r = manifest.recipe(f)?;
            if r.local.is_empty() {
                return Err(format!(
                    "family `{f}` has no local base images to make ({}); it needs its official base images from a registry",
                    r.note
                ));
            }
        }
        opts.families.clone()
    };
    // The local bases these families need, with what those need, in manifest order.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for f in &families {
        wanted.extend(manifest.family[f].local.values().cloned());
    }
    loop {
        let more: Vec<String> = manifest
            .base
            .iter()
            .filter(|b| wanted.contains(&b.image))
            .flat_map(|b| b.needs.clone())
            .filter(|n| !wanted.contains(n))
            .collect();
        if more.is_empty() {
            break;
        }
        wanted.extend(more);
    }
    for w in &wanted {
        if *w != manifest.debian.image && !manifest.base.iter().any(|b| &b.image == w) {
            return Err(format!("{}: `{w}` is a local base of a family but no [[base]] makes it", super::MANIFEST));
        }
    }
    let mut report = Report::default();
    let debian = &manifest.debian.image;
    prune_leftovers(&manifest);
    if opts.force || docker::image_id(debian).is_none() {
        let t = Instant::now();
        make_debian(root, &manifest, opts)?;
        report.made.push((debian.clone(), t.elapsed()));
    } else {
        say(&format!("{debian}: present"));
        report.present.push(debian.clone());
    }
    for b in manifest.base.iter().filter(|b| wanted.contains(&b.image)) {
        if !opts.force && docker::image_id(&b.image).is_some() {
            say(&format!("{}: present", b.image));
            report.present.push(b.image.clone());
            continue;
        }
        let t = Instant::now();
        say(&format!("{}: building {} …", b.image, b.dockerfile));
        let mut args: Vec<String> = vec![
            "build".into(),
            "--network".into(),
            "host".into(),
            "--force-rm".into(),
            "-f".into(),
            b.dockerfile.clone(),
            "-t".into(),
            b.image.clone(),
            "--label".into(),
            "siospec.bootstrap=1".into(),
        ];
        let declared =
            super::declared_args(&std::fs::read_to_string(root.join(&b.dockerfile)).map_err(|e| format!("{}: {e}", b.dockerfile))?);
        let mut pass = vec![("DEBIAN", debian.clone()), ("MIRROR", opts.mirror.clone().unwrap_or_else(|| manifest.debian.mirror.clone()))];
        if let Some(ca) = &opts.extra_ca {
            pass.push(("EXTRA_CA", ca.clone()));
        }
        for (k, v) in pass.into_iter().filter(|(k, _)| declared.contains(*k)) {
            args.push("--build-arg".into());
            args.push(format!("{k}={v}"));
        }
        args.push("containers/bootstrap".into());
        let status = Command::new(docker::cli())
            .args(&args)
            .current_dir(root)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run `{} build`: {e}", docker::cli()))?;
        prune_leftovers(&manifest);
        if !status.success() {
            return Err(format!("building {} from {} failed ({status}); see the output above", b.image, b.dockerfile));
        }
        say(&format!("{}: made in {:.0} s", b.image, t.elapsed().as_secs_f64()));
        report.made.push((b.image.clone(), t.elapsed()));
    }
    Ok(report)
}

/// Untagged images left by failed or interrupted bootstrap builds (labelled siospec.bootstrap,
/// which family images built on these bases inherit: those are left to `prune_build_leftovers`).
fn prune_leftovers(manifest: &Manifest) {
    let family: std::collections::BTreeSet<String> =
        manifest.family.keys().flat_map(|f| docker::dangling_with_labels(&[&format!("siospec.family={f}")])).collect();
    for id in docker::dangling_with_labels(&["siospec.bootstrap=1"]) {
        if !family.contains(&id) {
            docker::remove_image(&id);
        }
    }
}

/// debootstrap + slim + docker import.
fn make_debian(root: &Path, manifest: &Manifest, opts: &Options) -> Result<(), String> {
    let image = &manifest.debian.image;
    let mirror = opts.mirror.clone().unwrap_or_else(|| manifest.debian.mirror.clone());
    let suite = &manifest.debian.suite;
    if !on_path("debootstrap") {
        return Err("debootstrap is not installed: install it (Debian/Ubuntu: `apt-get install debootstrap`) and run this again; siospec installs nothing itself".into());
    }
    if !is_root() {
        return Err(format!("debootstrap needs root to build {image}: run `siospec containers bootstrap` as root (e.g. with sudo)"));
    }
    let work = root.join(".siospec/bootstrap");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let dir = work.join(format!("rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scratch = Scratch(dir.clone());
    let log = work.join("debootstrap.log");
    say(&format!("{image}: debootstrap --variant=minbase {suite} from {mirror} (log: {}) …", log.display()));
    let t = Instant::now();
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let debootstrap = if crate::host::on_path("debootstrap") { "debootstrap".to_string() } else { "/usr/sbin/debootstrap".to_string() };
    let status = Command::new(debootstrap)
        .args(["--variant=minbase", suite.as_str(), &dir.to_string_lossy(), mirror.as_str()])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run debootstrap: {e}"))?;
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        return Err(format!(
            "debootstrap failed ({status}); log {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    say(&format!("{image}: debootstrap done in {:.0} s; slimming and importing …", t.elapsed().as_secs_f64()));
    slim(&dir, suite, &mirror)?;
    // tar -C dir -c . | docker import - image
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C", &dir.to_string_lossy(), "-c", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let tar_out = tar.stdout.take().expect("piped");
    let msg = format!("siospec containers bootstrap: debootstrap --variant=minbase {suite} {mirror}");
    let import = Command::new(docker::cli())
        .args(["import", "--change", "CMD [\"bash\"]", "--change", "ENV LANG=C.UTF-8", "--message", &msg, "-", image])
        .stdin(Stdio::from(tar_out))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `{} import`: {e}", docker::cli()))?;
    let tar_status = tar.wait().map_err(|e| e.to_string())?;
    if !tar_status.success() || !import.success() {
        return Err(format!("importing {image} failed (tar: {tar_status}, docker import: {import})"));
    }
    drop(scratch);
    say(&format!("{image}: made in {:.0} s", t.elapsed().as_secs_f64()));
    Ok(())
}

/// What debian:*-slim images do: no docs/man/locales (also for packages installed later),
/// no recommends, no package lists or downloaded packages in the image.
fn slim(dir: &Path, suite: &str, mirror: &str) -> Result<(), String> {
    let w = |rel: &str, text: &str| -> Result<(), String> {
        let p = dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut sources = format!("deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\ndeb {mirror} {suite}-backports main\n");
    if mirror.trim_end_matches('/') == "http://deb.debian.org/debian" {
        sources.push_str(&format!("deb http://deb.debian.org/debian-security {suite}-security main\n"));
    }
    w("etc/apt/sources.list", &sources)?;
    w(
        "etc/dpkg/dpkg.cfg.d/siospec-slim",
        "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\npath-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n",
    )?;
    w(
        "etc/apt/apt.conf.d/siospec-slim",
        "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\nAcquire::Languages \"none\";\n",
    )?;
    for sub in ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/man", "usr/share/info"] {
        clear_dir(&dir.join(sub));
    }
    // docs: keep the copyright files
    if let Ok(rd) = std::fs::read_dir(dir.join("usr/share/doc")) {
        for e in rd.flatten() {
            if let Ok(inner) = std::fs::read_dir(e.path()) {
                for f in inner.flatten() {
                    if f.file_name() != "copyright" {
                        let _ = if f.path().is_dir() { std::fs::remove_dir_all(f.path()) } else { std::fs::remove_file(f.path()) };
                    }
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("usr/share/locale")) {
        for e in rd.flatten() {
            if e.file_name() != "locale.alias" {
                let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            }
        }
    }
    Ok(())
}

fn clear_dir(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            // apt's own lock file and partial/ directory stay.
            if e.file_name() == "partial" || e.file_name() == "lock" {
                continue;
            }
            let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
        }
    }
}
