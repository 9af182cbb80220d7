//! Privileged scenarios; helpers and the clean-up guard are in `real_tests/mod.rs`.

use super::*;

#[tokio::test]
async fn pods_reach_the_host_each_other_and_the_world_masqueraded() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    let world = host.world();
    let (ns_a, ns_b) = (host.netns("a"), host.netns("b"));
    let net = PodNetwork::init(host.cfg()).await.unwrap();

    let a = net.setup("pod-a", &ns_a).await.unwrap();
    let b = net.setup("pod-b", &ns_b).await.unwrap();
    assert_eq!(a.ip, "10.99.0.2".parse::<Ipv4Addr>().unwrap());
    assert_eq!(b.ip, "10.99.0.3".parse::<Ipv4Addr>().unwrap());
    assert_eq!(a.gateway, "10.99.0.1".parse::<Ipv4Addr>().unwrap());
    assert_eq!(a.prefix_len, 24);

    // The pod side: eth0 with the pod address, the default route via the gateway.
    let ns_name = host.netns[1].clone();
    let eth0 = sh(&["ip", "-n", &ns_name, "-o", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains("inet 10.99.0.2/24"), "{eth0}");
    let routes = sh(&["ip", "-n", &ns_name, "route"]);
    assert!(
        routes.contains("default via 10.99.0.1 dev eth0"),
        "{routes}"
    );
    let link = sh(&["ip", "-n", &ns_name, "-o", "link", "show", "dev", "eth0"]);
    assert!(link.contains(&format!("mtu {}", net.mtu())), "{link}");
    assert!(link.contains(",UP"), "{link}");
    // The host side: on the bridge, up, hairpin on.
    let veth = host_veth_name("pod-a");
    assert_eq!(our_veths(), {
        let mut v = vec![veth.clone(), host_veth_name("pod-b")];
        v.sort();
        v
    });
    let port = sh(&["bridge", "-d", "link", "show", "dev", &veth]);
    assert!(port.contains("hairpin on"), "{port}");
    let br = sh(&["ip", "-o", "addr", "show", "dev", BRIDGE]);
    assert!(br.contains("inet 10.99.0.1/24"), "{br}");

    // Host to pod.
    let server = serve_once(&ns_a, addr(a.ip, 9000));
    send(addr(a.ip, 9000), "from host").unwrap();
    let (peer, got) = server.join().unwrap();
    assert_eq!(got, "from host");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a.gateway));

    // Pod to pod, across the bridge: no masquerade.
    let server = serve_once(&ns_a, addr(a.ip, 9001));
    send_from(&ns_b, addr(a.ip, 9001), "from b");
    let (peer, got) = server.join().unwrap();
    assert_eq!(
        (peer.ip(), got.as_str()),
        (std::net::IpAddr::V4(b.ip), "from b")
    );

    // Pod to the world: the world sees the host's address, not the pod's.
    let world_ip: Ipv4Addr = WORLD_IP.parse().unwrap();
    let server = serve_once(&world, addr(world_ip, 9002));
    send_from(&ns_a, addr(world_ip, 9002), "from a");
    let (peer, got) = server.join().unwrap();
    assert_eq!(got, "from a");
    assert_eq!(
        peer.ip().to_string(),
        WORLD_HOST_IP,
        "masqueraded to the host's address"
    );

    // Same answer again, nothing recreated.
    let index = ifindex(&veth);
    assert_eq!(net.setup("pod-a", &ns_a).await.unwrap(), a);
    assert_eq!(ifindex(&veth), index);

    net.teardown("pod-a").await.unwrap();
    net.teardown("pod-b").await.unwrap();
    net.teardown("pod-b").await.unwrap();
    assert!(our_veths().is_empty());
    assert!(host.ipam_files().is_empty());
    let pod_links = sh(&["ip", "-n", &ns_name, "-o", "link"]);
    assert!(!pod_links.contains("eth0"), "{pod_links}");
}

