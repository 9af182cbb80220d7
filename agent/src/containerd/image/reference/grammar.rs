//! The reference grammar of the distribution project (`reference/regexp.go`) checked by
//! hand. oci-spec's own parser compiles one large regex on first use and keeps it for
//! the life of the process: 7 MB of the agent's heap, more than 100 pods' state
//! (docs/architecture.md, What the agent's memory is).
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component { "/" path-component }
//! domain    := domain-component { "." domain-component } [ ":" port ]
//! tag       := [\w][\w.-]{0,127}
//! digest    := algorithm ":" hex{32,}
//! ```

use oci_client::Reference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL_REPOSITORY: &str = "library";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;

/// Parses `s` as oci-spec's `Reference::try_from` does (same normalisation, same
/// accepted set); the error says what is wrong.
pub(super) fn parse(s: &str) -> Result<Reference, String> {
    if s.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if !is_name(name) || !tag.is_none_or(is_tag) || !digest.is_none_or(is_digest) {
        return Err("invalid reference format".into());
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > NAME_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_MAX} characters"
        ));
    }
    if let Some(digest) = digest {
        check_digest_length(digest)?;
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(
            registry,
            repository,
            tag.to_string(),
            digest.to_string(),
        ),
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_string()),
        (tag, None) => {
            Reference::with_tag(registry, repository, tag.unwrap_or(DEFAULT_TAG).to_string())
        }
    })
}

fn is_name(name: &str) -> bool {
    let mut parts = name.split('/');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    // The first part may be a domain only when a path follows it.
    let first_ok = is_path_component(first) || (!rest.is_empty() && is_domain(first));
    first_ok && rest.iter().all(|p| is_path_component(p))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn is_path_component(p: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes: Vec<char> = p.chars().collect();
    let (mut i, n) = (0, bytes.len());
    loop {
        let start = i;
        while i < n && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == n {
            return true;
        }
        let sep_start = i;
        while i < n && !alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[sep_start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
}

/// Host labels of letters, digits and inner `-`, joined by dots, and an optional port.
fn is_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (d, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.split('.').all(label)
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_tag(t: &str) -> bool {
    let mut chars = t.chars();
    chars.next().is_some_and(is_word)
        && t.len() <= 128
        && chars.all(|c| is_word(c) || c == '.' || c == '-')
}

/// `algorithm:hex`, the algorithm's parts starting with a letter and joined by `-_+.`.
fn is_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let part_ok = |p: &str| {
        let mut c = p.chars();
        c.next().is_some_and(|c| c.is_ascii_alphabetic()) && c.all(|c| c.is_ascii_alphanumeric())
    };
    algorithm.split(['-', '_', '+', '.']).all(part_ok)
        && hex.len() >= 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_digest_length(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest.split_once(':').unwrap_or((digest, ""));
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        other => return Err(format!("unsupported digest algorithm {other}")),
    };
    if hex.len() != want {
        return Err("invalid checksum digest length".into());
    }
    Ok(())
}

/// Docker's normalisation: no domain means Docker Hub, whose one-part names are official
/// images under `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((left, right)) if left.contains('.') || left.contains(':') || left == "localhost" => {
            (left.to_string(), right.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == DOCKER_HUB_LEGACY {
        domain = DOCKER_HUB.to_string();
    }
    if domain == DOCKER_HUB && !rest.contains('/') {
        rest = format!("{OFFICIAL_REPOSITORY}/{rest}");
    }
    (domain, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1";

    /// The hand-written grammar accepts and normalises what oci-spec's regex does.
    #[test]
    fn agrees_with_the_regex_parser() {
        let long = "a".repeat(256);
        let cases = [
            "nginx".to_string(),
            "nginx:1.25".into(),
            "docker.io/nginx".into(),
            "index.docker.io/library/nginx".into(),
            "alicek106/rr-test:echo-hostname".into(),
            "k8s.gcr.io/busybox".into(),
            "127.0.0.1:5000/x:1".into(),
            "localhost/x".into(),
            "localhost:5000/a/b/c:v1.2-rc_3".into(),
            format!("127.0.0.1:5000/x:1@sha256:{SHA}"),
            format!("x@sha256:{SHA}"),
            format!("x@sha512:{SHA}"),
            format!("x@md5:{SHA}"),
            "a__b/c.d/e---f".into(),
            "a___b".into(),
            "a._b".into(),
            "UPPER/case".into(),
            "Upper".into(),
            "my-Registry.example:80/x".into(),
            "-bad.example/x".into(),
            "host:/x".into(),
            ":tag".into(),
            "a@sha256:123".into(),
            "a b".into(),
            "a:".into(),
            "a:-tag".into(),
            format!("a:{}", "t".repeat(129)),
            "a//b".into(),
            "a/".into(),
            "/a".into(),
            long,
            "".into(),
        ];
        for case in &cases {
            let ours = parse(case).ok();
            let theirs = Reference::try_from(case.as_str()).ok();
            assert_eq!(ours, theirs, "{case:?}");
        }
    }
}
