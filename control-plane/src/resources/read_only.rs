//! Kinds users may read but not write: EndpointSlices, which only the control plane makes
//! (from each Service's Endpoints, `controllers/services/slices.rs`, writing to the store
//! itself). Every user verb refuses them as kube-apiserver refuses a verb a resource does
//! not serve (405 MethodNotAllowed on REST).

use crate::core::Error;

const READ_ONLY: &[&str] = &["EndpointSlice"];

pub fn is_read_only(kind: &str) -> bool {
    READ_ONLY.contains(&kind)
}

/// Refuses `verb` ("create", "update", "patch", "delete") on a read-only `kind`.
pub fn refuse(kind: &str, verb: &str) -> Result<(), Error> {
    if !is_read_only(kind) {
        return Ok(());
    }
    let resource = super::objects::qualified_resource(kind);
    Err(Error::Unimplemented(format!(
        "{verb} is not supported on resources of kind {resource:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpointslices_are_refused_in_kube_apiservers_words() {
        let err = refuse("EndpointSlice", "create").unwrap_err();
        assert_eq!(
            err,
            Error::Unimplemented(
                "create is not supported on resources of kind \"endpointslices.discovery.k8s.io\""
                    .into()
            )
        );
        assert!(refuse("ConfigMap", "create").is_ok());
    }
}
