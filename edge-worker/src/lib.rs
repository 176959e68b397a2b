//! Thin workers-rs adapter around `edge-routing` (see issue 2).
