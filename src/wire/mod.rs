//! The harness as a client: HTTP requests (polling and deliberately wrong traffic),
//! websocket connections, and the Engine.IO session built on them. Every read is bounded
//! in size and time.
pub mod fields;
pub mod http;
pub mod session;
pub mod transcript;
pub mod ws;

pub use transcript::Transcript;

/// Largest HTTP body or websocket message the harness reads from a target.
pub const MAX_READ: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection refused at {0}: is the server running, and is the path right?")]
    Refused(String),
    #[error("no answer from {what} within {ms} ms")]
    Timeout { what: String, ms: u64 },
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Http(String),
    /// The connection was closed or reset before the response was complete: a server that
    /// ends a session may answer its pending poll this way.
    #[error("connection cut: {0}")]
    Cut(String),
    #[error("websocket: {0}")]
    Ws(String),
    #[error("{0}")]
    Protocol(#[from] crate::protocol::ProtocolError),
}
