//! Unit tests of the controllers against the memory store.
