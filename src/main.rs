//! The siospec command line: parse, call the library, map outcomes to exit codes.
//!
//! Exit codes: `siospec::exit::Exit`.
use clap::{Parser, Subcommand};
use siospec::exit::Exit;
use siospec::project::Project;
use siospec::report;
use siospec::run::{self, RunOptions};
use siospec::settings::{Flags, Settings};
use siospec::suite::Revision;
use siospec::targets::prepare::{self, Readiness};
use siospec::targets::Target;
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_TARGET: &str = "socket.io@4.8.4";

#[derive(Parser)]
#[command(name = "siospec", version, about = "Conformance and interoperability harness for Engine.IO and Socket.IO")]
struct Cli {
    /// Project root holding suites/ and fixtures/ (default: $SIOSPEC_ROOT, then the source tree).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print case ids, one per line.
    List {
        #[arg(long)]
        suite: Vec<String>,
    },
    /// Run suites against a target from the catalog or a server started by hand.
    Run {
        /// Target name from `siospec targets` (a unique prefix is enough). Default: socket.io@4.8.4.
        #[arg(long, conflicts_with = "url")]
        target: Option<String>,
        /// A server you started with the standard fixture, including its path, e.g. http://127.0.0.1:3000/engine.io/
        #[arg(long, requires = "protocol")]
        url: Option<String>,
        /// Revision the --url server speaks: eio4, eio3, sio5, sio4.
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long)]
        suite: Vec<String>,
        /// Case id glob (`eio4/handshake/*`) or substring.
        #[arg(long = "case")]
        case: Option<String>,
        /// Write the JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write a JUnit XML report here (one testsuite per suite).
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write a Markdown summary (for a pull-request comment) here.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Stretch every deadline by this factor (slow machines, debugging). Else
        /// SIOSPEC_TIME_SCALE, else `[run] time_scale` of ./siospec.toml, else 1.
        #[arg(long)]
        time_scale: Option<f64>,
        /// Cases in flight at once. Else SIOSPEC_JOBS, else siospec.toml, else 16.
        #[arg(long)]
        jobs: Option<usize>,
        /// Show transcripts of every non-passing case, not only unexpected ones.
        #[arg(long, short)]
        verbose: bool,
        /// Run an unexpected result again, alone, up to N more times; one that then comes out
        /// as expected is reported as flaky (terminal, JSON `attempts`, JUnit), not hidden.
        /// Else SIOSPEC_RETRIES, else siospec.toml, else 0.
        #[arg(long)]
        retries: Option<u32>,
        /// Known deviations to expect (an expectations file, `fixtures/expectations/*.toml`
        /// format) instead of the target's own file; with --url (which has none of its own)
        /// this is how a hand-started server with known deviations can exit 0.
        #[arg(long, value_name = "FILE")]
        expectations: Option<PathBuf>,
        /// Where the target's driver runs: `process` (its runtime installed here) or
        /// `container` (its family's image, built on first use; see `siospec containers`).
        #[arg(long, value_enum, default_value_t = BackendArg::Process, conflicts_with = "url")]
        backend: BackendArg,
    },
    /// Every client target × every server target × server profile, through the interop
    /// scenarios, compared with the documented compatibility tables.
    Matrix {
        /// Client target-name prefixes (default: every client).
        #[arg(long = "client")]
        clients: Vec<String>,
        /// Server target-name prefixes (default: every Socket.IO server).
        #[arg(long = "server")]
        servers: Vec<String>,
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// A self-contained HTML page (one file, no network).
        #[arg(long)]
        html: Option<PathBuf>,
        /// As for `run`: flag, else SIOSPEC_TIME_SCALE, else siospec.toml, else 1.
        #[arg(long)]
        time_scale: Option<f64>,
        /// As for `run`: flag, else SIOSPEC_JOBS, else siospec.toml, else 16.
        #[arg(long)]
        jobs: Option<usize>,
        /// Where the drivers run: `process` or `container` (see `siospec run --help`).
        #[arg(long, value_enum, default_value_t = BackendArg::Process)]
        backend: BackendArg,
    },
    /// Container images of the driver families: local base images, builds, state.
    Containers {
        #[command(subcommand)]
        action: ContainersCmd,
    },
    /// List the target catalog, or prepare targets.
    Targets {
        #[command(subcommand)]
        action: Option<TargetsCmd>,
        /// Readiness for this backend (`container`: engine and image state).
        #[arg(long, value_enum, default_value_t = BackendArg::Process)]
        backend: BackendArg,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Process,
    Container,
}

