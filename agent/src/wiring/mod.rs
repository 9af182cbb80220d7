//! The wiring: what `main` builds and runs (containerd, images, pod sandboxes, the pod
//! network, pod workers, sources, the API, proxy and DNS). `node_runtime` is the real
//! `PodRuntime` the pod workers drive.

pub mod addresses;
pub mod checks;
pub mod node_runtime;
mod pod_network;

use crate::join;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::{serve_unix, AgentApi};
use crate::containerd::image::{ImageService, Registries};
use crate::containerd::Containerd;
use crate::dns::{self, DnsRecords};
use crate::network::{NetworkConfig, PodNetwork};
use crate::pods::{PodManager, StatusStore, WorkerConfig};
use crate::sources::{manifests::ManifestSource, DesiredPods};

#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub node_name: String,
    pub node_ip: Option<IpAddr>,
    pub root: PathBuf,
    pub containerd: PathBuf,
    pub containerd_namespace: String,
    pub manifests: Option<PathBuf>,
    pub images: Option<PathBuf>,
    pub registries: Option<PathBuf>,
    pub socket: PathBuf,
    /// This node's pod CIDR (standalone: from the flag; joined: from the control plane).
    pub pod_cidr: String,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub backoff_reset: Duration,
    /// Pods set up at a time (`--parallel-starts`); four per core when unset.
    pub parallel_starts: Option<usize>,
    /// The control plane to join; standalone without.
    pub join: Option<join::JoinOptions>,
    /// The cluster DNS domain (`cluster.local`); served only by joined nodes.
    pub cluster_domain: String,
    /// The node's resolv.conf: the cluster DNS's upstreams, dnsPolicy Default pods' file.
    pub resolv_conf: PathBuf,
    /// Service proxy: backend from `--proxy-mode` (or detected) and
    /// `--nodeport-localhost`, for `crate::proxy::ProxyConfig`.
    pub proxy_mode: crate::proxy::ProxyMode,
    pub nodeport_localhost: bool,
    /// How pods reach other nodes' pods (`--pod-network`); joined nodes only.
    pub pod_network: crate::network::podnet::Backend,
    /// Where the local-path provisioner's volumes live on this node (`--local-path-dir`).
    pub local_path_dir: PathBuf,
    /// Containers' log rotation (`--container-log-max-size`, `--container-log-max-files`).
    pub log_rotation: crate::container_logs::Rotation,
}

const IMPORT_EVERY: Duration = Duration::from_secs(2);

