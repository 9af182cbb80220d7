//! EndpointSlice defaults, as Kubernetes' `SetDefaults_EndpointPort`: a port's name is
//! "" and its protocol TCP when unset.

use k8s_openapi::api::discovery::v1::EndpointSlice;

pub fn default_endpoint_slice(slice: &mut EndpointSlice) {
    for port in slice.ports.iter_mut().flatten() {
        port.name.get_or_insert_with(String::new);
        port.protocol.get_or_insert_with(|| "TCP".to_string());
    }
}