impl From<BackendArg> for siospec::targets::Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Process => siospec::targets::Backend::Process,
            BackendArg::Container => siospec::targets::Backend::Container,
        }
    }
}

#[derive(Subcommand)]
enum ContainersCmd {
    /// Make local base images from Debian packages (debootstrap + docker import, then the
    /// runtimes), so driver images build with no image registry. Needs docker and debootstrap
    /// (installs nothing); cached: images that exist are kept.
    Bootstrap {
        /// Families whose bases to make (default: every family that has local bases).
        families: Vec<String>,
        /// Debian mirror (default http://deb.debian.org/debian).
        #[arg(long)]
        mirror: Option<String>,
        /// PEM bundle trusted in addition during downloads over TLS (default: $SIOSPEC_EXTRA_CA).
        #[arg(long)]
        extra_ca: Option<PathBuf>,
        /// Remake images that exist.
        #[arg(long)]
        force: bool,
    },
    /// Build the driver images of targets (names or unique prefixes; default: every family).
    Build {
        names: Vec<String>,
        /// PEM bundle trusted in addition during downloads over TLS (default: $SIOSPEC_EXTRA_CA).
        #[arg(long)]
        extra_ca: Option<PathBuf>,
    },
    /// The engine, and each family's image: its tag, its bases, whether it is built.
    Status,
}

