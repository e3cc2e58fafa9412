//! Wire examples from shared/PROTOCOL.md, one test each, plus property tests:
//! round trips through every codec and "never panics on arbitrary input" for
//! every decoder.

use proptest::prelude::*;
use serde_json::{json, Value};
use siospec::protocol::eio::{
    decode_frame, decode_packet_text, decode_payload, encode_frame, encode_packet_text, encode_payload, Data, EioRevision, Frame, Packet,
    PacketType, PayloadFormat,
};
use siospec::protocol::sio::{fill_placeholders, SioDecoder, SioPacket, SioRevision, SioType};
use siospec::protocol::ProtocolError;

const OCTET: Option<&str> = Some("application/octet-stream");
const TEXT: Option<&str> = Some("text/plain; charset=UTF-8");

fn v3_text(body: &str) -> Result<Vec<Packet>, ProtocolError> {
    decode_payload(EioRevision::V3, body.as_bytes(), TEXT)
}

fn v4_payload(body: &str) -> Result<Vec<Packet>, ProtocolError> {
    decode_payload(EioRevision::V4, body.as_bytes(), TEXT)
}

fn sio5(s: &str) -> Result<SioPacket, ProtocolError> {
    SioPacket::decode(SioRevision::V5, s)
}

fn sio4(s: &str) -> Result<SioPacket, ProtocolError> {
    SioPacket::decode(SioRevision::V4, s)
}

/// Decoding then encoding gives back the exact wire string.
fn assert_sio_round_trip(rev: SioRevision, wire: &str) {
    let p = SioPacket::decode(rev, wire).unwrap();
    assert_eq!(p.encode(), wire, "{p:?}");
}

// ======================================================================
// Engine.IO: handshakes
// ======================================================================

const V4_HANDSHAKE: &str =
    r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

#[test]
fn v4_handshake_open_packet() {
    let p = decode_packet_text(EioRevision::V4, V4_HANDSHAKE).unwrap();
    assert_eq!(p.kind, PacketType::Open);
    let open: Value = serde_json::from_str(p.text().unwrap()).unwrap();
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["pingInterval"], 25000);
    assert_eq!(open["pingTimeout"], 20000);
    assert_eq!(open["maxPayload"], 1_000_000);
    assert_eq!(p.to_display(), V4_HANDSHAKE);
    // Over polling the handshake is a one-packet payload.
    assert_eq!(v4_payload(V4_HANDSHAKE).unwrap(), vec![p.clone()]);
    assert_eq!(encode_payload(PayloadFormat::V4, &[p]), V4_HANDSHAKE.as_bytes());
}

#[test]
fn v4_websocket_only_handshake_has_no_upgrades() {
    let wire = r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    let p = decode_frame(EioRevision::V4, &Frame::Text(wire.into())).unwrap();
    assert_eq!(p.kind, PacketType::Open);
    let open: Value = serde_json::from_str(p.text().unwrap()).unwrap();
    assert_eq!(open["upgrades"], json!([]));
}

#[test]
fn v3_polling_handshake_carries_socketio_connect() {
    let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
    let wire = format!("96:{open}2:40");
    let packets = v3_text(&wire).unwrap();
    assert_eq!(packets, vec![Packet::new(PacketType::Open, &open[1..]), Packet::message("0")]);
    assert_eq!(encode_payload(PayloadFormat::V3Text, &packets), wire.as_bytes());
    let sio = SioPacket::decode(SioRevision::V4, packets[1].text().unwrap()).unwrap();
    assert_eq!((sio.kind, sio.nsp.as_str()), (SioType::Connect, "/"));
}

#[test]
fn v3_handshake_with_wrong_length_is_refused() {
    let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
    // One unit short: the last '}' becomes the start of the next length.
    let err = v3_text(&format!("95:{open}2:40")).unwrap_err();
    assert!(matches!(err, ProtocolError::V3LengthNotNumber(_)), "{err}");
}

// ======================================================================
// Engine.IO: heartbeat, upgrade, noop packets
// ======================================================================

#[test]
fn heartbeat_and_upgrade_packets() {
    let cases = [
        ("2", PacketType::Ping, ""),
        ("3", PacketType::Pong, ""),
        ("2probe", PacketType::Ping, "probe"),
        ("3probe", PacketType::Pong, "probe"),
        ("5", PacketType::Upgrade, ""),
        ("6", PacketType::Noop, ""),
        ("1", PacketType::Close, ""),
        ("4hello", PacketType::Message, "hello"),
    ];
    for rev in [EioRevision::V3, EioRevision::V4] {
        for (wire, kind, text) in cases {
            let p = decode_packet_text(rev, wire).unwrap();
            assert_eq!(p, Packet::new(kind, text), "{wire}");
            assert_eq!(encode_packet_text(rev, &p), wire);
            assert_eq!(encode_frame(rev, &p), Frame::Text(wire.into()));
            assert_eq!(p.to_display(), wire);
        }
    }
}

#[test]
fn packet_type_names_and_chars() {
    let names = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
    for (i, name) in names.iter().enumerate() {
        let c = char::from(b'0' + i as u8);
        let t = PacketType::from_char(c).unwrap();
        assert_eq!((t.name(), t.as_char(), t as usize), (*name, c, i));
    }
    assert_eq!(PacketType::from_char('7'), None);
    assert_eq!(PacketType::from_char('b'), None);
}

// ======================================================================
// Engine.IO: v4 polling payloads
// ======================================================================

