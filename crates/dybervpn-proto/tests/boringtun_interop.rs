//! Classic mode against boringtun 0.7.1 (a WireGuard implementation we did
//! not write), in process: handshakes and data both ways, either side
//! initiating, and the cookie mechanism either side under load.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use common::*;
use dybervpn_crypto::{backend, BackendKind, PresharedKey};
use dybervpn_proto::{Device, Mode, PeerConfig, PeerId};

struct Setup {
    ours: Device,
    peer: PeerId,
    theirs: Tunn,
    our_addr: SocketAddr,
    their_addr: SocketAddr,
}

fn setup(kind: BackendKind) -> Setup {
    setup_with(kind, false)
}

/// With `their_load`, boringtun's rate limiter counts every handshake as
/// over its limit (0), so it answers each one without a valid mac2 with a
/// cookie reply.
fn setup_with(kind: BackendKind, their_load: bool) -> Setup {
    let b = backend(kind);
    let (our_secret, our_public) = b.x25519_generate().expect("keygen");
    let (their_secret, their_public) = b.x25519_generate().expect("keygen");
    let psk = [0x42; 32];
    let limiter =
        their_load.then(|| Arc::new(RateLimiter::new(&PublicKey::from(their_public.0), 0)));
    let theirs = Tunn::new(
        StaticSecret::from(*their_secret.expose()),
        PublicKey::from(our_public.0),
        Some(psk),
        None,
        7,
        limiter,
    );
    let ours = Device::new(our_secret, Mode::Classic, None, b).expect("device");
    let their_addr: SocketAddr = "192.0.2.20:51820".parse().expect("addr");
    let mut c = PeerConfig::new(their_public);
    c.mode = Some(Mode::Classic);
    c.preshared_key = Some(PresharedKey::from_bytes(psk));
    c.endpoint = Some(their_addr);
    let peer = ours.add_peer(c).expect("peer");
    Setup {
        ours,
        peer,
        theirs,
        our_addr: "192.0.2.10:51820".parse().expect("addr"),
        their_addr,
    }
}

fn their_ip(s: &Setup) -> Option<IpAddr> {
    Some(s.our_addr.ip())
}

#[test]
fn boringtun_initiates() {
    for kind in BackendKind::ALL {
        let mut s = setup(kind);
        let t = now(5);
        let packet = ip_packet(84, 0x11);
        let mut buf = vec![0u8; BUF];
        let init = match s.theirs.encapsulate(&packet, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun should initiate"),
        };
        assert_eq!(init.len(), 148);
        let Out::Net(to, resp) = s
            .ours
            .decapsulate(t, s.their_addr, &init, &mut vec![0u8; BUF])
            .map(own)
            .expect("we accept boringtun's initiation")
        else {
            panic!("response expected")
        };
        assert_eq!((to, resp.len()), (s.their_addr, 92));
        let ip = their_ip(&s);
        // boringtun answers the response with its queued packet(s).
        let mut delivered = Vec::new();
        let mut next = match s.theirs.decapsulate(ip, &resp, &mut buf) {
            TunnResult::WriteToNetwork(d) => Some(d.to_vec()),
            TunnResult::Done => None,
            _ => panic!("boringtun rejected our response"),
        };
        while let Some(d) = next {
            let mut out = vec![0u8; BUF];
            if let Out::Tun(peer, p) = own(s
                .ours
                .decapsulate(t, s.their_addr, &d, &mut out)
                .expect("data"))
            {
                assert_eq!(peer, s.peer);
                delivered.push(p);
            }
            next = match s.theirs.decapsulate(None, &[], &mut buf) {
                TunnResult::WriteToNetwork(d) => Some(d.to_vec()),
                _ => None,
            };
        }
        assert_eq!(delivered, vec![packet], "{kind}");
        // And our data back to boringtun.
        let reply = ip_packet(120, 0x22);
        let Out::Net(_, d) = own(s
            .ours
            .encapsulate(t, s.peer, &reply, &mut vec![0u8; BUF])
            .expect("enc"))
        else {
            panic!("session expected")
        };
        match s.theirs.decapsulate(ip, &d, &mut buf) {
            TunnResult::WriteToTunnelV4(p, _) => assert_eq!(p, &reply[..]),
            _ => panic!("boringtun did not accept our data"),
        }
    }
}

