//! Responder load test through a real socket: the load generator.
//!
//! `bench/handshake_load.sh` runs it; see that script for the whole set-up.
//! A real `dybervpn up` in one network namespace answers initiations that
//! this program sends from another, over UDP, from many initiator
//! identities and many source addresses, as real clients would:
//!
//! * **Many identities.** The responder accepts at most one initiation per
//!   peer per 20 ms (`MIN_INITIATION_INTERVAL`) and only strictly
//!   increasing TAI64N timestamps, so every identity is a peer of its own
//!   (one [`Device`] each, keys derived from `--seed`), all listed in the
//!   responder's configuration (`config` below prints it).
//! * **Many sources.** Above 512 handshake messages/s the responder is
//!   under load: it demands a valid mac2 (a cookie bound to the source IP
//!   and port) and allows each source address 20 initiations/s with a
//!   burst of 5. Identity `i` always sends from address `--source-base` +
//!   `i` (the script makes the whole range local to namespace A), through
//!   one socket with `IP_PKTINFO`, so one socket sends and receives for
//!   every source.
//! * **Cookies like a real initiator.** A cookie reply is decrypted with the
//!   mac1 of the initiation it answers; that identity's later initiations
//!   carry mac2 made with the cookie (for 115 s, as the core's initiator
//!   does). A cookie reply answers nothing: the handshake it refused is not
//!   counted as completed.
//! * **The generator is not the bottleneck.** Every initiation is created
//!   before the timed phase by the public sans-IO API (`Device::encapsulate`
//!   with a virtual clock per identity that advances 6 s per initiation,
//!   past the initiator's 5 s `REKEY_TIMEOUT`). mac2 is added at send time
//!   with the core's `mac2_with_cookie`, and cookie replies are opened with
//!   its `open_cookie_reply` (`docs/protocol.md` §5). The responses are counted (right type, length and receiver index), not
//!   consumed: consuming one is initiator work this test is not about.
//!   During the timed phase the generator is one thread pinned to `--cpu`,
//!   and it reports its own CPU time.
//!
//! Closed loop by default: at most `--window` initiations are outstanding
//! (fewer than the daemon's 256-entry handshake queue), so the responder
//! always has work and nothing is lost to queue overflow; the rate of
//! responses is what one core sustains. With `--rate R` the generator
//! sends R initiations per second regardless (open loop), to see what
//! happens above that rate.
//!
//! The report is one JSON object on stdout.
#![forbid(unsafe_code)]

mod cpu;

use cpu::{own_cpu, threads_cpu};

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dybervpn_crypto::{
    backend, BackendKind, CryptoBackend, MlDsaKeyPair, MlDsaSeed, X25519PublicKey, X25519SecretKey,
};
use dybervpn_proto::messages::{
    initiation_layout, response_layout, CookieReply, COOKIE_REPLY_LEN, MAC_LEN, MSG_COOKIE_REPLY,
    RECEIVER_OFFSET, SENDER_OFFSET,
};
use dybervpn_proto::{mac2_with_cookie, open_cookie_reply, Action, Device, Mode, Now, PeerConfig};

/// How long an initiation may stay unanswered before it counts as lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// The initiator stops using a cookie this long after receiving it
/// (`COOKIE_REFRESH_TIME` less the core's 5 s margin).
const COOKIE_USE: Duration = Duration::from_secs(115);
/// The responder's flood limit, plus a margin: an identity waits this long
/// between two initiations.
const MIN_GAP: Duration = Duration::from_millis(25);
/// Virtual time between two initiations of one identity: more than the
/// initiator's `REKEY_TIMEOUT` (5 s) plus its largest jitter (333 ms).
const VIRTUAL_STEP: Duration = Duration::from_secs(6);
/// Wall-clock step between two initiations' timestamps: more than the
/// TAI64N granularity (2^24 ns), so each is strictly later.
const TIMESTAMP_STEP: Duration = Duration::from_millis(40);
/// The most initiations sent in one turn of the loop.
const SEND_BURST: usize = 64;
/// The largest datagram the generator may receive (a pq-only response is
/// 4,489 bytes).
const RECV_BUF: usize = 8192;
/// A minimal IPv4 header: the packet `encapsulate` queues while it
/// returns an initiation instead.
const DUMMY_PACKET: [u8; 20] = [
    0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 100, 0, 2, 10, 100, 0, 1,
];

