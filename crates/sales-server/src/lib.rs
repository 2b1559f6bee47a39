//! kontor sales-server
