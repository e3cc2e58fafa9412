//! The standard fixture (`fixtures/standard.toml`) is the one definition of what a server
//! started by hand serves: README.md's "Testing your own server (`--url`)" list is generated
//! from it, and cases declare the extra handlers they use (`handlers = [...]`).
//!
//! `SIOSPEC_UPDATE_README=1 cargo test --test standard_fixture` rewrites the README list.
use siospec::suite::standard::standard;
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- standard-fixture:begin";
const END: &str = "<!-- standard-fixture:end -->\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn readme_lists_exactly_the_standard_fixture() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let section =
        readme.find("## Testing your own server (`--url`)").expect("README.md has no \"Testing your own server (`--url`)\" section");
    let begin = section + readme[section..].find(BEGIN).expect("the --url section has no standard-fixture:begin marker");
    let end = begin + readme[begin..].find(END).expect("no standard-fixture:end marker") + END.len();
    let want = standard().readme_section();
    if readme[begin..end] == want {
        return;
    }
    if std::env::var_os("SIOSPEC_UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &readme[..begin], &readme[end..])).unwrap();
        return;
    }
    panic!(
        "README.md's standard fixture list is not fixtures/standard.toml's; run `SIOSPEC_UPDATE_README=1 cargo test --test standard_fixture`.\n--- README.md\n{}\n--- fixtures/standard.toml\n{want}",
        &readme[begin..end]
    );
}

#[test]
fn readme_names_every_handler_option_and_namespace() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let s = standard();
    for o in &s.option {
        assert!(readme.contains(&o.doc), "README.md does not state option {} ({})", o.name, o.doc);
    }
    for h in s.handler.iter().chain(&s.extra) {
        assert!(readme.contains(&h.does), "README.md does not describe handler `{}`", h.name);
    }
    for ns in s.namespaces.served.iter().chain(&s.namespaces.refused) {
        assert!(readme.contains(&format!("`{ns}`")), "README.md does not name namespace {ns}");
    }
    for layer in [siospec::suite::Layer::EngineIo, siospec::suite::Layer::SocketIo] {
        assert!(readme.contains(&format!("`{}`", s.path(layer))), "README.md does not name path {}", s.path(layer));
    }
}

/// Every server case that sends an extra handler's event declares it, so it is `unsupported`
/// (not failed) through --url: the suites load, and the declared names are all known.
#[test]
fn suites_declare_the_extra_handlers_they_use() {
    let suites = siospec::suite::load_all(&root().join("suites"), &[siospec::matrix::scenario::DIR]).unwrap();
    let s = standard();
    let mut declared = 0;
    for c in &suites.cases {
        for h in &c.def.handlers {
            assert!(s.is_extra_handler(h) || s.is_standard_handler(h), "{}: unknown handler {h}", c.id());
            declared += 1;
        }
    }
    assert!(declared >= 10, "only {declared} handler declarations in the suites");
}

fn load(text: &str) -> Result<usize, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("siospec-std-fixture-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let file: PathBuf = dir.join("sio5").join("bad.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let r = siospec::suite::load_file(Path::new(&file)).map(|c| c.len()).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn case(handlers: &str, event: &str) -> String {
    format!(
        "[suite]\nname = \"sio5\"\nrevision = \"sio5\"\nlayer = \"socket.io\"\n\n[[case]]\nid = \"sio5/x\"\ntitle = \"x\"\nrequirement = \"x\"\nsource = \"x\"\nlevel = \"MUST\"\ntransports = [\"websocket\"]\n{handlers}[[case.step]]\ndo = \"handshake\"\ntransport = \"websocket\"\n[[case.step]]\ndo = \"send\"\npackets = [{{ sio = '0' }}, {{ sio = '2[\"{event}\"]' }}]\n"
    )
}

#[test]
fn an_unknown_handler_is_a_suite_error_with_its_line() {
    let err = load(&case("handlers = [\"teleport-me\"]\n", "message")).unwrap_err();
    assert!(err.contains("bad.toml:13:") && err.contains("unknown handler `teleport-me`"), "{err}");
}

#[test]
fn an_extra_handler_sent_undeclared_is_a_suite_error_with_its_line() {
    let err = load(&case("", "close-me")).unwrap_err();
    assert!(err.contains("bad.toml:18:") && err.contains("handlers = [\"close-me\"]"), "{err}");
    assert_eq!(load(&case("handlers = [\"close-me\"]\n", "close-me")), Ok(1));
    assert_eq!(load(&case("", "message")), Ok(1), "a standard handler needs no declaration");
}
