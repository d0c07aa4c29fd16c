//! DyberVPN observability.
#![forbid(unsafe_code)]