#[derive(Subcommand)]
enum TargetsCmd {
    /// Install the pinned packages of targets (all when none is named); cached and idempotent.
    Prepare {
        names: Vec<String>,
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("SIOSPEC_LOG")).with_writer(std::io::stderr).init();
    let root = Project::resolve_root(cli.root.as_deref());
    let mut project = match Project::load(&root) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Setup.into();
        }
    };
    let all_suites = project.suites.names();
    match cli.cmd {
        // Listing shows every suite, the ones a default run leaves out included.
        Cmd::List { suite } => match project.select(if suite.is_empty() { &all_suites } else { &suite }, None) {
            Ok(cases) => {
                for c in cases {
                    println!("{}", c.id());
                }
                Exit::AsExpected.into()
            }
            Err(e) => usage(e),
        },
        Cmd::Targets { action: None, backend } => {
            project.backend = backend.into();
            let container = project.backend == siospec::targets::Backend::Container;
            for t in &project.catalog.target {
                let revs: Vec<String> = t.revisions.iter().map(|r| r.to_string()).collect();
                let mut revs = revs.join(",");
                if !t.allow_eio3.is_empty() {
                    let extra: Vec<String> = t.allow_eio3.iter().map(|r| r.to_string()).collect();
                    revs.push_str(&format!(" (+{} with allowEIO3)", extra.join(",")));
                }
                let state = match project.readiness(t) {
                    Readiness::Prepared => "prepared".to_string(),
                    Readiness::NeedsPrepare if container => {
                        "image not built yet (built on first use, or `siospec containers build`)".to_string()
                    }
                    Readiness::NeedsPrepare => "not prepared: run `siospec targets prepare`".to_string(),
                    Readiness::Unavailable(why) => format!("unavailable: {why}"),
                };
                let tag = if t.test_only { "  [test-only: broken on purpose]" } else { "" };
                println!("{}\t{}\t{}\t{}{}", t.name, t.role.as_str(), revs, state, tag);
            }
            Exit::AsExpected.into()
        }
        Cmd::Targets { action: Some(TargetsCmd::Prepare { names, force }), .. } => {
            let mut families: Vec<String> = Vec::new();
            if names.is_empty() {
                families = project.catalog.family.keys().cloned().collect();
            } else {
                for n in &names {
                    match project.catalog.find(n) {
                        Ok(t) => {
                            if !families.contains(&t.family) {
                                families.push(t.family.clone())
                            }
                        }
                        Err(e) => return usage(e.to_string()),
                    }
                }
            }
            let mut code = Exit::AsExpected.into();
            for f in families {
                let fam = &project.catalog.family[&f];
                match prepare::prepare(&project.root, &f, fam, force) {
                    Ok(true) => println!("{f}: prepared"),
                    Ok(false) => println!("{f}: already prepared"),
                    Err(prepare::PrepareError::Unavailable(name, why)) => {
                        println!("{name}: unavailable: {why}");
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = Exit::Setup.into();
                    }
                }
            }
            code
        }
        Cmd::Containers { action } => containers_cmd(&project, action),
        Cmd::Matrix { clients, servers, json, markdown, html, time_scale, jobs, backend } => {
            project.backend = backend.into();
            let settings = match Settings::resolve(&Flags { time_scale, jobs, retries: None }) {
                Ok(s) => s,
                Err(e) => return usage(e),
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return usage(format!("cannot start the async runtime: {e}")),
            };
            let opts =
                siospec::matrix::MatrixOptions { time_scale: settings.time_scale.value, jobs: settings.jobs.value, clients, servers };
            rt.block_on(async move {
                tokio::select! {
                    code = matrix_cmd(&project, opts, json, markdown, html) => code,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("interrupted: stopping targets");
                        Exit::Interrupted.into()
                    }
                }
            })
        }
        Cmd::Run {
            target,
            url,
            protocol,
            suite,
            case,
            json,
            junit,
            markdown,
            time_scale,
            jobs,
            verbose,
            retries,
            expectations,
            backend,
        } => {
            project.backend = backend.into();
            let settings = match Settings::resolve(&Flags { time_scale, jobs, retries }) {
                Ok(s) => s,
                Err(e) => return usage(e),
            };
            if verbose {
                eprintln!("{}", settings.describe());
            }
            let retries = settings.retries.value;
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return usage(format!("cannot start the async runtime: {e}")),
            };
            let opts = RunOptions { time_scale: settings.time_scale.value, jobs: settings.jobs.value };
            rt.block_on(async move {
                tokio::select! {
                    code = run_cmd(&project, target, url, protocol, suite, case, Outputs { json, junit, markdown, retries, expectations }, opts, verbose) => code,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("interrupted: stopping targets");
                        Exit::Interrupted.into()
                    }
                }
            })
        }
    }
}

