//! The container backend (`cargo test --test containers`): trials that need a container
//! engine run when one answers and are listed as ignored, with the reason, when none does.
//!
//! - `verdicts::<target>`: every suite against the target twice, with the process backend
//!   and with the container backend; the two verdict tables must be equal. A case whose
//!   verdicts differ is re-run on both backends; it fails the trial only when the backends
//!   never agree on it (a case that flips on both sides is timing noise, reported, not hidden).
//! - `matrix::<client>×<server>`: the matrix cell(s) of a Node client and server, process
//!   versus container (client drivers in containers are commanded over the control protocol).
//! - `leftovers::*`: `docker ps -a` counts before and after a passing run, a failing run, a
//!   run whose driver dies, and a run interrupted by SIGINT (while it runs cases, and while it
//!   builds its image) are equal, no container of the run is left, and an interrupted build
//!   leaves no image.
//! - `image::*`: the image tag follows the content; a second build is a cache hit.
//!
//! Container trials run one at a time (each also counts every container of the engine).
use libtest_mimic::{Arguments, Failed, Trial};
use siospec::containers::{self as c, docker};
use siospec::project::Project;
use siospec::report;
use siospec::run::{self, CaseResult, RunOptions};
use siospec::targets::catalog::Role;
use siospec::targets::prepare::Readiness;
use siospec::targets::{Backend, Target};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime"))
}

fn project() -> &'static Project {
    static P: OnceLock<Project> = OnceLock::new();
    P.get_or_init(|| Project::load(&root()).unwrap_or_else(|e| panic!("cannot load the project: {e}")))
}

fn time_scale() -> f64 {
    // The same resolution as the CLI's (environment, ./siospec.toml, default).
    siospec::settings::Settings::resolve(&Default::default()).unwrap_or_else(|e| panic!("{e}")).time_scale.value
}

/// One container trial at a time: they count the engine's containers.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siospec"))
}

/// Builds the family's image once for every trial (the real project root is the context).
fn image_for(family: &str) -> Result<String, String> {
    static IMAGES: OnceLock<Mutex<BTreeMap<String, Result<String, String>>>> = OnceLock::new();
    let mut m = IMAGES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = m.get(family) {
        return r.clone();
    }
    let r = (|| {
        let manifest = c::Manifest::load(&root())?;
        let plan = c::plan(&root(), &manifest, family, c::Bases::from_env()?)?;
        let ca = c::extra_ca(None)?;
        runtime().block_on(c::ensure_image(&root(), &plan, ca.as_deref(), &|m| eprintln!("{m}")))?;
        Ok(plan.tag)
    })();
    m.insert(family.to_string(), r.clone());
    r
}

// ---------------------------------------------------------------- verdict tables

async fn run_on(backend: Backend, target: &str, cases: &[siospec::suite::Case]) -> Result<(Vec<CaseResult>, Target), String> {
    let p = project();
    let def = p.catalog.find(target).map_err(|e| e.to_string())?;
    let t = p.open_target_on(backend, def, time_scale()).await.map_err(|e| format!("{} backend: {e}", backend.as_str()))?;
    let planned = run::plan(&t, cases);
    let expectations = p.expectations(target)?;
    let opts = RunOptions { time_scale: time_scale(), jobs: 16 };
    let results = run::run_all(&t, &planned, &opts, &expectations, None).await;
    Ok((results, t))
}

