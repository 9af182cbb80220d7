//! A [`ProxyExec`] that records the scripts it is given, for unit tests.

use std::sync::Mutex;

use futures::future::BoxFuture;

use super::exec::ProxyExec;
use super::ProxyError;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Nft(String),
    NftList(String),
    IptablesRestore(String),
    IptablesSave(String),
    Conntrack(Vec<String>),
    Sysctl(String, String),
}

/// Records calls; answers listings from what it was given, and can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingExec {
    pub calls: Mutex<Vec<Call>>,
    /// What `nft_list` answers.
    pub listing: Mutex<Option<String>>,
    /// When set, `nft` and `iptables_restore` fail (once each call) with this reason.
    pub fail: Mutex<Option<String>>,
}

impl RecordingExec {
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn record(&self, call: Call) -> Result<(), ProxyError> {
        let failing = matches!(call, Call::Nft(_) | Call::IptablesRestore(_));
        self.calls.lock().unwrap().push(call);
        match self.fail.lock().unwrap().take() {
            Some(reason) if failing => Err(ProxyError::Tool {
                tool: "fake".into(),
                reason,
            }),
            Some(reason) => {
                *self.fail.lock().unwrap() = Some(reason);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl ProxyExec for RecordingExec {
    fn nft<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move { self.record(Call::Nft(script.to_string())) })
    }

    fn nft_list<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Option<String>, ProxyError>> {
        Box::pin(async move {
            self.record(Call::NftList(table.to_string()))?;
            Ok(self.listing.lock().unwrap().clone())
        })
    }

    fn iptables_restore<'a>(&'a self, input: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move { self.record(Call::IptablesRestore(input.to_string())) })
    }

    fn iptables_save<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<String, ProxyError>> {
        Box::pin(async move {
            self.record(Call::IptablesSave(table.to_string()))?;
            Ok(String::new())
        })
    }

    fn conntrack<'a>(&'a self, args: &'a [String]) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move { self.record(Call::Conntrack(args.to_vec())) })
    }

    fn sysctl<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, Result<(), ProxyError>> {
        Box::pin(async move { self.record(Call::Sysctl(key.to_string(), value.to_string())) })
    }
}