#[test]
fn v4_payload_two_messages() {
    let packets = v4_payload("4hello\x1e4world").unwrap();
    assert_eq!(packets, vec![Packet::message("hello"), Packet::message("world")]);
    assert_eq!(encode_payload(PayloadFormat::V4, &packets), b"4hello\x1e4world");
}

#[test]
fn v4_payload_base64_binary() {
    let packets = v4_payload("bAQIDBA==").unwrap();
    assert_eq!(packets, vec![Packet::binary([1, 2, 3, 4])]);
    assert_eq!(packets[0].to_display(), "bAQIDBA==");
    assert_eq!(encode_payload(PayloadFormat::V4, &packets), b"bAQIDBA==");
}

#[test]
fn v4_payload_text_and_binary() {
    let wire = "4hello\x1ebAQIDBA==";
    let packets = v4_payload(wire).unwrap();
    assert_eq!(packets, vec![Packet::message("hello"), Packet::binary([1, 2, 3, 4])]);
    assert_eq!(encode_payload(PayloadFormat::V4, &packets), wire.as_bytes());
}

#[test]
fn v4_payload_errors() {
    assert_eq!(v4_payload(""), Err(ProtocolError::EmptyPayload));
    assert_eq!(v4_payload("4a\x1e\x1e4b"), Err(ProtocolError::EmptyPacket));
    assert_eq!(v4_payload("4a\x1e"), Err(ProtocolError::EmptyPacket));
    assert_eq!(v4_payload("7x"), Err(ProtocolError::UnknownPacketType('7')));
    assert!(matches!(v4_payload("b!!!"), Err(ProtocolError::InvalidBase64(_))));
    assert!(matches!(v4_payload("bAQIDBA"), Err(ProtocolError::InvalidBase64(_))), "padding is required");
    assert!(matches!(decode_payload(EioRevision::V4, b"4\xff", None), Err(ProtocolError::InvalidUtf8(_))));
}

#[test]
fn v4_ignores_content_type() {
    let body = b"4hello\x1e4world";
    assert_eq!(decode_payload(EioRevision::V4, body, OCTET).unwrap().len(), 2);
}

// ======================================================================
// Engine.IO: v3 text payloads
// ======================================================================

#[test]
fn v3_payload_length_prefixed() {
    assert_eq!(v3_text("6:4hello").unwrap(), vec![Packet::message("hello")]);
    assert_eq!(encode_payload(PayloadFormat::V3Text, &[Packet::message("hello")]), b"6:4hello");
}

#[test]
fn v3_payload_length_counts_utf16_units() {
    // "€" is 3 UTF-8 bytes but 1 UTF-16 unit.
    assert_eq!(v3_text("2:4€").unwrap(), vec![Packet::message("€")]);
    assert_eq!(encode_payload(PayloadFormat::V3Text, &[Packet::message("€")]), "2:4€".as_bytes());
    // An astral character is a surrogate pair: 2 units.
    assert_eq!(v3_text("3:4😀").unwrap(), vec![Packet::message("😀")]);
    assert_eq!(encode_payload(PayloadFormat::V3Text, &[Packet::message("😀")]), "3:4😀".as_bytes());
    assert_eq!(v3_text("2:4😀"), Err(ProtocolError::V3LengthSplitsSurrogate(2)));
    // Byte counting would be wrong.
    assert!(v3_text("4:4€").is_err());
}

#[test]
fn v3_payload_base64_binary_with_type() {
    let packets = v3_text("10:b4AQIDBA==").unwrap();
    assert_eq!(packets, vec![Packet::binary([1, 2, 3, 4])]);
    assert_eq!(encode_payload(PayloadFormat::V3Text, &packets), b"10:b4AQIDBA==");
    assert_eq!(encode_packet_text(EioRevision::V3, &packets[0]), "b4AQIDBA==");
    assert_eq!(encode_packet_text(EioRevision::V4, &packets[0]), "bAQIDBA==");
}

#[test]
fn v3_payload_several_packets() {
    let wire = "6:4hello2:4€10:b4AQIDBA==1:2";
    let packets = v3_text(wire).unwrap();
    assert_eq!(
        packets,
        vec![Packet::message("hello"), Packet::message("€"), Packet::binary([1, 2, 3, 4]), Packet::new(PacketType::Ping, ""),]
    );
    assert_eq!(encode_payload(PayloadFormat::V3Text, &packets), wire.as_bytes());
}

#[test]
fn v3_payload_errors() {
    assert_eq!(v3_text(""), Err(ProtocolError::EmptyPayload));
    assert_eq!(v3_text("0:"), Err(ProtocolError::EmptyPacket));
    assert_eq!(v3_text("6:4hello0:"), Err(ProtocolError::EmptyPacket));
    assert_eq!(v3_text("7:4hello"), Err(ProtocolError::V3LengthOverrun { declared: 7, available: 6 }));
    assert_eq!(v3_text("x:4hello"), Err(ProtocolError::V3LengthNotNumber("x".into())));
    assert_eq!(v3_text(":4hello"), Err(ProtocolError::V3LengthNotNumber(String::new())));
    assert_eq!(v3_text("-1:4"), Err(ProtocolError::V3LengthNotNumber("-1".into())));
    assert_eq!(v3_text("6:4hello12"), Err(ProtocolError::V3LengthMissing("12".into())));
    assert_eq!(v3_text("4hello"), Err(ProtocolError::V3LengthMissing("4hello".into())));
    assert_eq!(v3_text("1:9"), Err(ProtocolError::UnknownPacketType('9')));
    assert_eq!(v3_text("1:b"), Err(ProtocolError::MissingBinaryType));
    assert_eq!(v3_text("2:b9"), Err(ProtocolError::UnknownPacketType('9')));
    assert!(matches!(v3_text("99999999999999999999999999:4"), Err(ProtocolError::V3LengthOverrun { declared: u64::MAX, .. })));
}