fn lines(table: &str) -> BTreeMap<String, String> {
    table
        .lines()
        .map(|l| (l.split_whitespace().next().unwrap_or("").to_string(), l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")))
        .collect()
}

fn verdicts_trial(target: &str) -> Result<(), Failed> {
    let _g = serial();
    let tag = image_for(&project().catalog.find(target).map_err(|e| e.to_string())?.family)?;
    let p = project();
    let cases = p.select(&[], None)?;
    let started = Instant::now();
    let outcome: Result<String, String> = runtime().block_on(async {
        let (rp, tp) = run_on(Backend::Process, target, &cases).await?;
        let (rc, tc) = match run_on(Backend::Container, target, &cases).await {
            Ok(x) => x,
            Err(e) => {
                tp.shutdown().await;
                return Err(e);
            }
        };
        let (table_p, table_c) = (report::verdict_table(&rp), report::verdict_table(&rc));
        let (lp, lc) = (lines(&table_p), lines(&table_c));
        if lp.keys().ne(lc.keys()) {
            tp.shutdown().await;
            tc.shutdown().await;
            return Err(format!("the backends planned different cases:\nprocess:\n{table_p}\ncontainer:\n{table_c}"));
        }
        let differing: Vec<String> = lp.iter().filter(|(id, v)| lc.get(*id) != Some(*v)).map(|(id, _)| id.clone()).collect();
        // Re-run each differing case twice more on both backends: a real difference is one the
        // backends never agree on.
        let expectations = p.expectations(target)?;
        let opts = RunOptions { time_scale: time_scale(), jobs: 1 };
        let mut real = Vec::new();
        let mut noise = Vec::new();
        for id in &differing {
            let mut seen_p = vec![lp[id].clone()];
            let mut seen_c = vec![lc[id].clone()];
            let pl_p: Vec<_> = run::plan(&tp, &cases).into_iter().filter(|x| x.case.id() == id.as_str()).collect();
            let pl_c: Vec<_> = run::plan(&tc, &cases).into_iter().filter(|x| x.case.id() == id.as_str()).collect();
            for _ in 0..2 {
                for x in &pl_p {
                    let r = run::run_case(&tp, x, &opts, &expectations).await;
                    seen_p.push(lines(&report::verdict_table(&[r])).into_values().next().unwrap_or_default());
                }
                for x in &pl_c {
                    let r = run::run_case(&tc, x, &opts, &expectations).await;
                    seen_c.push(lines(&report::verdict_table(&[r])).into_values().next().unwrap_or_default());
                }
            }
            if seen_p.iter().any(|v| seen_c.contains(v)) {
                noise.push(format!("{id}: process {seen_p:?}, container {seen_c:?}"));
            } else {
                real.push(format!("{id}: process {seen_p:?}, container {seen_c:?}"));
            }
        }
        tp.shutdown().await;
        tc.shutdown().await;
        if !real.is_empty() {
            return Err(format!(
                "{} case(s) with a different verdict in the container ({tag}):\n  {}\n(timing noise, same on both sides: {:?})",
                real.len(),
                real.join("\n  "),
                noise
            ));
        }
        Ok(format!(
            "{} cases, verdict tables equal{} ({:.1} s)",
            lp.len(),
            if noise.is_empty() { String::new() } else { format!("; timing noise on both backends: {}", noise.join("; ")) },
            started.elapsed().as_secs_f64()
        ))
    });
    let summary = outcome?;
    eprintln!("verdicts::{target}: {summary}");
    Ok(())
}

// ---------------------------------------------------------------- matrix

fn matrix_json(backend: &str, client: &str, server: &str) -> Result<serde_json::Value, String> {
    let out = std::env::temp_dir().join(format!("siospec-containers-matrix-{backend}-{}.json", std::process::id()));
    let o = bin()
        .args(["matrix", "--client", client, "--server", server, "--backend", backend, "--json"])
        .arg(&out)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("matrix --backend {backend} exited {:?}:\n{}", o.status.code(), String::from_utf8_lossy(&o.stderr)));
    }
    let v = serde_json::from_slice(&std::fs::read(&out).map_err(|e| e.to_string())?).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&out);
    v
}

fn matrix_trial(client: &str, server: &str) -> Result<(), Failed> {
    let _g = serial();
    image_for("node")?;
    let before = docker::container_count();
    let cells = |v: &serde_json::Value| -> Vec<String> {
        v["cells"]
            .as_array()
            .map(|a| a.iter().map(|c| format!("{} × {} [{}]: {}", c["client"], c["server"], c["profile"], c["verdict"])).collect())
            .unwrap_or_default()
    };
    let p = cells(&matrix_json("process", client, server)?);
    let c = cells(&matrix_json("container", client, server)?);
    if p.is_empty() || p != c {
        return Err(format!("matrix cells differ:\nprocess:   {p:?}\ncontainer: {c:?}").into());
    }
    expect_no_leftovers(before, None)?;
    Ok(())
}

