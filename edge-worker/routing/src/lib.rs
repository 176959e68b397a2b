//! Routing engine of the edge worker (see issue 2). Runtime-free: compiles natively and to wasm32.
