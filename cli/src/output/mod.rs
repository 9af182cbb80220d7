//! Printing objects the way kubectl prints them.

pub mod daemonsets;
pub mod describe;
pub mod pods;
pub mod services;
pub mod tables;