// ---------------------------------------------------------------- leftovers

/// `docker ps -a` counts equal (AutoRemove is asynchronous in the engine: give it a moment),
/// and no container of process `pid` is left.
fn expect_no_leftovers(before: Option<usize>, pid: Option<u32>) -> Result<(), Failed> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = docker::container_count();
        let mine = pid.map(|p| docker::containers_with_label(&format!("siospec.pid={p}"))).unwrap_or_default();
        if after == before && mine.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let list = docker::run(&["ps", "-a", "--format", "{{.ID}} {{.Status}} {{.Labels}}"], Duration::from_secs(10))
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            return Err(format!(
                "leftovers: `docker ps -a` had {before:?} containers before and {after:?} after; left by the run: {mine:?}\n{list}"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scratch project sharing the real catalog, drivers and container recipes.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("siospec-containers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("suites/eio4")).unwrap();
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    std::fs::copy(root().join("fixtures/targets.toml"), dir.join("fixtures/targets.toml")).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/drivers"), dir.join("fixtures/drivers")).unwrap();
    std::os::unix::fs::symlink(root().join("containers"), dir.join("containers")).unwrap();
    dir
}

fn run_cli(args: &[&str], root_dir: Option<&Path>) -> Result<(Option<i32>, String, u32), String> {
    let mut cmd = bin();
    if let Some(r) = root_dir {
        cmd.arg("--root").arg(r);
    }
    let child = cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let pid = child.id();
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok((o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)), pid))
}

fn leftovers_run() -> Result<(), Failed> {
    let _g = serial();
    image_for("node")?;
    let before = docker::container_count();
    let (code, out, pid) = run_cli(&["run", "--target", "socket.io@4.8.4", "--backend", "container", "--suite", "eio4"], None)?;
    if code != Some(0) {
        return Err(format!("a passing run exited {code:?}:\n{out}").into());
    }
    expect_no_leftovers(before, Some(pid))
}

fn leftovers_failing_run() -> Result<(), Failed> {
    let _g = serial();
    image_for("node")?;
    // broken/no-ping without its expectations file: its heartbeat failures are unexpected.
    let dir = scratch("exit1");
    std::fs::copy(root().join("suites/eio4/heartbeat.toml"), dir.join("suites/eio4/heartbeat.toml")).unwrap();
    let before = docker::container_count();
    let (code, out, pid) = run_cli(&["run", "--target", "broken/no-ping", "--backend", "container", "--case", "*ping-pong"], Some(&dir))?;
    let _ = std::fs::remove_dir_all(&dir);
    if code != Some(1) {
        return Err(format!("expected exit 1 (unexpected results), got {code:?}:\n{out}").into());
    }
    expect_no_leftovers(before, Some(pid))
}

fn leftovers_dead_driver() -> Result<(), Failed> {
    let _g = serial();
    image_for("node")?;
    // A driver that dies before its ready line, inside the container.
    let dir = scratch("dies");
    let mut cat = std::fs::read_to_string(dir.join("fixtures/targets.toml")).unwrap();
    cat.push_str(
        "\n[[target]]\nname = \"dies\"\nrole = \"server\"\nfamily = \"node\"\nrevisions = [\"eio4\"]\ncommand = [\"node\", \"-e\", \"console.error('the-driver-said-boom'); process.exit(3)\"]\n",
    );
    std::fs::write(dir.join("fixtures/targets.toml"), cat).unwrap();
    std::fs::copy(root().join("suites/eio4/handshake.toml"), dir.join("suites/eio4/handshake.toml")).unwrap();
    let before = docker::container_count();
    let (code, out, pid) = run_cli(&["run", "--target", "dies", "--backend", "container"], Some(&dir))?;
    let _ = std::fs::remove_dir_all(&dir);
    if code != Some(2) || !out.contains("exited before it was ready") || !out.contains("the-driver-said-boom") {
        return Err(format!("expected exit 2 naming the driver's last words, got {code:?}:\n{out}").into());
    }
    expect_no_leftovers(before, Some(pid))
}

