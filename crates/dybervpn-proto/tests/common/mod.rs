//! Shared helpers: two devices wired back to back, and a backend wrapper
//! that counts asymmetric operations.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dybervpn_crypto::*;
use dybervpn_proto::{Action, Device, Mode, Now, PeerConfig, PeerId};

pub const BUF: usize = 8192;

pub fn now(secs: u64) -> Now {
    Now {
        mono: Duration::from_secs(secs),
        unix: Duration::from_secs(1_700_000_000 + secs),
    }
}

pub fn at(mono: Duration) -> Now {
    Now {
        mono,
        unix: Duration::from_secs(1_700_000_000) + mono,
    }
}

pub fn ip_packet(len: usize, tag: u8) -> Vec<u8> {
    let mut p = vec![tag; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// One side of a test pair.
pub struct Side {
    pub device: Device,
    pub addr: SocketAddr,
    /// Its handle for the other side.
    pub peer: PeerId,
    pub public: X25519PublicKey,
    pub secret: X25519SecretKey,
    pub mldsa: MlDsaKeyPair,
}

pub struct Pair {
    pub a: Side,
    pub b: Side,
}

pub struct Keys {
    pub secret: X25519SecretKey,
    pub public: X25519PublicKey,
    pub mldsa: MlDsaKeyPair,
}

pub fn keys(b: &dyn CryptoBackend, seed: u8) -> Keys {
    let (secret, public) = b.x25519_generate().expect("x25519");
    let mldsa = b
        .mldsa_from_seed(&MlDsaSeed::from_bytes([seed; 32]))
        .expect("mldsa");
    Keys {
        secret,
        public,
        mldsa,
    }
}

/// Two devices that know each other, `a` with `b`'s endpoint.
pub fn pair_with(
    ba: Arc<dyn CryptoBackend>,
    bb: Arc<dyn CryptoBackend>,
    mode_a_for_b: Mode,
    mode_b_for_a: Mode,
) -> Pair {
    let ka = keys(&*ba, 1);
    let kb = keys(&*bb, 2);
    let addr_a: SocketAddr = "10.0.0.1:51820".parse().expect("addr");
    let addr_b: SocketAddr = "10.0.0.2:51820".parse().expect("addr");
    let psk = PresharedKey::from_bytes([7; 32]);
    let da =
        Device::new(ka.secret.clone(), mode_a_for_b, Some(ka.mldsa.clone()), ba).expect("device a");
    let db =
        Device::new(kb.secret.clone(), mode_b_for_a, Some(kb.mldsa.clone()), bb).expect("device b");
    let mut ca = PeerConfig::new(kb.public);
    ca.mode = Some(mode_a_for_b);
    ca.preshared_key = Some(psk.clone());
    ca.mldsa_public_key = Some(kb.mldsa.public.clone());
    ca.endpoint = Some(addr_b);
    let mut cb = PeerConfig::new(ka.public);
    cb.mode = Some(mode_b_for_a);
    cb.preshared_key = Some(psk);
    cb.mldsa_public_key = Some(ka.mldsa.public.clone());
    let pa = da.add_peer(ca).expect("peer b on a");
    let pb = db.add_peer(cb).expect("peer a on b");
    Pair {
        a: Side {
            device: da,
            addr: addr_a,
            peer: pa,
            public: ka.public,
            secret: ka.secret,
            mldsa: ka.mldsa,
        },
        b: Side {
            device: db,
            addr: addr_b,
            peer: pb,
            public: kb.public,
            secret: kb.secret,
            mldsa: kb.mldsa,
        },
    }
}

pub fn pair(kind_a: BackendKind, kind_b: BackendKind, mode: Mode) -> Pair {
    pair_with(backend(kind_a), backend(kind_b), mode, mode)
}

/// What came out of a device call: a datagram for the network, or a packet
/// for the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Net(SocketAddr, Vec<u8>),
    Tun(PeerId, Vec<u8>),
    Nothing,
}

pub fn own(a: Action<'_>) -> Out {
    match a {
        Action::None | Action::Keepalive { .. } => Out::Nothing,
        Action::SendToNetwork { to, datagram, .. } => Out::Net(to, datagram.to_vec()),
        Action::DeliverToTunnel { peer, packet } => Out::Tun(peer, packet.to_vec()),
        other => panic!("unexpected action {other:?}"),
    }
}

impl Side {
    pub fn send(&self, t: Now, packet: &[u8]) -> Out {
        let mut out = vec![0u8; BUF];
        own(self
            .device
            .encapsulate(t, self.peer, packet, &mut out)
            .expect("encapsulate"))
    }

    pub fn recv(
        &self,
        t: Now,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Out, dybervpn_proto::ProtoError> {
        let mut out = vec![0u8; BUF];
        self.device
            .decapsulate(t, from, datagram, &mut out)
            .map(own)
    }

    /// Drains `update_timers` until it has nothing more.
    pub fn tick(&self, t: Now) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        loop {
            let mut out = vec![0u8; BUF];
            match own(self.device.update_timers(t, &mut out).expect("timers")) {
                Out::Net(_, d) => sent.push(d),
                _ => return sent,
            }
        }
    }
}

impl Pair {
    /// Runs a datagram from `a` to `b` and any answers back and forth until
    /// quiet; returns the IP packets delivered to (a, b).
    pub fn exchange(&self, t: Now, first_from_a: Vec<u8>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut to_b = vec![first_from_a];
        let mut to_a: Vec<Vec<u8>> = Vec::new();
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        for _ in 0..64 {
            if to_a.is_empty() && to_b.is_empty() {
                to_a.extend(self.a.tick(t));
                to_b.extend(self.b.tick(t));
                // tick() output goes to the other side.
                std::mem::swap(&mut to_a, &mut to_b);
                if to_a.is_empty() && to_b.is_empty() {
                    break;
                }
            }
            for d in std::mem::take(&mut to_b) {
                match self.b.recv(t, self.a.addr, &d).expect("b receives") {
                    Out::Net(_, r) => to_a.push(r),
                    Out::Tun(_, p) => got_b.push(p),
                    Out::Nothing => {}
                }
            }
            for d in std::mem::take(&mut to_a) {
                match self.a.recv(t, self.b.addr, &d).expect("a receives") {
                    Out::Net(_, r) => to_b.push(r),
                    Out::Tun(_, p) => got_a.push(p),
                    Out::Nothing => {}
                }
            }
        }
        (got_a, got_b)
    }
}

/// Counts the asymmetric operations of a backend it wraps, and can make
/// its random generator fail (`broken_rng`), with everything that draws
/// from it: key generation and random bytes.
#[derive(Debug)]
pub struct Counting {
    pub inner: Arc<dyn CryptoBackend>,
    pub asymmetric: AtomicUsize,
    pub broken_rng: AtomicBool,
    /// Calls of `mac_many` with more than one input.
    pub batched_macs: AtomicUsize,
    /// Calls of `mldsa_verify` (also counted in `asymmetric`).
    pub verifications: AtomicUsize,
}

impl Counting {
    pub fn new(inner: Arc<dyn CryptoBackend>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            asymmetric: AtomicUsize::new(0),
            broken_rng: AtomicBool::new(false),
            batched_macs: AtomicUsize::new(0),
            verifications: AtomicUsize::new(0),
        })
    }
    fn rng(&self) -> Result<(), CryptoError> {
        if self.broken_rng.load(Ordering::SeqCst) {
            Err(CryptoError::Random)
        } else {
            Ok(())
        }
    }
    pub fn count(&self) -> usize {
        self.asymmetric.load(Ordering::SeqCst)
    }
    fn tick(&self) {
        self.asymmetric.fetch_add(1, Ordering::SeqCst);
    }
}