fn containers_cmd(project: &Project, action: ContainersCmd) -> ExitCode {
    use siospec::containers::{self as c, bootstrap, docker};
    match action {
        ContainersCmd::Bootstrap { families, mirror, extra_ca, force } => {
            let extra_ca = match c::extra_ca(extra_ca.as_deref()) {
                Ok(ca) => ca,
                Err(e) => return usage(e),
            };
            let started = std::time::Instant::now();
            match bootstrap::run(&project.root, &bootstrap::Options { families, mirror, extra_ca, force }) {
                Ok(r) => {
                    for (img, d) in &r.made {
                        println!("{img}\tmade in {:.0} s", d.as_secs_f64());
                    }
                    for img in &r.present {
                        println!("{img}\tpresent");
                    }
                    println!(
                        "bootstrap done in {:.0} s; driver images now build from these bases (SIOSPEC_CONTAINER_BASES=auto)",
                        started.elapsed().as_secs_f64()
                    );
                    Exit::AsExpected.into()
                }
                Err(e) => usage(e),
            }
        }
        ContainersCmd::Build { names, extra_ca } => {
            let mut families: Vec<String> = Vec::new();
            for n in &names {
                match project.catalog.find(n) {
                    Ok(t) if !families.contains(&t.family) => families.push(t.family.clone()),
                    Ok(_) => {}
                    Err(e) => return usage(e),
                }
            }
            let manifest = match c::Manifest::load(&project.root) {
                Ok(m) => m,
                Err(e) => return usage(e),
            };
            if names.is_empty() {
                families = manifest.family.keys().cloned().collect();
            }
            let ca = match c::extra_ca(extra_ca.as_deref()) {
                Ok(ca) => ca,
                Err(e) => return usage(e),
            };
            if let Err(e) = docker::engine() {
                return usage(e);
            }
            let bases = match c::Bases::from_env() {
                Ok(b) => b,
                Err(e) => return usage(e),
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return usage(format!("cannot start the async runtime: {e}")),
            };
            let mut code = Exit::AsExpected.into();
            for f in families {
                let plan = match c::plan(&project.root, &manifest, &f, bases) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("error: {f}: {e}");
                        code = Exit::Setup.into();
                        continue;
                    }
                };
                let t = std::time::Instant::now();
                let built = rt.block_on(async {
                    tokio::select! {
                        r = c::ensure_image(&project.root, &plan, ca.as_deref(), &|m| eprintln!("{m}")) => Some(r),
                        _ = tokio::signal::ctrl_c() => None,
                    }
                });
                match built {
                    Some(Ok(true)) => println!("{f}\t{}\tbuilt in {:.0} s", plan.tag, t.elapsed().as_secs_f64()),
                    Some(Ok(false)) => println!("{f}\t{}\talready built", plan.tag),
                    Some(Err(e)) => {
                        eprintln!("error: {f}: {e}");
                        code = Exit::Setup.into();
                    }
                    None => {
                        eprintln!("interrupted");
                        return Exit::Interrupted.into();
                    }
                }
            }
            code
        }
        ContainersCmd::Status => {
            match docker::engine() {
                Ok(v) => println!("engine\t{v}"),
                Err(e) => {
                    println!("engine\tnone: {e}");
                    return Exit::AsExpected.into();
                }
            }
            let manifest = match c::Manifest::load(&project.root) {
                Ok(m) => m,
                Err(e) => return usage(e),
            };
            let debian =
                if docker::image_id(&manifest.debian.image).is_some() { "present" } else { "absent (siospec containers bootstrap)" };
            println!("{}\t{debian}", manifest.debian.image);
            let bases = match c::Bases::from_env() {
                Ok(b) => b,
                Err(e) => return usage(e),
            };
            for (f, recipe) in &manifest.family {
                let state = match c::plan(&project.root, &manifest, f, bases) {
                    Ok(p) => {
                        let built = if docker::image_id(&p.tag).is_some() { "built" } else { "not built" };
                        let from = if p.local_bases { "local bases" } else { "official bases" };
                        format!(
                            "{}\t{built}\t{from}: {}",
                            p.tag,
                            p.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                        )
                    }
                    Err(e) => format!("-\t{e}"),
                };
                let note = if recipe.verified { String::new() } else { format!("\t[{}]", recipe.note) };
                println!("{f}\t{state}{note}");
            }
            Exit::AsExpected.into()
        }
    }
}

