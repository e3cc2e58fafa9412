//! siospec: conformance and interoperability harness for Engine.IO and Socket.IO.
pub mod protocol;
