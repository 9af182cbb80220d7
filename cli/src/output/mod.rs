//! Printing objects the way kubectl prints them.

pub mod age;
pub mod cronjobs;
pub mod daemonsets;
pub mod describe;
pub mod jobs;
pub mod pods;
pub mod services;
pub mod statefulsets;
pub mod storage;
pub mod tables;
