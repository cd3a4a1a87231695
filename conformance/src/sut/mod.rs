//! Systems under test behind the SUT protocol (`docs/sut-protocol.md`): the wire types
//! ([`protocol`]), the client that drives a child process ([`client`], `conform --sut` and
//! `replay --sut`), and warmcheck's own implementation behind the protocol ([`server`],
//! `warmcheck sut`).

pub mod client;
pub mod protocol;
pub mod server;
