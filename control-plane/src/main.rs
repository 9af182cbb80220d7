//! skiff-control-plane: parses the flags, opens the store, makes the system
//! namespaces, the default RBAC policy and the PKI, and serves the Api (and the Node
//! service) over TLS until SIGTERM or Ctrl-C. `skiff-control-plane kubeconfig --user NAME`
//! prints a kubeconfig for a user instead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use ipnet::Ipv4Net;
use skiff_control_plane::core::{Clock, ClusterConfig, ControlPlane, SystemClock};
use skiff_control_plane::leader::{self, Elector, IdentityKeeper, LeaseConfig};
use skiff_control_plane::pki::{
    admin_conf_path, admin_token_path, join, node_token_path, server_token_path, user_config, Pki,
};
use skiff_control_plane::store::etcd::parse_endpoints;
use skiff_control_plane::store::{encryption, EtcdStore, EtcdTls, SqliteStore, Store};
use skiff_control_plane::{controllers, frontdoor, rbac, resources};
use tokio::net::TcpListener;
use tower::Layer;
use tracing::{info, warn};

/// How long open streams (watches) get to finish after SIGTERM before the process exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(
    name = "skiff-control-plane",
    version,
    about = "skiff's API server, store, scheduler and controllers",
    args_conflicts_with_subcommands = true
)]
struct Flags {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where the store, certificates, admin.conf and node-token live (required to serve).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: SocketAddr,
    /// `sqlite` (embedded, `<data-dir>/store.db`) or `etcd://HOST:PORT[,HOST:PORT...]`
    /// (an etcd cluster several servers share; the client fails over between endpoints).
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[command(flatten)]
    etcd: EtcdFlags,
    /// How long to keep retrying an unreachable etcd at start before giving up.
    #[arg(long, default_value = "5m", value_parser = parse_duration, hide = true)]
    etcd_wait: Duration,
    /// Pod addresses; each node gets a /24 of it.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: Ipv4Net,
    /// ClusterIP addresses of Services.
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: Ipv4Net,
    /// NodePorts, `LOW-HIGH`.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    node_port_range: std::ops::RangeInclusive<u16>,
    /// How long a node's heartbeat lease lasts (`40s`, `1m`).
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    node_lease: Duration,
    /// A node whose lease is older than this is NotReady.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_grace: Duration,
    /// Pods of a NotReady node are evicted after this.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pod_eviction: Duration,
    /// Revisions kept watchable: a watch resumed from an older resourceVersion gets 410
    /// Expired and its client lists again (etcd's auto-compaction retention).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i64).range(1..))]
    compact_keep: i64,
    /// How often old revisions are compacted (`5m`, `30s`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    compact_interval: Duration,
    /// Events not written for this long are deleted (kube-apiserver's `--event-ttl`).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    event_ttl: Duration,
    /// How often a REST watch that allows bookmarks gets one (hidden: tests shorten it).
    #[arg(long, default_value = "60s", value_parser = parse_duration, hide = true)]
    watch_bookmark_interval: Duration,
    /// How long the leader lease lasts unrenewed: with several servers on one store,
    /// another takes over the controllers this long after the leader dies (at once when
    /// it stops cleanly). Renewed every 2 s of 15 s.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    leader_lease: Duration,
    /// Adds this server to the cluster of the one at this URL (`https://FIRST:6443`): it
    /// gets the CA, keys and tokens from there. Needs `--token` and `--store etcd://...`.
    #[arg(long, requires = "token")]
    join: Option<String>,
    /// The first server's `<data-dir>/server-token`, for `--join`.
    #[arg(long, requires = "join")]
    token: Option<String>,
    /// The address written into admin.conf for the CLI (default: the listen address if it
    /// is a specific one, else 127.0.0.1). It is in the serving certificate too.
    #[arg(long)]
    advertise_address: Option<IpAddr>,
}

/// TLS to etcd (the etcd's CA, and the client certificate it asks for).
#[derive(clap::Args, Debug, Clone)]
struct EtcdFlags {
    /// The CA that signed etcd's serving certificate (enables TLS to etcd).
    #[arg(long, global = true)]
    etcd_cafile: Option<PathBuf>,
    /// A client certificate for etcd's `--client-cert-auth` (with --etcd-keyfile).
    #[arg(long, global = true)]
    etcd_certfile: Option<PathBuf>,
    /// The client certificate's key.
    #[arg(long, global = true)]
    etcd_keyfile: Option<PathBuf>,
}

