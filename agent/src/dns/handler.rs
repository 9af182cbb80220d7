//! One query in, one response out: cluster names from the zone, the rest forwarded,
//! ExternalName targets chased, answers cut to what the client's transport carries.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tracing::{debug, warn};

use super::forward::Forwarder;
use super::records::DnsRecords;
use super::zone::{Outcome, Zone};

/// How many CNAMEs inside the cluster zone are followed before giving up (an
/// ExternalName pointing at another one, possibly in a loop).
const MAX_CHAIN: usize = 8;
/// The EDNS UDP size we announce: the DNS flag day's value, no IP fragmentation.
const OUR_UDP_SIZE: u16 = 1232;
/// The UDP size of a client that does not speak EDNS.
const PLAIN_UDP_SIZE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

pub(crate) struct Handler {
    pub zone: Zone,
    pub records: DnsRecords,
    pub forwarder: Forwarder,
}

impl Handler {
    /// The response bytes for `query`, or `None` for what deserves no answer (garbage
    /// shorter than a header, or a response sent to us).
    pub async fn handle(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let request = match Message::from_vec(query) {
            Ok(m) => m,
            Err(e) => {
                debug!(error = %e, "malformed dns query");
                return format_error(query);
            }
        };
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let limit = match transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => usize::from(request.max_payload()).max(PLAIN_UDP_SIZE),
        };
        let response = match self.respond(&request, query, limit).await {
            Reply::Message(m) => m,
            Reply::Relayed(bytes) => return Some(bytes),
        };
        encode(&response, limit)
    }

    async fn respond(&self, request: &Message, raw: &[u8], limit: usize) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::Message(reply(request, ResponseCode::NotImp));
        }
        let [question] = &request.queries[..] else {
            return Reply::Message(reply(request, ResponseCode::FormErr));
        };
        if !self.zone.contains(question.name()) {
            let reverse = {
                let table = self.records.read();
                let qtype = question.query_type();
                self.zone.reverse(&table, question.name(), qtype)
            };
            if let Some(outcome) = reverse {
                return Reply::Message(self.final_answer(request, outcome));
            }
            return match self.forwarder.forward(raw, limit).await {
                Ok(bytes) => Reply::Relayed(bytes),
                Err(e) => {
                    warn!(name = %question.name(), error = %e, "dns forwarding failed");
                    Reply::Message(reply(request, ResponseCode::ServFail))
                }
            };
        }
        if question.query_class() != DNSClass::IN {
            return Reply::Message(reply(request, ResponseCode::NotImp));
        }
        Reply::Message(self.authoritative(request, question).await)
    }

    /// An answer from the cluster zone, following ExternalName CNAMEs: inside the zone
    /// here, outside through the upstreams (resolvers expect the chain resolved, as
    /// CoreDNS does).
    async fn authoritative(&self, request: &Message, question: &Query) -> Message {
        let mut msg = reply(request, ResponseCode::NoError);
        msg.metadata.authoritative = true;
        let qtype = question.query_type();
        let mut name = question.name().clone();
        for _ in 0..MAX_CHAIN {
            let outcome = {
                let table = self.records.read();
                self.zone.lookup(&table, &name, qtype)
            };
            match outcome {
                Some(Outcome::Alias { cname, target }) => {
                    msg.answers.push(*cname);
                    if qtype == RecordType::CNAME {
                        return msg;
                    }
                    name = target;
                }
                Some(outcome) => return self.finish(msg, outcome),
                None => return self.chase_outside(msg, name, qtype).await,
            }
        }
        warn!(name = %question.name(), "cname chain too long in the cluster zone");
        msg.metadata.response_code = ResponseCode::ServFail;
        msg
    }

    /// Resolves an ExternalName's outside target through the upstreams and appends it.
    async fn chase_outside(&self, mut msg: Message, target: Name, qtype: RecordType) -> Message {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(target.clone(), qtype));
        let resolved = match query.to_vec() {
            Ok(bytes) => self.forwarder.forward(&bytes, usize::from(u16::MAX)).await,
            Err(e) => {
                warn!(target = %target, error = %e, "cname target query not encodable");
                msg.metadata.response_code = ResponseCode::ServFail;
                return msg;
            }
        };
        match resolved.map(|bytes| Message::from_vec(&bytes)) {
            Ok(Ok(upstream)) => {
                msg.metadata.response_code = upstream.metadata.response_code;
                msg.answers.extend(upstream.answers);
            }
            Ok(Err(e)) => {
                warn!(target = %target, error = %e, "malformed upstream answer");
                msg.metadata.response_code = ResponseCode::ServFail;
            }
            Err(e) => {
                warn!(target = %target, error = %e, "cname target not resolved");
                msg.metadata.response_code = ResponseCode::ServFail;
            }
        }
        msg
    }

    /// An authoritative answer from a final outcome (no CNAME to chase).
    fn final_answer(&self, request: &Message, outcome: Outcome) -> Message {
        let mut msg = reply(request, ResponseCode::NoError);
        msg.metadata.authoritative = true;
        self.finish(msg, outcome)
    }

    /// Adds a final outcome to `msg` (which may hold CNAMEs leading to it).
    fn finish(&self, mut msg: Message, outcome: Outcome) -> Message {
        match outcome {
            Outcome::Answer {
                answers,
                additionals,
            } => {
                msg.answers.extend(answers);
                msg.additionals.extend(additionals);
                msg
            }
            Outcome::NxDomain => self.negative(msg, ResponseCode::NXDomain),
            Outcome::NoData | Outcome::Alias { .. } => self.negative(msg, ResponseCode::NoError),
        }
    }

    /// NXDOMAIN or NODATA, with the zone's SOA so resolvers know how long to cache it.
    fn negative(&self, mut msg: Message, code: ResponseCode) -> Message {
        msg.metadata.response_code = code;
        msg.authorities.push(self.zone.soa());
        msg
    }
}

enum Reply {
    Message(Message),
    /// An upstream's answer, relayed byte for byte.
    Relayed(Vec<u8>),
}

/// The skeleton of a response to `request`: its id, question and RD flag; recursion
/// offered (other names are forwarded); EDNS answered when asked.
fn reply(request: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::response(request.metadata.id, request.metadata.op_code);
    msg.metadata.recursion_desired = request.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.metadata.checking_disabled = request.metadata.checking_disabled;
    msg.metadata.response_code = code;
    msg.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_UDP_SIZE);
        msg.set_edns(edns);
    }
    msg
}

/// Encodes `msg`; one that does not fit `limit` goes out truncated (question only, TC
/// set), and the client asks again over TCP.
fn encode(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = match msg.to_vec() {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "dns response not encodable");
            let mut failed = msg.truncate();
            failed.metadata.truncation = false;
            failed.metadata.response_code = ResponseCode::ServFail;
            return failed.to_vec().ok();
        }
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    msg.truncate().to_vec().ok()
}

/// FORMERR for a query we cannot parse, when at least its header is there.
fn format_error(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([query[0], query[1]]);
    let op = OpCode::from_u8((query[2] >> 3) & 0x0f);
    Message::error_msg(id, op, ResponseCode::FormErr)
        .to_vec()
        .ok()
}