#[tokio::test]
async fn init_is_idempotent_and_refuses_overlaps() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    host.world();

    let mut overlapping = host.cfg();
    overlapping.pod_cidr = "10.98.0.0/24".parse().unwrap();
    let err = PodNetwork::init(overlapping).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "pod CIDR 10.98.0.0/24 overlaps 10.98.0.0/30 (address on sktw0)"
    );
    assert!(
        ifindex(BRIDGE).is_none(),
        "refused before touching the host"
    );

    let first = PodNetwork::init(host.cfg()).await.unwrap();
    let bridge = ifindex(BRIDGE).unwrap();
    let mac = std::fs::read_to_string(format!("/sys/class/net/{BRIDGE}/address")).unwrap();
    let want: Vec<String> = bridge::bridge_mac(BRIDGE)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(mac.trim(), want.join(":"));
    drop(first);
    // Again (an agent restart), with the bridge's address changed under us.
    sh(&["ip", "addr", "add", "10.97.0.1/24", "dev", BRIDGE]);
    PodNetwork::init(host.cfg()).await.unwrap();
    assert_eq!(ifindex(BRIDGE), Some(bridge));
    let br = sh(&["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]);
    assert_eq!(br.lines().count(), 1, "{br}");
    assert!(br.contains("inet 10.99.0.1/24"), "{br}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    let table = sh(&["nft", "list", "table", "ip", TABLE]);
    assert_eq!(table.matches("masquerade").count(), 1, "{table}");
    assert_eq!(table.matches("accept comment").count(), 2, "{table}");
    assert!(
        table.contains(
            "ip saddr 10.99.0.0/24 ip daddr != 10.99.0.0/24 oifname != \"sktest0\" masquerade"
        ),
        "{table}"
    );

    let ns = host.netns("left");
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    net.setup("pod-left", &ns).await.unwrap();
    cleanup_host_table(BRIDGE, TABLE).await.unwrap();
    assert!(ifindex(BRIDGE).is_none());
    assert!(ifindex(&host_veth_name("pod-left")).is_none());
    let tables = sh(&["nft", "list", "tables"]);
    assert!(!tables.contains(TABLE), "{tables}");
    cleanup_host_table(BRIDGE, TABLE).await.unwrap();
}

#[tokio::test]
async fn restart_keeps_pods_and_gc_removes_leftovers() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    let spaces: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| host.netns(n)).collect();
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    let mut ips = Vec::new();
    for (uid, ns) in ["pod-a", "pod-b", "pod-c"].iter().zip(&spaces) {
        ips.push(net.setup(uid, ns).await.unwrap().ip);
    }
    let index_a = ifindex(&host_veth_name("pod-a"));
    drop(net);

    // The agent restarts; only pod-a is still wanted.
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    assert_eq!(net.address_of("pod-b"), Some(ips[1]));
    let live: HashSet<String> = ["pod-a".to_string()].into();
    let report = net.gc(&live).await.unwrap();
    let mut want = vec![host_veth_name("pod-b"), host_veth_name("pod-c")];
    want.sort();
    let mut got = report.deleted_links.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(report.released.len(), 2);
    assert_eq!(our_veths(), vec![host_veth_name("pod-a")]);
    assert_eq!(host.ipam_files(), vec![ips[0].to_string()]);

    // pod-a kept its address and its veth.
    assert_eq!(net.setup("pod-a", &spaces[0]).await.unwrap().ip, ips[0]);
    assert_eq!(ifindex(&host_veth_name("pod-a")), index_a);

    // A pod whose eth0 lost its address is redone with the same address.
    let ns_a = host.netns[0].clone();
    sh(&["ip", "-n", &ns_a, "addr", "flush", "dev", "eth0"]);
    assert_eq!(net.setup("pod-a", &spaces[0]).await.unwrap().ip, ips[0]);
    let eth0 = sh(&["ip", "-n", &ns_a, "-o", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains(&format!("inet {}/24", ips[0])), "{eth0}");

    // A deleted bridge comes back on the next set-up.
    net.teardown("pod-a").await.unwrap();
    sh(&["ip", "link", "del", BRIDGE]);
    net.setup("pod-b", &spaces[1]).await.unwrap();
    assert!(ifindex(BRIDGE).is_some());
    net.teardown("pod-b").await.unwrap();

    // A netns that is gone: a clear error, and the address is not kept.
    let err = net
        .setup("pod-x", &host.dir.path().join("nope"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("open pod netns"), "{err}");
    assert_eq!(net.address_of("pod-x"), None);
    assert!(our_veths().is_empty());
}

#[tokio::test]
async fn setup_teardown_cycles_leave_nothing_and_are_fast() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    let ns = host.netns("cycle");
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    let (mut setups, mut teardowns) = (Vec::new(), Vec::new());
    for i in 0..100 {
        let uid = format!("cycle-{i}");
        let t = Instant::now();
        net.setup(&uid, &ns).await.unwrap();
        setups.push(t.elapsed());
        let t = Instant::now();
        net.teardown(&uid).await.unwrap();
        teardowns.push(t.elapsed());
    }
    assert!(our_veths().is_empty());
    assert!(host.ipam_files().is_empty());
    report("sequential setup", setups);
    report("sequential teardown", teardowns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setups_are_fast_and_distinct() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    let spaces: Vec<PathBuf> = (0..30).map(|i| host.netns(&format!("c{i}"))).collect();
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = spaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let (net, ns) = (net.clone(), ns.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let ip = net.setup(&format!("conc-{i}"), &ns).await.unwrap().ip;
                (ip, t.elapsed())
            })
        })
        .collect();
    let mut ips = HashSet::new();
    let mut times = Vec::new();
    for task in tasks {
        let (ip, took) = task.await.unwrap();
        assert!(ips.insert(ip));
        times.push(took);
    }
    eprintln!("30 concurrent setups in {:.2?}", started.elapsed());
    report("concurrent setup (each)", times);
    assert_eq!(our_veths().len(), 30);
    let net = Arc::new(net);
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let net = net.clone();
            tokio::spawn(async move { net.teardown(&format!("conc-{i}")).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(our_veths().is_empty());
    assert!(host.ipam_files().is_empty());
}

#[tokio::test]
async fn setup_phases_timing() {
    if !privileged() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut host = Host::new();
    let ns = host.netns("cycle");
    let net = PodNetwork::init(host.cfg()).await.unwrap();
    let (mut alloc, mut create, mut del, mut rel) = (vec![], vec![], vec![], vec![]);
    for i in 0..50 {
        let uid = format!("cycle-{i}");
        let t = Instant::now();
        let (ip, _) = net.inner.ipam.allocate(&uid).unwrap();
        alloc.push(t.elapsed());
        let spec = net.veth_spec(&uid, &ns, ip);
        let t = Instant::now();
        net.inner.ops.create_veth(&spec).await.unwrap();
        create.push(t.elapsed());
        let t = Instant::now();
        net.inner.ops.delete_link(&spec.host).await.unwrap();
        del.push(t.elapsed());
        let t = Instant::now();
        net.inner.ipam.release(&uid).unwrap();
        rel.push(t.elapsed());
    }
    report("alloc", alloc);
    report("create", create);
    report("delete", del);
    report("release", rel);
}