#[test]
fn we_initiate() {
    for kind in BackendKind::ALL {
        let mut s = setup(kind);
        let t = now(5);
        let packet = ip_packet(64, 0x33);
        let Out::Net(_, init) = own(s
            .ours
            .encapsulate(t, s.peer, &packet, &mut vec![0u8; BUF])
            .expect("enc"))
        else {
            panic!("initiation expected")
        };
        let ip = their_ip(&s);
        let mut buf = vec![0u8; BUF];
        let resp = match s.theirs.decapsulate(ip, &init, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun rejected our initiation ({kind})"),
        };
        // Our answer is the queued packet, which also confirms the keys.
        let Out::Net(_, first) = own(s
            .ours
            .decapsulate(t, s.their_addr, &resp, &mut vec![0u8; BUF])
            .expect("resp"))
        else {
            panic!("queued packet expected")
        };
        match s.theirs.decapsulate(ip, &first, &mut buf) {
            TunnResult::WriteToTunnelV4(p, _) => assert_eq!(p, &packet[..]),
            _ => panic!("boringtun did not accept our data"),
        }
        let back = ip_packet(200, 0x44);
        let d = match s.theirs.encapsulate(&back, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun has a session"),
        };
        let mut out = vec![0u8; BUF];
        assert_eq!(
            own(s
                .ours
                .decapsulate(t, s.their_addr, &d, &mut out)
                .expect("data")),
            Out::Tun(s.peer, back)
        );
    }
}

/// boringtun under load answers our initiation with a cookie reply; we
/// take the cookie and our retry, carrying mac2, is answered.
#[test]
fn boringtun_under_load_takes_our_mac2() {
    for kind in BackendKind::ALL {
        let mut s = setup_with(kind, true);
        let t = now(5);
        let packet = ip_packet(64, 0x55);
        let mut out = vec![0u8; BUF];
        let Out::Net(_, init) = own(s
            .ours
            .encapsulate(t, s.peer, &packet, &mut out)
            .expect("enc"))
        else {
            panic!("initiation expected")
        };
        let ip = their_ip(&s);
        let mut buf = vec![0u8; BUF];
        let reply = match s.theirs.decapsulate(ip, &init, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun should ask for a cookie ({kind})"),
        };
        assert_eq!(reply.len(), 64, "a cookie reply");
        assert_eq!(
            s.ours
                .decapsulate(t, s.their_addr, &reply, &mut out)
                .map(own),
            Ok(Out::Nothing),
            "{kind}: we take boringtun's cookie"
        );
        // Our retry, REKEY_TIMEOUT later, carries mac2.
        let later = at(t.mono + Duration::from_millis(5_400));
        let retry = (0..4)
            .find_map(|_| match s.ours.update_timers(later, &mut out).map(own) {
                Ok(Out::Net(_, d)) if d.len() == 148 => Some(d),
                _ => None,
            })
            .expect("a retried initiation");
        assert_ne!(&retry[132..], &[0u8; 16][..], "mac2 is set");
        let resp = match s.theirs.decapsulate(ip, &retry, &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun refused our mac2 ({kind})"),
        };
        assert_eq!(resp.len(), 92, "{kind}: a response, not another cookie");
        let Out::Net(_, first) = own(s
            .ours
            .decapsulate(later, s.their_addr, &resp, &mut out)
            .expect("resp"))
        else {
            panic!("queued packet expected")
        };
        match s.theirs.decapsulate(ip, &first, &mut buf) {
            TunnResult::WriteToTunnelV4(p, _) => assert_eq!(p, &packet[..]),
            _ => panic!("boringtun did not accept our data ({kind})"),
        }
    }
}

/// Under load we answer boringtun's initiation with a cookie reply; it
/// takes the cookie, and its next initiation, with mac2, is answered.
#[test]
fn we_under_load_give_boringtun_a_cookie_it_uses() {
    for kind in BackendKind::ALL {
        let mut s = setup(kind);
        s.ours.set_under_load(Some(true));
        let t = now(5);
        let mut buf = vec![0u8; BUF];
        let mut out = vec![0u8; BUF];
        let init = match s.theirs.encapsulate(&ip_packet(84, 0x66), &mut buf) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun should initiate"),
        };
        let Out::Net(to, reply) = s
            .ours
            .decapsulate(t, s.their_addr, &init, &mut out)
            .map(own)
            .expect("a cookie reply, not an error")
        else {
            panic!("cookie reply expected")
        };
        assert_eq!((to, reply.len()), (s.their_addr, 64));
        let ip = their_ip(&s);
        assert!(
            matches!(s.theirs.decapsulate(ip, &reply, &mut buf), TunnResult::Done),
            "{kind}: boringtun takes our cookie"
        );
        let retry = match s.theirs.format_handshake_initiation(&mut buf, true) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => panic!("boringtun initiates again"),
        };
        assert_ne!(&retry[132..], &[0u8; 16][..], "boringtun sets mac2");
        let answer = s
            .ours
            .decapsulate(t, s.their_addr, &retry, &mut out)
            .map(own)
            .expect("its mac2 is valid");
        assert!(
            matches!(answer, Out::Net(_, ref r) if r.len() == 92),
            "{kind}: a response: {answer:?}"
        );
    }
}