fn leftovers_sigint() -> Result<(), Failed> {
    let _g = serial();
    image_for("node")?;
    let before = docker::container_count();
    let mut child = bin()
        .args(["run", "--target", "socket.io@4.8.4", "--backend", "container"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let label = format!("siospec.pid={pid}");
    let deadline = Instant::now() + Duration::from_secs(60);
    // In the middle of the run: its container is up (and cases are running).
    while docker::containers_with_label(&label).is_empty() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            return Err("the run never started its container".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let running = child.try_wait().ok().flatten().is_none();
    if !running {
        return Err("the run ended before it could be interrupted".into());
    }
    Command::new("kill").args(["-INT", &pid.to_string()]).status().map_err(|e| e.to_string())?;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("siospec did not stop after SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.code() != Some(130) {
        return Err(format!("expected exit 130 after SIGINT, got {status}").into());
    }
    expect_no_leftovers(before, Some(pid))
}

/// Ctrl-C while a driver image builds: the build is cancelled and leaves neither a container
/// nor an image behind. A scratch project whose node Dockerfile has a slow step forces a build.
fn leftovers_sigint_during_build() -> Result<(), Failed> {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("siospec-containers-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("suites/eio4")).unwrap();
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    std::fs::create_dir_all(dir.join("containers/node")).unwrap();
    std::fs::copy(root().join("fixtures/targets.toml"), dir.join("fixtures/targets.toml")).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/drivers"), dir.join("fixtures/drivers")).unwrap();
    std::fs::copy(root().join("suites/eio4/handshake.toml"), dir.join("suites/eio4/handshake.toml")).unwrap();
    for f in ["containers.toml", "bridge.sh"] {
        std::fs::copy(root().join("containers").join(f), dir.join("containers").join(f)).unwrap();
    }
    let nonce = format!("{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
    std::fs::write(
        dir.join("containers/node/Dockerfile"),
        format!(
            "ARG BASE=node:20-bookworm-slim\nFROM ${{BASE}}\nLABEL siospec.family=\"node\"\nRUN echo {nonce} > /nonce\nRUN sleep 120\n"
        ),
    )
    .unwrap();
    let fam = "siospec.family=node";
    let images_before = docker::dangling_with_labels(&[fam]);
    let before = docker::container_count();
    let mut child = bin()
        .arg("--root")
        .arg(&dir)
        .args(["run", "--target", "socket.io@4.8.4", "--backend", "container"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The slow step is running: its build container is up, and the step before is committed.
    loop {
        let o = docker::run(&["ps", "--no-trunc", "--format", "{{.Command}}"], Duration::from_secs(10)).map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&o.stdout).contains("sleep 120") {
            break;
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            // SIGINT, not SIGKILL: siospec then stops its docker build too.
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err("the build never reached its slow step".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill").args(["-INT", &pid.to_string()]).status().map_err(|e| e.to_string())?;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("siospec did not stop after SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_dir_all(&dir);
    if status.code() != Some(130) {
        return Err(format!("expected exit 130 after SIGINT, got {status}").into());
    }
    expect_no_leftovers(before, Some(pid))?;
    let extra: Vec<String> = docker::dangling_with_labels(&[fam]).into_iter().filter(|i| !images_before.contains(i)).collect();
    if !extra.is_empty() {
        return Err(format!("the interrupted build left images: {extra:?}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------- images

fn image_cached() -> Result<(), Failed> {
    let _g = serial();
    let tag = image_for("node")?;
    let manifest = c::Manifest::load(&root())?;
    let plan = c::plan(&root(), &manifest, "node", c::Bases::from_env()?)?;
    if plan.tag != tag {
        return Err(format!("the tag changed without a change of content: {tag} then {}", plan.tag).into());
    }
    let t = Instant::now();
    let built = runtime().block_on(c::ensure_image(&root(), &plan, None, &|_| {}))?;
    if built || t.elapsed() > Duration::from_secs(10) {
        return Err(format!("a second ensure_image rebuilt ({built}) or took {:?}", t.elapsed()).into());
    }
    Ok(())
}

/// The tag is a hash of what goes into the build: a changed driver source changes it, an
/// installed package (node_modules) or a build output does not.
fn image_tag_follows_content() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("siospec-containers-tag-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fam = dir.join("fixtures/drivers/node");
    std::fs::create_dir_all(&fam).unwrap();
    std::os::unix::fs::symlink(root().join("containers"), dir.join("containers")).unwrap();
    for f in c::context_files(&root(), "node") {
        let to = fam.join(&f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join("fixtures/drivers/node").join(&f), &to).unwrap();
    }
    let manifest = c::Manifest::load(&dir)?;
    let tag = || c::plan(&dir, &manifest, "node", c::Bases::Official).map(|p| p.tag);
    let t0 = tag()?;
    let same = c::plan(&root(), &manifest, "node", c::Bases::Official)?.tag;
    std::fs::create_dir_all(fam.join("node_modules/x")).unwrap();
    std::fs::write(fam.join("node_modules/x/index.js"), "1").unwrap();
    let t1 = tag()?;
    std::fs::write(fam.join("server.js"), "// changed\n").unwrap();
    let t2 = tag()?;
    let _ = std::fs::remove_dir_all(&dir);
    if t0 != same {
        return Err(format!("same content, different tags: {t0} vs {same}").into());
    }
    if t1 != t0 {
        return Err("node_modules changed the tag".into());
    }
    if t2 == t0 {
        return Err("a changed server.js kept the tag".into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let p = project();
    let engine = docker::engine();
    match &engine {
        Ok(v) => eprintln!("container engine {v}"),
        Err(e) => eprintln!("container trials ignored: {e}"),
    }
    let gate = |t: Trial| -> Trial {
        match &engine {
            Ok(_) => t,
            Err(_) => t.with_ignored_flag(true).with_kind("no container engine"),
        }
    };
    let process_ready = |name: &str| -> Option<String> {
        let def = p.catalog.find(name).ok()?;
        match p.readiness(def) {
            Readiness::Unavailable(why) => Some(why),
            _ => None,
        }
    };
    let mut trials = Vec::new();
    // Every Node target (servers and clients; not the broken-on-purpose ones) and one Java target.
    let mut compared: Vec<String> =
        p.catalog.target.iter().filter(|t| t.family == "node" && !t.test_only).map(|t| t.name.clone()).collect();
    compared.push("netty-socketio@2.0.14".into());
    for name in compared {
        if p.catalog.find(&name).is_err() {
            continue;
        }
        let n = name.clone();
        let t = gate(Trial::test(format!("verdicts::{name}"), move || verdicts_trial(&n)));
        trials.push(match process_ready(&name) {
            Some(why) if engine.is_ok() => t.with_ignored_flag(true).with_kind(format!("process backend unavailable: {why}")),
            _ => t,
        });
    }
    let (mc, ms) = ("socket.io-client@4.8.4", "socket.io@4.8.4");
    if p.catalog.find(mc).is_ok() && p.catalog.find(ms).is_ok() && p.catalog.target.iter().any(|t| t.role == Role::Client) {
        trials.push(gate(Trial::test(format!("matrix::{mc}×{ms}"), move || matrix_trial(mc, ms))));
    }
    trials.push(gate(Trial::test("leftovers::after-a-run", leftovers_run)));
    trials.push(gate(Trial::test("leftovers::after-a-failing-run", leftovers_failing_run)));
    trials.push(gate(Trial::test("leftovers::after-a-driver-dies", leftovers_dead_driver)));
    trials.push(gate(Trial::test("leftovers::after-sigint", leftovers_sigint)));
    trials.push(gate(Trial::test("leftovers::after-sigint-during-a-build", leftovers_sigint_during_build)));
    trials.push(gate(Trial::test("image::cached-by-content", image_cached)));
    trials.push(Trial::test("image::tag-follows-content", image_tag_follows_content));
    libtest_mimic::run(&args, trials).exit();
}