pub async fn run(opts: NodeOptions) -> anyhow::Result<()> {
    let vxlan = opts.join.is_some() && opts.pod_network == crate::network::podnet::Backend::Vxlan;
    checks::run(&checks::HostPaths::default(), vxlan).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&opts.root)
        .with_context(|| format!("create --root {}", opts.root.display()))?;
    let ctrd = Containerd::connect_lazy(&opts.containerd, &opts.containerd_namespace)?;
    let registries = match &opts.registries {
        Some(path) => Registries::load(path)
            .with_context(|| format!("read --registries {}", path.display()))?,
        None => Registries::default(),
    };
    let images = ImageService::new(ctrd.clone(), registries);
    let server = opts.join.as_ref().map(|j| j.server.as_str());
    let node_ip = addresses::node_ip(opts.node_ip, server).await;
    // Registration comes first: the control plane decides this node's pod CIDR.
    let joined = match &opts.join {
        Some(j) => Some(
            join::join(j, &opts.root, &opts.node_name, node_ip)
                .await
                .context("join the control plane")?,
        ),
        None => None,
    };
    let pod_cidr_text = joined
        .as_ref()
        .map_or(opts.pod_cidr.as_str(), |j| j.creds.pod_cidr.as_str());
    let pod_cidr: ipnet::Ipv4Net = pod_cidr_text
        .parse()
        .with_context(|| format!("pod CIDR {pod_cidr_text:?} is not an IPv4 CIDR"))?;
    let cluster_cidr = joined
        .as_ref()
        .map(|j| pod_network::cluster_cidr(&j.creds, pod_cidr));
    let mut net_cfg = NetworkConfig::new(pod_cidr, opts.root.join("network"));
    // Pod-to-pod traffic across nodes keeps the pod's address; only what leaves the
    // cluster CIDR is masqueraded.
    net_cfg.cluster_cidr = cluster_cidr;
    net_cfg.mtu = joined
        .as_ref()
        .and_then(|_| pod_network::pod_mtu(opts.pod_network, node_ip));
    let network = PodNetwork::init(net_cfg).await.context("pod network")?;
    if let (Some(joined), Some(cluster_cidr)) = (&joined, cluster_cidr) {
        pod_network::start(joined, &opts, node_ip, &network, cluster_cidr);
    }
    // Cluster DNS: a joined node answers its pods on the bridge gateway;
    // `dns_records` is fed by the service and endpoints watches. Standalone pods keep
    // the node's resolvers.
    let dns_records = DnsRecords::new();
    let mut rt = node_runtime::NodeRuntime::new(
        ctrd.clone(),
        images.clone(),
        &opts.root,
        network.clone(),
        node_ip,
    )
    .with_resolv_conf(&opts.resolv_conf)
    .with_log_rotation(opts.log_rotation);
    // A DNS server that cannot start (port 53 on the gateway taken) is reported and its
    // pods get the node's resolvers instead of a nameserver that never answers.
    let _dns_server = match &joined {
        Some(_) => match dns::start_for_node(
            network.gateway(),
            &opts.cluster_domain,
            &opts.resolv_conf,
            dns_records.clone(),
        )
        .await
        {
            Ok((server, cluster_dns)) => {
                rt = rt.with_cluster_dns(cluster_dns);
                Some(server)
            }
            Err(error) => {
                warn!(%error, "cluster dns not started: pods get the node's resolvers");
                None
            }
        },
        None => None,
    };
    let containers = rt.containers();
    let rt = Arc::new(rt);
    // services: the watches of Services and Endpoints feed the proxy and `dns_records`.
    // The Services pods' environment variables come from; none on a standalone node.
    let mut service_catalog = crate::services::ServiceCatalog::default();
    if let Some(joined) = &joined {
        service_catalog = crate::services::ServiceCatalog::watched();
        start_services(
            &opts,
            joined,
            node_ip,
            pod_cidr,
            cluster_cidr,
            dns_records.clone(),
            service_catalog.clone(),
        );
    }

    let store = StatusStore::default();
    let mut cfg = WorkerConfig::new(opts.root.clone(), opts.node_name.clone());
    cfg.backoff_base = opts.backoff_base;
    cfg.backoff_max = opts.backoff_max;
    cfg.backoff_reset = opts.backoff_reset;
    if let Some(width) = opts.parallel_starts {
        cfg.start_queue = crate::pods::StartQueue::new(width);
    }
    info!(width = cfg.start_queue.width(), "pod starts paced");
    cfg.allocatable = node_allocatable(&opts.node_name, node_ip, &opts.root);
    cfg.services = service_catalog;
    let mut volumes = crate::volumes::VolumeManager::for_host(&opts.root, cfg.allocatable.clone());
    if let Some(joined) = &joined {
        // One token manager for the node: projected service account tokens.
        let source = crate::tokens::RemoteTokens::new(joined.channel.clone(), &opts.node_name);
        volumes = volumes.with_tokens(Arc::new(crate::tokens::TokenManager::new(
            Arc::new(source),
            Arc::new(crate::tokens::SystemClock),
        )));
    }
    cfg.volumes = Arc::new(volumes);
    let mut pod_events = None;
    if let Some(joined) = &joined {
        let (recorder, queue) = crate::pods::events::queue(join::events::QUEUE);
        cfg.events = recorder;
        pod_events = Some(queue);
        cfg.objects = Arc::new(crate::objects::RemoteObjects::new(
            joined.channel.clone(),
            &opts.node_name,
        ));
    }
    // One refresh of every pod's configMap/secret/downwardAPI/projected volumes.
    tokio::spawn(
        cfg.volumes
            .clone()
            .run_resync(cfg.objects.clone(), crate::volumes::RESYNC_EVERY),
    );
    let manager = PodManager::new(rt.clone(), cfg, store.clone());
    tokio::spawn(node_runtime::forward_exits(ctrd.clone(), manager.events()));
    tokio::spawn(node_runtime::forward_ooms(ctrd.clone(), manager.events()));

    if let Some(dir) = opts.images.clone() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("create --images {}", dir.display()))?;
        // Import before any pod starts, so an IfNotPresent pod never races to a registry
        // for an image that sits in the archive directory.
        import_images(&images, &dir).await;
        let images = images.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IMPORT_EVERY).await;
                import_images(&images, &dir).await;
            }
        });
    }

    let (desired_tx, desired_rx) = watch::channel(DesiredPods::default());
    // Joined, the static pods go through a merge with the server's first.
    let (static_tx, static_rx) = watch::channel(DesiredPods::default());
    let mut synced = None;
    let desired_tx = match &joined {
        Some(joined) => {
            synced = Some(join::spawn(
                joined,
                &opts.node_name,
                static_rx,
                desired_tx,
                store.clone(),
                pod_events.take().expect("made with the join above"),
            ));
            tokio::spawn(join::volumes::run(
                joined.channel.clone(),
                opts.node_name.clone(),
                opts.local_path_dir.clone(),
            ));
            static_tx
        }
        None => desired_tx,
    };
    match opts.manifests.clone() {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("create --manifests {}", dir.display()))?;
            let mut source = ManifestSource::new(&dir);
            // The first scan happens before the manager starts, so it never mistakes a
            // still-wanted pod for an orphan.
            desired_tx.send_replace(source.scan());
            tokio::spawn(source.run(desired_tx));
        }
        None if joined.is_some() => drop(desired_tx),
        None => {
            warn!("no --manifests and no --server: this node has nothing to run");
            tokio::spawn(async move { desired_tx.closed().await });
        }
    }
    tokio::spawn(async move {
        if let Some(synced) = synced {
            let _ = synced.await;
        }
        manager.run(desired_rx).await
    });

    info!(node = %opts.node_name, containerd = %opts.containerd.display(), "agent started");
    let api = AgentApi {
        store,
        root: opts.root.clone(),
        exec: Arc::new(containers),
        dialer: Arc::new(crate::api::NetnsDialer),
    };
    let tls_api = async {
        match (&joined, node_ip) {
            (Some(joined), Some(ip)) => {
                // Pods keep running without it; only logs/exec through the API suffer.
                if let Err(error) =
                    join::serve::serve_tls(api.clone(), ip, joined.creds.clone()).await
                {
                    warn!(
                        error = format!("{error:#}"),
                        "agent api for the control plane failed"
                    );
                }
                std::future::pending::<anyhow::Result<()>>().await
            }
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        res = serve_unix(api.clone(), &opts.socket) => res,
        res = tls_api => res,
        _ = shutdown_signal() => {
            // Containers are not children of the agent: they keep running, and the next
            // agent adopts them.
            info!("agent stopping; containers keep running");
            Ok(())
        }
    }
}

