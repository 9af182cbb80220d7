//! A throwaway node for the proxy's real tests and its benchmark: network namespaces
//! only, so nothing on the host changes. Needs root.
//!
//! ```text
//!  client ns (10.201.0.2) ── veth ── node ns (10.201.0.1, bridge br0 10.200.0.1/24,
//!                                              default route out of `wan0`)
//!                                         ├── veth ── pod ns p1 (10.200.0.x)
//!                                         └── ...
//! ```
//! The proxy runs its tools in the node namespace (`ip netns exec`); every pod answers
//! TCP and UDP on port 8080 with `<pod name> <client address>`. Everything is removed
//! on drop, also when a test panics.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::CloneFlags;

use super::{HostExec, ProxyConfig, ProxyMode};

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const POD_CIDR: &str = "10.200.0.0/24";
/// What every pod listens on.
pub const POD_PORT: u16 = 8080;
/// The node name the lab's proxy runs as (local endpoints carry it).
pub const NODE_NAME: &str = "lab-node";

const TIMEOUT: Duration = Duration::from_secs(3);

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub struct Lab {
    tag: String,
    namespaces: Vec<String>,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
}

impl Lab {
    /// A node and a client namespace; `tag` keeps parallel labs apart (≤ 8 chars).
    pub fn new(tag: &str) -> io::Result<Lab> {
        let mut lab = Lab {
            tag: format!("{tag}{}", std::process::id() % 100_000),
            namespaces: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
        };
        let (node, client) = (lab.ns("node"), lab.ns("client"));
        lab.netns(&node)?;
        lab.netns(&client)?;
        let node_cidr = format!("{NODE_IP}/24");
        let client_cidr = format!("{CLIENT_IP}/24");
        let gw = format!("{GATEWAY}/24");
        let client_gw = NODE_IP.to_string();
        for args in [
            &["-n", &node, "link", "add", "br0", "type", "bridge"][..],
            &["-n", &node, "addr", "add", &gw, "dev", "br0"],
            &["-n", &node, "link", "set", "br0", "up"],
            &[
                "-n", &node, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns",
                &client,
            ],
            &["-n", &node, "addr", "add", &node_cidr, "dev", "up0"],
            &["-n", &node, "link", "set", "up0", "up"],
            &["-n", &client, "addr", "add", &client_cidr, "dev", "eth0"],
            &["-n", &client, "link", "set", "eth0", "up"],
            &["-n", &client, "route", "add", "default", "via", &client_gw],
            // Service addresses need a route on the node, as on a real one: out of an
            // uplink of its own (a veth whose peer leads nowhere), not back to the client.
            &[
                "-n", &node, "link", "add", "wan0", "type", "veth", "peer", "name", "wan1",
            ],
            &["-n", &node, "addr", "add", "10.202.0.1/24", "dev", "wan0"],
            &["-n", &node, "link", "set", "wan1", "up"],
            &["-n", &node, "link", "set", "wan0", "up"],
            &["-n", &node, "route", "add", "default", "via", "10.202.0.2"],
            &[
                "netns",
                "exec",
                &node,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
            // As on a node (the pod network sets it): bridged pod-to-pod replies pass
            // conntrack, so a service's DNAT is undone on them.
            &[
                "netns",
                "exec",
                &node,
                "sysctl",
                "-qw",
                "net.bridge.bridge-nf-call-iptables=1",
            ],
        ] {
            ip(args)?;
        }
        Ok(lab)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.tag)
    }

    fn netns(&mut self, name: &str) -> io::Result<()> {
        ip(&["netns", "add", name])?;
        self.namespaces.push(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])
    }

    pub fn node_ns(&self) -> String {
        self.ns("node")
    }

    pub fn client_ns(&self) -> String {
        self.ns("client")
    }

    pub fn pod_ns(&self, pod: &str) -> String {
        self.ns(pod)
    }

    /// A pod on the bridge at `addr`, answering on [`POD_PORT`].
    pub fn add_pod(&mut self, pod: &str, addr: Ipv4Addr) -> io::Result<()> {
        let (node, ns) = (self.node_ns(), self.pod_ns(pod));
        self.netns(&ns)?;
        let veth = format!("v{pod}");
        let cidr = format!("{addr}/24");
        let gw = GATEWAY.to_string();
        for args in [
            &[
                "-n", &node, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ][..],
            &["-n", &node, "link", "set", &veth, "master", "br0", "up"],
            // As the pod network sets it: a pod reaching itself through a service
            // leaves and re-enters the bridge on the same port.
            &[
                "-n",
                &node,
                "link",
                "set",
                &veth,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ],
            &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"],
            &["-n", &ns, "link", "set", "eth0", "up"],
            &["-n", &ns, "route", "add", "default", "via", &gw],
        ] {
            ip(args)?;
        }
        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, POD_PORT));
        let (tcp, udp) = in_netns(&ns, move || -> io::Result<_> {
            Ok((TcpListener::bind(any)?, UdpSocket::bind(any)?))
        })?;
        let name = pod.to_string();
        let stop = self.stop.clone();
        self.servers
            .push(std::thread::spawn(move || serve_tcp(tcp, &name, &stop)));
        let name = pod.to_string();
        let stop = self.stop.clone();
        self.servers
            .push(std::thread::spawn(move || serve_udp(udp, &name, &stop)));
        Ok(())
    }

    /// Runs the proxy's tools inside the node namespace.
    pub fn exec(&self) -> Arc<HostExec> {
        Arc::new(HostExec::in_netns(self.node_ns()))
    }

    pub fn proxy_config(&self, mode: ProxyMode) -> ProxyConfig {
        let mut cfg = ProxyConfig::new(NODE_NAME, vec![NODE_IP], POD_CIDR.parse().unwrap());
        cfg.mode = mode;
        cfg
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.servers.drain(..) {
            let _ = t.join();
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

/// Runs `f` on a thread inside the named namespace; sockets it makes stay there.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

fn serve_tcp(listener: TcpListener, name: &str, stop: &AtomicBool) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let name = name.to_string();
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut w = match stream.try_clone() {
                        Ok(w) => w,
                        Err(_) => return,
                    };
                    for line in BufReader::new(stream).lines() {
                        if line.is_err() || writeln!(w, "{name} {}", peer.ip()).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn serve_udp(sock: UdpSocket, name: &str, stop: &AtomicBool) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(format!("{name} {}\n", peer.ip()).as_bytes(), peer);
        }
    }
}

/// A TCP connection made from inside a namespace: one line out, one line back.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(ns: &str, to: SocketAddrV4) -> io::Result<Conn> {
        let stream = in_netns(ns, move || TcpStream::connect_timeout(&to.into(), TIMEOUT))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// `"<pod> <address the pod saw>"`.
    pub fn ask(&mut self) -> io::Result<String> {
        self.reader.get_mut().write_all(b"hi\n")?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim().to_string())
    }
}

/// One TCP connection, one answer.
pub fn tcp_ask(ns: &str, to: SocketAddrV4) -> io::Result<String> {
    Conn::open(ns, to)?.ask()
}

/// One UDP datagram, one answer (an ICMP port unreachable comes back as
/// `ConnectionRefused`).
pub fn udp_ask(ns: &str, to: SocketAddrV4) -> io::Result<String> {
    let sock = in_netns(ns, || {
        UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    })?;
    sock.connect(to)?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.send(b"hi\n")?;
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}
