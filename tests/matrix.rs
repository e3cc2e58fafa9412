//! The Node compatibility matrix, measured for real and compared with the documented
//! tables: any change in compatibility is a reviewed snapshot diff. The HTML page is
//! checked in headless Chromium.
use siospec::matrix::{self, MatrixOptions};
use siospec::project::Project;
use siospec::report::matrix_text as render;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prepares every family once for this test binary, before any test starts a driver: two
/// tests preparing at once would run `npm ci` under each other's running drivers.
fn prepared() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_siospec"))
            .args(["targets", "prepare", "socket.io@4.8.4", "java-socket.io-client@1.0.2"])
            .output()
            .expect("siospec runs");
        assert!(out.status.success(), "targets prepare: {}", String::from_utf8_lossy(&out.stderr));
    });
}

/// Clients of one family against the official Node servers: the pairs the guide's tables document.
fn matrix_of(family: &str) -> matrix::Matrix {
    prepared();
    let p = Project::load(&root()).expect("project");
    let clients: Vec<String> = p
        .catalog
        .target
        .iter()
        .filter(|t| t.family == family && t.role == siospec::targets::catalog::Role::Client && !t.test_only)
        .filter(|t| t.revisions.iter().any(|r| matches!(r, siospec::suite::Revision::Sio4 | siospec::suite::Revision::Sio5)))
        .map(|t| t.name.clone())
        .collect();
    assert!(!clients.is_empty(), "the catalog has {family} client targets");
    let opts = MatrixOptions {
        time_scale: siospec::settings::Settings::resolve(&Default::default()).unwrap_or_else(|e| panic!("{e}")).time_scale.value,
        jobs: 16,
        clients,
        servers: vec!["socket.io@".into()],
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let m = rt.block_on(matrix::run(&p, &opts, &|_| {})).expect("the matrix runs");
    // Every disagreement with the documented tables is a listed, reasoned finding.
    assert!(m.unexpected.is_empty(), "unexpected matrix results:\n{}", m.unexpected.join("\n"));
    m
}

fn node_matrix() -> matrix::Matrix {
    matrix_of("node")
}

#[test]
fn java_clients_against_the_node_servers_match_their_snapshot() {
    let m = matrix_of("java");
    insta::with_settings!({ snapshot_path => root().join("tests/snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!("matrix__java", render::snapshot_table(&m));
    });
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists())
}

#[test]
fn node_matrix_matches_its_snapshot_and_renders() {
    let m = node_matrix();
    insta::with_settings!({ snapshot_path => root().join("tests/snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!("matrix__node", render::snapshot_table(&m));
    });
    // Every cell that is not YES says why, with wire evidence.
    for c in m.cells.iter().filter(|c| c.verdict != matrix::CellVerdict::Yes) {
        assert!(!c.reason.is_empty(), "{} × {} has no reason", c.client, c.server);
    }
    // JSON shape consumers rely on.
    let v: serde_json::Value = serde_json::from_str(&render::json(&m)).unwrap();
    for c in v["cells"].as_array().unwrap() {
        for k in ["client", "server", "profile", "verdict", "scenarios"] {
            assert!(c.get(k).is_some(), "cell lacks {k}: {c}");
        }
        assert!(matches!(c["verdict"].as_str(), Some("YES" | "PARTIAL" | "NO")));
    }
    // The page, in a real browser: it renders the matrix and works without network.
    let html = siospec::report::matrix_page::render(&m);
    for external in ["<script src", "<link ", "src=\"http", "url(http", "@import"] {
        assert!(!html.contains(external), "the page must not load anything: found {external}");
    }
    let dir = std::env::temp_dir().join(format!("siospec-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("matrix.html");
    std::fs::write(&page, &html).unwrap();
    let Some(chrome) = chromium() else {
        panic!("Debian's chromium is needed for the HTML check (apt-get install chromium)");
    };
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let profile = format!("--user-data-dir={}", dir.join("profile").display());
    let url = format!("file://{}", page.display());
    let dom = Command::new(chrome).args(base).arg(&profile).args(["--dump-dom", &url]).output().expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("siospec compatibility matrix") && dom.contains("<table>"), "chromium rendered: {}", &dom[..dom.len().min(500)]);
    let shot = dir.join("matrix.png");
    let out = Command::new(chrome)
        .args(base)
        .arg(&profile)
        .args(["--window-size=1400,900", &format!("--screenshot={}", shot.display()), &url])
        .output()
        .expect("chromium runs");
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot, {} bytes", png.len());
    if let Ok(keep) = std::env::var("SIOSPEC_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// A project root that shares this checkout's suites, catalog and drivers, with its own
/// compatibility tables and known-disagreement list.
fn scratch_root(name: &str, js_table: &str, known: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("siospec-matrix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("fixtures/compat")).unwrap();
    std::fs::create_dir_all(dir.join("fixtures/expectations")).unwrap();
    std::os::unix::fs::symlink(root().join("suites"), dir.join("suites")).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/targets.toml"), dir.join("fixtures/targets.toml")).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/drivers"), dir.join("fixtures/drivers")).unwrap();
    // The checkout's preparation stamps: the drivers it shares are already prepared.
    std::os::unix::fs::symlink(root().join(".siospec"), dir.join(".siospec")).unwrap();
    if root().join("fixtures/standard.toml").exists() {
        std::os::unix::fs::symlink(root().join("fixtures/standard.toml"), dir.join("fixtures/standard.toml")).unwrap();
    }
    std::fs::write(dir.join("fixtures/compat/js.toml"), js_table).unwrap();
    if let Some(k) = known {
        std::fs::write(dir.join("fixtures/expectations/matrix.toml"), k).unwrap();
    }
    dir
}

fn matrix_exit(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_siospec"))
        .args(["--root", dir.to_str().unwrap(), "matrix", "--client", "socket.io-client@4.8", "--server", "socket.io@4.8"])
        .output()
        .expect("siospec runs");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The matrix gates CI like `run`: a disagreement with the documented tables exits 1 unless
/// it is listed, with a reason, in fixtures/expectations/matrix.toml; a listed cell that
/// agrees again exits 1 too (stale entry); setup errors exit 2.
#[test]
fn matrix_exits_1_on_an_unlisted_disagreement_and_0_once_it_is_known() {
    prepared();
    let real = std::fs::read_to_string(root().join("fixtures/compat/js.toml")).unwrap();
    // A table that (wrongly) says 4.x clients cannot talk to 4.x servers.
    let wrong = real.replace(
        r#""4.x" = { "1.x" = "NO", "2.x" = "NO", "3.x" = "YES", "4.x" = "YES" }"#,
        r#""4.x" = { "1.x" = "NO", "2.x" = "NO", "3.x" = "YES", "4.x" = "NO" }"#,
    );
    assert_ne!(wrong, real, "the 4.x row of js.toml changed; update this test");

    let dir = scratch_root("unlisted", &wrong, None);
    let (code, out) = matrix_exit(&dir);
    assert_eq!(code, 1, "an unlisted disagreement fails the matrix:\n{out}");
    assert!(out.contains("Unexpected") && out.contains("documented NO, works here"), "{out}");

    let known = r#"
[[cell]]
client = "socket.io-client@4.8.4"
server = "socket.io@4.8.4"
reason = "test: the table in this scratch root is wrong on purpose"
[[cell]]
client = "socket.io-client@4.8.4"
server = "socket.io@4.8.4"
profile = "allowEIO3"
reason = "test: the table in this scratch root is wrong on purpose"
"#;
    let dir = scratch_root("listed", &wrong, Some(known));
    let (code, out) = matrix_exit(&dir);
    assert_eq!(code, 0, "a listed disagreement is expected:\n{out}");
    assert!(out.contains("known: test: the table"), "{out}");

    let dir = scratch_root("stale", &real, Some(known));
    let (code, out) = matrix_exit(&dir);
    assert_eq!(code, 1, "a listed cell that agrees is a stale entry:\n{out}");
    assert!(out.contains("remove the entry"), "{out}");

    let dir = scratch_root("bad", &real, Some("[[cell]]\nclient = \"x\"\nserver = \"y\"\nreason = \"\"\n"));
    let (code, out) = matrix_exit(&dir);
    assert_eq!(code, 2, "a known entry without a reason is a setup error:\n{out}");
    assert!(out.contains("matrix.toml") && out.contains("no reason"), "{out}");
}
