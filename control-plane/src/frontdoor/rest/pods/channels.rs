//! The channel framing of Kubernetes' WebSocket subprotocols (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`), shared by exec, attach and port-forward: every binary message is
//! one channel byte then that channel's data; v5 adds the CLOSE signal `[255, channel]`
//! that ends the sender's side of one channel (stdin's end of file) without closing the
//! socket.

/// exec/attach channels, in kube-apiserver's numbering.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The error channel: one `Status` JSON, the session's last message.
pub const ERROR: u8 = 3;
/// Terminal resizes: `{"Width":..,"Height":..}`.
pub const RESIZE: u8 = 4;
/// v5's close signal, followed by the channel it closes.
pub const CLOSE: u8 = 255;

/// A channel subprotocol kubectl or a client library may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V4,
    V5,
}

impl Protocol {
    /// Both, newest first: what exec and attach offer.
    pub const ALL: [Protocol; 2] = [Protocol::V5, Protocol::V4];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }

    /// The names exec and attach offer, newest first (`upgrade::accept` picks one).
    pub const NAMES: [&'static str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One message read from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        channel: u8,
        data: &'a [u8],
    },
    /// v5: the client will send nothing more on `channel`.
    Close {
        channel: u8,
    },
}

/// Frames and parses messages for the protocol the handshake chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    pub protocol: Protocol,
}

impl Channels {
    pub fn new(protocol: Protocol) -> Self {
        Self { protocol }
    }

    /// The message carrying `data` on `channel`; empty data makes the one-byte message
    /// that announces a channel.
    pub fn frame(&self, channel: u8, data: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(data.len() + 1);
        message.push(channel);
        message.extend_from_slice(data);
        message
    }

    /// What a client's binary message says; `None` for an empty message.
    pub fn parse<'a>(&self, message: &'a [u8]) -> Option<Frame<'a>> {
        let (&channel, data) = message.split_first()?;
        match (self.protocol, channel, data) {
            (Protocol::V5, CLOSE, [closed, ..]) => Some(Frame::Close { channel: *closed }),
            _ => Some(Frame::Data { channel, data }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_by_name() {
        for name in Protocol::NAMES {
            assert_eq!(Protocol::from_name(name).map(Protocol::name), Some(name));
        }
        assert_eq!(Protocol::from_name("channel.k8s.io"), None);
    }

    #[test]
    fn frames_carry_their_channel_first() {
        let c = Channels::new(Protocol::V4);
        assert_eq!(c.frame(STDOUT, b"hi"), b"\x01hi");
        assert_eq!(c.frame(ERROR, b""), [ERROR]);
        assert_eq!(
            c.parse(b"\x00ls\n"),
            Some(Frame::Data {
                channel: STDIN,
                data: b"ls\n"
            })
        );
        assert_eq!(c.parse(b""), None);
    }

    #[test]
    fn only_v5_knows_the_close_signal() {
        let v5 = Channels::new(Protocol::V5);
        assert_eq!(
            v5.parse(&[CLOSE, STDIN]),
            Some(Frame::Close { channel: STDIN })
        );
        // A bare 255 closes nothing.
        assert_eq!(
            v5.parse(&[CLOSE]),
            Some(Frame::Data {
                channel: CLOSE,
                data: b""
            })
        );
        let v4 = Channels::new(Protocol::V4);
        assert_eq!(
            v4.parse(&[CLOSE, STDIN]),
            Some(Frame::Data {
                channel: CLOSE,
                data: &[STDIN]
            })
        );
    }
}
