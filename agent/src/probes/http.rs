//! httpGet probes, with the kubelet's HTTP client rules: no proxy, no keep-alive, no
//! certificate verification, redirects followed only on the same host, 200–399 passes.

use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::HTTPGetAction;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, USER_AGENT as UA};
use reqwest::{redirect, Client, Url};

use super::check::USER_AGENT;
use super::check::{host_or_pod_ip, join_host_port, resolve_port, ProbeOutcome, ProbeTarget};

/// The kubelet keeps this much of a response body.
const MAX_BODY: usize = 10 * 1024;
const MAX_REDIRECTS: usize = 10;

/// One client for every probe of the agent: building one loads TLS configuration.
fn client() -> Result<&'static Client, String> {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let policy = redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"))
        } else if attempt.url().host_str() != attempt.previous().first().and_then(|u| u.host_str())
        {
            // Another host: the probe ends on this redirect (success with a warning).
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    let built = Client::builder()
        .redirect(policy)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .tls_danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| format!("http client: {}", chain(&e)))?;
    Ok(CLIENT.get_or_init(|| built))
}

/// The probe's URL: scheme, host (default the pod IP), port and path with its query.
pub(super) fn probe_url(action: &HTTPGetAction, target: &ProbeTarget) -> Result<Url, String> {
    let port = resolve_port(&action.port, &target.ports)?;
    let host = host_or_pod_ip(action.host.as_deref(), target)?;
    let scheme = action
        .scheme
        .as_deref()
        .unwrap_or("HTTP")
        .to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}"));
    }
    let mut url = Url::parse(&format!("{scheme}://{}/", join_host_port(&host, port)))
        .map_err(|e| format!("probe url: {e}"))?;
    let path = action.path.as_deref().unwrap_or("");
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    if !path.is_empty() {
        url.set_path(path);
    }
    url.set_query(query);
    Ok(url)
}

/// The probe's headers, plus the kubelet's `User-Agent` and `Accept` unless it sets them.
pub(super) fn probe_headers(action: &HTTPGetAction) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for h in action.http_headers.iter().flatten() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", h.name))?;
        let value = HeaderValue::from_str(&h.value)
            .map_err(|_| format!("invalid value for header {:?}", h.name))?;
        headers.append(name, value);
    }
    if !headers.contains_key(UA) {
        headers.insert(UA, HeaderValue::from_static(USER_AGENT));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    Ok(headers)
}

pub(super) async fn check_http(
    action: &HTTPGetAction,
    target: &ProbeTarget,
    timeout: Duration,
) -> ProbeOutcome {
    let prepared = probe_url(action, target).and_then(|url| Ok((url, probe_headers(action)?)));
    let (url, headers) = match prepared {
        Ok(p) => p,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let client = match client() {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let attempt = async {
        let mut resp = client
            .get(url.clone())
            .headers(headers)
            .timeout(timeout)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match resp.chunk().await? {
                Some(chunk) => {
                    body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())])
                }
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((status, body))) if (200..300).contains(&status) => ProbeOutcome::Success(body),
        Ok(Ok((status, body))) if (300..400).contains(&status) => {
            ProbeOutcome::Warning(format!("Probe terminated redirects, Response body: {body}"))
        }
        Ok(Ok((status, _))) => {
            ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {status}"))
        }
        Ok(Err(e)) => ProbeOutcome::Failure(format!("Get {:?}: {}", url.as_str(), chain(&e))),
        Err(_) => ProbeOutcome::Failure(format!(
            "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            url.as_str()
        )),
    }
}

/// An error with its causes, which reqwest keeps out of its own message.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPHeader};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn action(path: &str, port: IntOrString) -> HTTPGetAction {
        HTTPGetAction {
            path: Some(path.into()),
            port,
            ..Default::default()
        }
    }

    fn target() -> ProbeTarget {
        ProbeTarget {
            container_id: "c".into(),
            pod_ip: Some("10.1.2.3".parse().unwrap()),
            ports: vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }],
        }
    }

    #[test]
    fn urls_like_the_kubelet() {
        let url = |a: &HTTPGetAction, t: &ProbeTarget| probe_url(a, t).map(|u| u.to_string());
        let t = target();
        let named = action("/healthz?full=1", IntOrString::String("http".into()));
        assert_eq!(
            url(&named, &t).unwrap(),
            "http://10.1.2.3:8080/healthz?full=1"
        );
        let mut https = action("", IntOrString::Int(443));
        https.scheme = Some("HTTPS".into());
        https.host = Some("example.test".into());
        assert_eq!(url(&https, &t).unwrap(), "https://example.test/");
        let v6 = ProbeTarget {
            pod_ip: Some("fd00::5".parse().unwrap()),
            ..target()
        };
        assert_eq!(
            url(&action("/x", IntOrString::Int(81)), &v6).unwrap(),
            "http://[fd00::5]:81/x"
        );
        assert!(url(&action("/", IntOrString::String("nope".into())), &t).is_err());
        assert!(url(&action("/", IntOrString::Int(0)), &t).is_err());
        let no_ip = ProbeTarget {
            pod_ip: None,
            ..target()
        };
        assert!(url(&action("/", IntOrString::Int(80)), &no_ip).is_err());
    }

    #[test]
    fn default_headers_unless_overridden() {
        let mut a = action("/", IntOrString::Int(80));
        let h = probe_headers(&a).unwrap();
        assert_eq!(h[UA], USER_AGENT);
        assert_eq!(h[ACCEPT], "*/*");
        a.http_headers = Some(vec![
            HTTPHeader {
                name: "user-agent".into(),
                value: "mine".into(),
            },
            HTTPHeader {
                name: "X-Custom".into(),
                value: "a".into(),
            },
            HTTPHeader {
                name: "X-Custom".into(),
                value: "b".into(),
            },
        ]);
        let h = probe_headers(&a).unwrap();
        assert_eq!(h[UA], "mine");
        assert_eq!(h.get_all("x-custom").iter().count(), 2);
    }
}
