//! A real `redis-server` on a free loopback port, for tests of what relays
//! share: no persistence (`--save '' --appendonly no`), killed on drop, and
//! stoppable and restartable on the same port mid-test (an outage).
//!
//! The program is `VOXWIRE_REDIS_SERVER` when set, else `redis-server` on
//! `PATH` (`cargo xtask setup` installs Debian's `redis-server`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server has to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running (or stopped, to be restarted) `redis-server` on loopback.
pub struct RedisServer {
    program: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// The `redis-server` program, if one is installed.
pub fn program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VOXWIRE_REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    })
}

impl RedisServer {
    /// Starts one on a free loopback port and waits until it answers `PING`.
    pub fn start() -> Result<Self, String> {
        let program = program()
            .ok_or("no redis-server: run `cargo xtask setup` or set VOXWIRE_REDIS_SERVER")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut server = Self {
            program,
            port,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (an outage); [`RedisServer::restart`] brings it back, empty.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if it
    /// runs) and waits until it answers `PING`.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if self.ping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(format!(
            "redis-server did not answer on port {} within {READY_WITHIN:?}",
            self.port
        ))
    }

    /// Whether it answers `PING` now (within a short timeout).
    pub fn ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = tcp.set_write_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        tcp.write_all(b"PING\r\n").is_ok()
            && tcp.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Runs one command (inline protocol, arguments without spaces) and
    /// returns the raw reply's first line, e.g. `:3` or `+OK`.
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        tcp.write_all(format!("{}\r\n", args.join(" ")).as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            tcp.read_exact(&mut byte)
                .map_err(|e| format!("read: {e}"))?;
            line.push(byte[0]);
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
