//! Suite authoring mistakes are suite errors when the suite loads, with the file and the
//! line, never a verdict blamed on the target at run time. One test per kind of mistake.
use std::path::PathBuf;

const SERVER: &str = "[suite]\nname = \"eio4\"\nrevision = \"eio4\"\nlayer = \"engine.io\"\n";
const SIO: &str = "[suite]\nname = \"sio5\"\nrevision = \"sio5\"\nlayer = \"socket.io\"\n";
const CLIENT: &str = "[suite]\nname = \"client-eio4\"\nrevision = \"eio4\"\nlayer = \"engine.io\"\nrole = \"client\"\n";

/// The case header: lines 6-12 after a 4-line suite header (5 with `role`) and a blank line.
fn case(suite: &str, extra: &str, steps: &str) -> String {
    let name = suite.lines().nth(1).and_then(|l| l.split('"').nth(1)).unwrap_or("eio4");
    format!(
        "{suite}\n[[case]]\nid = \"{name}/x\"\ntitle = \"x\"\nrequirement = \"x\"\nsource = \"x\"\nlevel = \"MUST\"\ntransports = [\"polling\"]\n{extra}{steps}"
    )
}

/// Loads the text as `suites/<suite>/bad.toml`; the error must name that file and `line`,
/// and say `what`.
fn refused(text: &str, line: usize, what: &str) {
    let name = text.lines().nth(1).and_then(|l| l.split('"').nth(1)).unwrap();
    let dir = std::env::temp_dir().join(format!("siospec-suite-errors-{}-{}", std::process::id(), rand_suffix()));
    let file: PathBuf = dir.join(name).join("bad.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    let err = match siospec::suite::load_file(&file) {
        Ok(_) => panic!("the loader accepted:\n{text}"),
        Err(e) => e.to_string(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains(&format!("bad.toml:{line}:")), "expected line {line}: {err}\n{}", numbered(text));
    assert!(err.contains(what), "expected `{what}` in: {err}");
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn numbered(text: &str) -> String {
    text.lines().enumerate().map(|(i, l)| format!("{:>3} {l}\n", i + 1)).collect()
}

const HANDSHAKE: &str = "[[case.step]]\ndo = \"handshake\"\ntransport = \"polling\"\n"; // lines 13-15

#[test]
fn unknown_step() {
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"teleport\"\n"), 14, "teleport");
}

#[test]
fn unknown_field_names_the_key_line() {
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"handshake\"\ntransport = \"polling\"\nbogus = 1\n"), 16, "unknown field `bogus`");
}

#[test]
fn client_step_in_a_server_suite() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"client_connect\"\n")),
        17,
        "case `eio4/x`, step 2: step `client_connect` is for client suites; this is a server suite",
    );
}

#[test]
fn server_step_in_a_client_suite() {
    refused(
        &case(CLIENT, "", "[[case.step]]\ndo = \"sleep\"\nms = 1\n[[case.step]]\ntransport = \"polling\"\ndo = \"handshake\"\n"),
        19,
        "case `client-eio4/x`, step 2: step `handshake` is for server suites; this is a client suite",
    );
}

#[test]
fn unknown_step_in_a_client_suite() {
    refused(
        &case(CLIENT, "", "[[case.step]]\ndo = \"teleport\"\n"),
        15,
        "case `client-eio4/x`, step 1: unknown step `teleport`; client suites have sleep, mock,",
    );
}

#[test]
fn session_not_opened() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"send\"\nsession = \"other\"\npackets = [\"4x\"]\n")),
        18,
        "session `other` is not opened",
    );
}

#[test]
fn refused_websocket_opens_no_session() {
    let steps = "[[case.step]]\ndo = \"ws_connect\"\nsession = \"w\"\nrefused_status = 400\n[[case.step]]\ndo = \"expect_closed\"\nsession = \"w\"\n";
    refused(&case(SERVER, "", steps), 19, "session `w` is not opened");
}

#[test]
fn background_http_without_a_name() {
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"http\"\nbackground = true\n"), 15, "needs a `name`");
}

#[test]
fn await_of_an_unknown_request() {
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"await\"\nname = \"nope\"\n"), 15, "no earlier background http step named `nope`");
}

#[test]
fn packet_that_is_not_engine_io() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"send\"\npackets = [\"9x\"]\n")),
        18,
        "`9x` is not an Engine.IO packet",
    );
}

#[test]
fn packet_table_without_content() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"send\"\npackets = [{{ attachments = [] }}]\n")),
        18,
        "exactly one of",
    );
}

#[test]
fn hex_that_is_not_hex() {
    refused(&case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"send\"\npackets = [{{ binary = \"0g\" }}]\n")), 18, "is not hex");
}

#[test]
fn socket_io_packet_in_an_engine_io_suite() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"expect\"\npackets = [{{ sio = '2[\"x\"]' }}]\n")),
        18,
        "Socket.IO packets in a suite of the `engine.io` layer",
    );
}

