//! The docker CLI: engine check, images, clean-up by label. Every call has a deadline.
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The CLI siospec calls: `SIOSPEC_DOCKER`, else `docker` from PATH.
pub fn cli() -> String {
    std::env::var("SIOSPEC_DOCKER").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "docker".into())
}

/// Runs the CLI with a deadline; kills it when the deadline passes.
pub fn run(args: &[&str], within: Duration) -> Result<Output, String> {
    let mut child = Command::new(cli())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the docker CLI (`{}`) is not on PATH: install a container engine (Debian/Ubuntu: `apt-get install docker.io`) and start it (`dockerd &` or `systemctl start docker`); siospec installs nothing itself",
                    cli()
                )
            } else {
                format!("cannot run `{}`: {e}", cli())
            }
        })?;
    // Drain both pipes while waiting, so a chatty command cannot block on a full pipe.
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + within;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{} {}` did not finish within {} s", cli(), args.join(" "), within.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    Ok(Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() })
}

fn stdout_of(args: &[&str], within: Duration) -> Option<String> {
    run(args, within).ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The engine's version, or why no engine answers (with what to do about it). An answer is
/// remembered for the rest of the process (readiness asks once per target).
pub fn engine() -> Result<String, String> {
    static SEEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(v) = SEEN.get() {
        return Ok(v.clone());
    }
    let v = ask_engine()?;
    Ok(SEEN.get_or_init(|| v).clone())
}

fn ask_engine() -> Result<String, String> {
    let o = run(&["version", "--format", "{{.Server.Version}}"], Duration::from_secs(15))?;
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    if o.status.success() && !out.is_empty() {
        return Ok(out);
    }
    let err = String::from_utf8_lossy(&o.stderr);
    let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no answer").trim().to_string();
    Err(format!(
        "no container engine answers (`{} version`: {first}): start one (`dockerd &` or `systemctl start docker`), or point DOCKER_HOST at it",
        cli()
    ))
}

/// The id of a local image, None when it is not here.
pub fn image_id(image: &str) -> Option<String> {
    stdout_of(&["image", "inspect", "--format", "{{.Id}}", image], Duration::from_secs(15)).filter(|s| !s.is_empty())
}

/// Tags (`repo:tag`) of a local repository.
pub fn list_tags(repo: &str) -> Vec<String> {
    stdout_of(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo], Duration::from_secs(15))
        .map(|s| s.lines().filter(|l| !l.ends_with(":<none>")).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Untagged images (not the parent of another) carrying every label given, newest first.
pub fn dangling_with_labels(labels: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        vec!["image".into(), "ls".into(), "-q".into(), "--no-trunc".into(), "--filter".into(), "dangling=true".into()];
    for l in labels {
        args.push("--filter".into());
        args.push(format!("label={l}"));
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let mut ids: Vec<String> = stdout_of(&args, Duration::from_secs(15))
        .map(|s| s.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    ids.dedup();
    ids
}

/// Removes a local image; failures (e.g. still used by a container) are ignored.
pub fn remove_image(image: &str) {
    let _ = run(&["image", "rm", image], Duration::from_secs(60));
}

/// Ids of the containers (running or not) carrying a label (`key=value`).
pub fn containers_with_label(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    stdout_of(&["ps", "-aq", "--filter", &filter], Duration::from_secs(15))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Force-removes every container carrying the label and waits until none is left (at most a
/// few seconds). Used as the last line of defence: synchronous, callable from Drop.
pub fn remove_labelled(label: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ids = containers_with_label(label);
        if ids.is_empty() || Instant::now() > deadline {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(|s| s.as_str()));
        let _ = run(&args, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Number of containers the engine lists (`docker ps -a`), for leftover checks.
pub fn container_count() -> Option<usize> {
    stdout_of(&["ps", "-aq"], Duration::from_secs(15)).map(|s| s.lines().filter(|l| !l.is_empty()).count())
}
