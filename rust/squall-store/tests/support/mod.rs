//! A Redis-compatible server of the test's own, on a free loopback port, stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; killed and its directory removed on drop.
pub struct RedisServer {
    child: Child,
    /// `host:port`.
    pub address: String,
    _dir: tempfile::TempDir,
}

/// The server binary: `$SQUALL_REDIS_SERVER` (`make test` installs one and sets it), else
/// `redis-server` on the PATH.
fn binary() -> String {
    std::env::var("SQUALL_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

impl RedisServer {
    /// Starts a server on a free port with `extra` arguments (such as `["--maxmemory", "4mb"]`).
    pub fn start(extra: &[&str]) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        RedisServer::start_at(port, extra)
    }

    /// Starts a server on `port`.
    pub fn start_at(port: u16, extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(binary())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({e}): run `make test`, which installs it", binary()));
        let server = RedisServer { child, address: format!("127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.command("PING") != "+PONG" {
            assert!(Instant::now() < deadline, "the server at {} did not answer", server.address);
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Sends one inline command; returns the first line of the answer ("" if unreachable).
    pub fn command(&self, line: &str) -> String {
        let Ok(mut stream) = TcpStream::connect(&self.address) else { return String::new() };
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if stream.write_all(format!("{line}\r\n").as_bytes()).is_err() {
            return String::new();
        }
        let mut buf = vec![0u8; 1 << 16];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
    }

    /// Stops the server (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
