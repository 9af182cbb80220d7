//! The node join token, in k3s' format: `K10<sha256 of the CA certificate>::node:<secret>`.
//!
//! The secret proves to the control plane that the agent may join; the hash lets the
//! agent, which has nothing but the server URL and this token, pin the CA it fetches
//! before it trusts anything the server says.

use std::fmt;

use sha2::{Digest, Sha256};

use super::AuthError;

const PREFIX: &str = "K10";
const SEPARATOR: &str = "::";
const NODE_USER: &str = "node:";
const SERVER_USER: &str = "server:";

/// A parsed node token. `Display` gives the text form back. No `PartialEq`: compare
/// secrets with [`constant_time_eq`].
#[derive(Clone)]
pub struct NodeToken {
    /// sha256 of the CA certificate's DER, lower-case hex (64 characters).
    pub ca_hash: String,
    /// The shared join secret (the control plane makes 32 random bytes, hex).
    pub secret: String,
}

impl NodeToken {
    /// The token for the CA certificate `ca_der` and `secret`.
    pub fn new(ca_der: &[u8], secret: impl Into<String>) -> NodeToken {
        NodeToken {
            ca_hash: ca_hash(ca_der),
            secret: secret.into(),
        }
    }

    /// Parses the text form. Surrounding whitespace (a trailing newline of a token file)
    /// is ignored; a bare secret without the CA hash is refused, because an agent could
    /// not pin the CA with it.
    pub fn parse(text: &str) -> Result<NodeToken, AuthError> {
        parse_as(text, NODE_USER, "node")
    }

    /// True when `ca_der` is the certificate this token pins.
    pub fn pins(&self, ca_der: &[u8]) -> bool {
        constant_time_eq(ca_hash(ca_der).as_bytes(), self.ca_hash.as_bytes())
    }
}

/// The server join token, `K10<sha256 of the CA certificate>::server:<secret>` (k3s'
/// format): what `skiff-control-plane --join URL --token ...` takes to fetch the
/// cluster's CA, keys and tokens from a running server. Same parts as [`NodeToken`],
/// another user, so neither is accepted for the other.
#[derive(Clone)]
pub struct ServerToken(pub NodeToken);

impl ServerToken {
    pub fn new(ca_der: &[u8], secret: impl Into<String>) -> ServerToken {
        ServerToken(NodeToken::new(ca_der, secret))
    }

    /// Parses the text form; a node token is refused.
    pub fn parse(text: &str) -> Result<ServerToken, AuthError> {
        parse_as(text, SERVER_USER, "server").map(ServerToken)
    }

    pub fn pins(&self, ca_der: &[u8]) -> bool {
        self.0.pins(ca_der)
    }
}

impl fmt::Display for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}{SEPARATOR}{SERVER_USER}{}",
            self.0.ca_hash, self.0.secret
        )
    }
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerToken").field(&self.0).finish()
    }
}

/// `K10<hash>::<user><secret>`, checked.
fn parse_as(text: &str, user: &str, what: &str) -> Result<NodeToken, AuthError> {
    let bad = |why: &str| AuthError::Token(why.to_string());
    let text = text.trim();
    let rest = text.strip_prefix(PREFIX).ok_or_else(|| {
        bad("it does not start with K10 (a full token is needed, not only its secret)")
    })?;
    let (hash, credentials) = rest
        .split_once(SEPARATOR)
        .ok_or_else(|| bad("the \"::\" after the CA hash is missing"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the CA hash is not 64 hex digits"));
    }
    let secret = credentials.strip_prefix(user).ok_or_else(|| {
        AuthError::Token(format!("it is not a {what} token (\"::{user}\" expected)"))
    })?;
    if secret.is_empty() || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the secret is empty or contains whitespace"));
    }
    Ok(NodeToken {
        ca_hash: hash.to_ascii_lowercase(),
        secret: secret.to_string(),
    })
}

/// The text form, secret included: write it only where the token belongs.
impl fmt::Display for NodeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}{SEPARATOR}{NODE_USER}{}",
            self.ca_hash, self.secret
        )
    }
}

/// Debug leaves the secret out, so a token never lands in a log by accident.
impl fmt::Debug for NodeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeToken")
            .field("ca_hash", &self.ca_hash)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// sha256 of a DER certificate, lower-case hex.
fn ca_hash(ca_der: &[u8]) -> String {
    hex::encode(Sha256::digest(ca_der))
}

/// Compares two byte strings in time that depends only on their lengths, so a caller
/// guessing a secret learns nothing from how fast a wrong guess is refused.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let token = NodeToken::new(b"ca der", "s3cret");
        let text = token.to_string();
        assert!(text.starts_with("K10"));
        assert!(text.ends_with("::node:s3cret"));
        assert_eq!(
            NodeToken::parse(&format!("{text}\n")).unwrap().to_string(),
            text
        );
        assert!(token.pins(b"ca der"));
        assert!(!token.pins(b"another ca"));
    }

    #[test]
    fn refuses_malformed_tokens() {
        let hash = "ab".repeat(32);
        for bad in [
            "".to_string(),
            "s3cret".to_string(),
            format!("K10{hash}node:x"),
            format!("K10{}::node:x", &hash[1..]),
            format!("K10{}::node:x", "zz".repeat(32)),
            format!("K10{hash}::server:x"),
            format!("K10{hash}::node:"),
            format!("K10{hash}::node:a b"),
        ] {
            assert!(NodeToken::parse(&bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn server_and_node_tokens_are_not_interchangeable() {
        let server = ServerToken::new(b"ca der", "s3cret");
        let text = server.to_string();
        assert!(text.ends_with("::server:s3cret"), "{text}");
        assert_eq!(ServerToken::parse(&text).unwrap().to_string(), text);
        assert!(ServerToken::parse(&text).unwrap().pins(b"ca der"));
        let node = NodeToken::new(b"ca der", "s3cret").to_string();
        assert!(NodeToken::parse(&text).is_err());
        let refused = ServerToken::parse(&node).unwrap_err().to_string();
        assert!(refused.contains("not a server token"), "{refused}");
        assert!(!format!("{server:?}").contains("s3cret"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = NodeToken::new(b"ca", "hunter2");
        assert!(!format!("{token:?}").contains("hunter2"));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
