//! Container logs in Kubernetes' CRI format (docs/architecture.md, "Container logs"):
//! `copier` turns a container's stdout/stderr FIFOs into CRI lines, `rotate` keeps the
//! files to size, `reader` serves them back with tail, since and timestamps.

pub mod copier;
pub mod cri_line;
pub mod reader;
pub mod rotate;

pub use copier::{LogCopies, Source, LINE_BUF};
pub use reader::{LogQuery, LogReader};
pub use rotate::Rotation;