async fn matrix_cmd(
    project: &Project,
    opts: siospec::matrix::MatrixOptions,
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    html: Option<PathBuf>,
) -> ExitCode {
    eprintln!("starting targets …");
    let m = match siospec::matrix::run(project, &opts, &|_| {}).await {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    print!("{}", siospec::report::matrix_text::terminal(&m));
    let files = [
        (json, siospec::report::matrix_text::json(&m)),
        (markdown, siospec::report::matrix_text::markdown(&m)),
        (html, siospec::report::matrix_page::render(&m)),
    ];
    for (path, text) in files {
        let Some(path) = path else { continue };
        if let Err(e) = std::fs::write(&path, text) {
            return usage(format!("cannot write {}: {e}", path.display()));
        }
    }
    if !m.unexpected.is_empty() {
        eprintln!("{} unexpected result(s): the matrix disagrees with the documented tables (see above)", m.unexpected.len());
    }
    Exit::judged(!m.unexpected.is_empty()).into()
}

/// Report files asked for on the command line.
struct Outputs {
    /// `--retries`: more attempts for an unexpected result.
    retries: u32,
    /// `--expectations`: this file instead of the target's own.
    expectations: Option<PathBuf>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    markdown: Option<PathBuf>,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    Exit::Setup.into()
}

#[allow(clippy::too_many_arguments)]
async fn run_cmd(
    project: &Project,
    target: Option<String>,
    url: Option<String>,
    protocol: Option<String>,
    suites: Vec<String>,
    case: Option<String>,
    outputs: Outputs,
    opts: RunOptions,
    verbose: bool,
) -> ExitCode {
    let cases = match project.select(&suites, case.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    // Before any target starts: a file asked for must be there and valid.
    if let Some(file) = &outputs.expectations {
        if !file.is_file() {
            return usage(format!("--expectations {}: no such file", file.display()));
        }
        if let Err(e) = siospec::run::expectations::Expectations::load(file) {
            return usage(e);
        }
    }
    let target = match url {
        Some(u) => {
            let p = protocol.unwrap_or_default();
            let Some(rev) = Revision::parse(&p) else {
                return usage(format!("--protocol must be one of eio4, eio3, sio5, sio4; got `{p}`"));
            };
            match Target::url(&u, rev) {
                Ok(t) => t,
                Err(e) => return usage(e),
            }
        }
        None => {
            let name = target.unwrap_or_else(|| DEFAULT_TARGET.to_string());
            let def = match project.catalog.find(&name) {
                Ok(d) => d.clone(),
                Err(e) => return usage(e),
            };
            if let Readiness::Unavailable(why) = project.readiness(&def) {
                return usage(format!("target {} is unavailable here: {why}", def.name));
            }
            eprintln!("starting {} …", def.name);
            match project.open_target(&def, opts.time_scale).await {
                Ok(t) => t,
                Err(e) => return usage(e),
            }
        }
    };
    let name = target.name();
    let planned = run::plan(&target, &cases);
    if planned.is_empty() {
        target.shutdown().await;
        let role = target.role().as_str();
        if !cases.iter().any(|c| c.role() == target.role()) {
            return usage(format!(
                "no selected case applies to {name}: it is a {role} target and the selected suites are all for {} targets",
                if role == "client" { "server" } else { "client" }
            ));
        }
        return usage(format!("no selected case applies to {name} (it speaks none of the selected suites' revisions)"));
    }
    if let Target::Url { base, path, revision } = &target {
        // Reachable, and the kind of endpoint the suites drive (not Socket.IO for an Engine.IO suite).
        if let Err(e) = run::preflight::check_url(base, path, *revision).await {
            return usage(e);
        }
    }
    let expectations = match &outputs.expectations {
        Some(file) if !file.is_file() => {
            target.shutdown().await;
            return usage(format!("--expectations {}: no such file", file.display()));
        }
        Some(file) => siospec::run::expectations::Expectations::load(file),
        None => project.expectations(&name),
    };
    let expectations = match expectations {
        Ok(e) => e,
        Err(e) => {
            target.shutdown().await;
            return usage(e);
        }
    };
    let (events, received) = run::events::channel();
    let progress = report::progress::spawn(planned.len(), received);
    let mut results = run::run_all(&target, &planned, &opts, &expectations, Some(&events)).await;
    if outputs.retries > 0 {
        run::retry_unexpected(&target, &planned, &mut results, outputs.retries, &opts, &expectations, Some(&events)).await;
    }
    drop(events);
    let _ = progress.await;
    target.shutdown().await;
    print!("{}", report::terminal::render(&name, &results, verbose));
    let files = [
        (outputs.json, Ok(report::json::render(&name, &results))),
        (outputs.junit, report::junit::render(&name, &results)),
        (outputs.markdown, Ok(report::markdown::render(&name, &results))),
    ];
    for (path, text) in files {
        let Some(path) = path else { continue };
        let written = text.and_then(|t| std::fs::write(&path, t).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return usage(format!("cannot write {}: {e}", path.display()));
        }
    }
    Exit::judged(results.iter().any(|r| r.is_unexpected())).into()
}
