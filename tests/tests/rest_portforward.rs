//! Port-forward through the REST API with clients no one here wrote: the real kubectl
//! (`kubectl port-forward pod/web LOCAL:80`, which speaks SPDY, tunnelled through a
//! WebSocket first) and the kube crate's `Api::portforward` (WebSocket channels). The pod
//! runs the nginx stand-in on port 80 and a second server bound to 127.0.0.1:8080 only,
//! which answers because the agent dials inside the pod's network namespace.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use skiff_e2e::images::INDEX_HTML;
use skiff_e2e::kubectl::Kubectl;
use skiff_e2e::pods::pod_uid;
use skiff_e2e::{kube_client, wait_for, ClusterEnv};

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:latest
    ports:
    - containerPort: 80
  - name: local
    image: nginx:latest
    command: ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"]
"#;

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `kubectl port-forward` running in the background, its output in files.
struct PortForward {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl PortForward {
    fn start(
        kubectl: &Kubectl,
        dir: &Path,
        name: &str,
        args: &[&str],
    ) -> anyhow::Result<PortForward> {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let args: Vec<&str> = ["port-forward"].iter().chain(args).copied().collect();
        let child = kubectl
            .command(&args)
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .spawn()
            .context("start kubectl port-forward")?;
        Ok(PortForward { child, out, err })
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for kubectl's `Forwarding from 127.0.0.1:LOCAL -> REMOTE` line.
    fn wait_forwarding(&mut self, local: u16, remote: u16) -> anyhow::Result<()> {
        let line = format!("Forwarding from 127.0.0.1:{local} -> {remote}");
        wait_for(
            &line,
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                if let Some(status) = self.child.try_wait()? {
                    bail!(
                        "kubectl exited ({status}): {}{}",
                        self.stdout(),
                        self.stderr()
                    );
                }
                ensure!(self.stdout().contains(&line), "stdout: {}", self.stdout());
                Ok(())
            },
        )
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /` on 127.0.0.1:`port`, the body.
fn get(port: u16) -> anyhow::Result<String> {
    let response = skiff_e2e::http::request(&format!("127.0.0.1:{port}"), "GET", "/", &[], b"")?;
    Ok(response.text())
}

/// Established TCP connections to `port` inside the namespace at `netns`, seen from the
/// connecting side (the agent's sockets).
fn connections_to(netns: &Path, port: u16) -> anyhow::Result<usize> {
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let out = skiff_e2e::process::run(
            Command::new("nsenter")
                .arg(format!("--net={}", netns.display()))
                .args(["cat", table]),
        )?;
        count += out
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let remote_port = fields.get(2).and_then(|a| a.rsplit(':').next());
                remote_port == Some(&format!("{port:04X}")) && fields.get(3) == Some(&"01")
            })
            .count();
    }
    Ok(count)
}

#[test]
fn kubectl_port_forward_reaches_the_pod_and_cleans_up() {
    ClusterEnv::run(|env| {
        env.cp.apply_yaml("web.yaml", POD)?;
        let pod = env
            .node
            .agent
            .wait_running("web", Duration::from_secs(90))?;
        let netns = env
            .node
            .agent
            .root()
            .join("sandboxes")
            .join(pod_uid(&pod))
            .join("net");
        let kubectl = Kubectl::for_cluster(&env.cp)?;
        let dir = env.cp.scratch().to_path_buf();

        let (web, local) = (free_port(), free_port());
        let mut forward = PortForward::start(
            &kubectl,
            &dir,
            "forward",
            &["pod/web", &format!("{web}:80"), &format!("{local}:8080")],
        )?;
        forward.wait_forwarding(web, 80)?;
        forward.wait_forwarding(local, 8080)?;
        // Two connections one after the other, and the server bound to the pod's
        // localhost only.
        for port in [web, web, local] {
            let body = get(port)?;
            ensure!(body.contains(INDEX_HTML.trim()), "GET via {port}: {body:?}");
        }
        ensure!(
            forward
                .stdout()
                .matches(&format!("Handling connection for {web}"))
                .count()
                == 2,
            "stdout: {}",
            forward.stdout()
        );

        // A connection held open through kubectl is a connection in the pod; killing
        // kubectl closes it on the node.
        let mut held = TcpStream::connect(("127.0.0.1", web))?;
        held.write_all(b"GET / HTTP/1.1\r\n")?;
        wait_for(
            "the held connection open in the pod",
            Duration::from_secs(20),
            Duration::from_millis(100),
            || {
                let n = connections_to(&netns, 80)?;
                ensure!(n == 1, "{n} connections to :80 in the pod");
                Ok(())
            },
        )?;
        forward.kill();
        wait_for(
            "no connection left in the pod",
            Duration::from_secs(20),
            Duration::from_millis(100),
            || {
                let n = connections_to(&netns, 80)?;
                ensure!(n == 0, "{n} connections to :80 in the pod");
                Ok(())
            },
        )?;
        let mut rest = Vec::new();
        let _ = held.read_to_end(&mut rest);

        // A port nothing listens on: kubectl prints the kubelet's error.
        let refused = free_port();
        let mut forward = PortForward::start(
            &kubectl,
            &dir,
            "refused",
            &["pod/web", &format!("{refused}:9999")],
        )?;
        forward.wait_forwarding(refused, 9999)?;
        let mut conn = TcpStream::connect(("127.0.0.1", refused))?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        ensure!(got.is_empty(), "data from a closed port: {got:?}");
        wait_for(
            "kubectl's error",
            Duration::from_secs(20),
            Duration::from_millis(100),
            || {
                let err = forward.stderr();
                ensure!(
                    err.contains("error forwarding port 9999 to pod")
                        && err.contains("failed to connect to localhost:9999 inside namespace")
                        && err.contains("connection refused"),
                    "stderr: {err}"
                );
                Ok(())
            },
        )?;
        Ok(())
    });
}

/// Reads from `stream` until `text` has arrived (the connection may stay open).
async fn read_until<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    text: &str,
) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(30), async {
        while !String::from_utf8_lossy(&got).contains(text) {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                bail!(
                    "the stream ended before {text:?}: {:?}",
                    String::from_utf8_lossy(&got)
                );
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await
    .with_context(|| format!("waiting for {text:?}"))??;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn the_kube_crates_port_forward_reaches_the_pod() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::Api;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    ClusterEnv::run(|env| {
        env.cp.apply_yaml("web.yaml", POD)?;
        env.node
            .agent
            .wait_running("web", Duration::from_secs(90))?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let pods: Api<Pod> =
                Api::namespaced(kube_client::for_cluster(&env.cp).await?, "default");

            // One port: the answer, then the end of the stream once the pod closes.
            let mut forwarder = pods.portforward("web", &[80]).await?;
            let mut stream = forwarder.take_stream(80).context("port 80's stream")?;
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
                .await
                .context("the stream does not end")??;
            let answer = String::from_utf8_lossy(&answer);
            ensure!(
                answer.starts_with("HTTP/1.") && answer.contains(INDEX_HTML.trim()),
                "{answer:?}"
            );
            // The socket is closed (as the kubelet closes it once every port is done);
            // the crate's join then reports its own late close, so it is not awaited.
            drop(stream);
            forwarder.abort();

            // Two ports on one WebSocket, one of them served on the pod's localhost only.
            let mut forwarder = pods.portforward("web", &[80, 8080]).await?;
            for port in [80, 8080] {
                let mut stream = forwarder.take_stream(port).context("a port's stream")?;
                stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
                read_until(&mut stream, INDEX_HTML.trim()).await?;
            }
            forwarder.abort();

            // A port nothing listens on: the kubelet's error on the port's error channel.
            let mut forwarder = pods.portforward("web", &[9999]).await?;
            let error = forwarder.take_error(9999).context("port 9999's error")?;
            let error = tokio::time::timeout(Duration::from_secs(30), error)
                .await
                .context("no error arrives")?
                .context("the error channel closed without a message")?;
            ensure!(
                error.contains("error forwarding port 9999 to pod")
                    && error.contains("connection refused"),
                "{error}"
            );
            forwarder.abort();
            Ok(())
        })
    });
}
