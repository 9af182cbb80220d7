//! The Docker-link style variables the kubelet gives containers for a Service
//! (kubelet's `pkg/kubelet/envvars`): `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
//! `<NAME>_SERVICE_PORT_<PORTNAME>`, `<NAME>_PORT` and `<NAME>_PORT_<port>_<PROTO>`
//! with its `_PROTO`, `_PORT` and `_ADDR`.

/// What the variables of one Service are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub cluster_ip: String,
    /// At least one; only the first may be unnamed (API validation).
    pub ports: Vec<LinkPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
}

/// Upper case, `-` as `_`.
fn var_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// `host:port`, with IPv6 hosts bracketed.
fn host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The variables of Service `name`, in the kubelet's order.
pub fn from_service(name: &str, link: &Link) -> Vec<(String, String)> {
    let prefix = var_name(name);
    let mut out = vec![(format!("{prefix}_SERVICE_HOST"), link.cluster_ip.clone())];
    let Some(first) = link.ports.first() else {
        return out;
    };
    let service_port = format!("{prefix}_SERVICE_PORT");
    out.push((service_port.clone(), first.port.to_string()));
    for p in link.ports.iter().filter(|p| !p.name.is_empty()) {
        out.push((
            format!("{service_port}_{}", var_name(&p.name)),
            p.port.to_string(),
        ));
    }
    for (i, p) in link.ports.iter().enumerate() {
        let proto = p.protocol.to_lowercase();
        let url = format!("{proto}://{}", host_port(&link.cluster_ip, p.port));
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, p.protocol.to_uppercase());
        out.push((format!("{port_prefix}_PROTO"), proto));
        out.push((format!("{port_prefix}_PORT"), p.port.to_string()));
        out.push((format!("{port_prefix}_ADDR"), link.cluster_ip.clone()));
        out.push((port_prefix, url));
    }
    out
}
