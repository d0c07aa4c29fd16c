//! DyberVPN protocol core (sans-IO).
#![forbid(unsafe_code)]
