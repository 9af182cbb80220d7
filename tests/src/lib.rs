//! end-to-end harness