impl EtcdFlags {
    fn tls(&self) -> anyhow::Result<Option<EtcdTls>> {
        match &self.etcd_cafile {
            Some(ca) => Ok(Some(EtcdTls::from_files(
                ca,
                self.etcd_certfile.as_deref(),
                self.etcd_keyfile.as_deref(),
            )?)),
            None if self.etcd_certfile.is_some() || self.etcd_keyfile.is_some() => {
                bail!("--etcd-certfile/--etcd-keyfile need --etcd-cafile")
            }
            None => Ok(None),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Copies a stopped server's SQLite store into an empty etcd (`--to etcd://HOST:PORT`).
    /// Keys, uids and objects are kept; Secrets stay sealed, so the data dir (its
    /// secrets-encryption.key, CA and tokens) must go with the servers that use the etcd.
    Migrate {
        /// `sqlite:DIR`: the data dir of a stopped control plane.
        #[arg(long)]
        from: String,
        /// `etcd://HOST:PORT[,HOST:PORT...]`.
        #[arg(long)]
        to: String,
        /// Copy even if the etcd already holds skiff objects (those present in both are
        /// replaced).
        #[arg(long)]
        force: bool,
    },
    /// Prints a kubeconfig for a user other than the administrator: a client certificate
    /// signed by the cluster CA (CN the user, O each group). RBAC decides what it may do.
    Kubeconfig {
        /// The user's name (what RoleBindings name as `kind: User`).
        #[arg(long)]
        user: String,
        /// The group the user is in (what bindings name as `kind: Group`); one at most.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The control plane's data dir (its CA and admin.conf).
        #[arg(
            long = "data-dir",
            id = "kubeconfig_data_dir",
            default_value = "/var/lib/skiff"
        )]
        data_dir: PathBuf,
    },
}

/// `kubeconfig --user NAME`: the kubeconfig on stdout.
fn print_kubeconfig(
    user: &str,
    groups: &[String],
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let config = user_config(data_dir, user, groups)
        .with_context(|| format!("making a kubeconfig for {user:?}"))?;
    let yaml = config.to_yaml();
    std::io::Write::write_all(&mut std::io::stdout(), yaml.as_bytes())
        .context("writing the kubeconfig to stdout")
}

fn parse_port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("{text:?} is not a port range LOW-HIGH (like 30000-32767)");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if low == 0 || low > high {
        return Err(bad());
    }
    Ok(low..=high)
}

/// `40s`, `5m`, `1h30m` (or ISO 8601 `PT40S`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 40s or 5m: {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("{text:?}: a duration cannot be negative"))
}

/// Blocking-pool threads: SQLite's calls (one writer and one reader connection, so more
/// threads would only wait on their locks) and the trims.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> anyhow::Result<()> {
    skiff_memory::configure_malloc(2);
    skiff_memory::runtime(MAX_BLOCKING_THREADS)?.block_on(start())
}

