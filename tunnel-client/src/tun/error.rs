//! The one error type of TUN delivery.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why starting, using or stopping TUN delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// `[tun]` names neither `address` nor `address6`.
    #[error("[tun] has neither address nor address6")]
    NoAddress,
    /// The TUN device could not be created or configured
    /// (no `/dev/net/tun`, no `CAP_NET_ADMIN`, a bad name).
    #[error("cannot create TUN device {device}: {source}")]
    Device {
        /// The device name from `[tun]`.
        device: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// Reading from or writing to the TUN device failed.
    #[error("TUN device I/O: {0}")]
    DeviceIo(#[source] io::Error),
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    NetlinkSocket(#[source] io::Error),
    /// A netlink request was refused.
    #[error("netlink {op}: {source}")]
    Netlink {
        /// What was asked (e.g. "add route").
        op: &'static str,
        /// What the kernel said.
        source: rtnetlink::Error,
    },
    /// A netlink request got no answer in time.
    #[error("netlink {op}: no answer within {timeout:?}")]
    NetlinkTimeout {
        /// What was asked.
        op: &'static str,
        /// How long it waited.
        timeout: Duration,
    },
    /// A network interface the delivery needs does not exist.
    #[error("network interface {0} not found")]
    NoSuchLink(String),
    /// The client and the service are of different address families.
    #[error("client {client} and service {service} are of different address families")]
    FamilyMismatch {
        /// The original client address.
        client: SocketAddr,
        /// The service address.
        service: SocketAddr,
    },
    /// `max_connections` are already open.
    #[error("{max} TUN connections are already open")]
    TooManyConnections {
        /// The configured limit.
        max: usize,
    },
    /// A connection between the same two endpoints is still open or closing.
    #[error("a connection from {client} to {service} is still open or closing")]
    AddressInUse {
        /// The original client address.
        client: SocketAddr,
        /// The service address.
        service: SocketAddr,
    },
    /// The userspace stack cannot use these endpoints (a zero port, an
    /// unspecified address).
    #[error("cannot connect from {client} to {service}: unusable endpoints")]
    Unaddressable {
        /// The original client address.
        client: SocketAddr,
        /// The service address.
        service: SocketAddr,
    },
    /// The service answered the connection attempt with a reset: nothing listens.
    #[error("connection to {service} refused")]
    Refused {
        /// The service address.
        service: SocketAddr,
    },
    /// The service did not answer the connection attempt in time.
    #[error("no answer from {service} within {timeout:?}")]
    ConnectTimeout {
        /// The service address.
        service: SocketAddr,
        /// `connect_timeout`.
        timeout: Duration,
    },
    /// The delivery is shutting down or its stack task has stopped.
    #[error("TUN delivery has stopped")]
    Stopped,
}