// ======================================================================
// Engine.IO: v3 XHR2 binary payloads
// ======================================================================

#[test]
fn xhr2_string_packet() {
    let wire = [&[0u8, 6, 0xFF][..], b"4hello"].concat();
    let packets = decode_payload(EioRevision::V3, &wire, OCTET).unwrap();
    assert_eq!(packets, vec![Packet::message("hello")]);
    assert_eq!(encode_payload(PayloadFormat::V3Binary, &packets), wire);
}

#[test]
fn xhr2_binary_packet_has_type_byte_and_counts_it() {
    let wire = [1u8, 5, 0xFF, 4, 1, 2, 3, 4];
    let packets = decode_payload(EioRevision::V3, &wire, OCTET).unwrap();
    assert_eq!(packets, vec![Packet::binary([1, 2, 3, 4])]);
    assert_eq!(encode_payload(PayloadFormat::V3Binary, &packets), wire);
}

#[test]
fn xhr2_multi_digit_length_and_mixed_packets() {
    let text = "4".to_owned() + &"x".repeat(11); // 12 bytes: digits 1, 2
    let wire = [&[0u8, 1, 2, 0xFF][..], text.as_bytes(), &[1, 3, 0xFF, 2, 9, 9]].concat();
    let packets = decode_payload(EioRevision::V3, &wire, Some("Application/Octet-Stream; x=y")).unwrap();
    assert_eq!(packets, vec![Packet::message("x".repeat(11)), Packet { kind: PacketType::Ping, data: Data::Binary(vec![9, 9]) },]);
    assert_eq!(encode_payload(PayloadFormat::V3Binary, &packets), wire);
}

#[test]
fn xhr2_string_length_counts_utf8_bytes() {
    // engine.io-parser 2.x UTF-8-encodes string packets before measuring them.
    let wire = [&[0u8, 4, 0xFF][..], "4€".as_bytes()].concat();
    let packets = decode_payload(EioRevision::V3, &wire, OCTET).unwrap();
    assert_eq!(packets, vec![Packet::message("€")]);
    assert_eq!(encode_payload(PayloadFormat::V3Binary, &packets), wire);
}

#[test]
fn xhr2_errors() {
    let dec = |b: &[u8]| decode_payload(EioRevision::V3, b, OCTET);
    assert_eq!(dec(&[]), Err(ProtocolError::EmptyPayload));
    assert_eq!(dec(&[2, 1, 0xFF, b'4']), Err(ProtocolError::Xhr2BadFlag(2)));
    assert_eq!(dec(b"6:4hello"), Err(ProtocolError::Xhr2BadFlag(b'6')));
    assert_eq!(dec(&[0, 0xFF, b'4']), Err(ProtocolError::Xhr2MissingLength));
    assert_eq!(dec(&[0, 1, 10, 0xFF, b'4']), Err(ProtocolError::Xhr2BadLengthDigit(10)));
    assert_eq!(dec(&[0, 1]), Err(ProtocolError::Xhr2Unterminated));
    assert_eq!(dec(&[0, 1, b'4']), Err(ProtocolError::Xhr2BadLengthDigit(b'4')));
    assert_eq!(dec(&[0, 3, 0xFF, b'4']), Err(ProtocolError::Xhr2LengthOverrun { declared: 3, available: 1 }));
    assert_eq!(dec(&[0, 0, 0xFF]), Err(ProtocolError::EmptyPacket));
    assert_eq!(dec(&[1, 0, 0xFF]), Err(ProtocolError::EmptyPacket));
    assert_eq!(dec(&[1, 1, 0xFF, 7]), Err(ProtocolError::UnknownBinaryPacketType(7)));
    assert!(matches!(dec(&[0, 2, 0xFF, b'4', 0xC3]), Err(ProtocolError::InvalidUtf8(_))));
    let huge = [&[0u8][..], &[9; 40], &[0xFF, b'4']].concat();
    assert!(matches!(dec(&huge), Err(ProtocolError::Xhr2LengthOverrun { declared: u64::MAX, .. })));
}

#[test]
fn v3_content_type_selects_framing() {
    let body = b"6:4hello";
    assert_eq!(decode_payload(EioRevision::V3, body, None).unwrap(), vec![Packet::message("hello")]);
    assert_eq!(decode_payload(EioRevision::V3, body, TEXT).unwrap(), vec![Packet::message("hello")]);
    assert!(decode_payload(EioRevision::V3, body, OCTET).is_err());
    assert_eq!(PayloadFormat::V3Binary.content_type(), "application/octet-stream");
    assert_eq!(PayloadFormat::V3Text.revision(), EioRevision::V3);
}

// ======================================================================
// Engine.IO: websocket frames
// ======================================================================

#[test]
fn ws_text_frame() {
    for rev in [EioRevision::V3, EioRevision::V4] {
        let p = decode_frame(rev, &Frame::Text("4hello".into())).unwrap();
        assert_eq!(p, Packet::message("hello"));
        assert_eq!(encode_frame(rev, &p), Frame::Text("4hello".into()));
    }
}

