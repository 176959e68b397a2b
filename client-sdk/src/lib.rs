//! Browser SDK (see issue 4).
