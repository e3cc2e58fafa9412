//! Engine.IO and Socket.IO wire codecs.
//!
//! Pure functions over strings and bytes, with no I/O, so the transport code
//! can stay dumb and every verdict about "what the peer sent" is made in one
//! place. Decoders reject anything the specification does not allow, even
//! where the reference implementation is lenient: the harness reports spec
//! conformance, and a lenient decoder would hide the deviations it exists to
//! find. Decoders never panic on any input.

pub mod eio;
pub mod error;
pub mod sio;

pub use error::ProtocolError;

/// A short, char-boundary-safe excerpt of peer input for error messages, so
/// that a megabyte of garbage does not end up in a report line.
pub(crate) fn snippet(s: &str) -> String {
    const MAX_CHARS: usize = 32;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
