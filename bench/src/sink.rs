//! The backend every contender forwards to: reads the first flight, then
//! streams bytes (`bulk`) or answers 1 KiB and holds the connection until
//! the client closes (`answer`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::exchange::ANSWER_LEN;
use crate::flight::{FIRST_FLIGHT_MAX, FlightEnd, flight_end};

/// Listen backlog of the sink (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: u32 = 4096;

/// Bound on receiving the whole first flight.
const FIRST_FLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on one write of the bulk stream (a client that stops reading).
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on holding an answered connection open, waiting for the client
/// to close it (the idle measurement holds connections for seconds).
const HOLD_TIMEOUT: Duration = Duration::from_secs(600);

/// Size of the buffer the bulk mode writes over and over.
const BULK_CHUNK: usize = 256 * 1024;

/// What the sink does after the first flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Stream bytes until the client goes away.
    Bulk,
    /// Answer [`ANSWER_LEN`] bytes, then wait for the client to close.
    Answer,
}

/// `portico-bench sink`.
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// What to do after the first flight.
    #[arg(long, value_enum)]
    mode: Mode,
}

/// Accepts connections until the process is stopped.
pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let listener = bind(args.listen).with_context(|| format!("listen on {}", args.listen))?;
    eprintln!(
        "portico-bench sink ({:?}) listening on {}",
        args.mode,
        listener.local_addr()?
    );
    accept_loop(listener, args.mode).await
}

/// Serves every connection `listener` accepts in `mode`; never returns.
async fn accept_loop(listener: TcpListener, mode: Mode) -> ! {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                eprintln!("accept: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(serve(stream, mode));
    }
}

/// A listener with [`BACKLOG`] and `SO_REUSEADDR`.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// One connection; errors only end it.
async fn serve(mut stream: TcpStream, mode: Mode) {
    let _ = stream.set_nodelay(true);
    if !matches!(
        timeout(FIRST_FLIGHT_TIMEOUT, read_first_flight(&mut stream)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    match mode {
        Mode::Bulk => stream_bulk(&mut stream).await,
        Mode::Answer => answer_and_hold(&mut stream).await,
    }
}

/// Reads until the first flight is complete (see [`flight_end`]).
async fn read_first_flight(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0_u8; FIRST_FLIGHT_MAX];
    let mut got = 0;
    loop {
        let Some(rest) = buf.get_mut(got..).filter(|rest| !rest.is_empty()) else {
            return Err(std::io::ErrorKind::InvalidData.into());
        };
        let n = stream.read(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
        if let FlightEnd::Complete(_) = flight_end(buf.get(..got).unwrap_or_default()) {
            return Ok(());
        }
    }
}

/// Writes zeros until a write fails (the client closed) or stalls.
async fn stream_bulk(stream: &mut TcpStream) {
    let chunk = vec![0_u8; BULK_CHUNK];
    while let Ok(Ok(())) = timeout(WRITE_STALL_TIMEOUT, stream.write_all(&chunk)).await {}
}

/// Answers [`ANSWER_LEN`] bytes, then drains until the client closes.
async fn answer_and_hold(stream: &mut TcpStream) {
    let answer = [b'a'; ANSWER_LEN];
    if !matches!(
        timeout(WRITE_STALL_TIMEOUT, stream.write_all(&answer)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let mut drain = [0_u8; 4096];
    let _ = timeout(HOLD_TIMEOUT, async {
        while let Ok(n) = stream.read(&mut drain).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::round_trip;
    use crate::flight;

    const CORPUS_HELLO: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sniff/corpus/curl_tls_h2.bin"
    );

    async fn sink(mode: Mode) -> SocketAddr {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(accept_loop(listener, mode));
        addr
    }

    #[tokio::test]
    async fn answer_mode_answers_one_kib_after_the_whole_hello() {
        let addr = sink(Mode::Answer).await;
        let hello = flight::load(std::path::Path::new(CORPUS_HELLO)).unwrap();
        let answered = round_trip(addr, &hello).await.unwrap();
        // The answer is exactly ANSWER_LEN: nothing more arrives.
        let mut stream = answered.stream;
        stream.shutdown().await.unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{} extra bytes", rest.len());
    }

    #[tokio::test]
    async fn answer_mode_never_answers_a_partial_hello() {
        let addr = sink(Mode::Answer).await;
        let hello = flight::load(std::path::Path::new(CORPUS_HELLO)).unwrap();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(hello.get(..100).unwrap()).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert!(
            got.is_empty(),
            "answered {} bytes to a partial hello",
            got.len()
        );
    }

    #[tokio::test]
    async fn answer_mode_reassembles_a_hello_split_across_writes() {
        let addr = sink(Mode::Answer).await;
        let hello = flight::load(std::path::Path::new(CORPUS_HELLO)).unwrap();
        let (head, tail) = hello.split_at(100);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(head).await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(tail).await.unwrap();
        let mut answer = vec![0_u8; ANSWER_LEN];
        stream.read_exact(&mut answer).await.unwrap();
        assert!(answer.iter().all(|&b| b == b'a'));
    }

    #[tokio::test]
    async fn bulk_mode_streams_after_the_hello() {
        let addr = sink(Mode::Bulk).await;
        let hello = flight::load(std::path::Path::new(CORPUS_HELLO)).unwrap();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&hello).await.unwrap();
        let mut buf = vec![1_u8; 3 * BULK_CHUNK];
        stream.read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().all(|&b| b == 0));
    }
}
