//! A local registry (Debian's `docker-registry`, i.e. distribution 2.x) on 127.0.0.1 with
//! storage in a tempdir: the only place images can be pulled from in these tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::http::{self, Response};
use crate::images::{TestImage, MANIFEST_MEDIA_TYPE};
use crate::process;

/// A running registry owned by the test; killed by pid on drop.
pub struct TestRegistry {
    child: Child,
    host: std::net::Ipv4Addr,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl TestRegistry {
    /// Starts `docker-registry serve CONFIG` on a free loopback port and waits for
    /// `GET /v2/` to answer 200. Retries on another port if the chosen one was taken
    /// between finding it and the registry binding it.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST)
    }

    /// [`Self::start`] on an address of a test network the harness owns (see
    /// [`crate::http::own_network`]), for agents in other network namespaces.
    pub fn start_on(host: std::net::Ipv4Addr) -> anyhow::Result<Self> {
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(host) {
                Ok(registry) => return Ok(registry),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("three attempts"))
    }

    fn try_start(host: std::net::Ipv4Addr) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-e2e-registry-")
            .tempdir()?;
        let port = crate::free_port()?;
        let config = dir.path().join("config.yml");
        std::fs::write(&config, config_yml(&dir.path().join("data"), host, port))?;
        let log = dir.path().join("registry.log");
        let out = File::create(&log)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("cannot start docker-registry (apt-get install docker-registry)")?;
        let mut registry = TestRegistry {
            child,
            host,
            port,
            log,
            _dir: dir,
        };
        let addr = registry.addr();
        crate::wait_for(
            "registry GET /v2/ = 200",
            Duration::from_secs(15),
            Duration::from_millis(50),
            || {
                if let Ok(Some(status)) = registry.child.try_wait() {
                    return Err(crate::fatal(format!("docker-registry exited ({status})")));
                }
                let r = http::request(&addr, "GET", "/v2/", &[], b"")?;
                if r.status != 200 {
                    bail!("GET /v2/ answered {}", r.status);
                }
                Ok(())
            },
        )
        .with_context(|| {
            format!(
                "registry did not come up; log:\n{}",
                crate::tail(&registry.log, 20)
            )
        })?;
        Ok(registry)
    }

    /// The port it listens on (on 127.0.0.1, or the address given to [`Self::start_on`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `HOST:PORT` (127.0.0.1 unless started on another address), the host part of image references served from here.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `http://127.0.0.1:PORT`, as a registries.yaml mirror endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The registry's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Pushes an image as `<repo>:<tag>` through the registry HTTP API: each blob by
    /// monolithic upload (POST → Location → PUT ?digest=), then the manifest.
    pub fn push(&self, image: &TestImage, repo: &str, tag: &str) -> anyhow::Result<()> {
        for (digest, bytes) in image.blobs() {
            self.push_blob(repo, digest, bytes)?;
        }
        let path = format!("/v2/{repo}/manifests/{tag}");
        let r = self.request(
            "PUT",
            &path,
            &[("Content-Type", MANIFEST_MEDIA_TYPE)],
            &image.manifest,
        )?;
        expect(&r, 201, &format!("PUT {path}"))?;
        match r.header("docker-content-digest") {
            Some(d) if d != image.manifest_digest => bail!(
                "registry stored manifest as {d}, expected {}",
                image.manifest_digest
            ),
            _ => Ok(()),
        }
    }

    /// `GET /v2/<repo>/manifests/<tag>` accepting OCI manifests.
    pub fn get_manifest(&self, repo: &str, tag: &str) -> anyhow::Result<Response> {
        let path = format!("/v2/{repo}/manifests/{tag}");
        self.request("GET", &path, &[("Accept", MANIFEST_MEDIA_TYPE)], b"")
    }

    /// Any request to this registry.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Response> {
        http::request(&self.addr(), method, path, headers, body)
    }

    fn push_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if self
            .request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")?
            .status
            == 200
        {
            return Ok(());
        }
        let start = format!("/v2/{repo}/blobs/uploads/");
        let r = self.request("POST", &start, &[], b"")?;
        expect(&r, 202, &format!("POST {start}"))?;
        let location = r
            .header("location")
            .context("upload answered without Location")?;
        // The Location may be absolute (http://127.0.0.1:PORT/v2/...) or a path.
        let location = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => bail!("unexpected upload Location {location}"),
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let r = self.request(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            bytes,
        )?;
        expect(&r, 201, &format!("PUT blob {digest}"))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- registry log tail ---\n{}", crate::tail(&self.log, 10));
        }
        process::terminate(&mut self.child, Duration::from_secs(3));
    }
}

fn expect(r: &Response, status: u16, what: &str) -> anyhow::Result<()> {
    if r.status != status {
        bail!(
            "{what}: expected {status}, got {}: {}",
            r.status,
            r.text().trim()
        );
    }
    Ok(())
}

fn config_yml(data: &Path, host: std::net::Ipv4Addr, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}:{port}\n",
        data.display()
    )
}
