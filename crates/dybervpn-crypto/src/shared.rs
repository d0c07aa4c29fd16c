//! Pieces both backends share: ML-DSA-65 from libcrux, XChaCha20-Poly1305 from RustCrypto.