impl CryptoBackend for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.rng()?;
        self.inner.fill_random(out)
    }
    fn mac(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
        self.inner.mac(key, parts)
    }
    fn mac_many(&self, key: &[u8; 32], inputs: &[&[u8]], out: &mut [[u8; 16]]) {
        if inputs.len() > 1 {
            self.batched_macs.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.mac_many(key, inputs, out);
    }
    fn x25519_generate(&self) -> Result<(X25519SecretKey, X25519PublicKey), CryptoError> {
        self.tick();
        self.rng()?;
        self.inner.x25519_generate()
    }
    fn x25519_public_key(&self, s: &X25519SecretKey) -> Result<X25519PublicKey, CryptoError> {
        self.tick();
        self.inner.x25519_public_key(s)
    }
    fn x25519(
        &self,
        s: &X25519SecretKey,
        p: &X25519PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        self.tick();
        self.inner.x25519(s, p)
    }
    fn mlkem_generate(&self) -> Result<(MlKemDecapsKey, MlKemEncapsKey), CryptoError> {
        self.tick();
        self.rng()?;
        self.inner.mlkem_generate()
    }
    fn mlkem_check_encaps_key(&self, ek: &MlKemEncapsKey) -> Result<(), CryptoError> {
        self.tick();
        self.inner.mlkem_check_encaps_key(ek)
    }
    fn mlkem_encapsulate(
        &self,
        ek: &MlKemEncapsKey,
    ) -> Result<(MlKemCiphertext, SharedSecret), CryptoError> {
        self.tick();
        self.inner.mlkem_encapsulate(ek)
    }
    fn mlkem_decapsulate(
        &self,
        dk: &MlKemDecapsKey,
        ct: &MlKemCiphertext,
    ) -> Result<SharedSecret, CryptoError> {
        self.tick();
        self.inner.mlkem_decapsulate(dk, ct)
    }
    fn mldsa_from_seed(&self, seed: &MlDsaSeed) -> Result<MlDsaKeyPair, CryptoError> {
        self.tick();
        self.inner.mldsa_from_seed(seed)
    }
    fn mldsa_sign(
        &self,
        k: &MlDsaKeyPair,
        c: &[u8],
        m: &[u8],
    ) -> Result<MlDsaSignature, CryptoError> {
        self.tick();
        self.inner.mldsa_sign(k, c, m)
    }
    fn mldsa_verify(
        &self,
        p: &MlDsaPublicKey,
        c: &[u8],
        m: &[u8],
        s: &MlDsaSignature,
    ) -> Result<(), CryptoError> {
        self.tick();
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner.mldsa_verify(p, c, m, s)
    }
    fn aead_seal(
        &self,
        k: &AeadKey,
        n: u64,
        a: &[u8],
        io: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        self.inner.aead_seal(k, n, a, io)
    }
    fn aead_open(
        &self,
        k: &AeadKey,
        n: u64,
        a: &[u8],
        io: &mut [u8],
        t: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.inner.aead_open(k, n, a, io, t)
    }
    fn transport_cipher(&self, k: &AeadKey) -> Box<dyn TransportCipher> {
        self.inner.transport_cipher(k)
    }
    fn xaead_seal(
        &self,
        k: &AeadKey,
        n: &[u8; 24],
        a: &[u8],
        io: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        self.inner.xaead_seal(k, n, a, io)
    }
    fn xaead_open(
        &self,
        k: &AeadKey,
        n: &[u8; 24],
        a: &[u8],
        io: &mut [u8],
        t: &[u8; 16],
    ) -> Result<(), CryptoError> {
        self.inner.xaead_open(k, n, a, io, t)
    }
}

/// Recomputes mac1 of a handshake message for the receiver with public key
/// `to` (anyone who knows the public key can: mac1 is not authentication).
pub fn fix_mac1(msg: &mut [u8], to: &X25519PublicKey) {
    let key = dybervpn_crypto::blake2s::hash(&[b"mac1----", to.as_bytes()]);
    let at = msg.len() - 32;
    let mac = dybervpn_crypto::blake2s::mac(&key, &[&msg[..at]]);
    msg[at..at + 16].copy_from_slice(&mac);
}
