//! Local world: fault proxies, process supervision, wrangler dev (see issues 2, 5, 6).
