//! The binaries route as a node sees it: a real control plane process on loopback, asked
//! with curl over HTTPS (the CA from `<data-dir>/pki/ca.crt`), as `deploy/join.sh` does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The control plane process, killed on drop.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Server {
    /// Starts a control plane whose data dir already holds `agent` as this host's agent.
    fn start(agent: &[u8]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let shelf = dir.path().join("data/bin").join(std::env::consts::ARCH);
        std::fs::create_dir_all(&shelf).unwrap();
        std::fs::write(shelf.join("skiff-agent"), agent).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_skiff-control-plane"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("cp.log")).unwrap())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            dir,
            url: format!("https://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Answering (401 without a token) means TLS and the route are up.
        while server.curl(&agent_path(), None).map(|(code, _)| code) != Some(401) {
            assert!(
                Instant::now() < deadline,
                "no control plane: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.data().join("node-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cp.log")).unwrap_or_default()
    }

    /// `curl` of `path` with an optional bearer token: the status and the body, or None
    /// when curl could not even connect.
    fn curl(&self, path: &str, token: Option<&str>) -> Option<(u16, Vec<u8>)> {
        let body = self.dir.path().join("body");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "-o"])
            .arg(&body)
            .args(["-w", "%{http_code}", "--cacert"])
            .arg(self.data().join("pki/ca.crt"));
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = cmd
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl is installed");
        let code: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        (code != 0).then(|| (code, std::fs::read(&body).unwrap_or_default()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_path() -> String {
    format!("/skiff/v1/binaries/{}/skiff-agent", std::env::consts::ARCH)
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_node_token_downloads_the_agent_and_its_sha256() {
    let agent: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let server = Server::start(&agent);
    let token = server.token();
    let (code, body) = server.curl(&agent_path(), Some(&token)).unwrap();
    assert_eq!(code, 200, "{}", server.log());
    assert!(body == agent, "the bytes served are not the file's");

    let (code, line) = server
        .curl(&format!("{}.sha256", agent_path()), Some(&token))
        .unwrap();
    assert_eq!(code, 200);
    let shelf = server.data().join("bin").join(std::env::consts::ARCH);
    assert_eq!(
        String::from_utf8_lossy(&line),
        format!("{}  skiff-agent\n", sha256_hex(&shelf.join("skiff-agent")))
    );
}

#[test]
fn without_the_token_or_with_a_wrong_one_it_is_401() {
    let server = Server::start(b"agent");
    let token = server.token();
    let wrong = format!("{}x", token);
    for presented in [None, Some(wrong.as_str()), Some("K10::node:guess")] {
        let (code, body) = server.curl(&agent_path(), presented).unwrap();
        assert_eq!(code, 401, "{presented:?}");
        assert!(!body.starts_with(b"agent"));
    }
}

#[test]
fn an_arch_the_server_lacks_is_404_with_how_to_cross_build() {
    let server = Server::start(b"agent");
    let (code, body) = server
        .curl(
            "/skiff/v1/binaries/riscv64/skiff-agent",
            Some(&server.token()),
        )
        .unwrap();
    assert_eq!(code, 404);
    let message = String::from_utf8_lossy(&body);
    assert!(
        message.contains("--target riscv64-unknown-linux-gnu"),
        "{message}"
    );
    assert!(message.contains(std::env::consts::ARCH), "{message}");
}
