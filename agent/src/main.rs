//! skiff-agent: parse flags, build the parts, run them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use skiff_agent::join::JoinOptions;
use skiff_agent::wiring::{self, NodeOptions};

#[derive(Parser, Debug)]
#[command(
    name = "skiff-agent",
    version,
    about = "skiff's node agent: runs pods through containerd"
)]
struct Flags {
    /// Control plane to join, https://HOST:PORT; standalone without it.
    #[arg(long)]
    server: Option<String>,
    /// Node join token (with --server).
    #[arg(long)]
    token: Option<String>,
    /// A file holding the node join token (with --server).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    #[arg(long, env = "SKIFF_NODE_NAME")]
    node_name: Option<String>,
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// State: pod logs, sandboxes, the API socket.
    #[arg(long, default_value = "/var/lib/skiff-agent")]
    root: PathBuf,
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    containerd: PathBuf,
    #[arg(long, default_value = "skiff")]
    containerd_namespace: String,
    /// Static pod manifests, watched for added, changed and removed files.
    #[arg(long)]
    manifests: Option<PathBuf>,
    /// Image archives (OCI layout or docker save, .tar or .tar.gz) imported as they appear.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Registry mirrors and credentials, in k3s' registries.yaml format.
    #[arg(long)]
    registries: Option<PathBuf>,
    /// The pod CIDR of a standalone node: its first address goes to the skiff0 bridge.
    #[arg(long, default_value = "10.42.0.0/24")]
    pod_cidr: String,
    /// Service proxy backend; nftables where `nft` is installed, iptables otherwise.
    #[arg(long, value_parser = ["nftables", "iptables"])]
    proxy_mode: Option<String>,
    /// NodePorts on 127.0.0.1 too. Sets net.ipv4.conf.all.route_localnet=1, which makes
    /// services bound to loopback only reachable by neighbours that send packets
    /// addressed to 127.0.0.1 to this node: use only on a trusted network.
    #[arg(long)]
    nodeport_localhost: bool,
    /// How pods reach other nodes' pods (joined nodes): vxlan (VNI 1, UDP 8472, direct
    /// routes to peers on a shared network) or host-gw (routes via the peers' addresses;
    /// every node on one network).
    #[arg(long, default_value = "vxlan", value_parser = ["vxlan", "host-gw"])]
    pod_network: String,
    /// Where volumes of the local-path provisioner (StorageClass local-path) are made on
    /// this node; published on its Node for the control plane.
    #[arg(long, default_value = skiff_proto::storage::DEFAULT_LOCAL_PATH_DIR)]
    local_path_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
    /// The agent API socket; default <root>/agent.sock.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// First crash-loop and image-pull retry delay; doubles up to --backoff-max.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    backoff_base: Duration,
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    backoff_max: Duration,
    /// Running this long resets a container's crash-loop backoff.
    #[arg(long, default_value = "600s", value_parser = parse_duration)]
    backoff_reset: Duration,
    /// Pods whose sandbox and containers are set up at a time; the rest wait their turn,
    /// first come first served (default: four per core).
    #[arg(long, env = "SKIFF_PARALLEL_STARTS", value_parser = clap::value_parser!(u32).range(1..))]
    parallel_starts: Option<u32>,
    /// The cluster domain served by the node's DNS (joined nodes) and searched by pods.
    #[arg(long, default_value = skiff_agent::dns::DEFAULT_DOMAIN)]
    cluster_domain: String,
    /// The node's resolvers: where the cluster DNS forwards names outside the cluster
    /// domain, and what dnsPolicy Default pods get (the kubelet's flag).
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// A container's log file is rotated when it reaches this size (the kubelet's
    /// containerLogMaxSize: 10Mi, 500Ki, 1Gi or bytes).
    #[arg(long, default_value = "10Mi", value_parser = skiff_agent::container_logs::rotate::parse_size)]
    container_log_max_size: u64,
    /// Log files kept per container, the one being written included (containerLogMaxFiles).
    #[arg(long, default_value_t = skiff_agent::container_logs::rotate::DEFAULT_MAX_FILES, value_parser = clap::value_parser!(u32).range(1..))]
    container_log_max_files: u32,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Removes everything skiff added to the host: the service proxy's nftables table
    /// and iptables chains, the pod network's table, bridge and veths, the routes to
    /// other nodes' pods and the vxlan device, and unmounts pods' volumes (the tmpfs
    /// of secrets). Pods' containers are left to containerd.
    Cleanup,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 10s, 500ms, 5m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> anyhow::Result<()> {
    // One arena: the agent's allocations are small and its threads rarely contend.
    skiff_memory::configure_malloc(1);
    let flags = Flags::parse();
    // reqwest and tonic both bring rustls with different crypto backends; with two
    // compiled in, rustls cannot pick one and TLS to the control plane would panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let proxy_mode = skiff_agent::proxy::ProxyMode::from_flag(flags.proxy_mode.as_deref())?;
    if let Some(Command::Cleanup) = flags.command {
        return tokio::runtime::Runtime::new()?.block_on(cleanup(&flags.root));
    }
    let join = match (flags.server, flags.token, flags.token_file) {
        (None, None, None) => None,
        (Some(server), Some(token), None) => Some(JoinOptions { server, token }),
        (Some(server), None, Some(path)) => {
            let token = std::fs::read_to_string(&path)
                .with_context(|| format!("read --token-file {}", path.display()))?;
            Some(JoinOptions {
                server,
                token: token.trim().to_string(),
            })
        }
        (None, _, _) => bail!("--token and --token-file need --server"),
        (Some(_), _, _) => bail!("--server needs --token or --token-file"),
    };
    let node_name = match flags.node_name {
        Some(n) => n,
        None => nix::unistd::gethostname()?.to_string_lossy().to_lowercase(),
    };
    let socket = flags
        .socket
        .unwrap_or_else(|| flags.root.join("agent.sock"));
    let opts = NodeOptions {
        node_name,
        node_ip: flags.node_ip,
        root: flags.root,
        containerd: flags.containerd,
        containerd_namespace: flags.containerd_namespace,
        manifests: flags.manifests,
        images: flags.images,
        registries: flags.registries,
        socket,
        pod_cidr: flags.pod_cidr,
        backoff_base: flags.backoff_base,
        backoff_max: flags.backoff_max,
        backoff_reset: flags.backoff_reset,
        parallel_starts: flags.parallel_starts.map(|n| n as usize),
        join,
        cluster_domain: flags.cluster_domain,
        resolv_conf: flags.resolv_conf,
        proxy_mode,
        nodeport_localhost: flags.nodeport_localhost,
        pod_network: skiff_agent::network::podnet::Backend::from_flag(&flags.pod_network)
            .map_err(anyhow::Error::msg)?,
        local_path_dir: flags.local_path_dir,
        log_rotation: skiff_agent::container_logs::Rotation {
            max_size: flags.container_log_max_size,
            max_files: flags.container_log_max_files,
        },
    };
    // Mounts, netns entries, files, DNS lookups: a burst of pod starts queues on 16.
    skiff_memory::runtime(16)?.block_on(async {
        skiff_memory::spawn_trimmer(skiff_memory::TRIM_PERIOD);
        wiring::run(opts).await
    })
}

/// `skiff-agent cleanup`: the proxy's rules first (they point at pod addresses), then
/// the pod network, then the pods' volume mounts (tmpfs) under `root`.
async fn cleanup(root: &std::path::Path) -> anyhow::Result<()> {
    use skiff_agent::{network, proxy, volumes};
    proxy::cleanup(&proxy::HostExec::default(), proxy::nft::DEFAULT_TABLE)
        .await
        .context("remove the service proxy's rules")?;
    network::podnet::remove_all(
        &network::podnet::HostPodnetOps,
        network::podnet::VXLAN_DEVICE,
    )
    .await
    .context("remove the routes to other nodes' pods")?;
    network::cleanup_host(network::DEFAULT_BRIDGE)
        .await
        .context("remove the pod network")?;
    volumes::VolumeManager::for_host(root, Default::default())
        .unmount_all()
        .context("unmount the pods' volumes")?;
    Ok(())
}
