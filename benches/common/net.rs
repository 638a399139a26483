//! What the benchmarks share to drive servers over 127.0.0.1: server
//! processes, free ports, hyper client connections, `/proc` figures.
//! (`#[path]`-included by each bench target that needs it.)

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use wasmtime_wasi_http::io::TokioIo;

/// A server process, killed if dropped before it is stopped.
pub struct Process(pub Child);

impl Process {
    pub fn stop(&mut self, signal: &str) -> anyhow::Result<()> {
        Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A port nothing listens on now (the server binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `key  N kB` line of `/proc/PID/file`, in bytes.
pub fn proc_kb(pid: u32, file: &str, key: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .with_context(|| format!("cannot read /proc/{pid}/{file} (Linux only)"))?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .with_context(|| format!("no {key} in /proc/{pid}/{file}"))?
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// A hyper HTTP/1.1 client connection to `addr`, its driver spawned.
pub async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
