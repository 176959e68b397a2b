//! The EdgeSync sync protocol (see PROTOCOL.md). Runtime-free: compiles natively and to wasm32.