/// What the node offers pods: the capacity it registers (cpu, memory) and, as the kubelet
/// counts it, the size of the filesystem under `--root` as ephemeral-storage.
fn node_allocatable(
    node_name: &str,
    node_ip: Option<IpAddr>,
    root: &std::path::Path,
) -> BTreeMap<String, Quantity> {
    let mut allocatable = join::bootstrap::node_object(node_name, node_ip)
        .status
        .and_then(|s| s.allocatable)
        .unwrap_or_default();
    if let Ok(fs) = nix::sys::statvfs::statvfs(root) {
        let bytes = u128::from(fs.blocks()) * u128::from(fs.fragment_size());
        allocatable.insert("ephemeral-storage".into(), Quantity(bytes.to_string()));
    }
    allocatable
}

/// services: the proxy and the watches feeding it and the DNS records (`crate::services`).
fn start_services(
    opts: &NodeOptions,
    joined: &join::Joined,
    node_ip: Option<IpAddr>,
    pod_cidr: ipnet::Ipv4Net,
    cluster_cidr: Option<ipnet::Ipv4Net>,
    dns_records: DnsRecords,
    catalog: crate::services::ServiceCatalog,
) {
    let node_ips = match node_ip {
        Some(IpAddr::V4(ip)) if !ip.is_loopback() => vec![ip],
        _ => Vec::new(),
    };
    let mut proxy = crate::proxy::ProxyConfig::new(&opts.node_name, node_ips, pod_cidr);
    proxy.mode = opts.proxy_mode;
    proxy.nodeport_localhost = opts.nodeport_localhost;
    // Service traffic from outside the cluster CIDR is masqueraded, as kube-proxy does
    // with --cluster-cidr, so replies from pods on other nodes come back through here.
    proxy.cluster_cidr = cluster_cidr;
    let services = crate::services::ServicesOptions {
        node_name: opts.node_name.clone(),
        proxy,
    };
    crate::services::start(joined.channel.clone(), services, dns_records, catalog);
}

async fn import_images(images: &ImageService, dir: &std::path::Path) {
    match images.import_dir(dir).await {
        Ok(names) if !names.is_empty() => info!(images = ?names, "images imported"),
        Ok(_) => {}
        Err(error) => warn!(%error, "image import failed"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    let mut int = signal(SignalKind::interrupt()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
