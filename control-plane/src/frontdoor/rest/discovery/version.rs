//! `/version`: what `kubectl version` prints as the server's version. skiff speaks the
//! API of Kubernetes 1.33 (the k8s-openapi types it is built on), so major/minor say 1.33
//! and kubectl 1.32–1.34 print no skew warning; gitVersion is a semver pre-release of
//! 1.33.0 that names skiff's own version.

use k8s_openapi::apimachinery::pkg::version::Info;

/// The Kubernetes minor version whose API skiff serves.
pub const KUBERNETES_MINOR: &str = "33";

/// `version.Info` of this build.
pub fn info() -> Info {
    Info {
        major: "1".to_string(),
        minor: KUBERNETES_MINOR.to_string(),
        git_version: format!(
            "v1.{KUBERNETES_MINOR}.0-skiff.{}",
            env!("CARGO_PKG_VERSION")
        ),
        git_commit: String::new(),
        git_tree_state: String::new(),
        build_date: String::new(),
        // A Rust build: no Go toolchain to name.
        go_version: String::new(),
        compiler: "rustc".to_string(),
        platform: platform(),
        ..Info::default()
    }
}

/// `linux/amd64`, in Go's names for architectures as kubectl prints them.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_version_is_a_1_33_pre_release_naming_skiff() {
        let info = info();
        assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
        let version = info.git_version.strip_prefix("v1.33.0-skiff.").unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert!(info.platform.starts_with("linux/"));
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["gitVersion"], info.git_version.as_str());
        assert_eq!(json["compiler"], "rustc");
    }
}
