//! The object model: manifests in, validated and defaulted k8s-openapi objects out.