#[test]
fn ws_v4_binary_frame_is_raw_bytes() {
    let f = Frame::Binary(vec![1, 2, 3, 4]);
    let p = decode_frame(EioRevision::V4, &f).unwrap();
    assert_eq!(p, Packet::binary([1, 2, 3, 4]));
    assert_eq!(encode_frame(EioRevision::V4, &p), f);
    // Empty is a valid (empty) binary message in v4.
    assert_eq!(decode_frame(EioRevision::V4, &Frame::Binary(vec![])).unwrap(), Packet::binary([]));
}

#[test]
fn ws_v3_binary_frame_has_type_byte() {
    let f = Frame::Binary(vec![4, 1, 2, 3, 4]);
    let p = decode_frame(EioRevision::V3, &f).unwrap();
    assert_eq!(p, Packet::binary([1, 2, 3, 4]));
    assert_eq!(encode_frame(EioRevision::V3, &p), f);
    // Any packet type can be the type byte.
    let ping = Packet { kind: PacketType::Ping, data: Data::Binary(vec![7]) };
    assert_eq!(encode_frame(EioRevision::V3, &ping), Frame::Binary(vec![2, 7]));
    assert_eq!(decode_frame(EioRevision::V3, &Frame::Binary(vec![2, 7])).unwrap(), ping);
}

#[test]
fn ws_frame_errors() {
    assert_eq!(decode_frame(EioRevision::V3, &Frame::Binary(vec![])), Err(ProtocolError::EmptyPacket));
    assert_eq!(decode_frame(EioRevision::V3, &Frame::Binary(vec![7, 1])), Err(ProtocolError::UnknownBinaryPacketType(7)));
    for rev in [EioRevision::V3, EioRevision::V4] {
        assert_eq!(decode_frame(rev, &Frame::Text(String::new())), Err(ProtocolError::EmptyPacket));
        assert_eq!(decode_frame(rev, &Frame::Text("x".into())), Err(ProtocolError::UnknownPacketType('x')));
    }
}

#[test]
fn base64_text_frames_are_binary_packets() {
    let v4 = decode_frame(EioRevision::V4, &Frame::Text("bAQIDBA==".into())).unwrap();
    assert_eq!(v4, Packet::binary([1, 2, 3, 4]));
    let v3 = decode_frame(EioRevision::V3, &Frame::Text("b4AQIDBA==".into())).unwrap();
    assert_eq!(v3, Packet::binary([1, 2, 3, 4]));
}

// ======================================================================
// Socket.IO v5: the wire table
// ======================================================================

