//! Tests of the node parts.
