//! A small Redis client: RESP2 over one tokio `TcpStream`, requests written as arrays of
//! bulk strings, replies read with bounded sizes.
//!
//! Why our own and not the `redis` crate: the fleet needs four commands (`SELECT`,
//! `SCRIPT LOAD`, `EVALSHA`, pipelined `EVALSHA`), every round trip bounded by one
//! `tokio::time::timeout` that the caller owns, and a connection that is simply dropped
//! after any failure or timeout (its state is then unknown) and made again by the fleet's
//! background task. Owning the socket makes those rules plain; nothing here retries, pools
//! or reconnects behind the caller's back.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// Longest bulk string or status line accepted in a reply, in bytes.
pub const REPLY_BYTES_MAX: usize = 64 * 1024;
/// Most elements accepted in an array reply.
pub const REPLY_ELEMENTS_MAX: usize = 1024;

/// One RESP2 reply. Arrays hold scalars only (the fleet's scripts return flat arrays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR ...`: Redis refused the command.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` (or `$-1`: `None`).
    Bulk(Option<Vec<u8>>),
    /// `*n` of scalars (or `*-1`: empty).
    Array(Vec<Reply>),
}

/// One connection to Redis.
#[derive(Debug)]
pub struct Conn {
    stream: BufStream<TcpStream>,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Conn {
    /// Connects to `host:port`.
    pub async fn connect(host: &str, port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufStream::new(stream),
        })
    }

    /// Sends one command and reads its reply (a Redis error is `Ok(Reply::Error)`).
    pub async fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut replies = self.pipeline(&[args.to_vec()]).await?;
        replies.pop().ok_or_else(|| invalid("no reply"))
    }

    /// Sends every command at once, then reads one reply per command, in order.
    pub async fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> io::Result<Vec<Reply>> {
        let mut out = Vec::new();
        for args in commands {
            encode(&mut out, args);
        }
        self.stream.write_all(&out).await?;
        self.stream.flush().await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(self.read_reply(true).await?);
        }
        Ok(replies)
    }

    /// Reads one reply; an array's elements are read with `nested` false (scalars only).
    async fn read_reply(&mut self, nested: bool) -> io::Result<Reply> {
        let line = self.read_line().await?;
        let (kind, rest) = line
            .split_at_checked(1)
            .ok_or_else(|| invalid("empty line"))?;
        let number = || rest.parse::<i64>().map_err(|_| invalid("bad length"));
        match kind {
            "+" => Ok(Reply::Status(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => Ok(Reply::Int(number()?)),
            "$" => {
                let Ok(len) = usize::try_from(number()?) else {
                    return Ok(Reply::Bulk(None));
                };
                if len > REPLY_BYTES_MAX {
                    return Err(invalid("bulk reply too large"));
                }
                let mut data = vec![0; len + 2];
                self.stream.read_exact(&mut data).await?;
                data.truncate(len);
                Ok(Reply::Bulk(Some(data)))
            }
            "*" if nested => {
                let Ok(len) = usize::try_from(number()?) else {
                    return Ok(Reply::Array(Vec::new()));
                };
                if len > REPLY_ELEMENTS_MAX {
                    return Err(invalid("array reply too long"));
                }
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(Box::pin(self.read_reply(false)).await?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(invalid(format!("unexpected reply {line:?}"))),
        }
    }

    /// One CRLF-terminated line, without the CRLF, at most [`REPLY_BYTES_MAX`] bytes.
    async fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let limit = (REPLY_BYTES_MAX + 2) as u64;
        let read = (&mut self.stream)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(invalid("reply line too long or unterminated"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| invalid("reply line is not UTF-8"))
    }
}

/// Appends `args` as a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        // Proves the request encoding Redis expects.
        let mut out = Vec::new();
        encode(&mut out, &[b"SELECT", b"2"]);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    }
}