#[test]
fn sio_pattern_that_does_not_parse() {
    refused(
        &case(SIO, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"expect\"\npackets = [{{ sio = '9[\"x\"]' }}]\n")),
        18,
        "is not a Socket.IO pattern",
    );
}

#[test]
fn unordered_with_an_engine_io_pattern() {
    refused(
        &case(SIO, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"expect\"\nunordered = true\npackets = [\"4x\"]\n")),
        18,
        "`unordered` takes only `sio` patterns",
    );
}

#[test]
fn unknown_packet_type_in_a_pattern() {
    refused(
        &case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"expect\"\npackets = [{{ type = \"pingg\" }}]\n")),
        18,
        "unknown packet type `pingg`",
    );
}

#[test]
fn empty_packet_pattern() {
    refused(&case(SERVER, "", &format!("{HANDSHAKE}[[case.step]]\ndo = \"expect\"\npackets = [{{}}]\n")), 18, "matches anything");
}

#[test]
fn unknown_matcher() {
    refused(
        &case(SERVER, "", "[[case.step]]\ndo = \"handshake\"\ntransport = \"polling\"\nopen = { sid = \"$str\" }\n"),
        16,
        "unknown matcher `$str`",
    );
}

#[test]
fn matcher_of_the_other_role() {
    // `$absent` is a client-suite matcher (expect_request query/headers).
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"http\"\nexpect = { json = { code = \"$absent\" } }\n"), 15, "`$absent` only applies");
}

#[test]
fn comparison_with_a_value_nobody_captured() {
    refused(
        &case(SERVER, "", "[[case.step]]\ndo = \"http\"\nexpect = { json = { code = \"$var:nope\" } }\n"),
        15,
        "`$var:nope` names `nope`",
    );
}

#[test]
fn duration_that_is_not_a_sum() {
    refused(&case(SERVER, "", "[[case.step]]\ndo = \"sleep\"\nms = \"{pingInterval}*2\"\n"), 15, "duration `{pingInterval}*2`");
}

#[test]
fn client_connect_options_not_a_table() {
    refused(&case(CLIENT, "", "[[case.step]]\ndo = \"client_connect\"\noptions = 3\n"), 16, "`options` must be a table");
}

#[test]
fn fixture_in_a_client_suite() {
    refused(
        &case(CLIENT, "fixture = { pingInterval = 100 }\n", "[[case.step]]\ndo = \"sleep\"\nms = 1\n"),
        14,
        "`fixture` does not apply to a client suite",
    );
}

#[test]
fn auto_pong_in_a_client_suite() {
    refused(&case(CLIENT, "auto_pong = false\n", "[[case.step]]\ndo = \"sleep\"\nms = 1\n"), 14, "`auto_pong` does not apply");
}

#[test]
fn every_shipped_suite_loads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let s = siospec::suite::load_all(&root.join("suites"), &[siospec::matrix::scenario::DIR]).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.cases.len() > 300);
    let scenarios = siospec::matrix::scenario::load(&root.join("suites/interop")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!scenarios.is_empty());
}

#[test]
fn interop_expect_ack_without_an_emit_with_ack() {
    let dir = std::env::temp_dir().join(format!("siospec-suite-errors-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.toml"),
        "[[scenario]]\nid = \"interop/x\"\ntitle = \"x\"\nrequirement = \"x\"\n[[scenario.step]]\ndo = \"connect\"\n[[scenario.step]]\ndo = \"emit\"\nevent = \"e\"\nargs = []\n[[scenario.step]]\ndo = \"expect_ack\"\nargs = []\n",
    )
    .unwrap();
    let err = siospec::matrix::scenario::load(&dir).map(|_| ()).unwrap_err().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("bad.toml") && err.contains("step 3: expect_ack needs an earlier emit with `ack = true`"), "{err}");
}

#[test]
fn interop_scenarios_need_exactly_one_gate() {
    let scenario = |id: &str, gate: bool| {
        format!(
            "[[scenario]]\nid = \"interop/{id}\"\ntitle = \"x\"\nrequirement = \"x\"\ngate = {gate}\n[[scenario.step]]\ndo = \"connect\"\n"
        )
    };
    for (n, file) in [(0, scenario("a", false)), (2, scenario("a", true) + &scenario("b", true))] {
        let dir = std::env::temp_dir().join(format!("siospec-suite-errors-gate-{n}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.toml"), file).unwrap();
        let err = siospec::matrix::scenario::load(&dir).map(|_| ()).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            err.contains(&format!("exactly one scenario must be the gate (`gate = true`: the one every cell plays first), found {n}")),
            "{err}"
        );
    }
}

#[test]
fn should_patterns_that_do_not_pair_with_the_packets() {
    refused(
        &case(
            SIO,
            "",
            &format!(
                "{HANDSHAKE}[[case.step]]\ndo = \"expect\"\npackets = [{{ sio = '0' }}]\nshould = [{{ sio = '0' }}, {{ sio = '1' }}]\n"
            ),
        ),
        19,
        "one stricter `sio` pattern per `sio` pattern",
    );
}
