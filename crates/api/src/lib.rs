//! Typed access to the Multica server: the wire types of its daemon API and an async
//! client that speaks it.

pub mod wire;