async fn start() -> anyhow::Result<()> {
    let flags = Flags::parse();
    if let Some(Command::Kubeconfig {
        user,
        groups,
        data_dir,
    }) = &flags.command
    {
        return print_kubeconfig(user, groups, data_dir);
    }
    if let Some(Command::Migrate { from, to, force }) = &flags.command {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("warn")
            .init();
        return migrate(from, to, *force, &flags.etcd).await;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    tracing::debug!(?flags, "flags parsed");
    run(flags).await
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let data_dir = flags
        .data_dir
        .clone()
        .context("--data-dir is required to serve")?;
    let config = ClusterConfig {
        cluster_cidr: flags.cluster_cidr,
        service_cidr: flags.service_cidr,
        node_port_range: flags.node_port_range.clone(),
        node_lease: flags.node_lease,
        node_grace: flags.node_grace,
        pod_eviction: flags.pod_eviction,
        event_ttl: flags.event_ttl,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating --data-dir {}", data_dir.display()))?;
    // Held until the process ends: a second control plane on this dir refuses to start.
    let _lock = skiff_control_plane::datadir::DataDirLock::acquire(&data_dir)?;
    if let Some(server) = &flags.join {
        join_cluster(&flags, server, &data_dir).await?;
    }
    let server_id = skiff_control_plane::datadir::server_id(&data_dir)?;
    // Bound before the PKI is made, so that `--listen ...:0` gets its real port into
    // admin.conf and a port already in use fails before anything is written.
    let listener = TcpListener::bind(flags.listen)
        .await
        .with_context(|| format!("listening on {}", flags.listen))?;
    let listen = listener
        .local_addr()
        .context("reading the listen address")?;
    let (server_names, api_url) = server_names(&flags, listen.port(), &config);
    let pki = Pki::load_or_create(&data_dir, &server_names, &api_url)
        .with_context(|| format!("loading the PKI under {}", data_dir.display()))?;
    let store = open_store(&flags, pki.ca_der()).await?;
    resources::bootstrap(store.as_ref(), &skiff_control_plane::core::SystemClock)
        .await
        .context("creating the system namespaces and the default storage class")?;
    rbac::bootstrap(store.as_ref(), &skiff_control_plane::core::SystemClock)
        .await
        .context("creating the default roles and bindings")?;
    let authorizer = Arc::new(rbac::Authorizer::new(
        rbac::Index::start(store.clone())
            .await
            .context("loading the roles and bindings")?,
    ));

    info!(
        admin_conf = %admin_conf_path(&data_dir).display(),
        admin_token = %admin_token_path(&data_dir).display(),
        node_token = %node_token_path(&data_dir).display(),
        server_token = %server_token_path(&data_dir).display(),
        server = %api_url,
        "credentials ready: kubectl and the CLI use admin.conf (a kubeconfig) or the admin token, agents join with the node token"
    );
    let cp = Arc::new(ControlPlane {
        store,
        pki: Arc::new(pki),
        config,
    });

    // gRPC for agents (and GET /skiff/v1/binaries/... for node-token holders); the
    // listener sends every other request to the Kubernetes REST API.
    let grpc = frontdoor::join::JoinLayer::new(cp.pki.clone()).layer(
        frontdoor::binaries::BinariesLayer::new(&data_dir, cp.pki.node_token()).layer(
            tonic::service::Routes::new(frontdoor::node_service(cp.clone())),
        ),
    );
    let rest = Arc::new(
        frontdoor::rest::Rest::new(cp.clone(), authorizer)
            .with_bookmark_interval(flags.watch_bookmark_interval),
    );
    let tls = cp.pki.server_rustls().context("configuring TLS")?;
    // Every server renews its identity lease (the `kubernetes` Endpoints list it) and
    // trims its memory; only the leader runs the singletons (docs/architecture.md, High
    // availability). A single server wins the lease at once.
    let advertised = api_endpoint(&flags, listen);
    let singletons = {
        let (cp, compact) = (cp.clone(), (flags.compact_keep, flags.compact_interval));
        move || controllers::spawn_singletons(&cp, compact, advertised)
    };
    let (leading, leading_rx) = tokio::sync::watch::channel(false);
    let mut leading = Some(leading);
    let mut background = vec![skiff_memory::spawn_trimmer(skiff_memory::TRIM_PERIOD)];
    // On SQLite the store is this server's own (in its locked data dir): nobody to elect
    // against, so it leads at once and writes no leases.
    let election = if flags.store.starts_with("etcd://") {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let identity = Arc::new(IdentityKeeper::new(
            cp.store.clone(),
            clock.clone(),
            &server_id,
            advertised,
            flags.leader_lease,
        ));
        identity
            .renew()
            .await
            .context("writing this server's identity lease")?;
        let elector = Arc::new(Elector::new(
            cp.store.clone(),
            clock,
            LeaseConfig::leader(&server_id, flags.leader_lease),
        ));
        let sender = leading.take().expect("the sender is there");
        background.push(tokio::spawn(identity.clone().keep_renewing()));
        background.push(tokio::spawn(leader::keep_electing(elector.clone(), sender)));
        info!(server_id = %server_id, advertised = %advertised, "trying for the leader lease");
        Some((elector, identity))
    } else {
        if let Some(sender) = &leading {
            sender.send_replace(true);
        }
        None
    };
    background.push(tokio::spawn(leader::run_while_leading(
        leading_rx, singletons,
    )));
    let background = AbortOnDrop(background);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(frontdoor::server::serve(
        listener,
        tls,
        grpc,
        rest,
        async {
            let _ = stopped.await;
        },
        SHUTDOWN_GRACE,
    ));
    info!(listen = %listen, "serving the API");

    tokio::select! {
        signal = shutdown_signal() => {
            info!(signal = signal?, "shutting down");
        }
        result = &mut server => {
            result.context("the API server panicked")?;
            bail!("the API server stopped by itself");
        }
    }
    // Controllers stop first, then the lease goes to another server at once and this
    // one leaves the `kubernetes` Endpoints; the API drains last.
    drop(background);
    drop(leading);
    if let Some((elector, identity)) = &election {
        if let Err(e) = elector.release().await {
            warn!(error = %e, "releasing the leader lease");
        }
        if let Err(e) = identity.remove().await {
            warn!(error = %e, "removing this server's identity lease");
        }
    }
    let _ = stop.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE * 2, &mut server)
        .await
        .is_err()
    {
        warn!(grace = ?SHUTDOWN_GRACE, "open streams did not finish; exiting anyway");
    }
    info!("stopped");
    Ok(())
}

/// `--join URL --token ...`: the cluster's CA, keys and tokens from the server at URL,
/// into this data dir (`pki/join.rs`). Only with a shared store.
async fn join_cluster(
    flags: &Flags,
    server: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    if !flags.store.starts_with("etcd://") {
        bail!("--join needs --store etcd://...: servers of one cluster share one store, and --store {} is this server's own", flags.store);
    }
    let token = flags.token.as_deref().context("--join needs --token")?;
    let token = skiff_proto::auth::ServerToken::parse(token).map_err(|e| {
        anyhow::anyhow!("--token: {e} (give the first server's <data-dir>/server-token)")
    })?;
    if join::already_joined(data_dir, server, &token)? {
        info!(
            server,
            "already joined: the cluster's CA, keys and tokens are in the data dir"
        );
        return Ok(());
    }
    let bundle = join::fetch_bundle(server, &token)
        .await
        .with_context(|| format!("joining the cluster at {server}"))?;
    join::install_bundle(data_dir, server, &token, &bundle)
        .with_context(|| format!("joining the cluster at {server}"))?;
    Ok(())
}

/// Where pods reach the API (the `kubernetes` Service's Endpoints): the advertised
/// address, else the listen address, else this host's first IPv4 address outside the
/// pod and service ranges (not loopback, which pods cannot reach through the Service).
fn api_endpoint(flags: &Flags, listen: SocketAddr) -> SocketAddr {
    let listen_ip = Some(listen.ip()).filter(|ip| !ip.is_unspecified());
    let internal = [flags.cluster_cidr, flags.service_cidr];
    let host = || {
        host_addresses().into_iter().find(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !internal.iter().any(|n| n.contains(v4)),
            IpAddr::V6(_) => false,
        })
    };
    let ip = flags
        .advertise_address
        .or(listen_ip)
        .or_else(host)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, listen.port())
}

