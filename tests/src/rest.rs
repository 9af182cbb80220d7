//! A plain HTTPS client of a test control plane's Kubernetes REST API, holding the admin
//! certificate from its admin.conf: for tests that look at the wire itself (codes,
//! `Status` bodies, headers, malformed requests), beside the real clients (kubectl, the
//! `kube` crate).

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use skiff_proto::auth::AdminConfig;

use crate::TestControlPlane;

/// The admin's identity and the cluster CA, for any reqwest client.
pub fn admin_tls(
    cp: &TestControlPlane,
) -> anyhow::Result<(reqwest::Identity, reqwest::Certificate)> {
    let admin = AdminConfig::load(&cp.data().join("admin.conf"))?;
    Ok((
        reqwest::Identity::from_pem(format!("{}{}", admin.cert, admin.key).as_bytes())?,
        reqwest::Certificate::from_pem(admin.ca.as_bytes())?,
    ))
}

/// What came back: the status code, the headers and the body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The `Warning` headers' texts.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

pub struct Rest {
    client: reqwest::blocking::Client,
    /// The same, without a client certificate.
    anonymous: reqwest::blocking::Client,
    base: String,
}

impl Rest {
    pub fn new(cp: &TestControlPlane) -> anyhow::Result<Rest> {
        Self::to(cp, &cp.url)
    }

    /// With `cp`'s admin credentials, to the server at `base` (another server of the
    /// same cluster, which shares its CA).
    pub fn to(cp: &TestControlPlane, base: &str) -> anyhow::Result<Rest> {
        let (identity, ca) = admin_tls(cp)?;
        let build = |identity: Option<reqwest::Identity>| {
            let mut builder = reqwest::blocking::Client::builder()
                .tls_certs_only([ca.clone()])
                .timeout(Duration::from_secs(60));
            if let Some(identity) = identity {
                builder = builder.identity(identity);
            }
            builder.build().context("building the REST client")
        };
        Ok(Rest {
            client: build(Some(identity))?,
            anonymous: build(None)?,
            base: base.to_string(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request, as the admin (or anonymously); `body` with its content type.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        anonymous: bool,
    ) -> anyhow::Result<Reply> {
        let client = if anonymous {
            &self.anonymous
        } else {
            &self.client
        };
        let mut request = client.request(method.parse()?, self.url(path));
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().with_context(|| format!("{method} {path}"))?;
        Ok(Reply {
            code: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text()?,
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send("GET", path, None, false)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(
            "POST",
            path,
            Some(("application/json", serde_json::to_vec(body)?)),
            false,
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(
            "PUT",
            path,
            Some(("application/json", serde_json::to_vec(body)?)),
            false,
        )
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Reply> {
        self.send("DELETE", path, None, false)
    }

    /// A watch's lines until the stream ends (the caller sets `timeoutSeconds`).
    pub fn watch_lines(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        self.watch_lines_accepting(path, "application/json")
    }

    /// [`Self::watch_lines`] with an `Accept` header (Tables, as `kubectl get -w` asks).
    pub fn watch_lines_accepting(&self, path: &str, accept: &str) -> anyhow::Result<Vec<Value>> {
        let request = self.client.get(self.url(path)).header("accept", accept);
        let text = request.send()?.text()?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect())
    }
}
