//! A recording `NetOps` for tests without root: it keeps a tiny model of the host
//! (bridge, veths by name, nft scripts) and logs every call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::error::NetworkError;
use super::ops::{BridgeSpec, HostNetwork, NetOps, VethSpec, VethState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    HostNetworks(String),
    EnsureBridge(BridgeSpec),
    EnableForwarding,
    ApplyNft(String),
    InspectVeth(String),
    CreateVeth(VethSpec),
    DeleteLink(String),
    BridgePorts(String),
}

#[derive(Default)]
pub struct RecordingOps {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    networks: Vec<HostNetwork>,
    bridge: Option<BridgeSpec>,
    veths: BTreeMap<String, VethSpec>,
    broken: BTreeMap<String, String>,
    fail_creates: usize,
}

impl RecordingOps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Networks the fake host already uses.
    pub fn with_networks(networks: Vec<HostNetwork>) -> Self {
        let ops = Self::default();
        ops.lock().networks = networks;
        ops
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn clear(&self) {
        self.lock().calls.clear();
    }

    /// Names of the veths that exist, sorted.
    pub fn veths(&self) -> Vec<String> {
        self.lock().veths.keys().cloned().collect()
    }

    pub fn veth(&self, name: &str) -> Option<VethSpec> {
        self.lock().veths.get(name).cloned()
    }

    /// Adds a veth as if an earlier agent had made it.
    pub fn add_veth(&self, spec: VethSpec) {
        self.lock().veths.insert(spec.host.clone(), spec);
    }

    /// Makes `inspect_veth` report the veth as broken.
    pub fn break_veth(&self, name: &str, why: &str) {
        self.lock().broken.insert(name.into(), why.into());
    }

    /// The next `n` creations fail.
    pub fn fail_creates(&self, n: usize) {
        self.lock().fail_creates = n;
    }

    /// Deletes the bridge, as an operator might.
    pub fn remove_bridge(&self) {
        self.lock().bridge = None;
    }

    pub fn bridge(&self) -> Option<BridgeSpec> {
        self.lock().bridge.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, call: Call) {
        self.lock().calls.push(call);
    }
}

impl NetOps for RecordingOps {
    fn host_networks<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HostNetwork>, NetworkError>> {
        self.record(Call::HostNetworks(bridge.into()));
        let nets = self.lock().networks.clone();
        async move { Ok(nets) }.boxed()
    }

    fn ensure_bridge<'a>(
        &'a self,
        spec: &'a BridgeSpec,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        self.record(Call::EnsureBridge(spec.clone()));
        self.lock().bridge = Some(spec.clone());
        async { Ok(()) }.boxed()
    }

    fn enable_forwarding(&self) -> BoxFuture<'_, Result<(), NetworkError>> {
        self.record(Call::EnableForwarding);
        async { Ok(()) }.boxed()
    }

    fn apply_nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), NetworkError>> {
        self.record(Call::ApplyNft(script.into()));
        async { Ok(()) }.boxed()
    }

    fn inspect_veth<'a>(
        &'a self,
        spec: &'a VethSpec,
    ) -> BoxFuture<'a, Result<VethState, NetworkError>> {
        self.record(Call::InspectVeth(spec.host.clone()));
        let st = self.lock();
        let state = match (st.veths.get(&spec.host), st.broken.get(&spec.host)) {
            (None, _) => VethState::Missing,
            (Some(_), Some(why)) => VethState::Broken(why.clone()),
            (Some(have), None) if have == spec => VethState::Ready,
            (Some(_), None) => VethState::Broken("differs".into()),
        };
        async move { Ok(state) }.boxed()
    }

    fn create_veth<'a>(&'a self, spec: &'a VethSpec) -> BoxFuture<'a, Result<(), NetworkError>> {
        self.record(Call::CreateVeth(spec.clone()));
        let mut st = self.lock();
        let result = if st.fail_creates > 0 {
            st.fail_creates -= 1;
            Err(NetworkError::Netlink("injected failure".into()))
        } else if st.bridge.as_ref().map(|b| &b.name) != Some(&spec.bridge) {
            Err(NetworkError::Netlink(format!(
                "bridge {} not found",
                spec.bridge
            )))
        } else if st.veths.contains_key(&spec.host) {
            Err(NetworkError::Netlink(format!("{} exists", spec.host)))
        } else {
            st.veths.insert(spec.host.clone(), spec.clone());
            st.broken.remove(&spec.host);
            Ok(())
        };
        async move { result }.boxed()
    }

    fn delete_link<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, NetworkError>> {
        self.record(Call::DeleteLink(name.into()));
        let existed = self.lock().veths.remove(name).is_some();
        async move { Ok(existed) }.boxed()
    }

    fn bridge_ports<'a>(
        &'a self,
        bridge: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, NetworkError>> {
        self.record(Call::BridgePorts(bridge.into()));
        let ports = self
            .lock()
            .veths
            .values()
            .filter(|v| v.bridge == bridge)
            .map(|v| v.host.clone())
            .collect();
        async move { Ok(ports) }.boxed()
    }
}
