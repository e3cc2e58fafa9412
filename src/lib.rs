//! siospec: conformance and interoperability harness for Engine.IO and Socket.IO.
pub mod containers;
pub mod exit;
pub mod host;
pub mod matrix;
pub mod mock;
pub mod project;
pub mod protocol;
pub mod proxy;
pub mod report;
pub mod run;
pub mod settings;
pub mod suite;
pub mod targets;
pub mod wire;
