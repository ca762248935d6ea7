//! Writing replies to a connection's socket: gathered buffers with vectored writes, and
//! stored records ([`FileRecords`]) with `sendfile` where the transport allows it.
//!
//! On a plaintext connection the records go from the page cache to the socket without
//! passing through the broker's memory, as Kafka sends them (`FileRecords.writeTo`, Java's
//! `transferTo`). A TLS connection must encrypt them, so they are read and written instead.

use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::api::records_send::ResponsePart;
use crate::log::FileRecords;

/// iovecs per write call (Linux's IOV_MAX is 1024).
const MAX_IOVECS: usize = 64;
/// Bytes per `sendfile` call, Linux's limit for one.
const MAX_SENDFILE: usize = 0x7fff_f000;

/// The write side of a connection.
pub trait ReplyWriter: AsyncWrite + Unpin + Send + 'static {
    /// The plain TCP socket under this writer, if nothing (like TLS) sits between.
    fn plain_socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl ReplyWriter for OwnedWriteHalf {
    fn plain_socket(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl<S: AsyncWrite + Send + 'static> ReplyWriter for WriteHalf<S> {}

/// Writes every part in order: runs of buffers with vectored writes, stored records from
/// their file.
pub async fn write_parts<W: ReplyWriter>(writer: &mut W, parts: &[ResponsePart]) -> io::Result<()> {
    let mut buffers: Vec<Bytes> = Vec::new();
    for part in parts {
        match part {
            ResponsePart::Bytes(b) => buffers.push(b.clone()),
            ResponsePart::File(records) => {
                write_all_vectored(writer, &buffers).await?;
                buffers.clear();
                match writer.plain_socket() {
                    Some(socket) => send_file(socket, records).await?,
                    None => writer.write_all(&records.read()?).await?,
                }
            }
        }
    }
    write_all_vectored(writer, &buffers).await
}

/// Sends `records` from their file to `socket` with `sendfile`, waiting whenever the socket's
/// buffer is full.
async fn send_file(socket: &TcpStream, records: &FileRecords) -> io::Result<()> {
    let mut offset = libc::off_t::try_from(records.position())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "records past off_t"))?;
    let mut left = records.len();
    while left > 0 {
        socket.writable().await?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the call (the socket is borrowed, the
            // file held by `records`); the kernel advances `offset` by what it sent.
            let n = unsafe {
                libc::sendfile(
                    socket.as_raw_fd(),
                    records.raw_fd(),
                    &mut offset,
                    left.min(MAX_SENDFILE),
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stored records ended {left} bytes early"),
                ));
            }
            Ok(n) => left -= n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes every byte of `parts`, in order, with as few write calls as the socket allows.
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(writer: &mut W, parts: &[Bytes]) -> io::Result<()> {
    let (mut index, mut offset) = (0usize, 0usize);
    while index < parts.len() {
        if offset == parts[index].len() {
            index += 1;
            offset = 0;
            continue;
        }
        let iov: Vec<IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().map(|p| &p[..]))
            .take(MAX_IOVECS)
            .map(IoSlice::new)
            .collect();
        let mut written = writer.write_vectored(&iov).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = parts[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    Ok(())
}