type Failure = String;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("config") => Options::parse(&args[1..]).and_then(|o| config(&o)),
        Some("run") => Options::parse(&args[1..]).and_then(|o| run(&o)),
        _ => Err(USAGE.to_owned()),
    };
    if let Err(e) = result {
        eprintln!("handshake_load: {e}");
        std::process::exit(2);
    }
}

const USAGE: &str = "usage:
  handshake_load config --mode M --peers N --seed HEX64 --port P
      prints the responder's TOML configuration (every identity a peer)
  handshake_load run --mode M --peers N --seed HEX64 --target IP:PORT
      --source-base IP [--window W | --rate R] [--warmup S] [--duration S]
      [--cpu C] [--daemon-pid PID] [--pool-rate R]
      sends initiations and prints a JSON report";

/// Command-line options; `config` uses the first four.
struct Options {
    mode: Mode,
    peers: u32,
    seed: [u8; 32],
    port: u16,
    target: Option<SocketAddrV4>,
    source_base: Option<Ipv4Addr>,
    window: usize,
    rate: Option<f64>,
    warmup: Duration,
    duration: Duration,
    cpu: Option<usize>,
    daemon_pid: Option<u32>,
    /// Initiations per second to prepare for (sending stops early if they
    /// run out, and the report says so).
    pool_rate: Option<u32>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, Failure> {
        let mut o = Self {
            mode: Mode::Hybrid,
            peers: 1000,
            seed: [0; 32],
            port: 51820,
            target: None,
            source_base: None,
            window: 128,
            rate: None,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            cpu: None,
            daemon_pid: None,
            pool_rate: None,
        };
        let mut seed = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let bad = |what: &str| format!("{flag} {value}: expected {what}");
            match flag.as_str() {
                "--mode" => {
                    o.mode = value
                        .parse()
                        .map_err(|_| bad("classic, hybrid or pq-only"))?
                }
                "--peers" => o.peers = value.parse().map_err(|_| bad("a count"))?,
                "--seed" => seed = Some(parse_seed(value).ok_or_else(|| bad("64 hex digits"))?),
                "--port" => o.port = value.parse().map_err(|_| bad("a UDP port"))?,
                "--target" => o.target = Some(value.parse().map_err(|_| bad("IPv4:port"))?),
                "--source-base" => {
                    o.source_base = Some(value.parse().map_err(|_| bad("an IPv4 address"))?);
                }
                "--window" => o.window = value.parse().map_err(|_| bad("a count"))?,
                "--rate" => o.rate = Some(value.parse().map_err(|_| bad("initiations/s"))?),
                "--warmup" => o.warmup = seconds(value).ok_or_else(|| bad("seconds"))?,
                "--duration" => o.duration = seconds(value).ok_or_else(|| bad("seconds"))?,
                "--cpu" => o.cpu = Some(value.parse().map_err(|_| bad("a CPU number"))?),
                "--daemon-pid" => o.daemon_pid = Some(value.parse().map_err(|_| bad("a pid"))?),
                "--pool-rate" => o.pool_rate = Some(value.parse().map_err(|_| bad("a rate"))?),
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        o.seed = seed.ok_or_else(|| format!("--seed is required\n{USAGE}"))?;
        if o.peers == 0 || o.peers > 65_000 {
            return Err(format!("--peers {}: expected 1 to 65000", o.peers));
        }
        if o.window == 0 {
            return Err("--window must be at least 1".into());
        }
        if o.rate.is_some_and(|r| !(r > 0.0 && r < 1e6)) {
            return Err("--rate must be between 0 and 1,000,000".into());
        }
        Ok(o)
    }
}

fn seconds(text: &str) -> Option<Duration> {
    let s: f64 = text.parse().ok()?;
    (s.is_finite() && (0.0..=3600.0).contains(&s)).then(|| Duration::from_secs_f64(s))
}

fn parse_seed(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

// --- keys --------------------------------------------------------------------

/// The keys of one side, derived from the seed: `None` is the responder.
struct Keys {
    secret: X25519SecretKey,
    public: X25519PublicKey,
    mldsa: Option<MlDsaKeyPair>,
}

fn keys(
    b: &dyn CryptoBackend,
    seed: &[u8; 32],
    who: Option<u32>,
    mode: Mode,
) -> Result<Keys, Failure> {
    let label = who.map_or(*b"resp", u32::to_le_bytes);
    let role: &[u8] = if who.is_some() {
        b"initiator"
    } else {
        b"responder"
    };
    let derive = |what: &[u8]| {
        dybervpn_crypto::blake2s::hash(&[b"dybervpn handshake_load", seed, role, &label, what])
    };
    let secret = X25519SecretKey::from_bytes(derive(b"x25519"));
    let public = b
        .x25519_public_key(&secret)
        .map_err(|e| format!("deriving an X25519 key: {e}"))?;
    let mldsa = if mode == Mode::PqOnly {
        let seed = MlDsaSeed::from_bytes(derive(b"ml-dsa-65"));
        Some(
            b.mldsa_from_seed(&seed)
                .map_err(|e| format!("deriving an ML-DSA-65 key: {e}"))?,
        )
    } else {
        None
    };
    Ok(Keys {
        secret,
        public,
        mldsa,
    })
}

/// `config`: the responder's TOML, every identity a peer.
fn config(o: &Options) -> Result<(), Failure> {
    let b = backend(BackendKind::default());
    let responder = keys(&*b, &o.seed, None, o.mode)?;
    let mut toml = format!(
        "# handshake_load responder: {} peers, mode {}\n[interface]\nprivate_key = \"{}\"\n\
         listen_port = {}\naddress = [\"10.100.0.1/16\"]\nmode = \"{}\"\n",
        o.peers,
        o.mode,
        responder.secret.to_base64().as_str(),
        o.port,
        o.mode
    );
    if let Some(pair) = &responder.mldsa {
        toml += &format!(
            "mldsa_private_key = \"{}\"\n",
            pair.seed.to_base64().as_str()
        );
    }
    for i in 0..o.peers {
        let k = keys(&*b, &o.seed, Some(i), o.mode)?;
        toml += &format!("\n[[peer]]\npublic_key = \"{}\"\n", k.public.to_base64());
        if let Some(pair) = &k.mldsa {
            toml += &format!("mldsa_public_key = \"{}\"\n", pair.public.to_base64());
        }
    }
    print!("{toml}");
    Ok(())
}

// --- the initiations, prepared before the timed phase ------------------------

/// One initiator identity during the timed phase.
struct Initiator {
    source: Ipv4Addr,
    /// `count` initiations of `len` bytes, end to end, in timestamp order.
    messages: Vec<u8>,
    count: usize,
    next: usize,
    cookie: Option<([u8; MAC_LEN], Instant)>,
    in_flight: Option<u32>,
    last_sent: Option<Instant>,
}

/// Builds `count` initiations for identity `i` with the core's public API.
fn prepare(
    b: &Arc<dyn CryptoBackend>,
    o: &Options,
    responder: &Keys,
    target: SocketAddr,
    i: u32,
    count: usize,
    unix0: Duration,
) -> Result<Vec<u8>, Failure> {
    let me = keys(&**b, &o.seed, Some(i), o.mode)?;
    let device = Device::new(me.secret, o.mode, me.mldsa, Arc::clone(b))
        .map_err(|e| format!("identity {i}: {e}"))?;
    let mut peer = PeerConfig::new(responder.public);
    peer.mode = Some(o.mode);
    peer.mldsa_public_key = responder.mldsa.as_ref().map(|p| p.public.clone());
    peer.endpoint = Some(target);
    let id = device
        .add_peer(peer)
        .map_err(|e| format!("identity {i}: adding the responder: {e}"))?;
    let len = initiation_layout(o.mode).len;
    let mut messages = Vec::with_capacity(len * count);
    let mut out = vec![0u8; 8192];
    for k in 0..count {
        let k32 = u32::try_from(k).map_err(|_| "too many initiations".to_owned())?;
        let now = Now {
            mono: VIRTUAL_STEP * (k32 + 1),
            unix: unix0 + TIMESTAMP_STEP * k32,
        };
        match device.encapsulate(now, id, &DUMMY_PACKET, &mut out) {
            Ok(Action::SendToNetwork { datagram, .. }) if datagram.len() == len => {
                messages.extend_from_slice(datagram);
            }
            Ok(other) => {
                return Err(format!(
                    "identity {i}: expected an initiation, got {other:?}"
                ));
            }
            Err(e) => return Err(format!("identity {i}: creating an initiation: {e}")),
        }
    }
    Ok(messages)
}

/// One identity's number and its initiations, end to end.
type Prepared = (u32, Vec<u8>);

/// Prepares every identity's initiations on every core; returns them and
/// the seconds it took.
fn prepare_all(
    o: &Options,
    responder: &Keys,
    target: SocketAddr,
    base: Ipv4Addr,
    per_identity: usize,
) -> Result<(Vec<Initiator>, f64), Failure> {
    let b = backend(BackendKind::default());
    let unix0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970".to_owned())?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let ids: Vec<u32> = (0..o.peers).collect();
    let chunk = ids.len().div_ceil(threads);
    let results: Vec<Result<Vec<Prepared>, Failure>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let b = &b;
                s.spawn(move || {
                    part.iter()
                        .map(|&i| {
                            prepare(b, o, responder, target, i, per_identity, unix0).map(|m| (i, m))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a preparing thread panicked".into()))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(ids.len());
    for r in results {
        for (i, messages) in r? {
            all.push(Initiator {
                source: Ipv4Addr::from(u32::from(base).wrapping_add(i)),
                messages,
                count: per_identity,
                next: 0,
                cookie: None,
                in_flight: None,
                last_sent: None,
            });
        }
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

// --- the timed phase ---------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    sent: u64,
    responses: u64,
    cookie_replies: u64,
    timed_out: u64,
    send_errors: u64,
    /// Datagrams that answer nothing outstanding (late, duplicate, other).
    stray: u64,
}

impl Counts {
    fn since(self, start: Self) -> Self {
        Self {
            sent: self.sent - start.sent,
            responses: self.responses - start.responses,
            cookie_replies: self.cookie_replies - start.cookie_replies,
            timed_out: self.timed_out - start.timed_out,
            send_errors: self.send_errors - start.send_errors,
            stray: self.stray - start.stray,
        }
    }
}

/// An initiation on the wire, by its sender index.
struct InFlight {
    who: usize,
    message: usize,
    sent: Instant,
}

/// Sends initiation `message` of `ini` from its source address, with mac2
/// when it holds a fresh cookie.
fn send_one(
    socket: &UdpSocket,
    target: SocketAddrV4,
    ini: &Initiator,
    message: usize,
    mac1_at: usize,
    buf: &mut [u8],
    now: Instant,
) -> std::io::Result<()> {
    let len = buf.len();
    buf.copy_from_slice(&ini.messages[message * len..(message + 1) * len]);
    if let Some((cookie, got)) = ini.cookie {
        if now.duration_since(got) < COOKIE_USE {
            let m = mac2_with_cookie(&cookie, &buf[..mac1_at + MAC_LEN]);
            buf[mac1_at + MAC_LEN..].copy_from_slice(&m);
        }
    }
    let info = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(ini.source).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    let cmsgs = [nix::sys::socket::ControlMessage::Ipv4PacketInfo(&info)];
    let to = nix::sys::socket::SockaddrIn::from(target);
    nix::sys::socket::sendmsg(
        socket.as_raw_fd(),
        &[IoSlice::new(buf)],
        &cmsgs,
        nix::sys::socket::MsgFlags::empty(),
        Some(&to),
    )
    .map(|_| ())
    .map_err(std::io::Error::from)
}

fn pin_to(cpu: usize) -> Result<(), Failure> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).map_err(|e| format!("CPU {cpu}: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("pinning to CPU {cpu}: {e}"))
}

fn run(o: &Options) -> Result<(), Failure> {
    let target = o.target.ok_or("--target is required")?;
    let base = o.source_base.ok_or("--source-base is required")?;
    let b = backend(BackendKind::default());
    let responder = keys(&*b, &o.seed, None, o.mode)?;
    let layout = initiation_layout(o.mode);
    let response_len = response_layout(o.mode).len;
    let response_type = response_layout(o.mode).msg_type;

    // Enough initiations for `pool_rate` per second over the whole run.
    let pool_rate = o.pool_rate.unwrap_or(match o.mode {
        Mode::Classic => 8000,
        Mode::Hybrid => 6000,
        _ => 3000,
    });
    let total_s = (o.warmup + o.duration).as_secs_f64();
    let wanted = f64::from(pool_rate) * total_s;
    let per_identity = ((wanted / f64::from(o.peers)).ceil() as usize).max(1) + 1;
    let (mut initiators, prepare_s) =
        prepare_all(o, &responder, SocketAddr::V4(target), base, per_identity)?;
    let prepared = initiators.len() * per_identity;

    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, o.port))
        .map_err(|e| format!("binding UDP port {}: {e}", o.port))?;
    let _ =
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(8 << 20));
    let _ =
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::SndBufForce, &(8 << 20));
    socket
        .set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(|e| format!("socket timeout: {e}"))?;
    if let Some(cpu) = o.cpu {
        pin_to(cpu)?;
    }

    let mut counts = Counts::default();
    let mut in_flight: HashMap<u32, InFlight> = HashMap::with_capacity(4096);
    let mut send_buf = vec![0u8; layout.len];
    let mut recv_buf = vec![0u8; RECV_BUF];
    let mut cursor = 0usize;
    let mut exhausted_at: Option<f64> = None;
    let mut last_sweep = Instant::now();

    let start = Instant::now();
    let measure_from = start + o.warmup;
    let end = measure_from + o.duration;
    let mut at_measure: Option<(Counts, Duration, HashMap<String, Duration>, Instant)> = None;
    let mut sent_in_rate_mode = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if at_measure.is_none() && now >= measure_from {
            let daemon = o.daemon_pid.map(threads_cpu).unwrap_or_default();
            at_measure = Some((counts, own_cpu(), daemon, now));
        }

        // Send: up to the window (closed loop) or what the rate makes due.
        let allowance = match o.rate {
            None => o.window.saturating_sub(in_flight.len()),
            Some(rate) => {
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
                usize::try_from(due.saturating_sub(sent_in_rate_mode)).unwrap_or(usize::MAX)
            }
        }
        .min(SEND_BURST);
        let n = initiators.len();
        let mut sent_now = 0;
        let mut scanned = 0;
        while sent_now < allowance && scanned < n {
            let who = cursor;
            cursor = (cursor + 1) % n;
            scanned += 1;
            let ini = &mut initiators[who];
            // Closed loop: one initiation per identity at a time. Open
            // loop: a new one supersedes the last, as a real initiator's
            // retry would.
            let ready = (o.rate.is_some() || ini.in_flight.is_none())
                && ini.next < ini.count
                && ini
                    .last_sent
                    .is_none_or(|t| now.duration_since(t) >= MIN_GAP);
            if !ready {
                continue;
            }
            if let Some(old) = ini.in_flight.take() {
                if in_flight.remove(&old).is_some() {
                    counts.timed_out += 1;
                }
            }
            let message = ini.next;
            ini.next += 1;
            match send_one(
                &socket,
                target,
                ini,
                message,
                layout.mac1,
                &mut send_buf,
                now,
            ) {
                Ok(()) => {
                    let off = message * layout.len + SENDER_OFFSET;
                    let mut idx = [0u8; 4];
                    idx.copy_from_slice(&ini.messages[off..off + 4]);
                    let sender = u32::from_le_bytes(idx);
                    ini.in_flight = Some(sender);
                    ini.last_sent = Some(now);
                    in_flight.insert(
                        sender,
                        InFlight {
                            who,
                            message,
                            sent: now,
                        },
                    );
                    counts.sent += 1;
                }
                Err(_) => counts.send_errors += 1,
            }
            sent_now += 1;
            sent_in_rate_mode += 1;
        }
        if sent_now < allowance
            && exhausted_at.is_none()
            && initiators.iter().all(|i| i.next >= i.count)
        {
            exhausted_at = Some(now.duration_since(measure_from).as_secs_f64());
        }

        // Give up on initiations that went unanswered.
        if now.duration_since(last_sweep) >= Duration::from_millis(100) {
            last_sweep = now;
            in_flight.retain(|_, f| {
                let keep = now.duration_since(f.sent) < ANSWER_TIMEOUT;
                if !keep {
                    initiators[f.who].in_flight = None;
                    counts.timed_out += 1;
                }
                keep
            });
        }

        // Receive: waits at most 1 ms when nothing is there.
        let (len, _from) = match socket.recv_from(&mut recv_buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("receiving: {e}")),
        };
        let datagram = &recv_buf[..len];
        let (is_response, is_cookie) = match datagram.first() {
            Some(&t) if t == response_type && len == response_len => (true, false),
            Some(&MSG_COOKIE_REPLY) if len == COOKIE_REPLY_LEN => (false, true),
            _ => (false, false),
        };
        let receiver_at = if is_response {
            RECEIVER_OFFSET
        } else {
            SENDER_OFFSET
        };
        let receiver = datagram
            .get(receiver_at..receiver_at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes);
        let Some(f) = receiver
            .filter(|_| is_response || is_cookie)
            .and_then(|r| in_flight.remove(&r))
        else {
            counts.stray += 1;
            continue;
        };
        let ini = &mut initiators[f.who];
        ini.in_flight = None;
        if is_response {
            counts.responses += 1;
            continue;
        }
        counts.cookie_replies += 1;
        let mac1_at = f.message * layout.len + layout.mac1;
        let mac1: Option<&[u8; MAC_LEN]> = ini.messages[mac1_at..mac1_at + MAC_LEN].try_into().ok();
        if let Some(cookie) = CookieReply::parse(datagram)
            .ok()
            .zip(mac1)
            .and_then(|(r, mac1)| open_cookie_reply(&*b, &responder.public, &r, mac1).ok())
        {
            ini.cookie = Some((cookie, Instant::now()));
        }
    }

    let finished = Instant::now();
    let daemon1 = o.daemon_pid.map(threads_cpu).unwrap_or_default();
    let gen_cpu1 = own_cpu();
    let measured = counts;

    // Drain: no more sending; answers to what is still outstanding are
    // counted for the whole run only, so it can be checked against the
    // daemon's own counters.
    let drain_end = finished + ANSWER_TIMEOUT;
    while !in_flight.is_empty() && Instant::now() < drain_end {
        let Ok((len, _)) = socket.recv_from(&mut recv_buf) else {
            continue;
        };
        let datagram = &recv_buf[..len];
        let receiver = match datagram.first() {
            Some(&t) if t == response_type && len == response_len => Some((RECEIVER_OFFSET, true)),
            Some(&MSG_COOKIE_REPLY) if len == COOKIE_REPLY_LEN => Some((SENDER_OFFSET, false)),
            _ => None,
        }
        .and_then(|(at, response)| {
            let r = u32::from_le_bytes(datagram.get(at..at + 4)?.try_into().ok()?);
            in_flight.remove(&r).map(|_| response)
        });
        match receiver {
            Some(true) => counts.responses += 1,
            Some(false) => counts.cookie_replies += 1,
            None => counts.stray += 1,
        }
    }
    let never_answered = in_flight.len();
    let (c0, cpu0, daemon0, t0) = at_measure.ok_or("the run ended before the timed phase")?;
    let measured = measured.since(c0);
    let seconds = finished.duration_since(t0).as_secs_f64();
    let gen_cpu = gen_cpu1.saturating_sub(cpu0).as_secs_f64();
    let mut daemon_threads = serde_json::Map::new();
    let mut daemon_cpu = 0.0;
    for (name, after) in &daemon1 {
        let before = daemon0.get(name).copied().unwrap_or_default();
        let used = after.saturating_sub(before).as_secs_f64();
        daemon_cpu += used;
        daemon_threads.insert(name.clone(), serde_json::json!(round3(used)));
    }
    let report = serde_json::json!({
        "mode": o.mode.name(),
        "peers": o.peers,
        "loop": if o.rate.is_some() { "open" } else { "closed" },
        "window": o.window,
        "rate": o.rate,
        "warmup_s": o.warmup.as_secs_f64(),
        "seconds": round3(seconds),
        "sent": measured.sent,
        "responses": measured.responses,
        "cookie_replies": measured.cookie_replies,
        "timed_out": measured.timed_out,
        "send_errors": measured.send_errors,
        "stray": measured.stray,
        "handshakes_per_s": round1(measured.responses as f64 / seconds),
        "cookie_replies_per_s": round1(measured.cookie_replies as f64 / seconds),
        "sent_per_s": round1(measured.sent as f64 / seconds),
        "generator_cpu_s": round3(gen_cpu),
        "generator_cpu_per_s": round3(gen_cpu / seconds),
        "daemon_cpu_s": o.daemon_pid.map(|_| round3(daemon_cpu)),
        "daemon_cpu_per_s": o.daemon_pid.map(|_| round3(daemon_cpu / seconds)),
        "daemon_threads_cpu_s": daemon_threads,
        "prepared": prepared,
        "prepare_s": round3(prepare_s),
        "pool_exhausted_after_s": exhausted_at.map(round3),
        "whole_run": {
            "sent": counts.sent,
            "responses": counts.responses,
            "cookie_replies": counts.cookie_replies,
            "timed_out": counts.timed_out,
            "never_answered_after_drain": never_answered,
            "stray": counts.stray,
        },
    });
    println!("{report}");
    Ok(())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
