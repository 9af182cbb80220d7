//! Containers: OCI spec, create/start/stop/delete, exit events.
