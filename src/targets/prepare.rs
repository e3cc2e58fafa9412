//! Preparing driver families: install pinned packages once, remember what was installed.
use super::catalog::Family;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Prepared,
    /// Runtime present, packages not installed (or stale): `siospec targets prepare` fixes it.
    NeedsPrepare,
    /// A required program is missing: the hint says what to install.
    Unavailable(String),
}

/// The stamp lives in the family's own directory: it describes what that directory holds, so
/// every project root that shares it (a test's scratch root links the checkout's drivers)
/// shares the stamp, and none re-runs `npm ci` under drivers another one is running.
fn stamp_path(root: &Path, fam_name: &str, fam: &Family) -> PathBuf {
    root.join(&fam.dir).join(format!(".siospec-prepared-{fam_name}"))
}

/// A fingerprint of the family's inputs (lockfiles), so a changed lockfile re-prepares.
fn fingerprint(root: &Path, fam: &Family) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &fam.inputs {
        f.hash(&mut h);
        std::fs::read(root.join(&fam.dir).join(f)).unwrap_or_default().hash(&mut h);
    }
    fam.prepare.hash(&mut h);
    format!("{:016x}", h.finish())
}

pub fn readiness(root: &Path, fam_name: &str, fam: &Family) -> Readiness {
    let missing: Vec<&str> = fam.requires.iter().filter(|p| !crate::host::on_path(p)).map(|s| s.as_str()).collect();
    if !missing.is_empty() {
        return Readiness::Unavailable(format!("needs {} ({})", missing.join(", "), fam.install_hint));
    }
    match std::fs::read_to_string(stamp_path(root, fam_name, fam)) {
        Ok(s) if s.trim() == fingerprint(root, fam) => Readiness::Prepared,
        _ => Readiness::NeedsPrepare,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("family `{0}` is unavailable: {1}")]
    Unavailable(String, String),
    #[error("preparing `{family}` failed: `{command}` exited with {status}\n{tail}")]
    Failed { family: String, command: String, status: String, tail: String },
    #[error("preparing `{0}`: {1}")]
    Io(String, std::io::Error),
}

/// How long preparation waits for another process preparing the same directory.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(900);

/// Runs the family's preparation unless its stamp is current. Returns true if it ran.
///
/// Several siospec processes may prepare the same checkout at once (test binaries run their
/// trials in parallel, CI jobs share a machine); two `npm ci` in one directory corrupt each
/// other, so preparation holds an exclusive lock on the family's lock file and re-reads the
/// stamp once it has it: the second process finds the work done.
pub fn prepare(root: &Path, fam_name: &str, fam: &Family, force: bool) -> Result<bool, PrepareError> {
    if let Readiness::Unavailable(why) = readiness(root, fam_name, fam) {
        return Err(PrepareError::Unavailable(fam_name.into(), why));
    }
    if !force && readiness(root, fam_name, fam) == Readiness::Prepared {
        return Ok(false);
    }
    let io = |e: std::io::Error| PrepareError::Io(fam_name.into(), e);
    let stamp = stamp_path(root, fam_name, fam);
    let dir = stamp.parent().expect("stamp path has a parent");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!(".siospec-prepare-{fam_name}.lock")))
        .map_err(io)?;
    // Another process preparing the same directory is waited for, up to a deadline: one that
    // hangs must not hang this one too.
    let waited = std::time::Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if waited.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(200))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io(std::io::Error::other(format!(
                    "another process has been preparing {} for over {} s (lock {})",
                    dir.display(),
                    LOCK_WAIT.as_secs(),
                    dir.join(format!(".siospec-prepare-{fam_name}.lock")).display()
                ))))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    if !force && readiness(root, fam_name, fam) == Readiness::Prepared {
        return Ok(false);
    }
    let (prog, args) = fam
        .prepare
        .split_first()
        .ok_or_else(|| PrepareError::Io(fam_name.into(), std::io::Error::other("empty prepare command in the catalog")))?;
    let out = std::process::Command::new(prog)
        .args(args)
        .current_dir(root.join(&fam.dir))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PrepareError::Io(fam_name.into(), e))?;
    if !out.status.success() {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let tail: Vec<&str> = all.lines().rev().take(20).collect();
        return Err(PrepareError::Failed {
            family: fam_name.into(),
            command: fam.prepare.join(" "),
            status: out.status.to_string(),
            tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    std::fs::write(&stamp, fingerprint(root, fam)).map_err(io)?;
    drop(lock);
    Ok(true)
}