/// `--data-dir`, which serving needs.
fn data_dir(flags: &Flags) -> anyhow::Result<PathBuf> {
    flags
        .data_dir
        .clone()
        .context("--data-dir is required to serve")
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// The store, with Secrets sealed at rest under `<data-dir>/secrets-encryption.key`.
/// Checked first against `ca_der`: a store another cluster's CA was recorded in is
/// refused before anything is written to it (`leader/cluster_ca.rs`).
async fn open_store(flags: &Flags, ca_der: &[u8]) -> anyhow::Result<Arc<dyn Store>> {
    match flags.store.as_str() {
        "sqlite" => {
            let path = data_dir(flags)?.join("store.db");
            let sqlite = SqliteStore::open(&path)
                .with_context(|| format!("opening the store {}", path.display()))?;
            same_cluster(&sqlite, ca_der).await?;
            let (store, sealed) = encryption::open(Arc::new(sqlite.clone()), &data_dir(flags)?)
                .await
                .context("secrets encryption")?;
            if sealed.rewritten > 0 {
                sqlite
                    .scrub()
                    .context("scrubbing plaintext secrets from the store")?;
            }
            Ok(Arc::new(store))
        }
        etcd if etcd.starts_with("etcd://") => {
            let endpoints = parse_endpoints(etcd)?;
            let tls = flags.etcd.tls()?;
            let etcd = EtcdStore::connect_retrying(&endpoints, tls, flags.etcd_wait)
                .await
                .with_context(|| {
                    format!(
                        "etcd at {} did not answer for {:?}",
                        endpoints.join(","),
                        flags.etcd_wait
                    )
                })?;
            same_cluster(&etcd, ca_der).await?;
            // No scrub here: plaintext a rewrite replaced stays in etcd's history until
            // the compactor drops those revisions.
            let (store, _sealed) = encryption::open(Arc::new(etcd), &data_dir(flags)?)
                .await
                .context("secrets encryption")?;
            Ok(Arc::new(store))
        }
        other => bail!("--store {other:?}: expected sqlite or etcd://HOST:PORT"),
    }
}

async fn same_cluster(store: &dyn Store, ca_der: &[u8]) -> anyhow::Result<()> {
    leader::cluster_ca::check_or_record(store, ca_der)
        .await
        .context("checking the store against this data dir's CA")
}

/// The `kubernetes` Service's DNS names, in the serving certificate as kube-apiserver's.
const KUBERNETES_SERVICE_NAMES: [&str; 4] = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The serving certificate's extra names and the URL for admin.conf.
///
/// Listening on every address, the certificate names every address of this host (an agent
/// may dial any of them: a Vagrant VM has a NAT address and a host-only one), except pod
/// and service addresses, which come and go. `localhost`, 127.0.0.1 and the hostname are
/// always in it (the PKI adds them).
fn server_names(flags: &Flags, port: u16, config: &ClusterConfig) -> (Vec<String>, String) {
    let listen_ip = Some(flags.listen.ip()).filter(|ip| !ip.is_unspecified());
    let mut names: Vec<IpAddr> = flags
        .advertise_address
        .into_iter()
        .chain(listen_ip)
        .collect();
    if listen_ip.is_none() {
        let internal = [config.cluster_cidr, config.service_cidr];
        names.extend(host_addresses().into_iter().filter(|ip| match ip {
            IpAddr::V4(v4) => !internal.iter().any(|net| net.contains(v4)),
            IpAddr::V6(_) => true,
        }));
    }
    names.sort();
    names.dedup();
    let advertised = flags
        .advertise_address
        .or(listen_ip)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let url = format!("https://{}", SocketAddr::new(advertised, port));
    // Pods reach the API as the `kubernetes` Service, by its names and its ClusterIP.
    let in_cluster = KUBERNETES_SERVICE_NAMES
        .iter()
        .map(ToString::to_string)
        .chain([config.service_ranges().reserved_ip().to_string()]);
    let names = names.iter().map(ToString::to_string).chain(in_cluster);
    (names.collect(), url)
}

/// This host's global unicast addresses, from /proc (no extra dependency): IPv4 from the
/// local routes in `/proc/net/fib_trie`, IPv6 from `/proc/net/if_inet6` (scope global).
/// Unreadable files just mean fewer names.
fn host_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let trie = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut last: Option<&str> = None;
    for line in trie.lines().map(str::trim) {
        if let Some(address) = line.strip_prefix("|-- ") {
            last = Some(address);
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.and_then(|a| a.parse::<Ipv4Addr>().ok()) {
                found.push(IpAddr::V4(ip));
            }
        }
    }
    let inet6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    for fields in inet6
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
    {
        if let [hex, _, _, "00", ..] = fields[..] {
            if let Ok(bits) = u128::from_str_radix(hex, 16) {
                found.push(IpAddr::V6(bits.into()));
            }
        }
    }
    found.retain(|ip| !ip.is_loopback() && !ip.is_unspecified());
    found
}