#[test]
fn sio_connect_with_auth() {
    let p = sio5(r#"0{"token":"123"}"#).unwrap();
    assert_eq!(p.kind, SioType::Connect);
    assert_eq!(p.nsp, "/");
    assert_eq!(p.data, Some(json!({"token": "123"})));
    assert_sio_round_trip(SioRevision::V5, r#"0{"token":"123"}"#);
}

#[test]
fn sio_connect_answer_with_sid_and_pid() {
    assert_sio_round_trip(SioRevision::V5, r#"0{"sid":"x"}"#);
    let p = sio5(r#"0{"sid":"x","pid":"y"}"#).unwrap();
    assert_eq!(p.data, Some(json!({"sid": "x", "pid": "y"})));
}

#[test]
fn sio_connect_custom_namespace() {
    let p = sio5("0/admin,").unwrap();
    assert_eq!((p.kind, p.nsp.as_str(), p.id, &p.data), (SioType::Connect, "/admin", None, &None));
    assert_sio_round_trip(SioRevision::V5, "0/admin,");
    let answer = sio5(r#"0/admin,{"sid":"x"}"#).unwrap();
    assert_eq!((answer.nsp.as_str(), answer.data), ("/admin", Some(json!({"sid": "x"}))));
    assert_sio_round_trip(SioRevision::V5, r#"0/admin,{"sid":"x"}"#);
}

#[test]
fn sio_connect_error_unknown_namespace() {
    let wire = r#"4/random,{"message":"Invalid namespace"}"#;
    let p = sio5(wire).unwrap();
    assert_eq!(p.kind, SioType::ConnectError);
    assert_eq!(p.nsp, "/random");
    assert_eq!(p.data, Some(json!({"message": "Invalid namespace"})));
    assert_sio_round_trip(SioRevision::V5, wire);
}

#[test]
fn sio_event() {
    let p = sio5(r#"2["foo"]"#).unwrap();
    assert_eq!((p.kind, p.id, p.event_name()), (SioType::Event, None, Some("foo")));
    assert_sio_round_trip(SioRevision::V5, r#"2["foo"]"#);
}

#[test]
fn sio_event_with_ack() {
    let p = sio5(r#"212["foo"]"#).unwrap();
    assert_eq!((p.kind, p.id, p.data), (SioType::Event, Some(12), Some(json!(["foo"]))));
    assert_sio_round_trip(SioRevision::V5, r#"212["foo"]"#);
}

#[test]
fn sio_ack_on_namespace() {
    let p = sio5(r#"3/admin,13["bar"]"#).unwrap();
    assert_eq!((p.kind, p.nsp.as_str(), p.id), (SioType::Ack, "/admin", Some(13)));
    assert_eq!(p.data, Some(json!(["bar"])));
    assert_sio_round_trip(SioRevision::V5, r#"3/admin,13["bar"]"#);
}

#[test]
fn sio_binary_event() {
    let wire = r#"51-["baz",{"_placeholder":true,"num":0}]"#;
    let p = sio5(wire).unwrap();
    assert_eq!((p.kind, p.expected_attachments()), (SioType::BinaryEvent, 1));
    assert!(p.attachments.is_empty());
    assert_eq!(p.event_name(), Some("baz"));

    let mut dec = SioDecoder::new(SioRevision::V5);
    assert_eq!(dec.push_text(wire).unwrap(), None);
    assert_eq!(dec.awaiting(), 1);
    let full = dec.push_binary(vec![1, 2, 3]).unwrap().unwrap();
    assert_eq!(dec.awaiting(), 0);
    assert_eq!(full.attachments, vec![vec![1, 2, 3]]);
    assert_eq!(full.encode_all(), (wire.to_owned(), vec![vec![1, 2, 3]]));

    let filled = fill_placeholders(full.data.as_ref().unwrap(), &full.attachments, &|b| json!(b)).unwrap();
    assert_eq!(filled, json!(["baz", [1, 2, 3]]));
}

#[test]
fn sio_binary_ack() {
    let wire = r#"61-15["bar",{"_placeholder":true,"num":0}]"#;
    let p = sio5(wire).unwrap();
    assert_eq!((p.kind, p.id, p.expected_attachments()), (SioType::BinaryAck, Some(15), 1));
    let mut dec = SioDecoder::new(SioRevision::V5);
    assert_eq!(dec.push_text(wire).unwrap(), None);
    let full = dec.push_binary(vec![0xFF]).unwrap().unwrap();
    assert_eq!(full.encode_all(), (wire.to_owned(), vec![vec![0xFF]]));
}

#[test]
fn sio_disconnect() {
    let p = sio5("1").unwrap();
    assert_eq!((p.kind, p.nsp.as_str()), (SioType::Disconnect, "/"));
    assert_sio_round_trip(SioRevision::V5, "1");
    let p = sio5("1/admin,").unwrap();
    assert_eq!((p.kind, p.nsp.as_str()), (SioType::Disconnect, "/admin"));
    assert_sio_round_trip(SioRevision::V5, "1/admin,");
    // A namespace may also run to the end of the string.
    assert_eq!(sio5("1/admin").unwrap().nsp, "/admin");
}

// ======================================================================
// Socket.IO v4 (over EIO3)
// ======================================================================

#[test]
fn sio_v4_implicit_connect_to_main_namespace() {
    let p = sio4("0").unwrap();
    assert_eq!((p.kind, p.nsp.as_str(), &p.data), (SioType::Connect, "/", &None));
}

#[test]
fn sio_v4_connect_with_query_in_namespace() {
    let p = sio4("0/admin?token=1").unwrap();
    assert_eq!(p.nsp, "/admin?token=1");
    assert_eq!(p.nsp_path(), "/admin");
    assert_eq!(p.nsp_query(), Some("token=1"));
    assert_eq!(p.encode(), "0/admin?token=1,");
    assert_eq!(sio4("0/admin?token=1,").unwrap(), p);
    let plain = sio4("0/admin,").unwrap();
    assert_eq!((plain.nsp_path(), plain.nsp_query()), ("/admin", None));
}

#[test]
fn sio_v4_error_is_a_string() {
    let wire = r#"4/admin,"Not authorized""#;
    let p = sio4(wire).unwrap();
    assert_eq!(p.kind, SioType::ConnectError);
    assert_eq!(p.kind.name_in(SioRevision::V4), "ERROR");
    assert_eq!(p.data, Some(json!("Not authorized")));
    assert_sio_round_trip(SioRevision::V4, wire);
    // v5 requires an object.
    assert!(matches!(sio5(wire), Err(ProtocolError::SioConnectErrorPayload(_))));
}

#[test]
fn sio_type_names() {
    let names = ["CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"];
    for (i, name) in names.iter().enumerate() {
        let t = SioType::from_char(char::from(b'0' + i as u8)).unwrap();
        assert_eq!((t.name(), t as usize, t.is_binary()), (*name, i, i >= 5));
    }
    assert_eq!(SioType::from_char('7'), None);
}

// ======================================================================
// Socket.IO: invalid packets (the server closes on these)
// ======================================================================

#[test]
fn sio_event_with_non_array_payload() {
    // "42{}" on the wire.
    let err = sio5("2{}").unwrap_err();
    assert!(matches!(err, ProtocolError::SioEventPayload { kind: "EVENT", .. }), "{err}");
    assert!(err.to_string().contains("an object"), "{err}");
    assert!(matches!(sio4("2{}"), Err(ProtocolError::SioEventPayload { .. })));
}

#[test]
fn sio_invalid_type() {
    // "4abc" on the wire.
    assert_eq!(sio5("abc"), Err(ProtocolError::SioUnknownType('a')));
    assert_eq!(sio5("7"), Err(ProtocolError::SioUnknownType('7')));
    assert_eq!(sio5("é"), Err(ProtocolError::SioUnknownType('é')));
    assert_eq!(sio5(""), Err(ProtocolError::SioEmpty));
}

#[test]
fn sio_invalid_ack_id() {
    // The official suite's case: '42abc["message-with-ack",1,"2",{"3":[false]}]'.
    let err = sio5(r#"2abc["message-with-ack",1,"2",{"3":[false]}]"#).unwrap_err();
    assert_eq!(err, ProtocolError::SioInvalidAckId("abc".into()));
    assert_eq!(sio5(r#"21a["x"]"#), Err(ProtocolError::SioInvalidAckId("1a".into())));
    // Does not fit in u64.
    assert_eq!(sio5(r#"218446744073709551616["x"]"#), Err(ProtocolError::SioInvalidAckId("18446744073709551616".into())));
    assert_eq!(sio5(r#"218446744073709551615["x"]"#).unwrap().id, Some(u64::MAX));
}

#[test]
fn sio_payload_rules() {
    use ProtocolError as E;
    assert!(matches!(sio5(r#"2[]"#), Err(E::SioEventPayload { .. })));
    assert!(matches!(sio5(r#"2[1]"#), Err(E::SioEventPayload { .. })));
    assert!(matches!(sio5("2"), Err(E::SioEventPayload { .. })));
    assert!(matches!(sio5("212"), Err(E::SioEventPayload { .. })));
    assert!(matches!(sio5(r#"2"foo""#), Err(E::SioEventPayload { .. })));
    assert!(matches!(sio5(r#"3{}"#), Err(E::SioAckPayload { kind: "ACK", .. })));
    assert!(matches!(sio5("31"), Err(E::SioAckPayload { .. })));
    assert_eq!(sio5("31[]").unwrap().data, Some(json!([])));
    assert!(matches!(sio5(r#"1{}"#), Err(E::SioDisconnectPayload(_))));
    assert!(matches!(sio5(r#"1/admin,[]"#), Err(E::SioDisconnectPayload(_))));
    assert!(matches!(sio5(r#"0["x"]"#), Err(E::SioConnectPayload(_))));
    assert!(matches!(sio5(r#"0"x""#), Err(E::SioConnectPayload(_))));
    assert!(matches!(sio5("4"), Err(E::SioConnectErrorPayload(_))));
    assert!(sio4("4/admin,").is_ok());
    assert!(sio4(r#"4{"message":"x"}"#).is_ok());
    assert!(matches!(sio5(r#"2["foo""#), Err(E::SioInvalidJson(_))));
    assert!(matches!(sio5(r#"2["foo"]x"#), Err(E::SioInvalidJson(_))));
}

#[test]
fn sio_namespace_must_start_with_slash() {
    assert_eq!(sio5(r#"2admin,["foo"]"#), Err(ProtocolError::SioNamespaceNotAbsolute("admin".into())));
}

#[test]
fn sio_attachment_count_rules() {
    use ProtocolError as E;
    let ph = r#"{"_placeholder":true,"num":0}"#;
    assert_eq!(sio5(&format!(r#"5["a",{ph}]"#)), Err(E::SioMissingAttachments("BINARY_EVENT")));
    assert_eq!(sio5(&format!(r#"61["a",{ph}]"#)), Err(E::SioMissingAttachments("BINARY_ACK")));
    assert_eq!(sio5(&format!(r#"5-["a",{ph}]"#)), Err(E::SioAttachmentsNotNumber(String::new())));
    assert_eq!(sio5(&format!(r#"5x-["a",{ph}]"#)), Err(E::SioMissingAttachments("BINARY_EVENT")));
    let too_big = "9".repeat(24);
    assert_eq!(sio5(&format!(r#"5{too_big}-["a",{ph}]"#)), Err(E::SioAttachmentsNotNumber(too_big)));
    assert_eq!(sio5(r#"52-["a",{"_placeholder":true,"num":0}]"#), Err(E::SioAttachmentMismatch { declared: 2, placeholders: 1 }));
    assert_eq!(sio5(r#"50-["a"]"#).unwrap().expected_attachments(), 0);
    // Placeholders in nested objects count too.
    let nested = r#"52-["a",{"x":[{"_placeholder":true,"num":1}],"y":{"_placeholder":true,"num":0}}]"#;
    assert_eq!(sio5(nested).unwrap().expected_attachments(), 2);
}

#[test]
fn sio_decoder_caps_attachments() {
    let many: Vec<String> = (0..11).map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#)).collect();
    let wire = format!(r#"511-["a",{}]"#, many.join(","));
    let mut dec = SioDecoder::new(SioRevision::V5);
    assert_eq!(dec.push_text(&wire), Err(ProtocolError::SioTooManyAttachments { count: 11, max: 10 }));
    // The count is refused before the JSON is even looked at.
    let mut small = SioDecoder::with_max_attachments(SioRevision::V5, 1);
    assert_eq!(small.push_text("599999-garbage"), Err(ProtocolError::SioTooManyAttachments { count: 99999, max: 1 }));
    let mut big = SioDecoder::with_max_attachments(SioRevision::V5, 11);
    assert_eq!(big.push_text(&wire).unwrap(), None);
    assert_eq!(big.awaiting(), 11);
}

#[test]
fn sio_decoder_sequencing() {
    let mut dec = SioDecoder::new(SioRevision::V5);
    assert_eq!(dec.push_binary(vec![1]), Err(ProtocolError::SioUnexpectedBinary));
    assert_eq!(dec.push_text(r#"2["foo"]"#).unwrap().unwrap().event_name(), Some("foo"));

    let wire = r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(dec.push_text(wire).unwrap(), None);
    assert_eq!(dec.push_binary(vec![1]).unwrap(), None);
    assert_eq!(dec.awaiting(), 1);
    assert_eq!(dec.push_text(r#"2["foo"]"#), Err(ProtocolError::SioUnexpectedText(1)));
    // An error resets the decoder.
    assert_eq!(dec.awaiting(), 0);
    assert_eq!(dec.push_text(wire).unwrap(), None);
    assert_eq!(dec.push_binary(vec![1]).unwrap(), None);
    let full = dec.push_binary(vec![2]).unwrap().unwrap();
    assert_eq!(full.attachments, vec![vec![1], vec![2]]);
    assert_eq!(dec.push_binary(vec![3]), Err(ProtocolError::SioUnexpectedBinary));
}

#[test]
fn fill_placeholders_checks_range() {
    let data = json!(["a", {"_placeholder": true, "num": 1}]);
    let err = fill_placeholders(&data, &[vec![1]], &|b| json!(b.len())).unwrap_err();
    assert_eq!(err, ProtocolError::SioPlaceholderOutOfRange { num: "1".into(), len: 1 });
    let bad = json!({"_placeholder": true, "num": "0"});
    assert!(fill_placeholders(&bad, &[vec![1]], &|_| Value::Null).is_err());
    let missing = json!({"_placeholder": true});
    assert!(fill_placeholders(&missing, &[vec![1]], &|_| Value::Null).is_err());
    let ok = json!({"k": [{"_placeholder": true, "num": 0}], "p": {"_placeholder": false}});
    assert_eq!(fill_placeholders(&ok, &[vec![1, 2]], &|b| json!(b.len())).unwrap(), json!({"k": [2], "p": {"_placeholder": false}}));
}

#[test]
fn error_messages_quote_their_rule() {
    let errors = [
        v3_text("x:4").unwrap_err(),
        v3_text("2:4😀").unwrap_err(),
        decode_payload(EioRevision::V3, &[3], OCTET).unwrap_err(),
        decode_frame(EioRevision::V3, &Frame::Binary(vec![9])).unwrap_err(),
        sio5("2{}").unwrap_err(),
        sio5("9").unwrap_err(),
        sio5(r#"52-["a"]"#).unwrap_err(),
        SioDecoder::new(SioRevision::V5).push_binary(vec![]).unwrap_err(),
    ];
    for e in errors {
        assert!(e.to_string().contains("(rule: "), "{e}");
    }
}

// ======================================================================
// Property tests: round trips
// ======================================================================

fn packet_type() -> impl Strategy<Value = PacketType> {
    prop::sample::select(PacketType::ALL.to_vec())
}

/// Any Unicode, astral characters included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z€😀é\u{10FFFF}]{0,12}"]
}

/// Packets any revision can carry in every framing: binary only as a message
/// when v4 is involved.
fn packet(rev: EioRevision) -> impl Strategy<Value = Packet> {
    let binary_kind = match rev {
        EioRevision::V4 => Just(PacketType::Message).boxed(),
        EioRevision::V3 => packet_type().boxed(),
    };
    prop_oneof![
        (packet_type(), any_text()).prop_map(|(kind, t)| Packet::new(kind, t)),
        (binary_kind, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(kind, b)| Packet { kind, data: Data::Binary(b) }),
    ]
}

fn without_record_separator(mut p: Packet) -> Packet {
    if let Data::Text(t) = &mut p.data {
        *t = t.replace('\x1e', "");
    }
    p
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z]{1,6}", json_value()), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_é/-]{1,10}", "/[a-z]{1,6}\\?[a-z]{1,4}=[a-z0-9]{0,4}(&[a-z]=[0-9])?",]
}

/// A valid packet for `rev`, with consistent attachments for binary types.
fn sio_packet() -> impl Strategy<Value = (SioRevision, SioPacket)> {
    let rev = prop::sample::select(vec![SioRevision::V4, SioRevision::V5]);
    let kind = prop::sample::select(SioType::ALL.to_vec());
    let args = prop::collection::vec(json_value(), 0..4);
    let attachments = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 1..4);
    (
        rev,
        kind,
        namespace(),
        any::<Option<u64>>(),
        any_text(),
        args,
        attachments,
        json_object(),
        prop::option::of(json_object()),
        any_text(),
    )
        .prop_map(|(rev, kind, nsp, id, name, args, attachments, obj, opt_obj, msg)| {
            let mut p = SioPacket::new(kind, nsp, None);
            let event_args = |extra: Vec<Value>| {
                let mut v = vec![Value::from(name.clone())];
                v.extend(args.clone());
                v.extend(extra);
                Value::Array(v)
            };
            let placeholders = || (0..attachments.len()).map(|n| json!({"_placeholder": true, "num": n})).collect::<Vec<_>>();
            match kind {
                SioType::Connect => p.data = if rev == SioRevision::V5 { opt_obj } else { None },
                SioType::Disconnect => {}
                SioType::Event => (p.id, p.data) = (id, Some(event_args(vec![]))),
                SioType::Ack => (p.id, p.data) = (id, Some(Value::Array(args.clone()))),
                SioType::ConnectError => p.data = Some(if rev == SioRevision::V5 { obj } else { Value::from(msg) }),
                SioType::BinaryEvent => {
                    (p.id, p.data) = (id, Some(event_args(placeholders())));
                    p.attachments = attachments.clone();
                }
                SioType::BinaryAck => {
                    let mut v = placeholders();
                    v.extend(args.clone());
                    (p.id, p.data) = (id, Some(Value::Array(v)));
                    p.attachments = attachments.clone();
                }
            }
            (rev, p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frame_round_trip_v3(p in packet(EioRevision::V3)) {
        let f = encode_frame(EioRevision::V3, &p);
        prop_assert_eq!(decode_frame(EioRevision::V3, &f)?, p);
    }

    #[test]
    fn frame_round_trip_v4(p in packet(EioRevision::V4)) {
        let f = encode_frame(EioRevision::V4, &p);
        prop_assert_eq!(decode_frame(EioRevision::V4, &f)?, p);
    }

    #[test]
    fn packet_text_round_trip(p3 in packet(EioRevision::V3), p4 in packet(EioRevision::V4)) {
        prop_assert_eq!(decode_packet_text(EioRevision::V3, &encode_packet_text(EioRevision::V3, &p3))?, p3);
        prop_assert_eq!(decode_packet_text(EioRevision::V4, &encode_packet_text(EioRevision::V4, &p4))?, p4);
    }

    #[test]
    fn payload_round_trip_v4(ps in prop::collection::vec(packet(EioRevision::V4), 1..6)) {
        let ps: Vec<Packet> = ps.into_iter().map(without_record_separator).collect();
        let body = encode_payload(PayloadFormat::V4, &ps);
        prop_assert_eq!(decode_payload(EioRevision::V4, &body, None)?, ps);
    }

    #[test]
    fn payload_round_trip_v3_text(ps in prop::collection::vec(packet(EioRevision::V3), 1..6)) {
        let body = encode_payload(PayloadFormat::V3Text, &ps);
        prop_assert_eq!(decode_payload(EioRevision::V3, &body, TEXT)?, ps);
    }

    #[test]
    fn payload_round_trip_v3_binary(ps in prop::collection::vec(packet(EioRevision::V3), 1..6)) {
        let body = encode_payload(PayloadFormat::V3Binary, &ps);
        prop_assert_eq!(decode_payload(EioRevision::V3, &body, OCTET)?, ps);
    }

    #[test]
    fn sio_round_trip((rev, p) in sio_packet()) {
        let (text, attachments) = p.encode_all();
        let mut bare = p.clone();
        bare.attachments.clear();
        let decoded = SioPacket::decode(rev, &text)?;
        prop_assert_eq!(&decoded, &bare);
        prop_assert_eq!(decoded.expected_attachments(), p.attachments.len());

        let mut dec = SioDecoder::new(rev);
        let mut done = dec.push_text(&text)?;
        for a in attachments {
            prop_assert!(done.is_none());
            done = dec.push_binary(a)?;
        }
        prop_assert_eq!(done, Some(p));
        prop_assert_eq!(dec.awaiting(), 0);
    }

    // ==================================================================
    // Property tests: decoders never panic, and errors name their rule
    // ==================================================================

    #[test]
    fn decode_payload_never_panics(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 4, 9, 10, 0xFF, b'4', b'b']), 0..32),
            "([0-9]{0,3}:?[0-6b]?[a-zA-Z0-9=€😀\x1e]{0,6}){0,4}".prop_map(String::into_bytes),
        ],
        rev in prop::sample::select(vec![EioRevision::V3, EioRevision::V4]),
        ct in prop::sample::select(vec![None, OCTET, TEXT, Some("")]),
    ) {
        if let Err(e) = decode_payload(rev, &body, ct) {
            prop_assert!(e.to_string().contains("(rule: "), "{}", e);
        }
    }

    #[test]
    fn decode_frame_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..32),
        text in any_text(),
        rev in prop::sample::select(vec![EioRevision::V3, EioRevision::V4]),
    ) {
        let _ = decode_frame(rev, &Frame::Binary(bytes));
        let _ = decode_frame(rev, &Frame::Text(text));
    }

    #[test]
    fn decode_packet_text_never_panics(
        s in prop_oneof![any::<String>(), "b?[0-9]?[A-Za-z0-9+/=€]{0,8}"],
        rev in prop::sample::select(vec![EioRevision::V3, EioRevision::V4]),
    ) {
        if let Err(e) = decode_packet_text(rev, &s) {
            prop_assert!(e.to_string().contains("(rule: "), "{}", e);
        }
    }

    #[test]
    fn sio_decode_never_panics(
        s in prop_oneof![
            any::<String>(),
            "[0-7]([0-9]{0,3}-)?(/[a-zé?=,]{0,6})?[0-9a-z]{0,22}[\\[\\]{}\",:a-z0-9_é-]{0,16}",
        ],
        rev in prop::sample::select(vec![SioRevision::V4, SioRevision::V5]),
    ) {
        if let Err(e) = SioPacket::decode(rev, &s) {
            prop_assert!(e.to_string().contains("(rule: "), "{}", e);
        }
    }

    #[test]
    fn sio_decoder_never_panics(
        ops in prop::collection::vec(
            prop_oneof![
                any::<String>().prop_map(Ok),
                "5[0-3]-\\[\"a\"(,\\{\"_placeholder\":true,\"num\":[0-3]\\}){0,3}\\]".prop_map(Ok),
                prop::collection::vec(any::<u8>(), 0..4).prop_map(Err),
            ],
            0..8,
        ),
        max in 0usize..4,
    ) {
        let mut dec = SioDecoder::with_max_attachments(SioRevision::V5, max);
        for op in ops {
            let res = match op {
                Ok(text) => dec.push_text(&text),
                Err(bytes) => dec.push_binary(bytes),
            };
            if let Ok(Some(p)) = res {
                prop_assert_eq!(p.attachments.len(), p.expected_attachments());
                prop_assert!(p.attachments.len() <= max);
                if let Some(data) = &p.data {
                    let _ = fill_placeholders(data, &p.attachments, &|b| Value::from(b.len()));
                }
            }
            prop_assert!(dec.awaiting() <= max);
        }
    }
}
