//! Code shared by the examples (and, by path, the tests).

pub(crate) mod corpus;