/// Resolves on SIGTERM (systemd, kill) or SIGINT (Ctrl-C) and says which.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// `migrate --from sqlite:DIR --to etcd://...`: progress and a summary on stdout.
async fn migrate(from: &str, to: &str, force: bool, etcd: &EtcdFlags) -> anyhow::Result<()> {
    let dir = PathBuf::from(
        from.strip_prefix("sqlite:")
            .with_context(|| format!("--from {from:?}: expected sqlite:DIR"))?,
    );
    // A running server holds the lock: copying a store that is being written is refused.
    let _lock = skiff_control_plane::datadir::DataDirLock::acquire(&dir)
        .with_context(|| format!("--from {}: stop the control plane first", dir.display()))?;
    let path = dir.join("store.db");
    if !path.is_file() {
        bail!("--from {}: no store.db there", dir.display());
    }
    let source = SqliteStore::open(&path)
        .with_context(|| format!("opening the store {}", path.display()))?;
    let endpoints = parse_endpoints(to)?;
    let target = EtcdStore::connect(&endpoints, etcd.tls()?).await?;
    let summary = skiff_control_plane::store::migrate::migrate(&source, &target, force, |n, of| {
        println!("copied {n}/{of} objects");
    })
    .await?;
    println!(
        "migrated {} objects to etcd at {} (etcd revision {}):",
        summary.copied,
        endpoints.join(","),
        summary.revision
    );
    for (kind, count) in &summary.kinds {
        println!("  {kind}: {count}");
    }
    println!(
        "start the servers with --store {to} and a copy of {} (its secrets-encryption.key, CA and tokens)",
        dir.display()
    );
    Ok(())
}
